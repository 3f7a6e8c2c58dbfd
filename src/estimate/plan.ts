import type { DtensorTpExtras } from '../profiles/dtensor-tp.js';
import type { GpuSpec, ModelSpec } from '../catalog/schema.js';
import type { ProfileTable } from '../profiles/profile.js';
import type { Execution } from './execution.js';
import type { MemoryParts } from './memory-bytes.js';
import type { TrainingRecipe } from './recipe.js';

/** One node of a placed cluster: its GPU type and the link figures in force for this search. */
export interface ClusterNode {
  gpu: GpuSpec;
  /** inter-node bandwidth, bits/s (the `_pareto` variant when pareto mode selects it) */
  interNode_bps: number;
  /** intra-node bandwidth, bits/s */
  intraNode_bps: number;
}

export type PartitionMethod = 'minmax' | 'even' | 'dp' | 'ilp' | 'bruteforce' | 'dp-original';

/**
 * A fully resolved plan: everything the estimator needs, nothing looked up by name.
 * Ranks are numbered node by node (gpusPerNode per node, in placement order); rank(p, d, c, t) =
 * t + tp·c + tp·cp·d + tp·cp·dp·p (Megatron's order: TP fastest, then CP, DP, PP).
 */
export interface ResolvedPlan {
  model: ModelSpec;
  nodes: ClusterNode[];
  gpusPerNode: number;
  tp: number;
  dp: number;
  pp: number;
  mbs: number;
  gbs: number;
  /** profile of each GPU type in the placement at this tp, keyed by GPU type name */
  profiles: Record<string, ProfileTable>;
  partitionMethod: PartitionMethod;
  /** recompute, sharding, sequence/context parallelism, virtual stages; undefined: PLAIN_EXECUTION */
  execution?: Execution;
  /** use exactly this partition (node counts per stage) instead of running partitionMethod */
  fixedPartition?: number[];
  /** bits per element of the embedding sync (the original's --precision) */
  precision: number;
  /** cluster price, USD per second (Σ over node types of price/3600 × nodes) */
  pricePerSecond_usd: number;
  /** iterations per epoch of the dataset at this gbs */
  iterations: number;
  /** how the model is trained (state bytes, optimizer); the corrected estimator's memory and optimizer terms */
  recipe?: TrainingRecipe;
  /** recipes with tpRuntime 'dtensor': what DTensor TP adds per GPU type, where measured (profiler/dtensor_tp.sh) */
  dtensorTp?: Record<string, DtensorTpExtras>;
  /** where the estimator records what it reads of the nodes (placement-reads.ts); a search sets it */
  readTape?: ReadTape;
}

/** What one estimate reports (the original's SearchResult fields plus our breakdown). */
export interface Estimate {
  partition: number[];
  partitionLayers: number[] | null;
  stepTime_s: number;
  throughput: number;
  pricePerStep_usd: number;
  isOom: boolean;
  oomGpumem_GiB: number;
  iterations: number;
  totalTime_s: number;
  totalTime_h: number;
  cost_usd: number;
  /** model FLOPs per step (model/flops.ts) over step time × the GPUs' dense BF16 peak; NaN when a GPU has no peak in the catalog */
  mfu: number;
  tokensPerSecondPerGpu: number;
  breakdown: EstimateBreakdown;
}

export interface StageBreakdown {
  gpu: string;
  nodes: number;
  compute_s: number;
  forwardSend_s: number;
  backwardSend_s: number;
  /** minmax's stage time (compute + incoming comm) */
  stageTime_s: number;
  end_s: number;
  dpAllreduce_s: number;
  /** the optimizer step's pass over HBM (corrected estimator only; 0 in the reference) */
  optimizerStep_s: number;
  memory_GiB: number;
  memoryLimit_GiB: number;
  /** the byte model's parts of memory_GiB, GiB per GPU (corrected estimator); partsTotal of them is memory_GiB */
  memoryParts_GiB?: { [K in keyof MemoryParts]: number };
  /** CPU time to issue one micro-batch's forward + backward of this stage (recipe.hostIssue; corrected estimator only) */
  hostIssue_s?: number;
}

export interface EstimateBreakdown {
  microBatches: number;
  stages: StageBreakdown[];
  pipeline_s: number;
  embeddingSync_s: number;
  /** how each GPU type's compute costs were obtained (profile rows used, interpolation flags) */
  costSource: string;
  /**
   * Some stage needs longer to issue a micro-batch's forward or backward on the CPU than its GPU needs
   * to run it (policy `host-issue-floor`): the step time then follows the CPU and varies from run to run.
   */
  hostBound?: boolean;
  /**
   * Some stage's CPU issue time, times the recipe's hostSpreadFactor (how much slower hosts of the same
   * kind were seen to issue the same work), exceeds its GPU time: on a slower host the CPU may set the
   * pace. Includes hostBound.
   */
  hostSensitive?: boolean;
}

/** What a plan takes from its placement: the nodes, each GPU type's cost table (in the placement's order) and DTensor extras. */
export type PlacementOf = Pick<ResolvedPlan, 'nodes' | 'profiles' | 'dtensorTp'>;

/** The reads of one strategy's estimates on one placement (placement-reads.ts): each replays itself on other nodes and says whether it reads the same. */
export interface ReadTape {
  keys: Set<number>;
  reads: Array<(on: PlacementOf) => boolean>;
}
