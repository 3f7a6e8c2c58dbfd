/** Where CLI commands write: injectable so tests can run main() in-process. */
export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** true when stderr is an interactive terminal (progress line) */
  errIsTty: boolean;
  /** true when stdin is an interactive terminal (prompts) */
  inIsTty: boolean;
  cwd: string;
}

export function processIo(): CliIo {
  return {
    out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
    err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
    errIsTty: Boolean(process.stderr.isTTY),
    inIsTty: Boolean(process.stdin.isTTY),
    cwd: process.cwd(),
  };
}
