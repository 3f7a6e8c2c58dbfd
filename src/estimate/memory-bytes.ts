/**
 * The corrected memory model, in bytes: model state per parameter from the training recipe,
 * activations saved for backward per node (GQA, the real FFN width, SDPA/flash attention), the
 * logits on the last stage, and 1F1B's in-flight micro-batches per stage (min(pp − s, m)).
 */
import type { ModelSpec } from '../catalog/schema.js';
import { COL, columnOfNode, headDim, paramsByColumn } from '../model/graph.js';
import type { TrainingRecipe } from './recipe.js';

/** Parameters per node column on one TP rank (GQA and the real FFN width). */
export function paramsPerColumn(model: ModelSpec, tp: number): number[] {
  return paramsByColumn(model, tp, model.intermediate_size, false);
}

/**
 * Bytes of activations one micro-batch of b sequences leaves saved for backward, per node column
 * (what autograd keeps, counted tensor by tensor in the harness's allocator traces):
 * embed 0 (indices only); q: the first RMSNorm's saved tensors (recipe.normSavedBytes per element)
 * and output, and the roped q; k, v: roped k and v (kv heads); o: the attention output
 * (recipe.attentionOutputCopies) and the softmax log-sum-exp (fp32); gate: the second RMSNorm's
 * saved tensors and output, and the gate output; act: SiLU output; up: up output; down: the product
 * fed to down; lm_head: the final norm's saved tensors and output, and the logits at the loss's
 * peak (recipe.lossPeakBytesPerLogit, or the vocab-parallel figure when tp > 1).
 */
export function activationBytesPerColumn(model: ModelSpec, b: number, tp: number, recipe: TrainingRecipe): number[] {
  const { hidden_size: h, seq_length: s, vocab_size: v, intermediate_size: f } = model;
  const e = recipe.activationBytes;
  const tokens = b * s;
  const kvd = model.num_key_value_heads * headDim(model);
  const heads = model.num_attention_heads / tp;
  const norm = tokens * h * (recipe.normSavedBytes + e);
  const lossPerLogit = tp > 1 ? recipe.vocabParallelLossPeakBytesPerLogit : recipe.lossPeakBytesPerLogit;
  return [
    0,
    norm + (tokens * e * h) / tp,
    (tokens * e * kvd) / tp,
    (tokens * e * kvd) / tp,
    (tokens * e * recipe.attentionOutputCopies * h) / tp + 4 * b * heads * s,
    norm + (tokens * e * f) / tp,
    (tokens * e * f) / tp,
    (tokens * e * f) / tp,
    (tokens * e * f) / tp,
    norm + (tokens * v * lossPerLogit) / tp,
  ];
}

export interface StageMemory {
  params: number;
  stateBytes: number;
  activationBytes: number;
  transientBytes: number;
  total_GiB: number;
}

/** Peak bytes per stage: state + in-flight activations (+ the optimizer's transient buffers). */
export function stageMemory(model: ModelSpec, sizes: readonly number[], n: number, b: number, tp: number, dp: number, m: number, recipe: TrainingRecipe): StageMemory[] {
  const params = paramsPerColumn(model, tp);
  const acts = activationBytesPerColumn(model, b, tp, recipe);
  const pp = sizes.length;
  const out: StageMemory[] = [];
  let a = 0;
  sizes.forEach((size, s) => {
    let P = 0;
    let A = 0;
    for (let k = a; k < a + size; k++) {
      const c = columnOfNode(k, n);
      P += params[c]!;
      A += acts[c]!;
    }
    // embeddings tied to the lm_head hold one copy when both sit on the same stage
    if (model.tie_word_embeddings && a === 0 && a + size === n) P -= params[COL.lm_head]!;
    // 1F1B: stage s runs pp − s forwards before its first backward, then keeps pp − s in flight
    const inFlight = Math.min(pp - s, m);
    // the TP runtime's own gradient-sized copy of a local vocab table (DTensor), from the first backward on
    const runtimeGradBytes = tp > 1 && a === 0 ? ((recipe.tpVocabGradExtraCopies ?? 0) * model.vocab_size * model.hidden_size * recipe.gradBytes) / tp : 0;
    const gradBytes = P * recipe.gradBytes + runtimeGradBytes;
    let stateBytes = P * recipe.stateBytesPerParam + runtimeGradBytes;
    if (dp > 1 && m > 1) stateBytes += P * recipe.gradBytes * recipe.dpExtraGradCopiesWhenAccumulating;
    // the in-flight peak comes before any backward (no gradients yet) unless a later forward
    // reaches it again; DDP keeps its gradient buckets for the whole run
    const gradsAtActivationPeak = !recipe.gradsAllocatedByFirstBackward || dp > 1 || m > pp - s;
    const logitsBytes = (b * model.seq_length * model.vocab_size * recipe.retainedOutputBytes) / tp;
    let activationBytes = A * inFlight - (gradsAtActivationPeak ? 0 : gradBytes);
    if (pp > 1 && s === pp - 1 && recipe.pipelineRetainsOutputs) {
      // the outputs of the micro-batches already done while the last one runs, and at the step's
      // end all m outputs plus their concatenation (activations freed by then)
      activationBytes = Math.max(activationBytes + (m - 1) * logitsBytes, 2 * m * logitsBytes);
    }
    const transientBytes = P * recipe.optimizerTransientBytesPerParam;
    out.push({ params: P, stateBytes, activationBytes, transientBytes, total_GiB: (stateBytes + Math.max(activationBytes, transientBytes)) / 2 ** 30 });
    a += size;
  });
  return out;
}
