/**
 * Compute costs of one GPU type for a plan: each node's forward and backward seconds for one
 * micro-batch, from the type's profile, as the policy says (which row, how backward is costed,
 * which extra operators and TP all-reduces are added). Pure functions.
 */
import { COL, NODE_COLUMNS, columnOfNode, layerSum } from '../model/graph.js';
import type { ProfileTable } from '../profiles/profile.js';
import { allreduceTime_s, intraAllreduce } from './links-alpha-beta.js';
import { cpOf } from './links.js';
import { idOf, idOfName, TupleCache } from './keyed-cache.js';
import type { ResolvedPlan } from './plan.js';
import type { EstimatorPolicy } from './policy.js';
import type { TrainingRecipe } from './recipe.js';
import { roundingOf } from './f32.js';
import { interpolateRow } from './interpolate.js';
import { opKeptMatmulColumns } from './op-checkpoint.js';
import { tpRuntimeTerms } from './tp-runtime.js';
import { hbmBytesPerSecond } from './step-terms.js';
import { nodeOfType } from './node-of-type.js';

/** Which node column absorbs each extra operator of the profiler (per layer unless noted). */
export const EXTRA_TO_COLUMN: Record<string, { column: number; times: number }> = {
  input_norm: { column: COL.attn_q, times: 1 }, // before q/k/v
  rope: { column: COL.attn_k, times: 1 }, // applied to q and k
  attn_core: { column: COL.attn_o, times: 1 }, // softmax(QKᵀ)V: between v and o
  residual_add: { column: COL.attn_o, times: 2 }, // two per layer: after o and after down (kept together)
  post_attn_norm: { column: COL.mlp_gate, times: 1 }, // before gate/up
  mlp_mul: { column: COL.mlp_act_fn, times: 1 }, // SiLU(gate) · up
  final_norm: { column: COL.lm_head, times: 1 }, // once per model, before lm_head
  loss: { column: COL.lm_head, times: 1 }, // once per model, after lm_head
};

export type RowHow = 'exact' | 'interpolated' | 'extrapolated' | 'next-larger' | 'clamped';

const ORIGINAL_ROW_MBS = [1, 2, 4, 8, 16, 32];

/** The original's row for micro-batch b (SPEC §3.3): next profiled size up, clamped to the last row. */
export function nextLargerRow(b: number, rows: number): number {
  let row = ORIGINAL_ROW_MBS.indexOf(b);
  if (row < 0) {
    row = ORIGINAL_ROW_MBS.findIndex((x) => x >= b);
    if (row < 0) row = ORIGINAL_ROW_MBS.length - 1;
  }
  return Math.min(row, rows - 1);
}

/** A column's value at micro-batch b by the policy's row rule. */
type RowPick = (matrix: readonly (readonly number[])[], col: number) => number;

function rowPicker(profile: ProfileTable, b: number, rule: EstimatorPolicy['microBatchRow'], hows: Set<RowHow>): RowPick {
  if (rule === 'next-larger-row') {
    const row = nextLargerRow(b, profile.forward_ms.length);
    const rowMbs = profile.mbs[row] ?? 2 ** row;
    hows.add(rowMbs === b ? 'exact' : rowMbs > b ? 'next-larger' : 'clamped');
    return (matrix, col) => matrix[row]![col]!;
  }
  return (matrix, col) => {
    const r = interpolateRow(profile.mbs, matrix.map((row) => row[col]!), b);
    hows.add(r.how);
    return r.value;
  };
}

/** What one GPU type's compute costs for a plan are, per node column and per node. */
export interface TypeCosts {
  /** forward / backward seconds per node (n entries); under 'twice-forward' a third and two thirds of node_s */
  forward_s: Float64Array;
  backward_s: Float64Array;
  /** forward + backward seconds per node, the partitioners' node cost */
  node_s: Float64Array;
  /** forward + backward seconds of a node of each column (10) */
  column_s: number[];
  /** forward + backward seconds of one decoder layer (which type is slowest) */
  layer_s: number;
  /** seconds the TP runtime adds once per step, per layer and once per model */
  step: { perLayer_s: number; fixed_s: number };
  /** forward seconds per node column of what recompute 'op' keeps (op-checkpoint.ts): its kept matmuls, the attention core */
  opKept_s: number[];
  /** how they were obtained, for cost_source */
  source: string;
}

/** Seconds of one TP all-reduce of `bytes` among the plan's tp GPUs of one node of type `gpu`. */
function tpAllreduceOf_s(plan: ResolvedPlan, recipe: TrainingRecipe, gpu: string, bytes: number): number {
  const node = plan.nodes.find((x) => x.gpu.name === gpu)!;
  return allreduceTime_s(intraAllreduce(node.gpu, node.intraNode_bps, plan.tp, recipe.launch), bytes, plan.tp);
}

/** The compute costs of GPU type `gpu` (its profile at the plan's tp) under the policy. */
export function typeCosts(plan: ResolvedPlan, policy: EstimatorPolicy, recipe: TrainingRecipe, gpu: string, profile: ProfileTable, n: number): TypeCosts {
  const b = plan.mbs;
  const hows = new Set<RowHow>();
  const pick = rowPicker(profile, b, policy.microBatchRow, hows);
  const measuredBackward = policy.backward === 'measured' && profile.backward_ms !== undefined;
  const forward = NODE_COLUMNS.map((_, c) => pick(profile.forward_ms, c) / 1000);
  const opKept_s = NODE_COLUMNS.map(() => 0);
  for (const c of opKeptMatmulColumns(plan.model)) opKept_s[c] = forward[c]!;
  const backward = measuredBackward ? NODE_COLUMNS.map((_, c) => pick(profile.backward_ms!, c) / 1000) : forward.map((f) => 2 * f);
  // the profiler's extra operators, folded into the node they belong to
  const extrasUsed: string[] = [];
  const unknown: string[] = [];
  if (policy.extraOperators) {
    profile.extraNames.forEach((name, j) => {
      const target = Object.hasOwn(EXTRA_TO_COLUMN, name) ? EXTRA_TO_COLUMN[name]! : undefined;
      if (!target) { unknown.push(name); return; }
      const f = profile.extraForward_ms ? pick(profile.extraForward_ms, j) / 1000 : 0;
      const bw = policy.backward === 'measured' && profile.extraBackward_ms ? pick(profile.extraBackward_ms, j) / 1000 : 2 * f;
      forward[target.column]! += target.times * f;
      backward[target.column]! += target.times * bw;
      if (name === 'attn_core') opKept_s[target.column]! += target.times * f;
      extrasUsed.push(name);
    });
  }
  // an unfused attention: its passes over the materialised scores, beyond the flash kernel the profile timed
  const ua = unfusedAttentionTraffic_s(plan, recipe, gpu);
  forward[COL.attn_o]! += ua.forward_s;
  backward[COL.attn_o]! += ua.backward_s;
  // Our profiler measures a TP shard on one GPU: its all-reduces are added here. The original's
  // files were measured on real TP groups, so theirs are already inside the operator times.
  // A context-parallel rank holds s/cp of the sequence: its TP all-reduces carry s/cp tokens.
  const tokens = b * (plan.model.seq_length / cpOf(plan));
  const ar = policy.tpAllreduce && profile.backward_ms && plan.tp > 1
    ? tpAllreduceOf_s(plan, recipe, gpu, tokens * plan.model.hidden_size * 2) : 0;
  const rt = tpRuntimeTerms(plan, recipe, gpu, ar);
  if (ar > 0) {
    forward[COL.attn_o]! += ar; // after the row-parallel o_proj
    forward[COL.mlp_down]! += ar; // after the row-parallel down_proj
    backward[COL.attn_q]! += rt.qkvGrads * ar + rt.perLayer_s; // input gradient of the column-parallel q/k/v
    backward[COL.mlp_gate]! += rt.gateUpGrads * ar; // input gradient of the column-parallel gate/up
    forward[COL.embed]! += ar; // vocab-parallel embedding: partial lookups summed
    backward[COL.lm_head]! += ar; // input gradient of the column-parallel lm_head
    // vocab-parallel loss: max, sum-exp, target logit; and what the runtime adds once per model
    forward[COL.lm_head]! += 3 * tpAllreduceOf_s(plan, recipe, gpu, tokens * 4) + rt.fixed_s;
  }
  const f = new Float64Array(n);
  const bw = new Float64Array(n);
  const node = new Float64Array(n);
  let layer: number;
  let column: number[];
  if (policy.backward === 'twice-forward') {
    // the original's node cost: 3 × the forward (ms → s as it rounds it), split 1:2 by the simulator
    const round = roundingOf(policy);
    const added = forward.some((x, c) => x !== pick(profile.forward_ms, c) / 1000);
    const cost = added ? forward.map((x) => round(3 * x)) : NODE_COLUMNS.map((_, c) => round((3 * pick(profile.forward_ms, c)) / 1000));
    for (let k = 0; k < n; k++) {
      node[k] = cost[columnOfNode(k, n)]!;
      f[k] = node[k]! / 3;
      bw[k] = (2 * node[k]!) / 3;
    }
    layer = layerSum(cost);
    column = cost;
  } else {
    for (let k = 0; k < n; k++) {
      f[k] = forward[columnOfNode(k, n)]!;
      bw[k] = backward[columnOfNode(k, n)]!;
      node[k] = f[k]! + bw[k]!;
    }
    column = forward.map((x, c) => x + backward[c]!);
    layer = layerSum(column);
  }
  const uaNote = ua.forward_s > 0 ? `, +unfused attention's score passes ${(1e3 * ua.forward_s).toFixed(3)} / ${(1e3 * ua.backward_s).toFixed(3)} ms fwd/bwd per layer (HBM traffic)` : '';
  return { forward_s: f, backward_s: bw, node_s: node, column_s: column, layer_s: layer, step: rt.step, opKept_s, source: costSource(plan, policy, gpu, profile, hows, measuredBackward, extrasUsed, unknown, ar, rt) + uaNote };
}

/** Seconds per layer and micro-batch of an unfused attention's score passes (recipe.unfusedAttention) at the GPU's HBM rate; 0 with flash. */
function unfusedAttentionTraffic_s(plan: ResolvedPlan, recipe: TrainingRecipe, gpu: string): { forward_s: number; backward_s: number } {
  const u = recipe.unfusedAttention;
  if (!u) return { forward_s: 0, backward_s: 0 };
  const rate = hbmBytesPerSecond(plan.nodes.find((x) => x.gpu.name === gpu)!.gpu);
  const s = plan.model.seq_length;
  const scores = (plan.mbs * plan.model.num_attention_heads * s * s) / plan.tp;
  return { forward_s: (scores * u.forwardTrafficBytesPerScore) / rate, backward_s: (scores * u.backwardTrafficBytesPerScore) / rate };
}

function rowInfo(profile: ProfileTable, b: number, rule: EstimatorPolicy['microBatchRow'], hows: Set<RowHow>): string {
  if (rule === 'next-larger-row') {
    const row = nextLargerRow(b, profile.forward_ms.length);
    const rowMbs = profile.mbs[row] ?? 2 ** row;
    return rowMbs === b ? `row mbs=${rowMbs}` : rowMbs > b ? `row mbs=${rowMbs} for mbs ${b} (next larger row)` : `row mbs=${rowMbs} for mbs ${b} (clamped: beyond the profiled rows)`;
  }
  return hows.has('extrapolated') ? `EXTRAPOLATED beyond mbs ${profile.mbs[profile.mbs.length - 1]}` : hows.has('interpolated') ? 'interpolated between rows' : 'exact row';
}

/** How a table built from an operator profile priced the plan: the profile, a derivation, what was extrapolated. */
function shapeWords(src: NonNullable<ProfileTable['shapeSource']>): string {
  const out = src.outside.length === 0 ? 'interpolated'
    : `EXTRAPOLATED: ${src.outside.slice(0, 3).join('; ')}${src.outside.length > 3 ? ` (+${src.outside.length - 3} more)` : ''}`;
  return `${src.words}, ${out}${src.note ? ` (${src.note})` : ''}`;
}

function costSource(plan: ResolvedPlan, policy: EstimatorPolicy, gpu: string, profile: ProfileTable, hows: Set<RowHow>, measuredBackward: boolean,
  extrasUsed: string[], unknown: string[], ar: number, rt: ReturnType<typeof tpRuntimeTerms>): string {
  // another GPU's files: scaled by the roofline (derivedFrom, said there), or as they are (the reference estimator's substitution)
  const sub = profile.derivedFrom || profile.gpu.toUpperCase() === gpu.toUpperCase() ? '' : ` SUBSTITUTED with the ${profile.gpu} profile (--substitute-profile ${gpu}=${profile.gpu})`;
  const row = (profile.derivedFrom ? `${profile.derivedFrom.words}, ` : '') +
    (profile.shapeSource ? shapeWords(profile.shapeSource) : rowInfo(profile, plan.mbs, policy.microBatchRow, hows));
  const arNote = ar > 0 ? `, +TP all-reduce ${(ar * 1e3).toFixed(3)} ms x${2 + rt.qkvGrads + rt.gateUpGrads}/layer (+embedding, lm_head, loss)` : '';
  if (policy.backward === 'twice-forward') {
    const extras = extrasUsed.length ? `, +${extrasUsed.length} extra ops` : '';
    return `${gpu}${sub}: forward x3, ${row}${extras}${arNote}${rt.note}`;
  }
  const parts = [
    `${gpu}${sub} tp${profile.tp} mbs${plan.mbs}: ${row}`,
    measuredBackward ? 'measured fwd+bwd' : 'bwd assumed 2x fwd',
    extrasUsed.length ? `+${extrasUsed.length} extra ops` : 'no extra ops',
  ];
  if (unknown.length) parts.push(`ignored unknown extras ${unknown.join('/')}`);
  return parts.join(', ') + arNote + rt.note;
}

const typeCostCache = new TupleCache<ProfileTable, TypeCosts>();

/**
 * typeCosts, computed once per (profile, policy, recipe, model, GPU type and its node, tp, micro-batch,
 * cp, DTensor extras): what every plan of a search with those shares, whatever its dp, pp, placement
 * or execution. The result is shared: callers must not change it.
 */
export function sharedTypeCosts(plan: ResolvedPlan, policy: EstimatorPolicy, recipe: TrainingRecipe, gpu: string, profile: ProfileTable, n: number): TypeCosts {
  const node = nodeOfType(plan.nodes, gpu);
  if (!node) return typeCosts(plan, policy, recipe, gpu, profile, n);
  const key = [idOf(policy), idOf(recipe), idOf(plan.model), idOfName(gpu), idOf(node.gpu), node.intraNode_bps, n, plan.tp, plan.mbs, cpOf(plan), plan.dtensorTp ? idOf(plan.dtensorTp) : 0];
  return typeCostCache.get(profile, key) ?? typeCostCache.set(profile, key, typeCosts(plan, policy, recipe, gpu, profile, n));
}

