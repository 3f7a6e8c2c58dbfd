import type { PlanRecord } from '../search/record.js';
import type { OomRecord } from '../search/search.js';
import { PyFloat, pyJson } from './pyformat.js';

/** A float, or null where there is none (an MFU without the GPU's peak). */
const finite = (x: number) => (Number.isFinite(x) ? new PyFloat(x) : null);

/** One JSONL result line (SPEC §13.3): {"index": k, <SearchResult fields>, <our additions>}. */
export function jsonlRecord(index: number, r: PlanRecord): string {
  return pyJson({
    index,
    gbs: r.gbs,
    mbs: r.mbs,
    tp: r.tp,
    dp: r.dp,
    pp: r.pp,
    node_type: r.node_type,
    gpu_cluster_str: r.gpu_cluster_str,
    partition: r.partition,
    partition_layers: r.partition_layers,
    step_time: new PyFloat(r.step_time),
    throughput: new PyFloat(r.throughput),
    price_per_step: new PyFloat(r.price_per_step),
    is_oom: r.is_oom,
    oom_gpumem: new PyFloat(r.oom_gpumem),
    iterations: r.iterations,
    total_time_seconds: new PyFloat(r.total_time_seconds),
    total_time_hours: new PyFloat(r.total_time_hours),
    cost: new PyFloat(r.cost),
    placement: r.placement,
    estimator: r.estimator,
    partition_method: r.partition_method,
    cost_source: r.cost_source,
    // after the original's fields: the plan's execution and utilisation, as the CSV's last columns
    cp: r.cp,
    recompute: r.recompute,
    recompute_layers: r.recompute_layers,
    dp_sharding: r.dp_sharding,
    shard_group: r.shard_group,
    sequence_parallel: r.sequence_parallel,
    virtual_stages: r.virtual_stages,
    mfu: finite(r.mfu),
    tokens_per_s_per_gpu: finite(r.tokens_per_s_per_gpu),
    seq_length: r.seq_length,
  });
}

/**
 * One JSONL line for a strategy that does not fit (no step time, throughput or cost: null):
 * the degrees, its leanest execution, and its peak memory, a floor when `oom_gpumem_is` says "at least".
 */
export function jsonlOom(index: number, r: OomRecord): string {
  return pyJson({
    index,
    gbs: r.gbs,
    mbs: r.mbs,
    tp: r.tp,
    dp: r.dp,
    pp: r.pp,
    cp: r.execution.cp,
    node_type: r.placement,
    gpu_cluster_str: r.gpu_cluster_str,
    step_time: null,
    throughput: null,
    price_per_step: null,
    is_oom: true,
    oom_gpumem: new PyFloat(r.peak_GiB),
    oom_gpumem_is: r.timed ? 'estimated' : 'at least',
    placement: r.placement,
    recompute: r.execution.recompute,
    recompute_layers: r.execution.recomputeLayers ?? null,
    dp_sharding: r.execution.dpSharding,
    shard_group: r.execution.shardGroup ?? null,
    sequence_parallel: r.execution.sequenceParallel,
    virtual_stages: r.execution.virtualStages,
    cost: null,
  });
}

export function jsonlMeta(totalCount: number, gbs: number, cluster: Record<string, number>): string {
  return pyJson({ type: 'meta', total_count: totalCount, gbs, cluster });
}

export function jsonlParetoMeta(total: number, gbsValues: number[], modelType: string, cluster: Record<string, number>): string {
  return pyJson({ type: 'pareto_meta', pareto_total_count: total, gbs_values: gbsValues, model_type: modelType, gpu_cluster: cluster });
}
