import type { ModelSpec } from '../catalog/schema.js';

/** The node kinds of the graph, which are also the columns of a per-model profile, in file order. */
export const NODE_COLUMNS = [
  'embed', 'attn_q', 'attn_k', 'attn_v', 'attn_o', 'mlp_gate', 'mlp_act_fn', 'mlp_up', 'mlp_down', 'lm_head',
] as const;
export type NodeColumn = (typeof NODE_COLUMNS)[number];
/** The eight per-layer columns (1..8). */
export const LAYER_COLUMNS = NODE_COLUMNS.slice(1, 9) as readonly NodeColumn[];

/** Column index by name: `COL.attn_o` rather than a bare 4. */
export const COL = Object.freeze(Object.fromEntries(NODE_COLUMNS.map((c, i) => [c, i]))) as Readonly<Record<NodeColumn, number>>;
/** The first and last per-layer column. */
export const FIRST_LAYER_COL = COL.attn_q;
export const LAST_LAYER_COL = COL.mlp_down;

/**
 * The operator graph of a decoder-only model as the original FASOP sees it: n = 8L + 2 nodes —
 * embed, then per layer attn_q, attn_k, attn_v, attn_o, mlp_gate, mlp_act_fn, mlp_up, mlp_down,
 * then lm_head. A node's kind is also its profile column.
 */
export function nodeCount(model: Pick<ModelSpec, 'num_layers'>): number {
  return 8 * model.num_layers + 2;
}

/** Profile column index (0..9) of node k in a graph of n nodes. */
export function columnOfNode(k: number, n: number): number {
  if (k === 0) return COL.embed;
  if (k === n - 1) return COL.lm_head;
  return FIRST_LAYER_COL + ((k - 1) % 8);
}

/** Sum of a per-column vector over the eight per-layer columns (left to right). */
export function layerSum(byColumn: readonly number[]): number {
  let acc = 0;
  for (let c = FIRST_LAYER_COL; c <= LAST_LAYER_COL; c++) acc += byColumn[c]!;
  return acc;
}

export function kindOfNode(k: number, n: number): NodeColumn {
  return NODE_COLUMNS[columnOfNode(k, n)]!;
}

/** Layer index of node k (−1 for embed, L for lm_head). */
export function layerOfNode(k: number, n: number): number {
  if (k === 0) return -1;
  if (k === n - 1) return (n - 2) / 8;
  return Math.floor((k - 1) / 8);
}

export function headDim(model: ModelSpec): number {
  return Math.floor(model.hidden_size / model.num_attention_heads);
}

/**
 * Elements of each node's output activation, per column (one micro-batch of b sequences).
 * `ffn` is the FFN width used for gate/act/up: 4h in the original, intermediate_size in ours.
 * `gqa` makes k/v outputs kv·d wide instead of h.
 */
export function outputVolumeByColumn(model: ModelSpec, b: number, tp: number, opts: { ffn: number; gqa: boolean }): number[] {
  const { hidden_size: h, seq_length: s, vocab_size: v } = model;
  const kvWidth = opts.gqa ? model.num_key_value_heads * headDim(model) : h;
  const bsh = b * s * h;
  return [
    bsh, // embed
    bsh / tp, // attn_q
    (b * s * kvWidth) / tp, // attn_k
    (b * s * kvWidth) / tp, // attn_v
    bsh, // attn_o (after the row-parallel reduce)
    (b * s * opts.ffn) / tp, // mlp_gate
    (b * s * opts.ffn) / tp, // mlp_act_fn
    (b * s * opts.ffn) / tp, // mlp_up
    bsh, // mlp_down
    b * s * v, // lm_head (logits; the vocab is not split on the wire)
  ];
}

/** Parameters per node column on one TP rank (the original's counts, FFN width `ffn`). */
export function paramsByColumn(model: ModelSpec, tp: number, ffn: number, integerDivide: boolean): number[] {
  const { hidden_size: h, vocab_size: v } = model;
  const kvd = model.num_key_value_heads * headDim(model);
  const div = (x: number) => (integerDivide ? Math.floor(x / tp) : x / tp);
  return [div(h * v), div(h * h), div(h * kvd), div(h * kvd), div(h * h), div(ffn * h), 0, div(ffn * h), div(ffn * h), div(h * v)];
}

/**
 * Decoder layers per stage of a node partition (stage 0 also holds embed, the last stage lm_head),
 * or null when a stage boundary cuts inside a layer.
 */
export function layersPerStage(sizes: readonly number[]): number[] | null {
  const shares = layerSharesPerStage(sizes);
  return shares.every((x) => x >= 0 && Number.isInteger(x)) ? shares : null;
}

/** Decoder layers per stage of a node partition, a layer cut by a stage boundary counted by its share (8 nodes a layer). */
export function layerSharesPerStage(sizes: readonly number[]): number[] {
  const pp = sizes.length;
  return sizes.map((x, s) => (x - (s === 0 ? 1 : 0) - (s === pp - 1 ? 1 : 0)) / 8);
}
