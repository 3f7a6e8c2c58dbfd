/**
 * Records that the ranking keeps (every result, for the CSV) share their repeated parts: the
 * node-type lists, partitions and cost sources of one search repeat across many records, so each
 * distinct one is kept once. Records are read, never changed, after they are made.
 */
import type { PlanRecord } from './record.js';

/** Distinct values kept per kind at most (then forgotten at once: later records start sharing anew). */
const KEEP = 1 << 16;

class Pool<T> {
  private readonly kept = new Map<string, T>();
  get(key: string, value: T): T {
    const v = this.kept.get(key);
    if (v !== undefined) return v;
    if (this.kept.size >= KEEP) this.kept.clear();
    this.kept.set(key, value);
    return value;
  }
}

const strings = new Pool<string>();
const stringLists = new Pool<string[]>();
const numberLists = new Pool<number[]>();

const shared = (s: string) => strings.get(s, s);
/** Each list already shared, by the list object: records of one placement pass the same lists. */
const sharedByList = new WeakMap<string[], string[]>();
const sharedStrings = (xs: string[]) => {
  let out = sharedByList.get(xs);
  if (out === undefined) sharedByList.set(xs, (out = stringLists.get(xs.join('\u0000'), xs)));
  return out;
};
/** Each number list already shared, by the list object: a choice reused on a later placement passes the same estimate's lists. */
const sharedByNumbers = new WeakMap<number[], number[]>();
const sharedNumbers = (xs: number[]) => {
  let out = sharedByNumbers.get(xs);
  if (out === undefined) sharedByNumbers.set(xs, (out = numberLists.get(xs.join(','), xs)));
  return out;
};

/** The record with its repeated parts shared with earlier records (the same values). */
export function compactRecord(r: PlanRecord): PlanRecord {
  r.node_type = sharedStrings(r.node_type);
  r.placement = sharedStrings(r.placement);
  r.partition = sharedNumbers(r.partition);
  if (r.partition_layers) r.partition_layers = sharedNumbers(r.partition_layers);
  r.cost_source = shared(r.cost_source);
  r.gpu_cluster_str = shared(r.gpu_cluster_str);
  return r;
}
