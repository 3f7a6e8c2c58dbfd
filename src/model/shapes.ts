/**
 * The operator shapes of a decoder model on one GPU: per layer, before the first layer and after
 * the last, for a TP degree, micro-batch size and sequence length (Megatron-style TP without
 * sequence parallelism: q/k/v/gate/up column-parallel, o/down row-parallel, vocabulary split).
 * LLaMA-style (RMSNorm, RoPE, GQA, SwiGLU) and GPT-2-style (LayerNorm, GELU, learned positions,
 * fused qkv, biases: their gradients are reductions over tokens) models, with the layout copies the
 * Hugging Face-style modules make (attention's output merged into a projection's layout; GPT-2's
 * fused-qkv gradient stacked back from its heads).
 */
import { FasopError } from '../errors.js';
import type { ModelSpec } from '../catalog/schema.js';
import type { TableName } from './operator-families.js';

export interface OperatorShape {
  /** the operator's name in the model (attn_q, mlp_down, input_norm, ...) */
  name: string;
  /** the operator-profile table that prices it */
  table: TableName;
  /** the table's axes, by name */
  dims: Record<string, number>;
  /** calls per layer (or per model for the first/last parts) */
  count: number;
  /** the table's first field is timed in the backward (default: the forward) */
  pass?: 'backward';
}

export interface ShapeRequest {
  tp: number;
  mbs: number;
  seq: number;
  /**
   * context-parallel degree (default 1): one rank's shapes — every operator but the attention core
   * runs on its s/cp tokens; the attention core runs as cp ring steps (count cp), each s/cp queries
   * against one s/cp chunk of keys, which with Megatron's load-balanced causal chunks (rank r holds
   * chunks r and 2cp−1−r) does the work of a causal attention of s/cp tokens.
   */
  cp?: number;
  /**
   * the vocabulary is padded to a multiple of this × tp (Megatron's --make-vocab-size-divisible-by,
   * default 128); 1 keeps it as it is. An odd vocabulary (GPT-2's 50257) runs its lm_head GEMMs on
   * cuBLAS's unaligned kernels, about 7× slower on an H200 (the profile's linear_unaligned table).
   */
  vocabMultiple?: number;
}

export interface DecoderShapes {
  /** one decoder layer on one GPU */
  layer: OperatorShape[];
  /** before the first layer (token and, for GPT-2, position embeddings) */
  first: OperatorShape[];
  /** after the last layer (final norm, lm_head, loss) */
  last: OperatorShape[];
  /** dimensions per GPU the shapes were built from (vocab: this GPU's share of the padded vocabulary) */
  dims: { head_dim: number; q_heads: number; kv_heads: number; ffn: number; vocab: number; tokens: number };
  /** whole-model parameter counts (not divided by TP) */
  parameters: { perLayer: number; embedding: number; positions: number; lmHead: number; finalNorm: number; total: number };
}

function fail(model: ModelSpec, problem: string, fix: string): FasopError {
  return new FasopError(`model ${model.name}: ${problem}`, fix);
}

// an output width that is not a multiple of 8 elements drops cuBLAS to its unaligned kernels
const linear = (name: string, inF: number, outF: number, tokens: number): OperatorShape =>
  ({ name, table: outF % 8 === 0 ? 'linear' : 'linear_unaligned', dims: { in_features: inF, out_features: outF, tokens }, count: 1 });
const elementwise = (name: string, table: TableName, width: number, tokens: number, count = 1): OperatorShape =>
  ({ name, table, dims: { width, tokens }, count });
const headMerge = (hd: number, width: number, tokens: number): OperatorShape =>
  ({ name: 'attn_out_merge', table: 'head_merge', dims: { head_dim: hd, width, tokens }, count: 1 });
/**
 * Autograd sums the two gradients of a tensor that feeds two operators: each layer's input and its
 * mid-layer sum feed a norm and a residual add, so its backward adds [tokens, hidden] twice.
 */
const residualGradSum = (width: number, tokens: number): OperatorShape =>
  ({ name: 'residual_grad_sum', table: 'add', dims: { width, tokens }, count: 2, pass: 'backward' });
const biasGrad = (name: string, width: number, tokens: number): OperatorShape =>
  ({ name, table: 'bias_grad', dims: { width, tokens }, count: 1, pass: 'backward' });

/** Largest TP degree considered for a model priced by shape. */
export const MAX_SHAPE_TP = 64;

/** TP degrees that split the model's attention heads, KV heads and FFN width evenly, ascending. */
export function shapeTpDegrees(model: ModelSpec): number[] {
  const out: number[] = [];
  for (let t = 1; t <= MAX_SHAPE_TP; t++) {
    if (model.num_attention_heads % t === 0 && model.num_key_value_heads % t === 0 && model.intermediate_size % t === 0) out.push(t);
  }
  return out;
}

/** Operator shapes of `model` at (tp, mbs, seq); a FasopError for shapes TP cannot split. */
export function decoderShapes(model: ModelSpec, req: ShapeRequest): DecoderShapes {
  const { tp, mbs, seq } = req;
  const vocabMultiple = req.vocabMultiple ?? 128;
  const cp = req.cp ?? 1;
  for (const [k, v] of Object.entries({ tp, mbs, seq, vocabMultiple, cp })) {
    if (!Number.isSafeInteger(v) || v < 1) throw fail(model, `${k} ${v} is not a positive integer`, `give a positive integer ${k}`);
  }
  if (cp > 1 && seq % (2 * cp) !== 0) throw fail(model, `sequence ${seq} does not split into 2·cp = ${2 * cp} equal chunks`, `use a sequence length divisible by ${2 * cp}`);
  const h = model.hidden_size;
  const heads = model.num_attention_heads;
  const kv = model.num_key_value_heads;
  if (h % heads !== 0) throw fail(model, `hidden size ${h} is not a multiple of its ${heads} attention heads`, 'check hidden_size and num_attention_heads');
  if (heads % tp !== 0) throw fail(model, `${heads} attention heads do not split over TP ${tp}`, `use a TP degree that divides ${heads}`);
  if (kv % tp !== 0 && tp % kv !== 0) throw fail(model, `${kv} KV heads neither split over nor replicate across TP ${tp}`, `use a TP degree that divides ${kv} or is a multiple of it`);
  if (model.intermediate_size % tp !== 0) throw fail(model, `FFN width ${model.intermediate_size} does not split over TP ${tp}`, `use a TP degree that divides ${model.intermediate_size}`);
  const hd = h / heads;
  const hq = heads / tp;
  const hkv = Math.max(1, kv / tp);
  const ffn = model.intermediate_size / tp;
  const vocab = Math.ceil(model.vocab_size / (vocabMultiple * tp)) * vocabMultiple;
  const local = seq / cp;
  const M = mbs * local;
  const attention: OperatorShape = {
    name: 'attn_core', table: 'attention', dims: { head_dim: hd, gqa_ratio: hq / hkv, seq: local, query_heads: mbs * hq }, count: cp,
  };
  const loss: OperatorShape = { name: 'loss', table: tp === 1 ? 'cross_entropy' : 'vocab_parallel_cross_entropy', dims: { vocab, tokens: M }, count: 1 };
  const embed: OperatorShape = { name: 'embed', table: 'embedding', dims: { vocab, hidden: h, tokens: M }, count: 1 };
  const V = model.vocab_size;
  let layer: OperatorShape[];
  let first: OperatorShape[];
  let norm: TableName;
  let perLayer: number;
  let positions = 0;
  if (model.architecture === 'llama') {
    norm = 'rmsnorm';
    layer = [
      elementwise('input_norm', 'rmsnorm', h, M),
      linear('attn_q', h, hq * hd, M),
      linear('attn_k', h, hkv * hd, M),
      linear('attn_v', h, hkv * hd, M),
      ...(model.qkv_bias ? [biasGrad('attn_q_bias', hq * hd, M), biasGrad('attn_k_bias', hkv * hd, M), biasGrad('attn_v_bias', hkv * hd, M)] : []),
      { name: 'rope_q', table: 'rope', dims: { head_dim: hd, width: hq * hd, tokens: M }, count: 1 },
      { name: 'rope_k', table: 'rope', dims: { head_dim: hd, width: hkv * hd, tokens: M }, count: 1 },
      attention,
      headMerge(hd, hq * hd, M),
      linear('attn_o', hq * hd, h, M),
      elementwise('residual_add', 'add', h, M, 2),
      residualGradSum(h, M),
      elementwise('post_attn_norm', 'rmsnorm', h, M),
      linear('mlp_gate', h, ffn, M),
      linear('mlp_up', h, ffn, M),
      elementwise('mlp_act_fn', 'silu', ffn, M),
      elementwise('mlp_mul', 'mul', ffn, M),
      linear('mlp_down', ffn, h, M),
    ];
    first = [embed];
    perLayer = 2 * h + h * heads * hd + 2 * h * kv * hd + heads * hd * h + 3 * h * model.intermediate_size + (model.qkv_bias ? heads * hd + 2 * kv * hd : 0);
  } else {
    norm = 'layernorm';
    layer = [
      elementwise('input_norm', 'layernorm', h, M),
      linear('attn_qkv', h, 3 * hq * hd, M),
      biasGrad('attn_qkv_bias', 3 * hq * hd, M),
      // the heads are views of the qkv output (no forward copy); their gradients are stacked back
      { name: 'qkv_grad_stack', table: 'qkv_grad_stack', dims: { head_dim: hd, width: hq * hd, tokens: M }, count: 1, pass: 'backward' },
      attention,
      headMerge(hd, hq * hd, M),
      linear('attn_o', hq * hd, h, M),
      biasGrad('attn_o_bias', h, M),
      elementwise('residual_add', 'add', h, M, 2),
      residualGradSum(h, M),
      elementwise('post_attn_norm', 'layernorm', h, M),
      linear('mlp_fc', h, ffn, M),
      biasGrad('mlp_fc_bias', ffn, M),
      elementwise('mlp_act_fn', 'gelu', ffn, M),
      linear('mlp_proj', ffn, h, M),
      biasGrad('mlp_proj_bias', h, M),
    ];
    positions = model.seq_length * h;
    first = [embed, { name: 'position_embed', table: 'embedding', dims: { vocab: seq, hidden: h, tokens: M }, count: 1 },
      elementwise('embed_add', 'add', h, M)];
    // weights and biases of two LayerNorms, qkv, o, fc, proj
    perLayer = 4 * h + 3 * h * h + 3 * h + h * h + h + 2 * h * model.intermediate_size + model.intermediate_size + h;
  }
  const last: OperatorShape[] = [elementwise('final_norm', norm, h, M), linear('lm_head', h, vocab, M), loss];
  const embedding = V * h;
  const lmHead = model.tie_word_embeddings ? 0 : V * h;
  const finalNorm = model.architecture === 'llama' ? h : 2 * h;
  return {
    layer, first, last,
    dims: { head_dim: hd, q_heads: hq, kv_heads: hkv, ffn, vocab, tokens: M },
    parameters: { perLayer, embedding, positions, lmHead, finalNorm, total: model.num_layers * perLayer + embedding + positions + lmHead + finalNorm },
  };
}
