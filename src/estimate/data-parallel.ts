/**
 * Gradient synchronisation: each stage's data-parallel all-reduce and the embedding/LM-head sync,
 * as the policy prices them (the original's figures, or α–β links with overlap). Pure functions.
 */
import { columnOfNode, nodeCount, paramsByColumn } from '../model/graph.js';
import type { GpuSpec } from '../catalog/schema.js';
import { f32 } from './f32.js';
import { allreduceTime_s, interNode, interNodeRing, intraAllreduce, type Link } from './links-alpha-beta.js';
import { cpOf, intraTier, nodeOfRank, rankOf, slowest } from './links.js';
import type { ResolvedPlan } from './plan.js';
import type { EstimatorPolicy } from './policy.js';
import type { TrainingRecipe } from './recipe.js';
import { widthsOf } from './boundaries.js';
import { idOfName, TupleCache } from './keyed-cache.js';
import { LINK_KEY, linkKey } from './node-window.js';
import { noteKey, noteRead, onNodes, READ, readKey, readToNote, sameLink, type ReadTape } from './placement-reads.js';
import { nodeOfType } from './node-of-type.js';

/** What the DP terms need to know of the plan's stages. */
export interface DpInputs {
  plan: ResolvedPlan;
  policy: EstimatorPolicy;
  recipe: TrainingRecipe;
  /** GPU type that times each stage */
  stageTypes: readonly string[];
  sizes: readonly number[];
  /** parameters each stage holds on one GPU */
  stageParams: readonly number[];
  /** each stage's backward of one micro-batch (the window an overlapped all-reduce can hide in) */
  lastBackward_s: readonly number[];
}

/** Parameters of stage 0 (float64), which the original charges to every stage's DP all-reduce. */
function stage0Params(plan: ResolvedPlan, policy: EstimatorPolicy, firstStageSize: number): number {
  const n = nodeCount(plan.model);
  const params = paramsByColumn(plan.model, plan.tp, widthsOf(plan, policy).ffn, false);
  let p = 0;
  for (let k = 0; k < firstStageSize; k++) p += params[columnOfNode(k, n)]!;
  return p;
}

/**
 * Ranks that reduce each weight's gradients: the data-parallel replicas and, with context
 * parallelism, their cp ranks (Megatron-LM's data-parallel group with CP, 'dp-cp' in parallel_state.py).
 */
export function gradientGroup(plan: Pick<ResolvedPlan, 'dp' | 'execution'>): number {
  return plan.dp * cpOf(plan);
}

/** Seconds each stage's DP all-reduce adds to the step. */
export function dpAllreduce_s(x: DpInputs): number[] {
  const { plan, policy, sizes } = x;
  if (gradientGroup(plan) === 1) return sizes.map(() => 0);
  const params = policy.dpAllreduce === 'stage0-params'
    ? sizes.map(() => stage0Params(plan, policy, sizes[0]!))
    : x.stageParams;
  if (policy.links === 'bandwidth-only') return originalDp_s(plan, params, x.stageTypes);
  // the placement's stage links looked up once for all stages
  const links = stageLinksOf(plan, x.recipe, 'shard', plan.dp);
  const out = new Array<number>(sizes.length);
  for (let s = 0; s < sizes.length; s++) out[s] = alphaBetaDp_s(x, s, params[s]!, ringLinkAt(plan, x.recipe, links, s, 'shard', plan.dp));
  return out;
}

/** The original's DP formula (SPEC §11.1): its slowest ring bandwidth, its divisors, 16-bit gradients. */
function originalDp_s(plan: ResolvedPlan, params: readonly number[], stageTypes: readonly string[]): number[] {
  const { tp, dp, gpusPerNode: M } = plan;
  const bws = Array.from({ length: dp }, (_, k) => {
    const nc = nodeOfRank(plan, rankOf(plan, 0, k, tp - 1));
    const nn = nodeOfRank(plan, rankOf(plan, 0, (k + 1) % dp, tp - 1));
    if (nc !== nn) return f32(Math.min(plan.nodes[nc]!.interNode_bps, plan.nodes[nn]!.interNode_bps));
    const node = plan.nodes[nc]!;
    const tiers = node.gpu.intraNodeTiers?.allreduce_bps;
    if (!tiers) return f32(node.intraNode_bps);
    // The original leaves g ∈ {3,5,6,7} at a 40 bit/s placeholder (a 2e10-second step):
    // those groups get the tier of the switch they span instead.
    const g = tp * dp;
    return f32(g <= 2 ? tiers.nvlinkPair : g <= 4 ? tiers.pcieSwitch : tiers.crossSwitch);
  });
  const B = slowest(bws, (bw) => -bw);
  return params.map((P, s) => {
    const volume = f32(2 * (dp - 1) * 16 * P);
    let b = B;
    if (tp * dp >= M) b = f32(b / f32(tp));
    else if (tp > 1 && stageTypes[s] !== 'A100') b = f32(b / f32(M / dp));
    return f32(f32(1 / f32(dp * b)) * volume);
  });
}

const dpLinkCache = new TupleCache<readonly unknown[], Link>();

/** Members of one data-parallel ring, in ring order: each (replica d, context rank c). */
type Ring = ReadonlyArray<readonly [d: number, c: number]>;

/**
 * The shard groups of k consecutive replicas with their cp ranks (k·cp members each, dp/k groups):
 * torchtitan's dp_shard·cp mesh, innermost after tp ([pp, dp_replicate, dp_shard, cp, tp],
 * parallel_dims.py), as rankOf numbers ranks. k = dp: the whole gradient group (member g is context
 * rank g mod cp of replica ⌊g / cp⌋).
 */
function shardRings(dp: number, cp: number, k: number): Ring[] {
  return Array.from({ length: dp / k }, (_, b) => Array.from({ length: k * cp }, (_, g) => [b * k + Math.floor(g / cp), g % cp] as const));
}

/** The replica groups of hybrid sharding (torchtitan's dp_replicate): one per position in a shard group of k, dp/k members k replicas apart. */
function replicaRings(dp: number, cp: number, k: number): Ring[] {
  const out: Ring[] = [];
  for (let j = 0; j < k; j++) for (let c = 0; c < cp; c++) out.push(Array.from({ length: dp / k }, (_, r) => [r * k + j, c] as const));
  return out;
}

/** Stage s's slowest ring of one kind, once per (its nodes' window, tp, dp, cp, GPUs per node, launch, kind, k). */
function ringLinkOf(plan: ResolvedPlan, recipe: TrainingRecipe, s: number, kind: 'shard' | 'replica', k: number): Link {
  const cp = cpOf(plan);
  const G = plan.tp * cp * plan.dp;
  // keyed by the stage's nodes' contents where it can be (rotations share them), else by placement
  const owner = linkKey(plan.nodes, plan.gpusPerNode, s * G, (s + 1) * G, s, plan.tp, plan.dp, cp, plan.gpusPerNode, idOfName(recipe.launch), kind === 'shard' ? 0 : 1, k);
  return dpLinkCache.get(owner, LINK_KEY) ?? dpLinkCache.set(owner, LINK_KEY.slice(), ringsLink(plan, recipe, s, kind === 'shard' ? shardRings(plan.dp, cp, k) : replicaRings(plan.dp, cp, k)));
}

/** Each stage's ringLinkOf by placement (its nodes array), tp, dp, cp, GPUs per node, launch, kind and k: filled as stages ask. */
const stageRingLinks = new TupleCache<readonly unknown[], Array<Link | undefined>>();
/** stageRingLinks' lookup key, rewritten per call (an entry keeps a copy). */
const RING_KEY: number[] = new Array<number>(7).fill(0);

/** The placement's ring links of one kind, one per stage as they are asked for (ringLinkAt). */
function stageLinksOf(plan: ResolvedPlan, recipe: TrainingRecipe, kind: 'shard' | 'replica', k: number): Array<Link | undefined> {
  const key = RING_KEY;
  key[0] = plan.tp;
  key[1] = plan.dp;
  key[2] = cpOf(plan);
  key[3] = plan.gpusPerNode;
  key[4] = idOfName(recipe.launch);
  key[5] = kind === 'shard' ? 0 : 1;
  key[6] = k;
  return stageRingLinks.get(plan.nodes, key) ?? stageRingLinks.set(plan.nodes, key.slice(), []);
}

/** Stage s's ring link from the placement's stage links (stageLinksOf of the same kind and k), the read recorded. */
function ringLinkAt(plan: ResolvedPlan, recipe: TrainingRecipe, links: Array<Link | undefined>, s: number, kind: 'shard' | 'replica', k: number): Link {
  let link = links[s];
  if (link === undefined) links[s] = link = ringLinkOf(plan, recipe, s, kind, k);
  const read = readToNote(plan, READ.dpRing, cpOf(plan), s, (kind === 'shard' ? 0 : 65536) + k);
  if (read >= 0) noteRingRead(plan, recipe, s, kind, k, read, link);
  return link;
}

/** The stages whose ring of one kind and k a tape has read, and the link each read: one replay checks them all. */
interface RingReads { stages: number[]; want: Link[] }
/** Each tape's ring reads by (cp, kind, k). */
const ringReadsOf = new WeakMap<ReadTape, Map<number, RingReads>>();

/**
 * Record stage s's ring link as read (apart from ringLinkAt, which then creates no closure context
 * per call). A tape's plans share their degrees, so the first plan to read a ring of this kind and k
 * replays every stage's on another placement.
 */
function noteRingRead(plan: ResolvedPlan, recipe: TrainingRecipe, s: number, kind: 'shard' | 'replica', k: number, read: number, want: Link): void {
  const tape = plan.readTape!;
  let byGroup = ringReadsOf.get(tape);
  if (!byGroup) ringReadsOf.set(tape, (byGroup = new Map()));
  const group = readKey(READ.dpRing, cpOf(plan), 0, (kind === 'shard' ? 0 : 65536) + k);
  const reads = byGroup.get(group);
  if (reads) {
    noteKey(plan, read);
    reads.stages.push(s);
    reads.want.push(want);
    return;
  }
  const own: RingReads = { stages: [s], want: [want] };
  byGroup.set(group, own);
  noteRead(plan, read, (on) => {
    const o = onNodes(plan, on);
    const links = stageLinksOf(o, recipe, kind, k);
    for (let i = 0; i < own.stages.length; i++) if (!sameLink(ringLinkAt(o, recipe, links, own.stages[i]!, kind, k), own.want[i]!)) return false;
    return true;
  });
}

/** Stage s's slowest ring of one kind (ringLinkOf), the read recorded. */
function dpRingLink(plan: ResolvedPlan, recipe: TrainingRecipe, s: number, kind: 'shard' | 'replica', k: number): Link {
  return ringLinkAt(plan, recipe, stageLinksOf(plan, recipe, kind, k), s, kind, k);
}

/** The slowest ring of stage s's whole gradient groups (dp·cp ranks each). */
function dpLink(plan: ResolvedPlan, recipe: TrainingRecipe, s: number): Link {
  return dpRingLink(plan, recipe, s, 'shard', plan.dp);
}

/**
 * The slowest of stage s's rings (each tp times, side by side). A ring that leaves a node where it
 * has g ranks crosses it on g rails at once (NCCL runs one channel per NIC), so it gets g GPUs'
 * share of the NIC.
 */
function ringsLink(plan: ResolvedPlan, recipe: TrainingRecipe, s: number, rings: readonly Ring[]): Link {
  const links: Link[] = [];
  const size = rings[0]!.length;
  const ranksOnNode = new Map<number, number>();
  for (let t = 0; t < plan.tp; t++) {
    for (const ring of rings) {
      const nodes = ring.map(([d, c]) => nodeOfRank(plan, rankOf(plan, s, d, t, c)));
      ranksOnNode.clear();
      for (const n of nodes) ranksOnNode.set(n, (ranksOnNode.get(n) ?? 0) + 1);
      for (let g = 0; g < size; g++) {
        const na = nodes[g]!;
        const nb = nodes[(g + 1) % size]!;
        const node = plan.nodes[na]!;
        links.push(na === nb ? intraAllreduce(node.gpu, node.intraNode_bps, size, recipe.launch) : interNodeRing(node, plan.nodes[nb]!, ranksOnNode.get(na)!));
      }
    }
  }
  return slowest(links, (l) => allreduceTime_s(l, 64 * 2 ** 20, size));
}

/**
 * One stage's all-reduce on its own slowest ring. With policy dpOverlap and a runtime that overlaps
 * (recipe.dpOverlapBucketBytes, e.g. PyTorch DDP's buckets): the buckets all-reduce while the last
 * micro-batch's backward still runs, except the last one (the gradients produced last: the
 * embedding's on stage 0, one bucket elsewhere); of the overlapped part the GPU's measured exposed
 * fraction still shows (profiler/overlap.py; 1 where not measured), and any excess over the backward
 * shows in full.
 */
function alphaBetaDp_s(x: DpInputs, s: number, params: number, link = dpLink(x.plan, x.recipe, s), group = gradientGroup(x.plan), share = 1): number {
  const { plan, recipe } = x;
  const bytes = params * recipe.gradBytes * share;
  const total = allreduceTime_s(link, bytes, group);
  const bucket = recipe.dpOverlapBucketBytes;
  if (!x.policy.dpOverlap || !bucket) return total;
  const embeddingGradBytes = ((plan.model.vocab_size * plan.model.hidden_size) / plan.tp) * recipe.gradBytes * share;
  const lastBytes = Math.min(bytes, s === 0 ? Math.max(embeddingGradBytes, bucket) : bucket);
  const last = allreduceTime_s(link, lastBytes, group);
  const rest = Math.max(0, total - last);
  const gpu: GpuSpec = nodeOfType(plan.nodes, x.stageTypes[s]!)!.gpu;
  const exposed = gpu.measured?.allreduceExposedFraction ?? 1;
  const window = x.lastBackward_s[s]!;
  return last + exposed * Math.min(rest, window) + Math.max(0, rest - window);
}

/**
 * A floor under stage s's all-reduce (alphaBetaDp_s) whatever its backward: the exposed part only
 * shrinks as the backward window grows, so an unbounded window gives the least. 0 where the policy
 * prices the all-reduce otherwise.
 */
export function dpAllreduceFloor_s(plan: ResolvedPlan, policy: EstimatorPolicy, recipe: TrainingRecipe, stageTypes: readonly string[], s: number, params: number): number {
  if (gradientGroup(plan) === 1 || policy.dpAllreduce === 'stage0-params' || policy.links === 'bandwidth-only') return 0;
  const window: number[] = [];
  window[s] = Infinity;
  return alphaBetaDp_s({ plan, policy, recipe, stageTypes, sizes: [], stageParams: [], lastBackward_s: window }, s, params);
}

/**
 * One all-gather of `bytes` (the full tensor) within stage s's FSDP shard groups of `group` ranks
 * (shardDegree: shard group · cp; the whole gradient group without hybrid sharding), on their own
 * slowest ring (policy hybridSharding 'own-rings', else the whole group's): half a ring all-reduce's traffic.
 */
export function dpGather_s(plan: ResolvedPlan, policy: Pick<EstimatorPolicy, 'hybridSharding'>, recipe: TrainingRecipe, s: number, bytes: number, group: number): number {
  if (group <= 1) return 0;
  const own = group !== gradientGroup(plan) && policy.hybridSharding === 'own-rings';
  return allreduceTime_s(own ? dpRingLink(plan, recipe, s, 'shard', group / cpOf(plan)) : dpLink(plan, recipe, s), bytes, group) / 2;
}

/**
 * Seconds each stage's cross-replica all-reduce adds under hybrid sharding with shards of Z ranks
 * (FSDP2's HSDP: gradients reduce-scattered within the shard group, then each rank's 1/Z all-reduced
 * across the dp / shard-group replicas): on the replica groups' own slowest ring, once per step with
 * the overlap of dpAllreduce_s. 0 where the shard group is the whole gradient group (plain FSDP).
 * Policy hybridSharding 'whole-group' (and the original's bandwidth-only links): the whole group's all-reduce / Z.
 */
export function replicaAllreduce_s(x: DpInputs, Z: number): number[] {
  const { plan, policy, sizes } = x;
  if (Z >= gradientGroup(plan)) return sizes.map(() => 0);
  if (policy.hybridSharding === 'whole-group' || policy.links === 'bandwidth-only') return dpAllreduce_s(x).map((t) => t / Z);
  const params = policy.dpAllreduce === 'stage0-params' ? sizes.map(() => stage0Params(plan, policy, sizes[0]!)) : x.stageParams;
  const k = Z / cpOf(plan);
  const links = stageLinksOf(plan, x.recipe, 'replica', k);
  return sizes.map((_, s) => alphaBetaDp_s(x, s, params[s]!, ringLinkAt(plan, x.recipe, links, s, 'replica', k), plan.dp / k, 1 / Z));
}

/** Embedding/LM-head gradient sync, when the policy charges it: the original's formula or an α–β all-reduce of two. */
export function embeddingSync_s(plan: ResolvedPlan, policy: EstimatorPolicy, recipe: TrainingRecipe): number {
  if (plan.pp === 1) return 0;
  if (policy.embeddingSync === 'tied-only' && !plan.model.tie_word_embeddings) return 0;
  return policy.links === 'bandwidth-only' ? originalEmbeddingSync_s(plan) : alphaBetaEmbeddingSync_s(plan, recipe);
}

/** The original's embedding sync (SPEC §11.2): the last replica's slowest tensor rank pair, its divisors. */
function originalEmbeddingSync_s(plan: ResolvedPlan): number {
  const { tp, dp, pp, gpusPerNode: M } = plan;
  const i = dp - 1;
  const bws = Array.from({ length: tp }, (_, t) => {
    const ra = rankOf(plan, 0, i, t);
    const rb = rankOf(plan, pp - 1, i, t);
    const na = nodeOfRank(plan, ra);
    const nb = nodeOfRank(plan, rb);
    if (na !== nb) return f32(Math.min(f32(plan.nodes[na]!.interNode_bps), f32(plan.nodes[nb]!.interNode_bps)));
    return f32(intraTier(plan.nodes[na]!, 'allreduce_bps', ra, rb) ?? plan.nodes[na]!.intraNode_bps);
  });
  const band = f32(slowest(bws, (bw) => -bw) / Math.min(dp, M));
  const { hidden_size: h, vocab_size: v } = plan.model;
  return f32(f32(f32(1 / f32(2 * band)) * f32(2 * h * v * plan.precision)) / tp);
}

/** The link of the embedding/LM-head all-reduce: between the first and the last stage's first ranks. */
function embeddingLinkOf(plan: ResolvedPlan, recipe: TrainingRecipe): Link {
  const na = nodeOfRank(plan, rankOf(plan, 0, 0, 0));
  const nb = nodeOfRank(plan, rankOf(plan, plan.pp - 1, 0, 0));
  const node = plan.nodes[na]!;
  return na === nb ? intraAllreduce(node.gpu, node.intraNode_bps, 2, recipe.launch) : interNode(node, plan.nodes[nb]!, plan.tp * cpOf(plan) * plan.dp);
}

/** Record the embedding link as read (apart from its caller: no closure context per call there). */
function noteEmbeddingRead(plan: ResolvedPlan, recipe: TrainingRecipe, read: number, want: Link): void {
  noteRead(plan, read, (on) => sameLink(embeddingLinkOf(onNodes(plan, on), recipe), want));
}

function alphaBetaEmbeddingSync_s(plan: ResolvedPlan, recipe: TrainingRecipe): number {
  const link = embeddingLinkOf(plan, recipe);
  const read = readToNote(plan, READ.embedding, cpOf(plan));
  if (read >= 0) noteEmbeddingRead(plan, recipe, read, link);
  const bytes = ((plan.model.hidden_size * plan.model.vocab_size) / plan.tp) * recipe.gradBytes;
  return allreduceTime_s(link, bytes, 2);
}
