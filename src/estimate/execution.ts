/**
 * How a plan executes beyond its degrees: the techniques large runs turn on (activation
 * recompute, data-parallel sharding, sequence parallelism, interleaved pipeline stages, context
 * parallelism), each an explicit field. The launchers' own constraints live here once.
 */

/**
 * Activation recompute: none; selective (the attention core, Megatron `--recompute-granularity
 * selective`); op (torchtitan's per-operator selective checkpointing, `selective_ac_option = "op"`:
 * every other matmul's and the attention's outputs kept, the rest of each block recomputed); full
 * (whole layers).
 */
export const RECOMPUTE = ['none', 'selective', 'op', 'full'] as const;
export type Recompute = (typeof RECOMPUTE)[number];
/** The recompute modes of the default search space (op is torchtitan's own: asked for with --recompute). */
export const DEFAULT_RECOMPUTE: readonly Recompute[] = ['none', 'selective', 'full'];

/**
 * Data-parallel sharding: none (DDP); optimizer states and fp32 master weights (Megatron
 * `--use-distributed-optimizer`, ZeRO-1); + gradients (ZeRO-2); + parameters (FSDP / ZeRO-3).
 */
export const DP_SHARDING = ['none', 'optimizer', 'gradients', 'parameters'] as const;
export type DpSharding = (typeof DP_SHARDING)[number];
/** The sharding levels of the default search space: DDP, Megatron's distributed optimizer, FSDP (ZeRO-2 is kept for --dp-sharding). */
export const DEFAULT_DP_SHARDING: readonly DpSharding[] = ['none', 'optimizer', 'parameters'];

/** Sequences from this length get context parallelism in the default search space. */
export const DEFAULT_CP_FROM_SEQ = 16384;
/** The fewest tokens per context-parallel rank the default space goes down to (NeMo's 16k-128k recipes run 4096-16384). */
export const DEFAULT_CP_MIN_TOKENS = 4096;

/**
 * The context-parallel degrees of the default search space: 1 below DEFAULT_CP_FROM_SEQ; from it
 * every power of two that keeps DEFAULT_CP_MIN_TOKENS per rank, splits the sequence into 2·cp equal
 * chunks and divides the cluster's GPUs (NVIDIA NeMo's Llama-3 8B 16k/128k and Mixtral 16k recipes
 * run cp 2, 8 and 4).
 */
export function defaultCpDegrees(seqLength: number, gpus: number): number[] {
  const out = [1];
  if (seqLength < DEFAULT_CP_FROM_SEQ) return out;
  for (let cp = 2; seqLength / cp >= DEFAULT_CP_MIN_TOKENS && cp <= gpus; cp *= 2) {
    if (seqLength % (2 * cp) === 0 && gpus % cp === 0) out.push(cp);
  }
  return out;
}

export interface Execution {
  recompute: Recompute;
  /**
   * recompute 'full': decoder layers per pipeline stage that are recomputed (Megatron
   * `--recompute-method block --recompute-num-layers N`); undefined: every layer (`uniform`, 1).
   */
  recomputeLayers?: number;
  dpSharding: DpSharding;
  /**
   * dpSharding 'parameters': ranks each shard group spans (torchtitan `data_parallel_shard_degree`);
   * the dp / shardGroup groups replicate (hybrid sharding). Undefined: the whole data-parallel group.
   */
  shardGroup?: number;
  /** activations and norms split over TP; reduce-scatter + all-gather instead of all-reduce (tp > 1) */
  sequenceParallel: boolean;
  /** model chunks (virtual stages) per pipeline rank: 1 is plain 1F1B, v > 1 interleaved 1F1B */
  virtualStages: number;
  /** context-parallel degree: the sequence split over cp ranks, K/V passed around a ring */
  cp: number;
}

/**
 * A shard group as a request asks for it: a number of data-parallel ranks, or the data-parallel
 * ranks of one node (`--shard-group node`), which each plan resolves by its tp·cp (shardGroupOf).
 */
export type ShardGroupChoice = number | NodeShardGroup;
/** The data-parallel ranks of one node of `gpusPerNode` GPUs. */
export interface NodeShardGroup { gpusPerNode: number }

/** An execution as a request gives it, before a plan's degrees resolve its shard group (planExecution). */
export interface RequestExecution extends Omit<Execution, 'shardGroup'> {
  shardGroup?: ShardGroupChoice;
}

/**
 * A plan's shard group: undefined (the whole data-parallel group) when the choice spans all dp
 * ranks, else its rank count. A node holds gpusPerNode / (tp·cp) data-parallel ranks (rankOf's order
 * puts tp, then cp innermost, as torchtitan's mesh [pp, dp_replicate, dp_shard, cp, tp] does), at least 1;
 * a count that is not a proper divisor of dp is kept for executionProblems to refuse.
 */
export function shardGroupOf(choice: ShardGroupChoice | undefined, tp: number, cp: number, dp: number): number | undefined {
  if (choice === undefined) return undefined;
  const ranks = typeof choice === 'number' ? choice : Math.max(1, Math.floor(choice.gpusPerNode / (tp * cp)));
  return ranks === dp || (typeof choice !== 'number' && ranks > dp) ? undefined : ranks;
}

/** Plain DP × TP × PP: everything kept, nothing sharded or split (what the original searches). */
export const PLAIN_EXECUTION: Readonly<Execution> = Object.freeze({ recompute: 'none', dpSharding: 'none', sequenceParallel: false, virtualStages: 1, cp: 1 });

/** Every virtual-stage count some plan of a model can run: the divisors of its layers (executionProblems drops those a plan cannot). */
export function virtualStageCounts(numLayers: number): number[] {
  const out: number[] = [];
  for (let v = 1; v <= numLayers; v++) if (numLayers % v === 0) out.push(v);
  return out;
}

/** Whether an execution is the plain one. */
export function isPlain(e: Omit<Execution, 'shardGroup'>): boolean {
  return e.recompute === 'none' && e.dpSharding === 'none' && !e.sequenceParallel && e.virtualStages === 1 && e.cp === 1;
}

/**
 * Ranks over which the data-parallel state is sharded (1 when nothing is sharded): the data-parallel
 * group (or the FSDP shard group) times the context-parallel ranks, which hold the same weights
 * (Megatron-LM's distributed optimizer over dp·cp; torchtitan's FSDP mesh dp_shard·cp).
 */
export function shardDegree(e: Execution, dp: number): number {
  if (e.dpSharding === 'none') return 1;
  return (e.dpSharding === 'parameters' ? (e.shardGroup ?? dp) : dp) * e.cp;
}

/** What the launcher constraints need to know of a plan. */
export interface ExecutionShape {
  tp: number;
  dp: number;
  pp: number;
  /** micro-batches per step */
  microBatches: number;
  numLayers: number;
  seqLength: number;
}

/**
 * Why an execution cannot run with these degrees (empty when it can), after the launchers'
 * checks: Megatron-LM (arguments.py) and torch.distributed.pipelining's interleaved schedule.
 */
export function executionProblems(e: Execution, p: ExecutionShape): string[] {
  const why: string[] = [];
  if (e.sequenceParallel && p.tp === 1) why.push('sequence parallelism needs tp > 1');
  if (e.dpSharding !== 'none' && p.dp === 1 && e.cp === 1) why.push(`dp sharding '${e.dpSharding}' needs dp > 1 (or cp > 1)`);
  if (e.shardGroup !== undefined) {
    if (e.dpSharding !== 'parameters') why.push('a shard group applies only to dp sharding \'parameters\'');
    else if (e.shardGroup < 2 || p.dp % e.shardGroup !== 0) why.push(`shard group ${e.shardGroup} must be at least 2 and divide dp ${p.dp}`);
  }
  if (e.recomputeLayers !== undefined) {
    if (e.recompute !== 'full') why.push('a recompute layer count applies only to full recompute');
    else if (!Number.isInteger(e.recomputeLayers) || e.recomputeLayers < 1) why.push(`recompute layers must be a whole number >= 1, got ${e.recomputeLayers}`);
  }
  const v = e.virtualStages;
  if (!Number.isInteger(v) || v < 1) why.push(`virtual stages must be a whole number >= 1, got ${v}`);
  else if (v > 1) {
    if (p.pp < 2) why.push('interleaved stages need pp >= 2');
    if (p.numLayers % (p.pp * v) !== 0) why.push(`interleaving ${v} virtual stages needs layers (${p.numLayers}) divisible by pp·v = ${p.pp * v}`);
    if (p.microBatches % p.pp !== 0) why.push(`interleaving needs micro-batches (${p.microBatches}) divisible by pp ${p.pp}`);
  }
  if (!Number.isInteger(e.cp) || e.cp < 1) why.push(`context-parallel degree must be a whole number >= 1, got ${e.cp}`);
  else if (e.cp > 1 && p.seqLength % (2 * e.cp) !== 0) why.push(`context parallelism ${e.cp} needs the sequence (${p.seqLength}) divisible by 2·cp = ${2 * e.cp} (load-balanced chunks)`);
  return why;
}

/** A short label, e.g. "rc=full sh=optimizer sp v=2 cp=2" (plain: "plain"; a node shard group unresolved: "sh=parameters:node"). */
export function executionLabel(e: Execution | RequestExecution): string {
  if (isPlain(e)) return 'plain';
  const parts: string[] = [];
  if (e.recompute !== 'none') parts.push(`rc=${e.recompute}${e.recomputeLayers !== undefined ? `:${e.recomputeLayers}` : ''}`);
  const group = e.shardGroup === undefined ? '' : `:${typeof e.shardGroup === 'number' ? e.shardGroup : 'node'}`;
  if (e.dpSharding !== 'none') parts.push(`sh=${e.dpSharding}${group}`);
  if (e.sequenceParallel) parts.push('sp');
  if (e.virtualStages > 1) parts.push(`v=${e.virtualStages}`);
  if (e.cp > 1) parts.push(`cp=${e.cp}`);
  return parts.join(' ');
}
