import type { PlanRecord } from '../search/record.js';
import type { PlanExtras, RankOrder } from './plan-extras.js';
import { pyBool, pyFloat, pyList } from './pyformat.js';
import type { ResultTable } from './result-table.js';

/** The original's CSV columns, in order (SPEC §13.2); ours follow at the end. */
export const ORIGINAL_COLUMNS = [
  'index', 'gbs', 'mbs', 'tp', 'dp', 'pp', 'node_type', 'gpu_cluster', 'partition', 'partition_layers',
  'step_time(s)', 'throughput(samples/s)', 'price_per_step($)', 'is_oom', 'oom_gpumem(GB)', 'iterations',
  'total_time(s)', 'total_time(h)', 'cost($)', 'rank',
] as const;

/** Columns fasop adds after the original's (docs/outputs.md says what each holds). */
export const ADDED_COLUMNS = [
  'estimator', 'partition_method', 'placement', 'cost_source',
  'gpus', 'gpu_memory_GiB', 'gpu_memory_limit_GiB', 'layers_rounded', 'model', 'dataset', 'train_tokens',
  'cp', 'recompute', 'recompute_layers', 'dp_sharding', 'shard_group', 'sequence_parallel', 'virtual_stages', 'mfu', 'tokens_per_s_per_gpu', 'seq_length',
] as const;

export const CSV_COLUMNS = [...ORIGINAL_COLUMNS, ...ADDED_COLUMNS] as const;

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
 * Rank plans. `time` (the original's): by total training time ascending, ties share the smallest
 * rank (pandas' method "min"), sorted stably by (rank, index). `fits-first`: the same, but every plan
 * that fits in GPU memory ranks before every plan that does not, so rank 1 is the best plan that runs.
 */
export function rankRecords(records: readonly PlanRecord[], order: RankOrder = 'time'): RankedRecord[] {
  const indexed = records.map((record, index) => ({ index, record, rank: 0 }));
  const oomKey = (r: PlanRecord) => (order === 'fits-first' && r.is_oom ? 1 : 0);
  const sorted = [...indexed].sort((a, b) => oomKey(a.record) - oomKey(b.record) || a.record.total_time_seconds - b.record.total_time_seconds || a.index - b.index);
  let prevKey = '';
  let prevRank = 0;
  sorted.forEach((r, i) => {
    const key = `${oomKey(r.record)}|${r.record.total_time_seconds}`;
    if (key !== prevKey) {
      prevRank = i + 1;
      prevKey = key;
    }
    r.rank = prevRank;
  });
  return sorted;
}

/** What every row of one results file shares: the training budget it was costed for. */
export interface CsvContext {
  model?: string;
  dataset?: string;
  trainTokens?: number;
}

/** The cell of a node list, once per list object (records of one placement share theirs). */
const listCells = new WeakMap<readonly string[], string>();
function nodeListCell(xs: readonly string[]): string {
  let c = listCells.get(xs);
  if (c === undefined) listCells.set(xs, (c = csvField(pyList(xs))));
  return c;
}

const num = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '' : pyFloat(x));

/**
 * One CSV line. With `fillLayers` (the corrected estimator's files) a partition that cuts inside a
 * layer gets the whole-layer split a launcher runs in `partition_layers` (and `layers_rounded` True);
 * without, `partition_layers` is empty then, as the original writes it.
 */
export function csvRow(r: RankedRecord, extras?: PlanExtras, ctx: CsvContext = {}, fillLayers = false): string {
  const x = r.record;
  const layers = x.partition_layers ?? (fillLayers ? extras?.layersPerStage ?? null : null);
  // number and True/False cells are written as they are (csvField leaves them so); text cells go through csvField
  const f = csvField;
  const cells = [
    String(r.index), String(x.gbs), String(x.mbs), String(x.tp), String(x.dp), String(x.pp),
    nodeListCell(x.node_type), f(x.gpu_cluster_str), f(pyList(x.partition)), layers ? f(pyList(layers)) : '',
    pyFloat(x.step_time), pyFloat(x.throughput), pyFloat(x.price_per_step), pyBool(x.is_oom), pyFloat(x.oom_gpumem),
    String(x.iterations), pyFloat(x.total_time_seconds), pyFloat(x.total_time_hours), pyFloat(x.cost), String(r.rank),
    f(x.estimator), f(x.partition_method), nodeListCell(x.placement), f(x.cost_source),
    String(x.tp * x.cp * x.dp * x.pp), num(extras?.peakMemory_GiB), num(extras?.memoryLimit_GiB),
    extras ? pyBool(extras.layersRounded) : '',
    f(ctx.model ?? ''), f(ctx.dataset ?? ''), ctx.trainTokens === undefined ? '' : String(Math.round(ctx.trainTokens)),
    String(x.cp), f(x.recompute), x.recompute_layers === null ? '' : String(x.recompute_layers), f(x.dp_sharding),
    x.shard_group === null ? '' : String(x.shard_group), pyBool(x.sequence_parallel), String(x.virtual_stages),
    num(x.mfu), num(x.tokens_per_s_per_gpu), x.seq_length ? String(x.seq_length) : '',
  ];
  return cells.join(',');
}

export interface FormatCsvOptions {
  order?: RankOrder;
  /** extras of each record, by the record's position in `records` */
  extras?: readonly PlanExtras[];
  context?: CsvContext;
  /** fill `partition_layers` with rounded whole layers where the partition cuts a layer */
  fillLayers?: boolean;
}

/** The whole CSV text, ranked. */
export function formatCsv(records: readonly PlanRecord[], opts: FormatCsvOptions = {}): string {
  const lines = [CSV_COLUMNS.join(','), ...rankRecords(records, opts.order).map((r) => csvRow(r, opts.extras?.[r.index], opts.context, opts.fillLayers))];
  return `${lines.join('\n')}\n`;
}

/** Rows per chunk of csvChunks. */
const ROWS_PER_CHUNK = 2048;

/**
 * The CSV of formatCsv, byte for byte, in chunks of text (the header first), from a ResultTable:
 * a large search's file is written without holding its whole text or a record object per row.
 */
export function* csvChunks(table: ResultTable, opts: Omit<FormatCsvOptions, 'extras'> = {}): Generator<string> {
  yield `${CSV_COLUMNS.join(',')}\n`;
  const { order, rank } = table.ranked(opts.order);
  let lines: string[] = [];
  for (let p = 0; p < order.length; p++) {
    const i = order[p]!;
    const record = table.record(i);
    lines.push(csvRow({ index: i, record, rank: rank[p]! }, table.extras(i, record), opts.context, opts.fillLayers));
    if (lines.length === ROWS_PER_CHUNK) {
      yield `${lines.join('\n')}\n`;
      lines = [];
    }
  }
  if (lines.length) yield `${lines.join('\n')}\n`;
}
