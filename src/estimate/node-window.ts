/**
 * A window of a placement's nodes by content, for link caches that hold across placements: the
 * links among ranks [r0, r1) depend only on their nodes' contents, their offsets from the window's
 * first node and the ranks' global positions mod 4 (intraTier's NVLink-pair and switch groups), so
 * two placements (rotations of one cluster) with equal windows share their links.
 */
import { idOf } from './keyed-cache.js';
import type { ClusterNode } from './plan.js';

/** Content id of a node: its GPU spec and bandwidths (nodes of one type in one request are equal). */
const contentIds = new Map<string, number>();
/** Runs of equal content along each placement's nodes: [first node, content id] pairs. */
const runsByNodes = new WeakMap<readonly ClusterNode[], Int32Array>();

function runsOf(nodes: readonly ClusterNode[]): Int32Array {
  let runs = runsByNodes.get(nodes);
  if (runs) return runs;
  const out: number[] = [];
  let last = -1;
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i]!;
    const k = `${idOf(n.gpu)} ${n.interNode_bps} ${n.intraNode_bps}`;
    let id = contentIds.get(k);
    if (id === undefined) contentIds.set(k, (id = contentIds.size + 1));
    if (id !== last) out.push(i, id);
    last = id;
  }
  runsByNodes.set(nodes, (runs = Int32Array.from(out)));
  return runs;
}

/** Switch for the content keys (tests compare a search with them and without: per-placement keys only). */
export const windowKeys = { enabled: true };

/** Windows of more runs than this are not keyed by content (their caller keeps its per-placement cache). */
const MAX_RUNS = 16;

/**
 * The key of the nodes of ranks [r0, r1) (GPUs per node gpn): r0 mod gpn, the window's first rank
 * mod 4, then (content id, nodes) per run; undefined past MAX_RUNS runs.
 */
export function windowKey(nodes: readonly ClusterNode[], gpn: number, r0: number, r1: number): number[] | undefined {
  const key: number[] = [];
  return windowKeyAt(key, 0, nodes, gpn, r0, r1) >= 0 ? key : undefined;
}

/** windowKey written into `key` from index `at` on: the index after it, or −1 where there is none (entries from `at` on then undefined in meaning). */
function windowKeyAt(key: number[], at: number, nodes: readonly ClusterNode[], gpn: number, r0: number, r1: number): number {
  if (!windowKeys.enabled) return -1;
  const first = Math.floor(r0 / gpn);
  const last = Math.floor((r1 - 1) / gpn);
  const runs = runsOf(nodes);
  let n = at;
  key[n++] = r0 % gpn;
  key[n++] = (first * gpn) % 4;
  // the run holding `first`: the last run starting at or before it
  let lo = 0;
  let hi = runs.length / 2 - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (runs[2 * mid]! <= first) lo = mid;
    else hi = mid - 1;
  }
  for (let r = lo; 2 * r < runs.length && runs[2 * r]! <= last; r++) {
    if (n - at >= 2 + 2 * MAX_RUNS) return -1;
    const start = Math.max(first, runs[2 * r]!);
    const end = Math.min(last + 1, 2 * r + 2 < runs.length ? runs[2 * r + 2]! : nodes.length);
    key[n++] = runs[2 * r + 1]!;
    key[n++] = end - start;
  }
  return n;
}

/** Owner of the content-keyed entries of a TupleCache (its per-placement entries are owned by the nodes array). */
export const BY_CONTENT: readonly ClusterNode[] = Object.freeze([]);

/** Where linkKey writes a key (never shortened, so never reallocated), and a kept array per key length. */
const BUF: number[] = new Array<number>(8 + 2 + 2 * MAX_RUNS).fill(0);
const KEYS: number[][] = [];

/** The key linkKey built last, reused from call to call (a TupleCache lookup does not keep it: copy it, `.slice()`, where an entry is kept). */
export let LINK_KEY: number[] = [];

/**
 * The cache key of a link among ranks [r0, r1), in LINK_KEY: up to seven fixed fields (degrees,
 * GPUs per node, launch: unused ones 0), then the window's content (owner BY_CONTENT) where it has
 * one, else `local` (the stage or boundary) and the placement's nodes as owner. Returns the owner.
 */
export function linkKey(nodes: readonly ClusterNode[], gpn: number, r0: number, r1: number, local: number, f0: number, f1: number, f2: number, f3: number, f4: number, f5 = 0, f6 = 0): readonly ClusterNode[] {
  BUF[0] = f0;
  BUF[1] = f1;
  BUF[2] = f2;
  BUF[3] = f3;
  BUF[4] = f4;
  BUF[5] = f5;
  BUF[6] = f6;
  BUF[7] = -1;
  let n = windowKeyAt(BUF, 8, nodes, gpn, r0, r1);
  const byContent = n >= 0;
  if (!byContent) {
    BUF[7] = local;
    n = 8;
  }
  const key = (KEYS[n] ??= new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) key[i] = BUF[i]!;
  LINK_KEY = key;
  return byContent ? BY_CONTENT : nodes;
}
