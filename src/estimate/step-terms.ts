/**
 * Per-step terms beside the pipeline: the optimizer step and gradient accumulation (memory-bound
 * passes over HBM, measured where the catalog has them), and the CPU's time to issue a micro-batch
 * (recipes with measured host figures). Pure functions.
 */
import type { GpuSpec } from '../catalog/schema.js';
import { FasopError } from '../errors.js';
import type { ResolvedPlan } from './plan.js';
import type { TrainingRecipe } from './recipe.js';

/** Bytes per second a memory-bound pass reaches on this GPU (measured copy rate, else datasheet). */
export function hbmBytesPerSecond(gpu: GpuSpec): number {
  const GBps = gpu.hbmMeasured_GBps ?? gpu.hbm_GBps;
  if (!GBps) throw new FasopError(`GPU ${gpu.name} has no hbm_GBps in the catalog`, 'add hbm_GBps (memory bandwidth, GB/s) to its catalog entry');
  return GBps * 1e9;
}

/** Seconds of the optimizer step over `params` parameters: measured per parameter for this recipe, else its HBM traffic. */
export function optimizerStep_s(gpu: GpuSpec, recipe: TrainingRecipe, params: number): number {
  const measured = gpu.measured?.optimizerStep_msPerGparam?.[recipe.optimizerMeasuredAs ?? recipe.name];
  if (measured !== undefined) return (params / 1e9) * measured * 1e-3;
  return (params * recipe.optimizerTrafficBytesPerParam) / hbmBytesPerSecond(gpu);
}

/** Seconds to add one micro-batch's weight gradients into the accumulated ones (measured, else 3 passes). */
export function gradAccumulate_s(gpu: GpuSpec, recipe: TrainingRecipe, params: number): number {
  const measured = gpu.measured?.gradAccumulate_msPerGparam;
  if (measured !== undefined) return (params / 1e9) * measured * 1e-3;
  return (3 * recipe.gradBytes * params) / hbmBytesPerSecond(gpu);
}

type HostFigures = NonNullable<TrainingRecipe['hostIssue']>['tp1'];

/** The recipe's CPU issue figures that apply to the plan (policy hostIssueFloor); undefined when the recipe has none. */
export function hostIssueFigures(plan: ResolvedPlan, recipe: TrainingRecipe): HostFigures | undefined {
  const h = recipe.hostIssue;
  if (!h) return undefined;
  // DDP's hooks run wherever gradients are reduced: over dp·cp ranks
  return plan.tp > 1 ? h.tpN : plan.dp * (plan.execution?.cp ?? 1) > 1 && h.tp1Ddp ? h.tp1Ddp : h.tp1;
}

/**
 * CPU seconds to issue one micro-batch's forward plus its backward on a stage: its layers (a cut
 * layer by its share, `layers`), plus the fixed model-level work on the last stage (its final norm,
 * lm_head and loss are most of it).
 */
export function stageHostIssue_s(f: HostFigures, layers: number, last: boolean): number {
  return (layers * f.forwardPerLayer_ms + (last ? f.forwardFixed_ms : 0)) * 1e-3 + (layers * f.backwardPerLayer_ms + (last ? f.backwardFixed_ms : 0)) * 1e-3;
}
