import type { PlanRecord } from '../search/record.js';

/**
 * What one SSE `result` event carries: the record fields the page shows (the original's names),
 * not the estimate's breakdown. Numbers that are not finite become null.
 */
type Nullable<T> = { [K in keyof T]: T[K] | null };

export type WirePlan = { index: number }
  & Pick<PlanRecord, 'gbs' | 'mbs' | 'tp' | 'dp' | 'pp' | 'node_type' | 'gpu_cluster_str' | 'partition' | 'is_oom'>
  & Nullable<Pick<PlanRecord, 'step_time' | 'throughput' | 'price_per_step' | 'oom_gpumem' | 'total_time_hours' | 'cost'>>;

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const int = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** The page's view of a record: from the search (PlanRecord) or from a JSONL line (ours or the original's). */
export function wirePlan(index: number, r: PlanRecord | Record<string, unknown>): WirePlan {
  const o = r as Record<string, unknown>;
  const list = <T>(v: unknown, ok: (x: unknown) => x is T): T[] => (Array.isArray(v) ? v.filter(ok) : []);
  return {
    index,
    gbs: int(o['gbs']),
    mbs: int(o['mbs']),
    tp: int(o['tp']),
    dp: int(o['dp']),
    pp: int(o['pp']),
    node_type: list(o['node_type'] ?? o['placement'], (x): x is string => typeof x === 'string'),
    gpu_cluster_str: typeof o['gpu_cluster_str'] === 'string' ? o['gpu_cluster_str'] : '',
    partition: list(o['partition'], (x): x is number => typeof x === 'number'),
    step_time: num(o['step_time']),
    throughput: num(o['throughput']),
    price_per_step: num(o['price_per_step']),
    is_oom: o['is_oom'] === true || o['is_oom'] === 'True',
    oom_gpumem: num(o['oom_gpumem']),
    total_time_hours: num(o['total_time_hours']),
    cost: num(o['cost']),
  };
}

/**
 * A batch of result events as the search thread sends it: each plan's `data` JSON, already
 * serialised there, and the three numbers the server keeps for the frontier count, in typed
 * arrays (transferred, not copied).
 */
export interface ResultBatch {
  json: string[];
  cost: Float64Array<ArrayBuffer>;
  throughput: Float64Array<ArrayBuffer>;
  /** 1 where the plan does not fit in memory */
  oom: Uint8Array<ArrayBuffer>;
}

export function encodeResults(plans: readonly WirePlan[]): ResultBatch {
  const n = plans.length;
  const b: ResultBatch = { json: new Array<string>(n), cost: new Float64Array(n), throughput: new Float64Array(n), oom: new Uint8Array(n) };
  for (let i = 0; i < n; i++) {
    const p = plans[i]!;
    b.json[i] = JSON.stringify(p);
    b.cost[i] = p.cost ?? NaN;
    b.throughput[i] = p.throughput ?? NaN;
    b.oom[i] = p.is_oom ? 1 : 0;
  }
  return b;
}
