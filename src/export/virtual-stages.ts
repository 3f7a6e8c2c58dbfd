import { FasopError } from '../errors.js';

/**
 * Decoder layers of each model chunk in model order, for `v` virtual stages per pipeline rank:
 * chunk j·pp + r runs on pipeline rank r (Megatron's layout: stage i on rank i mod pp;
 * torchtitan's looped schedules: rank r builds parts r, r + pp, …). Each rank keeps the layers the
 * plan gives its stage, split into v equal chunks, so the per-rank load is the plan's.
 */
export function virtualStageLayers(layersPerStage: readonly number[], v: number): number[] {
  if (v === 1) return [...layersPerStage];
  const bad = layersPerStage.findIndex((k) => k % v !== 0);
  if (bad >= 0) {
    throw new FasopError(`interleaving ${v} virtual stages needs each pipeline stage's layers divisible by ${v}, but stage ${bad} has ${layersPerStage[bad]} (layers per stage [${layersPerStage.join(', ')}])`,
      `export a plan with virtual_stages 1, or one whose stages hold multiples of ${v} layers`);
  }
  const pp = layersPerStage.length;
  return Array.from({ length: pp * v }, (_, i) => layersPerStage[i % pp]! / v);
}
