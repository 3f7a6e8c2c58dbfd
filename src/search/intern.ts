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

/** The string's shared copy. */
export const sharedString = (s: string) => strings.get(s, s);

/** A list's shared copy: by the list object first (records of one placement, and a choice reused on later placements, pass the same lists), else by its contents. */
function listSharer<T extends string | number>(pool: Pool<T[]>, separator: string): (xs: T[]) => T[] {
  const byList = new WeakMap<T[], T[]>();
  return (xs) => {
    let out = byList.get(xs);
    if (out === undefined) byList.set(xs, (out = pool.get(xs.join(separator), xs)));
    return out;
  };
}
/** A string list's shared copy. */
export const sharedStringList = listSharer(stringLists, '\u0000');
/** A number list's shared copy. */
export const sharedNumberList = listSharer(numberLists, ',');

/** The record with its repeated parts shared with earlier records (the same values). */
export function compactRecord(r: PlanRecord): PlanRecord {
  r.node_type = sharedStringList(r.node_type);
  r.placement = sharedStringList(r.placement);
  r.partition = sharedNumberList(r.partition);
  if (r.partition_layers) r.partition_layers = sharedNumberList(r.partition_layers);
  r.cost_source = sharedString(r.cost_source);
  r.gpu_cluster_str = sharedString(r.gpu_cluster_str);
  return r;
}
