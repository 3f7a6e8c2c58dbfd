/**
 * The original's memory model (SPEC §12): 18 bytes per parameter, activations counted in elements
 * (lm_head's as b·s·h), the same in-flight count on every stage, float32 rounding points. Pure.
 */
import { columnOfNode, nodeCount, paramsByColumn } from '../model/graph.js';
import { f32 } from './f32.js';
import type { ResolvedPlan } from './plan.js';

/** Activation elements per column (integer // tp; lm_head counts b·s·h). */
function activationByColumn(plan: ResolvedPlan, ffn: number): number[] {
  const { hidden_size: h, seq_length: s } = plan.model;
  const { mbs: b, tp } = plan;
  const bsh = b * s * h;
  const q = Math.floor(bsh / tp);
  const f = Math.floor((b * s * ffn) / tp);
  return [bsh, q, q, q, bsh, f, f, f, bsh, bsh];
}

/** Peak memory per stage in GiB and the parameters each stage holds on one GPU. */
export function elementStageMemory(plan: ResolvedPlan, sizes: readonly number[], microBatches: number, ffn: number): { total_GiB: number[]; params: number[] } {
  const n = nodeCount(plan.model);
  const inFlight = microBatches > plan.pp ? plan.pp : microBatches;
  const params = paramsByColumn(plan.model, plan.tp, ffn, true);
  const acts = activationByColumn(plan, ffn);
  const total_GiB: number[] = [];
  const stageParams: number[] = [];
  let a = 0;
  for (const size of sizes) {
    let P = 0;
    let A = 0;
    for (let k = a; k < a + size; k++) {
      const c = columnOfNode(k, n);
      P += params[c]!;
      A = f32(A + f32(f32(acts[c]!) * inFlight));
    }
    total_GiB.push(f32(f32(18 * P) + A) / 2 ** 30);
    stageParams.push(P);
    a += size;
  }
  return { total_GiB, params: stageParams };
}
