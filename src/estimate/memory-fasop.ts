/**
 * The corrected memory model, in bytes: model state per parameter from the training recipe,
 * activations saved for backward per node (GQA, the real FFN width, SDPA/flash attention), the
 * logits on the last stage, and 1F1B's in-flight micro-batches per stage (min(pp − s, m)).
 */
import type { ModelSpec } from '../catalog/schema.js';
import { columnOfNode, headDim, paramsByColumn } from '../model/graph.js';
import type { TrainingRecipe } from './recipe.js';

/** Parameters per node column on one TP rank (GQA and the real FFN width). */
export function paramsPerColumn(model: ModelSpec, tp: number): number[] {
  return paramsByColumn(model, tp, model.intermediate_size, false);
}

/**
 * Bytes of activations one micro-batch of b sequences leaves saved for backward, per node column:
 * embed 0 (indices only); q: the layer input and its RMSNorm output, and the roped q; k, v: roped
 * k and v (kv heads); o: the attention output, its contiguous copy for o_proj and the softmax
 * log-sum-exp (fp32); gate: the second norm's input and output and the gate output; act: SiLU
 * output; up: up output; down: the product fed to down; lm_head: the final norm's input and output,
 * the logits (bf16), their fp32 copy, its fp32 gradient and the bf16 gradient of the logits.
 */
export function activationBytesPerColumn(model: ModelSpec, b: number, tp: number, recipe: TrainingRecipe): number[] {
  const { hidden_size: h, seq_length: s, vocab_size: v, intermediate_size: f } = model;
  const e = recipe.activationBytes;
  const tokens = b * s;
  const kvd = model.num_key_value_heads * headDim(model);
  const heads = model.num_attention_heads / tp;
  return [
    0,
    tokens * e * (2 * h + h / tp),
    (tokens * e * kvd) / tp,
    (tokens * e * kvd) / tp,
    tokens * e * ((2 * h) / tp) + 4 * b * heads * s,
    tokens * e * (2 * h + f / tp),
    (tokens * e * f) / tp,
    (tokens * e * f) / tp,
    (tokens * e * f) / tp,
    tokens * e * 2 * h + (tokens * v * (e + 4 + 4 + e)) / tp,
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
    if (model.tie_word_embeddings && a === 0 && a + size === n) P -= params[9]!;
    const inFlight = Math.min(pp - s, m);
    let stateBytes = P * recipe.stateBytesPerParam;
    if (dp > 1 && m > 1) stateBytes += P * recipe.gradBytes * recipe.dpExtraGradCopiesWhenAccumulating;
    let activationBytes = A * inFlight;
    // the runtime keeps the outputs of the micro-batches already done while the last one runs
    if (pp > 1 && s === pp - 1 && recipe.pipelineRetainsOutputs) activationBytes += ((m - 1) * b * model.seq_length * model.vocab_size * recipe.retainedOutputBytes) / tp;
    const transientBytes = P * recipe.optimizerTransientBytesPerParam;
    out.push({ params: P, stateBytes, activationBytes, transientBytes, total_GiB: (stateBytes + Math.max(activationBytes, transientBytes)) / 2 ** 30 });
    a += size;
  });
  return out;
}
