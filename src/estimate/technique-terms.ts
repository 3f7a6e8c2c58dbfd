/**
 * What the execution techniques add to a stage's time per micro-batch (recompute, FSDP's
 * per-micro-batch gathers, context parallelism's K/V ring) and how interleaving reshapes the
 * pipeline. Pure functions; the assumptions are in docs/estimator.md ("Techniques").
 */
import { FasopError } from '../errors.js';
import { layerWeights } from '../model/flops.js';
import { COL, columnOfNode, headDim, layerSharesPerStage } from '../model/graph.js';
import type { TypeCosts } from './compute.js';
import type { Execution } from './execution.js';
import { interpolateRow } from './interpolate.js';
import { interNode, intraP2p, linkTime_s, type Link } from './links-alpha-beta.js';
import { cpOf, nodeOfRank, rankOf, slowest } from './links.js';
import type { ResolvedPlan } from './plan.js';
import type { EstimatorPolicy } from './policy.js';
import type { TrainingRecipe } from './recipe.js';
import { idOfName, TupleCache } from './keyed-cache.js';
import { LINK_KEY, linkKey } from './node-window.js';
import { noteRead, onNodes, READ, readToNote, sameLink } from './placement-reads.js';

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

/** Forward seconds of a stage's decoder nodes that recompute 'op' reruns: each node's forward less what the policy keeps. */
function opRecomputed_s(c: TypeCosts, first: number, size: number, n: number): number {
  let f = 0;
  for (let k = first; k < first + size; k++) {
    const col = columnOfNode(k, n);
    if (col !== COL.embed && col !== COL.lm_head) f += Math.max(0, c.forward_s[k]! - c.opKept_s[col]!);
  }
  return f;
}

/**
 * Seconds recompute adds to each stage's backward per micro-batch: full, the forward of the
 * recomputed layers (all, or recomputeLayers per stage); selective, the attention core's forward
 * (its FLOP share of the layer's forward); op, the forward of every operator the policy does not keep.
 */
export function recomputeExtra_s(plan: ResolvedPlan, exec: Execution, costs: readonly TypeCosts[], sizes: readonly number[], n: number): number[] {
  if (exec.recompute === 'none') return sizes.map(() => 0);
  const layers = layerSharesPerStage(sizes);
  let a = 0;
  return sizes.map((size, s) => {
    if (exec.recompute === 'op') {
      const x = opRecomputed_s(costs[s]!, a, size, n);
      a += size;
      return x;
    }
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

/** Bytes of the K and V chunk a context-parallel rank holds and passes on per ring step: 2 · b · s/cp · kv heads per TP rank · head dim, at the recipe's activation width. */
export function kvChunkBytes(plan: Pick<ResolvedPlan, 'model' | 'mbs' | 'tp' | 'execution'>, recipe: Pick<TrainingRecipe, 'activationBytes'>): number {
  const m = plan.model;
  const kvHeads = Math.max(1, m.num_key_value_heads / plan.tp); // replicated when tp exceeds the KV heads
  return 2 * plan.mbs * (m.seq_length / cpOf(plan)) * kvHeads * headDim(m) * recipe.activationBytes;
}

/**
 * The slowest hop of stage s's context-parallel rings (cp ranks each, one per replica and TP rank):
 * NVLink while a ring stays inside a node (tp·cp ≤ GPUs per node with aligned groups), else the
 * network, shared by the tp rings that cross at once.
 */
export function ringLink(plan: ResolvedPlan, recipe: Pick<TrainingRecipe, 'launch'>, s: number): Link {
  const cp = cpOf(plan);
  const G = plan.tp * cp * plan.dp;
  // once per (the stage's nodes by content where it can be, else placement and stage; degrees, launch)
  const owner = linkKey(plan.nodes, plan.gpusPerNode, s * G, (s + 1) * G, s, plan.tp, cp, plan.dp, plan.gpusPerNode, idOfName(recipe.launch));
  const link = cpLinkCache.get(owner, LINK_KEY) ?? cpLinkCache.set(owner, LINK_KEY.slice(), ringLinkOf(plan, recipe, s));
  const read = readToNote(plan, READ.cpRing, cp, s);
  if (read >= 0) noteCpRingRead(plan, recipe, s, read, link);
  return link;
}

/** Record stage s's context-parallel ring link as read (apart from ringLink: no closure context per call there). */
function noteCpRingRead(plan: ResolvedPlan, recipe: Pick<TrainingRecipe, 'launch'>, s: number, read: number, want: Link): void {
  noteRead(plan, read, (on) => sameLink(ringLink(onNodes(plan, on), recipe, s), want));
}

const cpLinkCache = new TupleCache<readonly unknown[], Link>();

function ringLinkOf(plan: ResolvedPlan, recipe: Pick<TrainingRecipe, 'launch'>, s: number): Link {
  const cp = cpOf(plan);
  const links: Link[] = [];
  for (let d = 0; d < plan.dp; d++) {
    for (let t = 0; t < plan.tp; t++) {
      for (let c = 0; c < cp; c++) {
        const ra = rankOf(plan, s, d, t, c);
        const rb = rankOf(plan, s, d, t, (c + 1) % cp);
        const na = nodeOfRank(plan, ra);
        const nb = nodeOfRank(plan, rb);
        links.push(na === nb ? intraP2p(plan.nodes[na]!, ra, rb, recipe.launch) : interNode(plan.nodes[na]!, plan.nodes[nb]!, plan.tp));
      }
    }
  }
  return slowest(links, (l) => linkTime_s(l, 64 * 2 ** 20));
}

/** One layer's ring attention on one context-parallel rank, per micro-batch. */
export interface RingAttention {
  /** the attention core's forward and backward of one ring step (the layer's attention / cp) */
  stepForward_s: number;
  stepBackward_s: number;
  /** transfer time of one K/V chunk on the ring's slowest hop */
  chunk_s: number;
  /** the ring's transfers, forward and backward, in all */
  forwardComm_s: number;
  backwardComm_s: number;
  /** what the attention steps do not hide */
  forwardExposed_s: number;
  backwardExposed_s: number;
}

/**
 * Ring attention (Megatron-LM context parallelism through Transformer Engine's P2P ring; Liu et al.
 * 2023, *Ring Attention*): forward, cp − 1 steps each pass the K/V chunk on while the attention of the
 * current chunk runs; backward, cp steps pass K/V and the accumulated dK/dV (the first only K/V, the
 * last only dK/dV: 2(cp − 1) chunks in all) while each step's attention backward runs. A step's
 * transfer shows only where it outlasts that step's attention: max(0, transfer − attention step).
 */
export function ringAttention(plan: ResolvedPlan, policy: Pick<EstimatorPolicy, 'backward'>, recipe: TrainingRecipe, s: number, gpu: string): RingAttention {
  const cp = cpOf(plan);
  const profile = plan.profiles[gpu];
  const j = profile ? profile.extraNames.indexOf('attn_core') : -1;
  if (!profile || j < 0 || !profile.extraForward_ms) {
    throw new FasopError(`context parallelism ${cp} needs the attention core's time on ${gpu}, which its cost table does not give`,
      'price the plan with an operator profile (docs/operator-profiles.md)');
  }
  const at = (rows: readonly (readonly number[])[]) => interpolateRow(profile.mbs, rows.map((r) => r[j]!), plan.mbs).value / 1000;
  const forward = at(profile.extraForward_ms);
  const backward = policy.backward === 'measured' && profile.extraBackward_ms ? at(profile.extraBackward_ms) : 2 * forward;
  const link = ringLink(plan, recipe, s);
  const kv = kvChunkBytes(plan, recipe);
  const one = linkTime_s(link, kv);
  const two = linkTime_s(link, 2 * kv);
  const f = forward / cp;
  const b = backward / cp;
  return {
    stepForward_s: f,
    stepBackward_s: b,
    chunk_s: one,
    forwardComm_s: (cp - 1) * one,
    backwardComm_s: 2 * one + (cp - 2) * two,
    forwardExposed_s: (cp - 1) * Math.max(0, one - f),
    backwardExposed_s: 2 * Math.max(0, one - b) + (cp - 2) * Math.max(0, two - b),
  };
}

/**
 * Seconds the K/V ring adds to each stage's forward and backward per micro-batch: its decoder layers
 * (a cut layer by its share) times a layer's exposed transfers; layers whose attention is recomputed
 * (full or selective recompute) run the forward ring again in the backward.
 */
export function contextParallelExtra_s(plan: ResolvedPlan, policy: Pick<EstimatorPolicy, 'backward'>, recipe: TrainingRecipe, exec: Execution, stageTypes: readonly string[], sizes: readonly number[]): { forward: number[]; backward: number[] } {
  if (exec.cp <= 1) return { forward: sizes.map(() => 0), backward: sizes.map(() => 0) };
  const layers = layerSharesPerStage(sizes);
  const forward: number[] = [];
  const backward: number[] = [];
  sizes.forEach((_, s) => {
    const r = ringAttention(plan, policy, recipe, s, stageTypes[s]!);
    const l = Math.max(0, layers[s]!);
    const recomputed = exec.recompute === 'selective' ? l : exec.recompute === 'full' ? Math.min(l, exec.recomputeLayers ?? l) : 0;
    forward.push(l * r.forwardExposed_s);
    backward.push(l * r.backwardExposed_s + recomputed * r.forwardExposed_s);
  });
  return { forward, backward };
}
