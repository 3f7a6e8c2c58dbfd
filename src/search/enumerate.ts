/** Strategy enumeration (SPEC §4.1–4.2). */
import type { Execution } from '../estimate/execution.js';

export function divisors(x: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= x; d++) if (x % d === 0) out.push(d);
  return out;
}

export interface Strategy {
  tp: number;
  dp: number;
  pp: number;
  mbs: number;
  /** how it executes (the request's executions); undefined: plain */
  execution?: Execution;
}

/**
 * Every (tp, dp, pp, mbs) for W GPUs, grouped by mbs in order of first appearance, as the original
 * orders them: tp ascending over the candidates, dp over divisors(W/tp), pp = W/(tp·dp) ≤ layers,
 * dp | gbs, mbs over divisors(gbs/dp).
 */
export function enumerateStrategies(totalGpus: number, tpCandidates: readonly number[], gbs: number, numLayers: number): Strategy[] {
  const byMbs = new Map<number, Strategy[]>();
  for (const tp of tpCandidates) {
    if (totalGpus % tp !== 0) continue;
    for (const dp of divisors(totalGpus / tp)) {
      const pp = totalGpus / (tp * dp);
      if (gbs % dp !== 0) continue;
      if (pp > numLayers) continue;
      for (const mbs of divisors(gbs / dp)) {
        if (!byMbs.has(mbs)) byMbs.set(mbs, []);
        byMbs.get(mbs)!.push({ tp, dp, pp, mbs });
      }
    }
  }
  return [...byMbs.values()].flat();
}

/** TP candidates: TPs with a profile for every GPU type present, that divide the GPUs per node. */
export function tpCandidates(tpsPerType: readonly (readonly number[])[], gpusPerNode: number): number[] {
  if (tpsPerType.length === 0) return [];
  const common = tpsPerType.reduce((acc, tps) => acc.filter((t) => tps.includes(t)), [...tpsPerType[0]!]);
  return common.filter((t) => gpusPerNode % t === 0).sort((a, b) => a - b);
}
