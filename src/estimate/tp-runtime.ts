/**
 * Policy tp-runtime: what a tensor-parallel runtime adds beside the Megatron-style TP that the operator
 * profiles describe. Megatron-style: nothing. PyTorch DTensor (recipe bf16-adamw-graph-dtensor): what
 * profiler/dtensor_tp.sh measured for this model, tp and GPU (plan.dtensorTp), else counted — DTensor
 * all-reduces the input gradient of each column-parallel linear on its own (q, k, v, gate, up: 5 per
 * layer instead of 2) and loss_parallel makes more fp32 passes over the local logits. Pure functions.
 */
import { interpolateRow } from './interpolate.js';
import { cpOf } from './links.js';
import type { ResolvedPlan } from './plan.js';
import type { TrainingRecipe } from './recipe.js';
import { hbmBytesPerSecond } from './step-terms.js';

export interface TpRuntimeTerms {
  /** input-gradient all-reduces per layer of the q/k/v block and of the gate/up block (Megatron-style: 1 and 1) */
  qkvGrads: number;
  gateUpGrads: number;
  /** seconds per micro-batch added once per layer (with its backward) and once per model (with the loss) */
  perLayer_s: number;
  fixed_s: number;
  /** seconds per step added per layer and once per model (with the optimizer step) */
  step: { perLayer_s: number; fixed_s: number };
  /** what was added and from where, for cost_source ('' when nothing) */
  note: string;
}

const NONE: TpRuntimeTerms = { qkvGrads: 1, gateUpGrads: 1, perLayer_s: 0, fixed_s: 0, step: { perLayer_s: 0, fixed_s: 0 }, note: '' };

/**
 * The terms for GPU type `gpu` of the plan. `ar` is the seconds of one TP all-reduce of the plan's
 * activation (0 when the profiles already hold them: the original's files, or tp = 1).
 */
export function tpRuntimeTerms(plan: ResolvedPlan, recipe: TrainingRecipe, gpu: string, ar: number): TpRuntimeTerms {
  if (recipe.tpRuntime !== 'dtensor' || ar <= 0) return NONE;
  const x = plan.dtensorTp?.[gpu];
  if (x) {
    const per = interpolateRow(x.mbs, x.perLayer_ms, plan.mbs);
    const fixed = interpolateRow(x.mbs, x.fixed_ms, plan.mbs).value * 1e-3;
    const how = per.how === 'exact' ? '' : ` (${per.how.toUpperCase()} from mbs ${x.mbs.join('/')})`;
    return {
      qkvGrads: 1,
      gateUpGrads: 1,
      perLayer_s: per.value * 1e-3,
      fixed_s: fixed,
      // per-step figures are differences of differences and may be slightly negative: not clamped
      step: { perLayer_s: interpolateSigned(x.mbs, x.stepPerLayer_ms, plan.mbs) * 1e-3, fixed_s: interpolateSigned(x.mbs, x.stepFixed_ms, plan.mbs) * 1e-3 },
      note: `, DTensor TP measured (${x.source}): +${per.value.toFixed(3)} ms per layer, +${(fixed * 1e3).toFixed(3)} ms per micro-batch${how}` +
        (cpOf(plan) > 1 ? ` (measured on whole sequences, taken as is for a context-parallel rank's 1/${cpOf(plan)} of them)` : ''),
    };
  }
  const loss = lossParallelExtra_s(plan, recipe, gpu);
  return {
    qkvGrads: 3,
    gateUpGrads: 2,
    perLayer_s: 0,
    fixed_s: loss.s,
    step: { perLayer_s: 0, fixed_s: 0 },
    note: `, DTensor TP counted (not measured for ${plan.model.name} tp${plan.tp} on ${gpu}: profiler/dtensor_tp.sh): 3 more all-reduces per layer, loss_parallel +${(loss.s * 1e3).toFixed(3)} ms (${loss.how})`,
  };
}

/**
 * Seconds that DTensor's loss_parallel takes beyond Megatron's vocab-parallel cross-entropy for one
 * micro-batch: measured per local logit on this GPU (catalog), else counted as HBM traffic.
 */
function lossParallelExtra_s(plan: ResolvedPlan, recipe: TrainingRecipe, gpu: string): { s: number; how: string } {
  const spec = plan.nodes.find((n) => n.gpu.name === gpu)!.gpu;
  const logits = (plan.mbs * (plan.model.seq_length / cpOf(plan)) * plan.model.vocab_size) / plan.tp;
  const measured = spec.measured?.dtensorLossExtra_msPerGlogit;
  if (measured !== undefined) return { s: (logits / 1e9) * measured * 1e-3, how: `measured ${measured} ms per 1e9 local logits` };
  const bytes = recipe.dtensorLossExtraTrafficBytesPerLogit ?? 0;
  return { s: (logits * bytes) / hbmBytesPerSecond(spec), how: `not measured on ${gpu}: ${bytes} B of HBM traffic per local logit` };
}

/** Linear interpolation over mbs without clamping at 0; the end rows hold beyond the measured range. */
function interpolateSigned(mbs: readonly number[], values: readonly number[], b: number): number {
  if (b <= mbs[0]!) return values[0]!;
  if (b >= mbs[mbs.length - 1]!) return values[values.length - 1]!;
  const k = mbs.findIndex((x, i) => x <= b && mbs[i + 1]! >= b);
  return values[k]! + ((values[k + 1]! - values[k]!) * (b - mbs[k]!)) / (mbs[k + 1]! - mbs[k]!);
}
