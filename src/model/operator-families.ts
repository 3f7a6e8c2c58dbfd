/** The operator families of a decoder model, each priced by one table of an operator profile, and the axes its shapes are given in. */

/** Families and their axes, in the order a table's points list them (the last axis is the size axis). */
export const TABLE_AXES = {
  linear: ['in_features', 'out_features', 'tokens'],
  /** GEMMs whose out_features is not a multiple of 8 (an unpadded vocabulary shard): cuBLAS's slower kernels */
  linear_unaligned: ['in_features', 'out_features', 'tokens'],
  attention: ['head_dim', 'gqa_ratio', 'seq', 'query_heads'],
  attention_flash: ['head_dim', 'gqa_ratio', 'seq', 'query_heads'],
  rmsnorm: ['width', 'tokens'],
  layernorm: ['width', 'tokens'],
  add: ['width', 'tokens'],
  silu: ['width', 'tokens'],
  gelu: ['width', 'tokens'],
  mul: ['width', 'tokens'],
  rope: ['head_dim', 'width', 'tokens'],
  embedding: ['vocab', 'hidden', 'tokens'],
  cross_entropy: ['vocab', 'tokens'],
  vocab_parallel_cross_entropy: ['vocab', 'tokens'],
  /** attention's [heads, tokens, head_dim] output copied to a projection's [tokens, heads × head_dim] layout */
  head_merge: ['head_dim', 'width', 'tokens'],
  /** the gradient of GPT-2's fused qkv output split into heads (width: one of q, k, v) */
  qkv_grad_stack: ['head_dim', 'width', 'tokens'],
  /** a bias's gradient, the sum of dY over tokens */
  bias_grad: ['width', 'tokens'],
  adamw_bf16_states: ['params'],
  adamw_fp32_master: ['params'],
} as const;
export type TableName = keyof typeof TABLE_AXES;
