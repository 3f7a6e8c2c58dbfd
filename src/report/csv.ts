import type { PlanRecord } from '../search/record.js';
import { pyBool, pyFloat, pyList } from './pyformat.js';

/** The original's CSV columns, in order (SPEC §13.2); ours follow at the end. */
export const CSV_COLUMNS = [
  'index', 'gbs', 'mbs', 'tp', 'dp', 'pp', 'node_type', 'gpu_cluster', 'partition', 'partition_layers',
  'step_time(s)', 'throughput(samples/s)', 'price_per_step($)', 'is_oom', 'oom_gpumem(GB)', 'iterations',
  'total_time(s)', 'total_time(h)', 'cost($)', 'rank',
  'estimator', 'partition_method', 'placement', 'cost_source',
] as const;

/**
 * One CSV cell. A text cell that a spreadsheet would run as a formula (it starts with = + - @, a
 * tab or a carriage return) gets a leading apostrophe; numbers such as -1.5 stay numbers.
 */
export function csvField(text: string): string {
  const safe = /^[=+\-@\t\r]/.test(text) && !NUMBER.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** A number cell as the CSV writes it (Python float/int repr, inf, nan). */
const NUMBER = /^[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|inf|nan)$/;

export interface RankedRecord {
  /** 0-based position in evaluation order */
  index: number;
  record: PlanRecord;
  rank: number;
}

/**
 * Rank by total training time ascending (ties share the smallest rank, pandas' method "min") and
 * sort stably by (rank, index) — the original's order, with its unspecified tie order made stable.
 */
export function rankRecords(records: readonly PlanRecord[]): RankedRecord[] {
  const indexed = records.map((record, index) => ({ index, record, rank: 0 }));
  const sorted = [...indexed].sort((a, b) => a.record.total_time_seconds - b.record.total_time_seconds || a.index - b.index);
  let prevTime = NaN;
  let prevRank = 0;
  sorted.forEach((r, i) => {
    if (r.record.total_time_seconds !== prevTime) {
      prevRank = i + 1;
      prevTime = r.record.total_time_seconds;
    }
    r.rank = prevRank;
  });
  return sorted;
}

export function csvRow(r: RankedRecord): string {
  const x = r.record;
  const cells = [
    String(r.index), String(x.gbs), String(x.mbs), String(x.tp), String(x.dp), String(x.pp),
    pyList(x.node_type), x.gpu_cluster_str, pyList(x.partition), x.partition_layers ? pyList(x.partition_layers) : '',
    pyFloat(x.step_time), pyFloat(x.throughput), pyFloat(x.price_per_step), pyBool(x.is_oom), pyFloat(x.oom_gpumem),
    String(x.iterations), pyFloat(x.total_time_seconds), pyFloat(x.total_time_hours), pyFloat(x.cost), String(r.rank),
    x.estimator, x.partition_method, pyList(x.placement), x.cost_source,
  ];
  return cells.map(csvField).join(',');
}

/** The whole CSV text, ranked. */
export function formatCsv(records: readonly PlanRecord[]): string {
  const lines = [CSV_COLUMNS.join(','), ...rankRecords(records).map(csvRow)];
  return `${lines.join('\n')}\n`;
}
