/**
 * Event simulation of the 1F1B pipeline schedule (SPEC §10): per stage, forward F_s and backward
 * B_s per micro-batch, a forward send after each forward and a backward send after each backward.
 * Returns each stage's end time (its last backward). Pure; O(pp·m).
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
}

export function simulate1F1B(t: PipelineStageTimes, microBatches: number, opts: SimulationOptions): number[] {
  const P = t.forward_s.length;
  const m = microBatches;
  if (m < 1) throw new Error('simulate1F1B: at least one micro-batch is needed');
  const F = t.forward_s;
  const B = t.backward_s;
  const Sf = t.forwardSend_s;
  const Sb = t.backwardSend_s;
  const arr = () => Array.from({ length: P }, () => new Float64Array(m));
  const FE = arr(); // forward end
  const FSE = arr(); // forward send end
  const FRS = arr(); // ready to receive the next forward
  const FRE = arr(); // forward receive end
  const BE = arr(); // backward end
  const BSE = arr(); // backward send end
  const BRS = arr(); // ready to receive the next backward
  const BRE = arr(); // backward receive end
  const w = Array.from({ length: P }, (_, s) => Math.min(P - s - 1, m));

  // Phase 1: warm-up forwards.
  for (let j = 0; j < m; j++) {
    for (let s = 0; s < P; s++) {
      if (j >= w[s]!) continue;
      let st: number;
      if (s === 0) st = j === 0 ? 0 : FSE[s]![j - 1]!;
      else if (j === 0 || s === P - 1) st = FRE[s]![j]!;
      else st = Math.max(FSE[s]![j - 1]!, FRE[s]![j]!);
      FE[s]![j] = st + F[s]!;
      if (s > 0 && j < w[s]! - 1) FRS[s]![j + 1] = FE[s]![j]!;
      if (s < P - 1) {
        FSE[s]![j] = (j === 0 ? FE[s]![j]! : Math.max(FE[s]![j]!, FRS[s + 1]![j]!)) + Sf[s]!;
        FRE[s + 1]![j] = FSE[s]![j]!;
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
        const st = Math.max(p >= 0 ? FSE[s]![p]! : 0, FRE[s]![f]!);
        FE[s]![f] = st + F[s]!;
        if (s < P - 1) {
          BRS[s]![0] = FE[s]![f]!;
          const r = p >= 0 ? FRS[s + 1]![f]! : 0;
          FSE[s]![f] = Math.max(FE[s]![f]!, r) + Sf[s]!;
          FRE[s + 1]![f] = FSE[s]![f]!;
        }
      } else {
        const st = s === 0 ? BE[s]![j - 1]! : Math.max(BSE[s]![j - 1]!, FRE[s]![f]!);
        FE[s]![f] = st + F[s]!;
        if (s < P - 1) {
          BRS[s]![j] = FE[s]![f]!;
          FSE[s]![f] = Math.max(FRS[s + 1]![f]!, FE[s]![f]!) + Sf[s]!;
          FRE[s + 1]![f] = FSE[s]![f]!;
        }
      }
    }
    for (let s = P - 1; s >= 0; s--) {
      if (j > m - w[s]! - 1) continue;
      const p = j + w[s]!;
      const ownSend = s > 0 || !opts.stage0SkipsOwnSend ? FSE[s]![p]! : 0;
      const st = Math.max(ownSend, BRE[s]![j]!, FE[s]![p]!);
      BE[s]![j] = st + B[s]!;
      if (s > 0) {
        if (p + 1 < m) FRS[s]![p + 1] = BE[s]![j]!;
        else if (j + 1 < m) BRS[s]![j + 1] = BE[s]![j]!;
        BSE[s]![j] = Math.max(BE[s]![j]!, BRS[s - 1]![j]!) + Sb[s]!;
        BRE[s - 1]![j] = BSE[s]![j]!;
      } else if (j === m - 1 - w[s]! && j + 1 < m) {
        BRS[s]![j + 1] = BE[s]![j]!;
      }
    }
  }

  // Phase 3: cool-down backwards.
  for (let j = 0; j < m; j++) {
    for (let s = P - 1; s >= 0; s--) {
      if (j < m - w[s]!) continue;
      const prevBE = j > 0 ? BE[s]![j - 1]! : 0;
      const prevBSE = j > 0 ? BSE[s]![j - 1]! : 0;
      const st = Math.max(prevBE, BRE[s]![j]!, prevBSE);
      BE[s]![j] = st + B[s]!;
      if (j < m - 1) BRS[s]![j + 1] = BE[s]![j]!;
      if (s > 0) {
        BSE[s]![j] = Math.max(BE[s]![j]!, BRS[s - 1]![j]!) + Sb[s]!;
        BRE[s - 1]![j] = BSE[s]![j]!;
      }
    }
  }
  return BE.map((row) => row[m - 1]!);
}
