import { FasopError } from '../errors.js';
import { MODEL_LIMITS } from '../catalog/schema.js';
import { parsePyList, parseResultsCsv, quoteCell, readCsvText } from '../report/csv-read.js';
import { DP_SHARDING, RECOMPUTE } from '../estimate/execution.js';
import type { PlanRecord } from '../search/record.js';

type ExecutionCells = Pick<PlanRecord, 'cp' | 'recompute' | 'recompute_layers' | 'dp_sharding' | 'shard_group' | 'sequence_parallel' | 'virtual_stages'>;

/** The execution columns of a row (a file without them, such as the original's, ran plain). */
function executionCells(extra: Record<string, string>, where: () => string): ExecutionCells {
  const cell = (k: string) => (extra[k] ?? '').trim();
  const int = (k: string, dflt: number | null): number | null => {
    const v = cell(k);
    if (v === '' || v === 'None') return dflt;
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new FasopError(`${where()}: column ${k} must be a whole number >= 1, got '${v}'`, 'pass a results CSV that fasop wrote');
    return Number(v);
  };
  const choice = <T extends string>(k: string, values: readonly T[]): T => {
    const v = cell(k) || values[0]!;
    if (!(values as readonly string[]).includes(v)) throw new FasopError(`${where()}: column ${k} must be one of ${values.join(', ')}, got '${v}'`, 'pass a results CSV that fasop wrote');
    return v as T;
  };
  const sp = cell('sequence_parallel');
  if (sp !== '' && sp !== 'True' && sp !== 'False') throw new FasopError(`${where()}: column sequence_parallel must be True or False, got '${sp}'`, 'pass a results CSV that fasop wrote');
  return {
    cp: int('cp', 1)!,
    recompute: choice('recompute', RECOMPUTE),
    recompute_layers: int('recompute_layers', null),
    dp_sharding: choice('dp_sharding', DP_SHARDING),
    shard_group: int('shard_group', null),
    sequence_parallel: sp === 'True',
    virtual_stages: int('virtual_stages', 1)!,
  };
}

/** The sequence length a row was estimated at (column seq_length); null in a file without it. */
function seqLengthCell(extra: Record<string, string>, where: () => string): number | null {
  const v = (extra['seq_length'] ?? '').trim();
  if (v === '' || v === 'None') return null;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > MODEL_LIMITS.seq_length) {
    throw new FasopError(`${where()}: column seq_length must be a whole number from 1 to ${MODEL_LIMITS.seq_length}, got ${quoteCell(v)}`, 'pass a results CSV that fasop wrote');
  }
  return Number(v);
}

/** One CSV row as a plan record (the original's columns; ours when present) plus its rank/index. */
export interface CsvPlanRow {
  index: number;
  rank: number;
  record: PlanRecord;
  /** true when the file has our `placement` column (else placement comes from node_type) */
  hasPlacement: boolean;
  /** the model the search planned (column model; '' in a file without it, such as the original's) */
  model: string;
}

const REQUIRED = ['index', 'gbs', 'mbs', 'tp', 'dp', 'pp', 'node_type', 'gpu_cluster', 'partition', 'partition_layers', 'step_time(s)', 'is_oom', 'rank'];

/**
 * The rows of a results CSV (fasop's or the original's, read by the shared reader
 * src/report/csv-read.ts) as plan records, for `fasop export --csv FILE --rank N`.
 */
export function readPlanCsv(text: string, origin: string): CsvPlanRow[] {
  return parseResultsCsv(text, origin, { required: REQUIRED }).map((r) => {
    const placementCell = r.extra['placement'] ?? '';
    const hasPlacement = placementCell.trim() !== '';
    const nodeType = r.nodeType ?? [];
    const record: PlanRecord = {
      gbs: r.gbs, mbs: r.mbs, tp: r.tp, dp: r.dp, pp: r.pp,
      node_type: nodeType,
      gpu_cluster_str: r.gpuCluster ?? '',
      partition: r.partition ?? [],
      partition_layers: r.partitionLayers ?? null,
      step_time: r.stepTimeS ?? NaN,
      throughput: r.throughputSamplesPerS ?? NaN,
      price_per_step: r.pricePerStepUsd ?? NaN,
      is_oom: r.isOom,
      oom_gpumem: r.oomGpuMemGB ?? NaN,
      iterations: r.iterations ?? NaN,
      total_time_seconds: r.totalTimeS ?? NaN,
      total_time_hours: r.totalTimeH ?? NaN,
      cost: r.costUsd ?? NaN,
      placement: hasPlacement ? parsePyList(placementCell.trim(), () => `${origin} line ${r.line} placement`, (x) => x) : nodeType,
      estimator: r.extra['estimator'] ?? '',
      partition_method: r.extra['partition_method'] ?? '',
      cost_source: r.extra['cost_source'] ?? '',
      ...executionCells(r.extra, () => `${origin} line ${r.line}`),
      mfu: Number(r.extra['mfu'] || NaN),
      tokens_per_s_per_gpu: Number(r.extra['tokens_per_s_per_gpu'] || NaN),
      seq_length: seqLengthCell(r.extra, () => `${origin} line ${r.line}`),
    };
    return { index: r.index!, rank: r.rank!, record, hasPlacement, model: (r.extra['model'] ?? '').trim() };
  });
}

export function readPlanCsvFile(path: string): CsvPlanRow[] {
  return readPlanCsv(readCsvText(path), path);
}
