import { FasopError } from '../errors.js';
import { parsePyList, parseResultsCsv, readCsvText } from '../report/csv-read.js';
import type { PlanRecord } from '../search/record.js';

/** One CSV row as a plan record (the original's columns; ours when present) plus its rank/index. */
export interface CsvPlanRow {
  index: number;
  rank: number;
  record: PlanRecord;
  /** true when the file has our `placement` column (else placement comes from node_type) */
  hasPlacement: boolean;
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
    };
    return { index: r.index!, rank: r.rank!, record, hasPlacement };
  });
}

export function readPlanCsvFile(path: string): CsvPlanRow[] {
  return readPlanCsv(readCsvText(path), path);
}
