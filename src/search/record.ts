import type { Execution } from '../estimate/execution.js';

/**
 * One estimated plan as the original writes it (SearchResult, SPEC §13.1), plus our additions,
 * which come after the original's fields.
 */
export interface PlanRecord {
  gbs: number;
  mbs: number;
  tp: number;
  dp: number;
  pp: number;
  node_type: string[];
  gpu_cluster_str: string;
  partition: number[];
  partition_layers: number[] | null;
  step_time: number;
  throughput: number;
  price_per_step: number;
  is_oom: boolean;
  oom_gpumem: number;
  iterations: number;
  total_time_seconds: number;
  total_time_hours: number;
  cost: number;
  // additions (not in the original)
  /** GPU type of each node, in placement order */
  placement: string[];
  estimator: string;
  partition_method: string;
  /** how compute costs were obtained (profile rows, interpolation, extrapolation) */
  cost_source: string;
  /** the execution (estimate/execution.ts); the plain one for the reference estimator */
  cp: number;
  recompute: string;
  /** full recompute: layers per stage recomputed; null: every layer, or no full recompute */
  recompute_layers: number | null;
  dp_sharding: string;
  /** FSDP shard group (hybrid sharding); null: the whole data-parallel group */
  shard_group: number | null;
  sequence_parallel: boolean;
  virtual_stages: number;
  /** model FLOPs utilisation (docs/estimator.md states the FLOP formula); NaN when not defined */
  mfu: number;
  tokens_per_s_per_gpu: number;
  /** tokens per sequence the plan was estimated at; null: read from a CSV without the column */
  seq_length: number | null;
}

/** A strategy on a placement that does not fit, with its leanest execution. */
export interface OomRecord {
  gbs: number;
  mbs: number;
  tp: number;
  dp: number;
  pp: number;
  placement: string[];
  gpu_cluster_str: string;
  /** the leanest execution tried */
  execution: Execution;
  /** its peak memory per GPU on the stage that binds: estimated when timed, else a floor (at least this) */
  peak_GiB: number;
  limit_GiB: number;
  timed: boolean;
  /** how many of the strategy's executions were estimated past their memory floor (0: every one known by its floor) */
  timedExecutions: number;
  /** how far over: the estimated peak ÷ limit when timed, else the even partition's (a typical figure, to find the leanest) */
  overRatio: number;
}
