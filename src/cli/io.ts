import { writeError } from '../guard/write.js';

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

let guarded = false;

/**
 * A failed write to standard output (`> /dev/full`, a closed pipe: ENOSPC, EPIPE, EIO) is the
 * user's environment: one line on stderr and exit status 2, never a stack trace. Result files are
 * written atomically, so an earlier CSV is intact.
 */
function guardStandardStreams(): void {
  if (guarded) return;
  guarded = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    try {
      process.stderr.write(`${writeError('standard output', err, 'check where standard output goes (a full disk, or a pipe whose reader stopped); result files are written atomically').oneLine()}\n`);
    } catch {
      // stderr is gone too: the exit status says it
    }
    process.exit(2);
  });
  process.stderr.on('error', () => process.exit(2));
}

export function processIo(): CliIo {
  guardStandardStreams();
  return {
    out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
    err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
    errIsTty: Boolean(process.stderr.isTTY),
    inIsTty: Boolean(process.stdin.isTTY),
    cwd: process.cwd(),
  };
}
