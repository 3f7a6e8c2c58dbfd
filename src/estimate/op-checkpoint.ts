/**
 * torchtitan's per-operator selective activation checkpointing (recompute 'op'): each decoder block
 * runs under a checkpoint whose policy keeps the outputs of the attention (SDPA) and of every other
 * `aten.mm` of the block (the 1st, 3rd, 5th, 7th), and recomputes everything else in the backward
 * (torchtitan distributed/activation_checkpoint.py, `_save_list` and its mm counter). Pure.
 */
import type { ModelSpec } from '../catalog/schema.js';
import { COL, headDim } from '../model/graph.js';
import type { TrainingRecipe } from './recipe.js';

/**
 * Node columns whose matmul output the policy keeps. A LLaMA block's matmuls run q, k, v, o, gate,
 * up, down (SwiGLU evaluates gate before up): the odd ones are q, v, gate and down. GPT-2's linears
 * have biases (`aten.addmm`, not in the save list): none is kept, only the attention's output.
 */
export function opKeptMatmulColumns(model: Pick<ModelSpec, 'architecture'>): readonly number[] {
  return model.architecture === 'gpt2' ? [] : [COL.attn_q, COL.attn_v, COL.mlp_gate, COL.mlp_down];
}

/**
 * Bytes per node column one micro-batch of b sequences keeps between a block's forward and its
 * backward: the block's input (its checkpoint's argument, in the q column), the kept matmul outputs
 * (q and gate split over TP; down's output before its all-reduce is whole) and the attention's
 * output with its fp32 log-sum-exp (in the o column). Sequence parallelism splits the block's input.
 */
export function opKeptBytesPerColumn(model: ModelSpec, b: number, tp: number, recipe: TrainingRecipe, sequenceParallel = false): number[] {
  const { hidden_size: h, seq_length: s, intermediate_size: f } = model;
  const e = recipe.activationBytes;
  const tokens = b * s;
  const kvd = model.num_key_value_heads * headDim(model);
  const heads = model.num_attention_heads / tp;
  const out = new Array<number>(10).fill(0);
  out[COL.attn_q] = (tokens * e * h) / (sequenceParallel ? tp : 1);
  out[COL.attn_o] = (tokens * e * h) / tp + 4 * b * heads * s;
  if (model.architecture !== 'gpt2') {
    out[COL.attn_q] += (tokens * e * h) / tp;
    out[COL.attn_v] = (tokens * e * kvd) / tp;
    out[COL.mlp_gate] = (tokens * e * f) / tp;
    out[COL.mlp_down] = tokens * e * h;
  }
  return out;
}
