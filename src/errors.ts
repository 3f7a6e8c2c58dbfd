/**
 * An error the user caused (bad flag, unknown GPU, corrupt profile, ...). The CLI prints it on one
 * line — the problem, then how to fix it — and exits with status 2. Anything that is not a
 * FasopError is a bug.
 */
export class FasopError extends Error {
  readonly hint: string;

  constructor(message: string, hint: string) {
    super(message);
    this.name = 'FasopError';
    this.hint = hint;
  }

  /** The one line the CLI prints. */
  oneLine(): string {
    const text = `${this.message.replace(/\s*\n\s*/g, '; ')} — fix: ${this.hint.replace(/\s*\n\s*/g, '; ')}`;
    return `fasop: error: ${text}`;
  }
}

export function isFasopError(err: unknown): err is FasopError {
  return err instanceof FasopError;
}
