/** The 1F1B simulation as it was with a receive-end table per direction (eight tables): the oracle the six-table form must equal. */
import type { PipelineStageTimes, SimulationOptions } from '../../src/pipeline/onef1b.js';

export function simulate1F1BEightTables(t: PipelineStageTimes, microBatches: number, opts: SimulationOptions): number[] {
  const P = t.forward_s.length;
  const m = microBatches;
  if (m < 1) throw new Error('simulate1F1B: at least one micro-batch is needed');
  const F = t.forward_s;
  const B = t.backward_s;
  const Sf = t.forwardSend_s;
  const Sb = t.backwardSend_s;
  // eight P×m tables in one zeroed buffer, X[s][j] at X + s·m + j
  const PM = P * m;
  const T = new Float64Array(8 * PM);
  const FE = 0; // forward end
  const FSE = PM; // forward send end
  const FRS = 2 * PM; // ready to receive the next forward
  const FRE = 3 * PM; // forward receive end
  const BE = 4 * PM; // backward end
  const BSE = 5 * PM; // backward send end
  const BRS = 6 * PM; // ready to receive the next backward
  const BRE = 7 * PM; // backward receive end
  const w = new Array<number>(P);
  for (let s = 0; s < P; s++) w[s] = Math.min(P - s - 1, m);

  // Phase 1: warm-up forwards (stage s runs w[s] ≤ w[0] of them).
  for (let j = 0; j < w[0]!; j++) {
    for (let s = 0; s < P; s++) {
      if (j >= w[s]!) continue;
      let st: number;
      if (s === 0) st = j === 0 ? 0 : T[FSE + s * m + (j - 1)]!;
      else if (j === 0 || s === P - 1) st = T[FRE + s * m + j]!;
      else st = Math.max(T[FSE + s * m + (j - 1)]!, T[FRE + s * m + j]!);
      T[FE + s * m + j] = st + F[s]!;
      if (s > 0 && j < w[s]! - 1) T[FRS + s * m + (j + 1)] = T[FE + s * m + j]!;
      if (s < P - 1) {
        T[FSE + s * m + j] = (j === 0 ? T[FE + s * m + j]! : Math.max(T[FE + s * m + j]!, T[FRS + (s + 1) * m + j]!)) + Sf[s]!;
        T[FRE + (s + 1) * m + j] = T[FSE + s * m + j]!;
      }
    }
  }

  // Phase 2: steady state, one forward then one backward per step.
  for (let j = 0; j < m; j++) {
    for (let s = 0; s < P; s++) {
      const f = j + w[s]!;
      if (f > m - 1) continue;
      if (j === 0) {
        const p = f - 1;
        const st = Math.max(p >= 0 ? T[FSE + s * m + p]! : 0, T[FRE + s * m + f]!);
        T[FE + s * m + f] = st + F[s]!;
        if (s < P - 1) {
          T[BRS + s * m + 0] = T[FE + s * m + f]!;
          const r = p >= 0 ? T[FRS + (s + 1) * m + f]! : 0;
          T[FSE + s * m + f] = Math.max(T[FE + s * m + f]!, r) + Sf[s]!;
          T[FRE + (s + 1) * m + f] = T[FSE + s * m + f]!;
        }
      } else {
        const st = s === 0 ? T[BE + s * m + (j - 1)]! : Math.max(T[BSE + s * m + (j - 1)]!, T[FRE + s * m + f]!);
        T[FE + s * m + f] = st + F[s]!;
        if (s < P - 1) {
          T[BRS + s * m + j] = T[FE + s * m + f]!;
          T[FSE + s * m + f] = Math.max(T[FRS + (s + 1) * m + f]!, T[FE + s * m + f]!) + Sf[s]!;
          T[FRE + (s + 1) * m + f] = T[FSE + s * m + f]!;
        }
      }
    }
    for (let s = P - 1; s >= 0; s--) {
      if (j > m - w[s]! - 1) continue;
      const p = j + w[s]!;
      const ownSend = s > 0 || !opts.stage0SkipsOwnSend ? T[FSE + s * m + p]! : 0;
      const st = Math.max(ownSend, T[BRE + s * m + j]!, T[FE + s * m + p]!);
      T[BE + s * m + j] = st + B[s]!;
      if (s > 0) {
        if (p + 1 < m) T[FRS + s * m + (p + 1)] = T[BE + s * m + j]!;
        else if (j + 1 < m) T[BRS + s * m + (j + 1)] = T[BE + s * m + j]!;
        T[BSE + s * m + j] = Math.max(T[BE + s * m + j]!, T[BRS + (s - 1) * m + j]!) + Sb[s]!;
        T[BRE + (s - 1) * m + j] = T[BSE + s * m + j]!;
      } else if (j === m - 1 - w[s]! && j + 1 < m) {
        T[BRS + s * m + (j + 1)] = T[BE + s * m + j]!;
      }
    }
  }

  // Phase 3: cool-down backwards (stage s runs the last w[s] ≤ w[0] of them).
  for (let j = m - w[0]!; j < m; j++) {
    for (let s = P - 1; s >= 0; s--) {
      if (j < m - w[s]!) continue;
      const prevBE = j > 0 ? T[BE + s * m + (j - 1)]! : 0;
      const prevBSE = j > 0 ? T[BSE + s * m + (j - 1)]! : 0;
      const st = Math.max(prevBE, T[BRE + s * m + j]!, prevBSE);
      T[BE + s * m + j] = st + B[s]!;
      if (j < m - 1) T[BRS + s * m + (j + 1)] = T[BE + s * m + j]!;
      if (s > 0) {
        T[BSE + s * m + j] = Math.max(T[BE + s * m + j]!, T[BRS + (s - 1) * m + j]!) + Sb[s]!;
        T[BRE + (s - 1) * m + j] = T[BSE + s * m + j]!;
      }
    }
  }
  const ends = new Array<number>(P);
  for (let s = 0; s < P; s++) ends[s] = T[BE + s * m + m - 1]!;
  return ends;
}
