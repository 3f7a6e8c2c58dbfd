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
}
