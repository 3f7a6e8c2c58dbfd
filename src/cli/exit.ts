/** Thrown by a command that finished its work but must exit with a status other than 0 (docs/outputs.md). */
export class ExitStatus extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = 'ExitStatus';
  }
}

/** `fasop search` found no plan that fits in GPU memory (the corrected estimator; the reference exits 0 like the original). */
export const EXIT_NO_PLAN_FITS = 3;
