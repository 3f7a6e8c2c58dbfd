/**
 * What the execution techniques add to a stage's time per micro-batch (recompute, FSDP's
 * per-micro-batch gathers) and how interleaving reshapes the pipeline. Pure functions; the
 * assumptions are in docs/estimator.md ("Techniques").
 */
import { layerWeights } from '../model/flops.js';
import { COL, columnOfNode, layerSharesPerStage } from '../model/graph.js';
import type { TypeCosts } from './compute.js';
import type { Execution } from './execution.js';
import type { ResolvedPlan } from './plan.js';

/** Forward seconds of the decoder layers of a stage (embedding and lm_head excluded). */
function decoderForward_s(c: TypeCosts, first: number, size: number, n: number): number {
  let f = 0;
  for (let k = first; k < first + size; k++) {
    const col = columnOfNode(k, n);
    if (col !== COL.embed && col !== COL.lm_head) f += c.forward_s[k]!;
  }
  return f;
}

/** Share of a decoder layer's forward FLOPs in the attention core (causal: 2·s·h per token against 2·weights). */
export function attentionCoreShare(plan: ResolvedPlan): number {
  const sh = plan.model.seq_length * plan.model.hidden_size;
  return sh / (layerWeights(plan.model) + sh);
}

/**
 * Seconds recompute adds to each stage's backward per micro-batch: full, the forward of the
 * recomputed layers (all, or recomputeLayers per stage); selective, the attention core's forward
 * (its FLOP share of the layer's forward).
 */
export function recomputeExtra_s(plan: ResolvedPlan, exec: Execution, costs: readonly TypeCosts[], sizes: readonly number[], n: number): number[] {
  if (exec.recompute === 'none') return sizes.map(() => 0);
  const layers = layerSharesPerStage(sizes);
  let a = 0;
  return sizes.map((size, s) => {
    const f = decoderForward_s(costs[s]!, a, size, n);
    a += size;
    if (exec.recompute === 'selective') return f * attentionCoreShare(plan);
    const l = layers[s]!;
    return l > 0 ? f * Math.min(1, (exec.recomputeLayers ?? l) / l) : 0;
  });
}

/**
 * FSDP (dp sharding 'parameters'): each micro-batch all-gathers the stage's weights for its forward
 * and again for its backward and reduce-scatters its gradients, overlapped with the compute (FSDP2
 * prefetches the next layer): what shows is what exceeds the forward and backward. `gather_s` is one
 * all-gather of the stage's weights among the shard group.
 */
export function fsdpExposed_s(forward_s: number, backward_s: number, gather_s: number): { forward: number; backward: number } {
  return { forward: Math.max(0, gather_s - forward_s), backward: Math.max(0, 2 * gather_s - backward_s) };
}
