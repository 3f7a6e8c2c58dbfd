/**
 * A per-model cost table built from an operator profile by shape: the ten node columns and the
 * extra operators of the per-model format, for exactly one (model dimensions, sequence length, TP
 * degree, micro-batch), one row, so the estimator prices it as it prices a measured per-model file.
 */
import type { ModelSpec } from '../catalog/schema.js';
import { FasopError } from '../errors.js';
import { COL, NODE_COLUMNS } from '../model/graph.js';
import { decoderShapes, type OperatorShape } from '../model/shapes.js';
import { derivationNote, derivedTime_ms, workOf, type Roofline } from './derive.js';
import { operatorCost, type OperatorCost } from './operator-costs.js';
import type { LoadPoint, OperatorProfile, TableName } from './operators.js';
import type { ProfileTable } from './profile.js';

/** How many times the largest measured attention sequence length the lookup may reach by extrapolation. */
export const SEQ_REACH_FACTOR = 4;

/** GPT-2's fused qkv work, split evenly over the q, k and v columns. */
const QKV = [{ column: COL.attn_q, share: 1 / 3 }, { column: COL.attn_k, share: 1 / 3 }, { column: COL.attn_v, share: 1 / 3 }];

/** Where the node column of each per-layer operator lies (a name not listed is an extra operator). */
export const COLUMN_OF: Record<string, { column: number; share: number }[]> = {
  attn_q: [{ column: COL.attn_q, share: 1 }],
  attn_k: [{ column: COL.attn_k, share: 1 }],
  attn_v: [{ column: COL.attn_v, share: 1 }],
  attn_q_bias: [{ column: COL.attn_q, share: 1 }], // Qwen2's q/k/v biases
  attn_k_bias: [{ column: COL.attn_k, share: 1 }],
  attn_v_bias: [{ column: COL.attn_v, share: 1 }],
  attn_qkv: QKV, // GPT-2's fused qkv
  // GPT-2's fused-qkv bias gradient and its gradient stack belong with the q/k/v projections
  attn_qkv_bias: QKV,
  qkv_grad_stack: QKV,
  attn_out_merge: [{ column: COL.attn_o, share: 1 }],
  attn_o: [{ column: COL.attn_o, share: 1 }],
  attn_o_bias: [{ column: COL.attn_o, share: 1 }],
  mlp_gate: [{ column: COL.mlp_gate, share: 1 }],
  mlp_act_fn: [{ column: COL.mlp_act_fn, share: 1 }],
  mlp_up: [{ column: COL.mlp_up, share: 1 }],
  mlp_fc: [{ column: COL.mlp_up, share: 1 }], // GPT-2: fc, GELU, proj (no gate)
  mlp_fc_bias: [{ column: COL.mlp_up, share: 1 }],
  mlp_proj_bias: [{ column: COL.mlp_down, share: 1 }],
  mlp_down: [{ column: COL.mlp_down, share: 1 }],
  mlp_proj: [{ column: COL.mlp_down, share: 1 }],
};

/** The extra operators of the per-model format, each the sum of these shapes (per call of the extra). */
export const EXTRA_OF: Record<string, string[]> = {
  attn_core: ['attn_core'], rope: ['rope_q', 'rope_k'], input_norm: ['input_norm'], post_attn_norm: ['post_attn_norm'],
  residual_add: ['residual_add', 'residual_grad_sum'], mlp_mul: ['mlp_mul'], final_norm: ['final_norm'], loss: ['loss'],
};

/** The GEMM tables, whose slowdown under sustained load the profiler's `load` family measures. */
const LOADED: ReadonlySet<TableName> = new Set(['linear', 'linear_unaligned']);

/** The measured slowdown at a GEMM share (linear between the profile's points, held at its ends; never below 1). */
export function loadSlowdown(points: readonly LoadPoint[], share: number): number {
  const hi = points.findIndex((p) => p.share >= share);
  if (hi < 0) return Math.max(1, points[points.length - 1]!.slowdown);
  if (hi === 0) return Math.max(1, points[0]!.slowdown);
  const a = points[hi - 1]!;
  const b = points[hi]!;
  return Math.max(1, a.slowdown + ((share - a.share) / (b.share - a.share)) * (b.slowdown - a.slowdown));
}

export interface ShapeTableRequest {
  model: ModelSpec;
  /** the GPU the table prices */
  gpu: string;
  tp: number;
  mbs: number;
  /** context-parallel degree (default 1): the table of one rank, its s/cp tokens and cp attention ring steps */
  cp?: number;
  /** scale the profile's times to another GPU (profiles/derive.ts): the profile's GPU and the target's figures; `by`: what chose that source, when not the nearest */
  derive?: { from: Roofline; to: Roofline; by?: string };
  /** why a per-model profile of this name was not used (for cost_source) */
  note?: string;
  /** the vocabulary is padded to a multiple of this × tp (default 128, Megatron's) */
  vocabMultiple?: number;
}

const fixedCache = new WeakMap<OperatorProfile, Map<TableName, { forward_ms: number; backward_ms: number }>>();

/**
 * The fixed part of an operator's time on the profile's GPU, which a derivation does not scale: the
 * smallest time its table measured for each field (launch and latency at the smallest sizes), a
 * GEMM's backward the sum of its two gradients'.
 */
export function fixedTimeOf(profile: OperatorProfile, table: TableName): { forward_ms: number; backward_ms: number } {
  let byTable = fixedCache.get(profile);
  if (!byTable) fixedCache.set(profile, (byTable = new Map()));
  let f = byTable.get(table);
  if (!f) {
    const t = profile.tables[table]!;
    const min = (field: string) => {
      const i = t.axes.length + t.fields.indexOf(field);
      return i < t.axes.length ? 0 : Math.min(...t.points.map((p) => p[i]!));
    };
    f = table === 'linear' ? { forward_ms: min('forward_ms'), backward_ms: min('input_grad_ms') + min('weight_grad_ms') }
      : { forward_ms: min(t.fields[0]!), backward_ms: t.fields.length > 1 ? min(t.fields[1]!) : 0 };
    byTable.set(table, f);
  }
  return f;
}

/** The largest sequence length the operator profile prices (its attention grid's reach). */
export function seqReachOf(profile: OperatorProfile): number {
  const t = profile.tables.attention;
  if (!t) return 0;
  const i = t.axes.indexOf('seq');
  return SEQ_REACH_FACTOR * Math.max(...t.points.map((p) => p[i]!));
}

/** The cost table of `req.model` at (tp, mbs, its seq_length, cp) from `profile`. */
export function shapeProfileTable(profile: OperatorProfile, req: ShapeTableRequest): ProfileTable {
  const { model, tp, mbs } = req;
  const cp = req.cp ?? 1;
  const seq = model.seq_length;
  const reach = seqReachOf(profile);
  // the attention kernels of a context-parallel rank run on s/cp tokens
  if (seq / cp > reach) {
    throw new FasopError(`sequence length ${seq}${cp > 1 ? ` (${seq / cp} per context-parallel rank)` : ''} is beyond the reach of operator profile ${profile.path} (attention measured up to ${reach / SEQ_REACH_FACTOR}, priced up to ${SEQ_REACH_FACTOR}x that: ${reach})`,
      `use --seq-length ${reach * cp} or less${cp > 1 ? '' : ', or context parallelism (--cp)'}, or measure a profile whose attention grid covers it (profiler/operators.py)`);
  }
  const shapes = decoderShapes(model, { tp, mbs, seq, cp, ...(req.vocabMultiple ? { vocabMultiple: req.vocabMultiple } : {}) });
  const outside = new Set<string>();
  const cost = (s: OperatorShape): OperatorCost => {
    const c = operatorCost(profile, s);
    c.outside.forEach((o) => outside.add(o));
    if (!req.derive || !profile.tables[s.table]) return c;
    const { from, to } = req.derive;
    const w = workOf(s);
    const fixed = fixedTimeOf(profile, s.table);
    // a backward-only operator's one field holds its fixed part
    const fixedBackward_ms = s.pass === 'backward' ? fixed.forward_ms : fixed.backward_ms;
    return { ...c, forward_ms: derivedTime_ms(c.forward_ms, fixed.forward_ms, w.forward, from, to), backward_ms: derivedTime_ms(c.backward_ms, fixedBackward_ms, w.backward, from, to) };
  };
  const fwd = NODE_COLUMNS.map(() => 0);
  const bwd = NODE_COLUMNS.map(() => 0);
  const byName = new Map<string, OperatorCost>();
  const layerCosts = shapes.layer.map(cost);
  // GEMMs under the sustained load of the layer's mix (a derived GPU: its source's measured curve)
  let load = 1;
  let share = 0;
  if (profile.sustainedLoad) {
    const busy = (pick: (i: number) => boolean) => shapes.layer.reduce((a, s, i) => a + (pick(i) ? s.count * (layerCosts[i]!.forward_ms + layerCosts[i]!.backward_ms) : 0), 0);
    share = busy((i) => LOADED.has(shapes.layer[i]!.table)) / busy(() => true);
    load = loadSlowdown(profile.sustainedLoad, share);
  }
  const loaded = (s: OperatorShape, c: OperatorCost): OperatorCost =>
    load === 1 || !LOADED.has(s.table) ? c : { ...c, forward_ms: load * c.forward_ms, backward_ms: load * c.backward_ms };
  for (const [i, s] of shapes.layer.entries()) {
    const c = loaded(s, layerCosts[i]!);
    // the per-model format's attn_core is the layer's whole attention: all cp ring steps of it
    byName.set(s.name, s.name === 'attn_core' ? { ...c, forward_ms: s.count * c.forward_ms, backward_ms: s.count * c.backward_ms } : c);
    for (const { column, share } of COLUMN_OF[s.name] ?? []) {
      fwd[column]! += share * s.count * c.forward_ms;
      bwd[column]! += share * s.count * c.backward_ms;
    }
  }
  for (const s of shapes.first) {
    const c = cost(s);
    fwd[COL.embed]! += s.count * c.forward_ms;
    bwd[COL.embed]! += s.count * c.backward_ms;
  }
  for (const s of shapes.last) {
    const c = loaded(s, cost(s));
    byName.set(s.name, c);
    if (s.name === 'lm_head') {
      fwd[COL.lm_head]! += c.forward_ms;
      bwd[COL.lm_head]! += c.backward_ms;
    }
  }
  const extraNames = Object.keys(EXTRA_OF).filter((e) => EXTRA_OF[e]!.some((n) => byName.has(n)));
  const extra = (f: 'forward_ms' | 'backward_ms') => extraNames.map((e) => EXTRA_OF[e]!.reduce((a, n) => a + (byName.get(n)?.[f] ?? 0), 0));
  const words = `operator profile ${profile.gpu} (${profile.date})${cp > 1 ? `, a cp ${cp} rank (s/${cp} tokens, ${cp} attention ring steps)` : ''}` +
    (load > 1 ? `, GEMMs x${load.toFixed(3)} under sustained load (${(100 * share).toFixed(0)} % of the layer's time)` : '');
  return {
    file: profile.path,
    format: 'operators',
    model: model.name,
    gpu: req.gpu,
    tp,
    mbs: [mbs],
    forward_ms: [fwd],
    backward_ms: [bwd],
    extraNames,
    extraForward_ms: [extra('forward_ms')],
    extraBackward_ms: [extra('backward_ms')],
    meta: { gpu: req.gpu, model: model.name, tp, seq_length: seq, ...(cp > 1 ? { cp } : {}) },
    other: {},
    shapeSource: {
      words: req.derive ? `${words}, ${derivationNote(req.derive.from, req.derive.to)}${req.derive.by ? ` (${req.derive.by})` : ''}` : words,
      derivedFrom: req.derive?.from.gpu,
      outside: [...outside],
      ...(req.note ? { note: req.note } : {}),
      ...(load > 1 ? { load: { slowdown: load, gemmShare: share } } : {}),
    },
  };
}
