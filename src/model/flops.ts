/**
 * Model FLOPs of training, the figure MFU divides: per token 6·N + 12·L·H·Dh·s (forward and
 * backward of every weight, plus attention's scores and weighted sum, counted non-causal), with N
 * the parameters outside the input embedding — the formula of PaLM (Chowdhery et al. 2022, App. B)
 * that torchtitan's MFU uses. Recompute is not counted (model FLOPs, not hardware FLOPs).
 */
import type { ModelSpec } from '../catalog/schema.js';
import { headDim } from './graph.js';

/** Weights of one decoder layer (attention projections with GQA, and the MLP: SwiGLU three matrices, GPT-2 two). */
export function layerWeights(model: ModelSpec): number {
  const { hidden_size: h, intermediate_size: f } = model;
  const kvd = model.num_key_value_heads * headDim(model);
  const mlp = model.architecture === 'gpt2' ? 2 * h * f : 3 * h * f;
  return 2 * h * h + 2 * h * kvd + mlp;
}

/** Parameters outside the input embedding: the decoder layers and the output projection. */
export function nonEmbeddingParams(model: ModelSpec): number {
  return model.num_layers * layerWeights(model) + model.hidden_size * model.vocab_size;
}

/** Training FLOPs per token at the model's sequence length. */
export function trainingFlopsPerToken(model: ModelSpec): number {
  return 6 * nonEmbeddingParams(model) + 12 * model.num_layers * model.num_attention_heads * headDim(model) * model.seq_length;
}

/** FLOPs one decoder layer's forward executes for mbs sequences: its weights, and causal attention (half the score matrix). */
export function flopsOfLayerForward(model: ModelSpec, mbs: number): number {
  const tokens = mbs * model.seq_length;
  return 2 * tokens * layerWeights(model) + 2 * tokens * model.seq_length * model.num_attention_heads * headDim(model);
}
