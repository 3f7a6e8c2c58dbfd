/**
 * Event simulation of the 1F1B pipeline schedule (SPEC §10): per stage, forward F_s and backward
 * B_s per micro-batch, a forward send after each forward and a backward send after each backward.
 * Returns each stage's end time (its last backward). Pure; O(pp·m), less where the steady state is extended.
 */
export interface PipelineStageTimes {
  forward_s: number[];
  backward_s: number[];
  /** time for stage s to send one micro-batch's activations to stage s+1 */
  forwardSend_s: number[];
  /** time for stage s to send one micro-batch's gradients to stage s−1 */
  backwardSend_s: number[];
}

export interface SimulationOptions {
  /** the original lets stage 0's backward start without waiting for its own forward send (quirk Q20) */
  stage0SkipsOwnSend: boolean;
  /**
   * once every time a step carries to the next has moved by the same amount as in the step before,
   * the schedule repeats: the steady state is extended to its last step instead of simulated
   * (the same schedule in exact arithmetic; within a few rounding steps of the simulated one)
   */
  extendSteadyState?: boolean;
}

/** Largest scratch buffer kept between calls (elements; 32 MiB): bigger simulations allocate their own. */
const KEEP_SCRATCH = 1 << 22;
let scratch = new Float64Array(0);

/** A zeroed buffer of n elements; the kept one is reused (the simulation is synchronous). */
function scratchOf(n: number): Float64Array {
  if (n > KEEP_SCRATCH) return new Float64Array(n);
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, 2 * scratch.length));
  scratch.fill(0, 0, n);
  return scratch;
}

/** Whether every time step j hands on is the one step j − 1 handed on, plus d (exact: the values are close). */
function repeats(T: Float64Array, P: number, m: number, w: readonly number[], j: number, d: number, FSE: number, BSE: number): boolean {
  for (let s = 1; s < P; s++) if (T[BSE + j * P + s]! - T[BSE + (j - 1) * P + s]! !== d) return false;
  for (let s = 0; s < P - 1; s++) {
    const f = FSE + (j + w[s]!) * P + s;
    if (T[f]! - T[f - P]! !== d) return false;
  }
  return true;
}

export function simulate1F1B(t: PipelineStageTimes, microBatches: number, opts: SimulationOptions): number[] {
  const P = t.forward_s.length;
  const m = microBatches;
  if (m < 1) throw new Error('simulate1F1B: at least one micro-batch is needed');
  const F = t.forward_s;
  const B = t.backward_s;
  const Sf = t.forwardSend_s;
  const Sb = t.backwardSend_s;
  // six m×P tables in one zeroed buffer, X[s][j] at X + j·P + s (a step's stages side by side, as the
  // loops visit them); a stage receives a micro-batch when its neighbour's send ends, so what stage s
  // receives is read from stage s ∓ 1's send (0 where none is sent)
  const PM = P * m;
  const T = scratchOf(6 * PM);
  const FE = 0; // forward end
  const FSE = PM; // forward send end
  const FRS = 2 * PM; // ready to receive the next forward
  const BE = 3 * PM; // backward end
  const BSE = 4 * PM; // backward send end
  const BRS = 5 * PM; // ready to receive the next backward
  const w = new Array<number>(P);
  for (let s = 0; s < P; s++) w[s] = Math.min(P - s - 1, m);
  const skipsOwnSend = opts.stage0SkipsOwnSend;

  // Phase 1: warm-up forwards (stage s runs w[s] ≤ w[0] of them).
  for (let j = 0; j < w[0]!; j++) {
    // w falls with s: the stages with a j-th warm-up forward are a prefix
    for (let s = 0; s < P && j < w[s]!; s++) {
      let st: number;
      if (s === 0) st = j === 0 ? 0 : T[FSE + (j - 1) * P + s]!;
      else if (j === 0 || s === P - 1) st = T[FSE + j * P + s - 1]!;
      else st = Math.max(T[FSE + (j - 1) * P + s]!, T[FSE + j * P + s - 1]!);
      T[FE + j * P + s] = st + F[s]!;
      if (s > 0 && j < w[s]! - 1) T[FRS + (j + 1) * P + s] = T[FE + j * P + s]!;
      if (s < P - 1) {
        T[FSE + j * P + s] = (j === 0 ? T[FE + j * P + s]! : Math.max(T[FE + j * P + s]!, T[FRS + j * P + s + 1]!)) + Sf[s]!;
      }
    }
  }

  // Phase 2: steady state, one forward then one backward per step. Steps 1 … last run the same
  // recurrence (every stage has a forward to run and one more to receive).
  const last = m - w[0]! - 2;
  for (let j = 0; j < m; j++) {
    // the stages with a forward left at step j are a suffix (w falls with s)
    let first = 0;
    while (first < P && j + w[first]! > m - 1) first++;
    for (let s = first; s < P; s++) {
      const f = j + w[s]!;
      if (j === 0) {
        const p = f - 1;
        const st = Math.max(p >= 0 ? T[FSE + p * P + s]! : 0, s > 0 ? T[FSE + f * P + s - 1]! : 0);
        T[FE + f * P + s] = st + F[s]!;
        if (s < P - 1) {
          T[BRS + s] = T[FE + f * P + s]!;
          const r = p >= 0 ? T[FRS + f * P + s + 1]! : 0;
          T[FSE + f * P + s] = Math.max(T[FE + f * P + s]!, r) + Sf[s]!;
        }
      } else {
        // what this step writes is kept in locals too: the same values, read back without a load
        const at = f * P + s;
        const st = s === 0 ? T[BE + (j - 1) * P + s]! : Math.max(T[BSE + (j - 1) * P + s]!, T[FSE + at - 1]!);
        const fe = st + F[s]!;
        T[FE + at] = fe;
        if (s < P - 1) {
          T[BRS + j * P + s] = fe;
          T[FSE + at] = Math.max(T[FRS + at + 1]!, fe) + Sf[s]!;
        }
      }
    }
    // and those with a backward at step j, from the last stage back, a prefix (stage s + 1's backward
    // send end at this step, just written, is carried to stage s in sendIn)
    let sendIn = 0;
    for (let s = P - 1; s >= 0 && j <= m - w[s]! - 1; s--) {
      const p = j + w[s]!;
      const ownSend = s > 0 || !skipsOwnSend ? T[FSE + p * P + s]! : 0;
      const st = Math.max(ownSend, sendIn, T[FE + p * P + s]!);
      const be = st + B[s]!;
      T[BE + j * P + s] = be;
      if (s > 0) {
        if (p + 1 < m) T[FRS + (p + 1) * P + s] = be;
        else if (j + 1 < m) T[BRS + (j + 1) * P + s] = be;
        sendIn = Math.max(be, T[BRS + j * P + s - 1]!) + Sb[s]!;
        T[BSE + j * P + s] = sendIn;
      } else if (j === m - 1 - w[s]! && j + 1 < m) {
        T[BRS + (j + 1) * P + s] = be;
      }
    }
    // steps 1 … last share one recurrence; what step j hands on is stage 0's backward end, each later
    // stage's backward send end and each earlier stage's forward send end (the rest is read in-step)
    if (opts.extendSteadyState && j >= 1 && j < last) {
      const d = T[BE + j * P]! - T[BE + (j - 1) * P]!;
      if (d > 0 && repeats(T, P, m, w, j, d, FSE, BSE)) {
        const k = last - j;
        T[BE + last * P] = T[BE + j * P]! + k * d;
        for (let q = 1; q < P; q++) T[BSE + last * P + q] = T[BSE + j * P + q]! + k * d;
        for (let q = 0; q < P - 1; q++) T[FSE + (last + w[q]!) * P + q] = T[FSE + (j + w[q]!) * P + q]! + k * d;
        j = last;
      }
    }
  }

  // Phase 3: cool-down backwards (stage s runs the last w[s] ≤ w[0] of them).
  for (let j = m - w[0]!; j < m; j++) {
    // the stages with a j-th cool-down backward, from the last back: all below the first that has one
    let top = P - 1;
    while (top >= 0 && j < m - w[top]!) top--;
    for (let s = top; s >= 0; s--) {
      const prevBE = j > 0 ? T[BE + (j - 1) * P + s]! : 0;
      const prevBSE = j > 0 ? T[BSE + (j - 1) * P + s]! : 0;
      const st = Math.max(prevBE, (s < P - 1 ? T[BSE + j * P + s + 1]! : 0), prevBSE);
      T[BE + j * P + s] = st + B[s]!;
      if (j < m - 1) T[BRS + (j + 1) * P + s] = T[BE + j * P + s]!;
      if (s > 0) {
        T[BSE + j * P + s] = Math.max(T[BE + j * P + s]!, T[BRS + j * P + s - 1]!) + Sb[s]!;
      }
    }
  }
  const ends = new Array<number>(P);
  for (let s = 0; s < P; s++) ends[s] = T[BE + (m - 1) * P + s]!;
  return ends;
}
