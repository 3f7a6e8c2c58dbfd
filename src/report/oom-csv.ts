/** The plans that do not fit (`--list-oom`): one row per strategy and placement, with its leanest execution. */
import type { OomRecord } from '../search/search.js';
import { csvField } from './csv.js';

export const OOM_COLUMNS = [
  'gbs', 'mbs', 'tp', 'cp', 'dp', 'pp', 'placement', 'gpu_cluster', 'recompute', 'dp_sharding', 'shard_group', 'sequence_parallel', 'virtual_stages',
  'peak_memory_GiB', 'peak_is', 'gpu_memory_limit_GiB',
] as const;

/** The rows in search order; `peak_is` says whether the peak was estimated or is a floor (the plan was not timed). */
export function formatOomCsv(rows: readonly OomRecord[]): string {
  const lines = [OOM_COLUMNS.join(',')];
  for (const r of rows) {
    const e = r.execution;
    lines.push([
      r.gbs, r.mbs, r.tp, e.cp, r.dp, r.pp, csvField(r.placement.join(' ')), csvField(r.gpu_cluster_str), e.recompute, e.dpSharding,
      e.shardGroup ?? '', e.sequenceParallel ? 'True' : 'False', e.virtualStages, r.peak_GiB.toFixed(3), r.timed ? 'estimated' : 'at least', r.limit_GiB.toFixed(3),
    ].join(','));
  }
  return `${lines.join('\n')}\n`;
}
