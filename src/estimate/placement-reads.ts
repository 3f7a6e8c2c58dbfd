/**
 * What the estimator reads of a plan's placement, recorded: under a policy whose every read of the
 * nodes goes through the readers here (stage types and boundary costs, stage memory limits, the
 * data-parallel, context-parallel and embedding links), two placements that give one strategy the
 * same values of these reads give it the same estimates, so a search can reuse them (rotations of a
 * mixed cluster often differ only where no stage of a strategy sees it).
 */
import type { Link } from './links-alpha-beta.js';
import type { PlacementOf, ReadTape, ResolvedPlan } from './plan.js';
import type { EstimatorPolicy } from './policy.js';

export type { PlacementOf, ReadTape } from './plan.js';

export function newTape(): ReadTape {
  return { keys: new Set(), reads: [] };
}

/** Whether every read of the tape gives the same value on another placement. */
export function readsSame(tape: ReadTape, on: PlacementOf): boolean {
  for (const r of tape.reads) if (!r(on)) return false;
  return true;
}

/** Kinds of read, for a tape's keys. */
export const READ = { planCosts: 1, limits: 2, dpRing: 3, cpRing: 4, embedding: 5 } as const;

/** The key of a read: its kind, the plan's cp, a stage and a group size (each within its range). */
export function readKey(kind: number, cp: number, s = 0, k = 0): number {
  return ((kind * 256 + cp) * 8192 + s) * 1048576 + k;
}

/** The key of a read (readKey) that the plan's tape still lacks, else −1 (always without a tape, the key not built). */
export function readToNote(plan: Pick<ResolvedPlan, 'readTape'>, kind: number, cp: number, s = 0, k = 0): number {
  if (plan.readTape === undefined) return -1;
  const key = readKey(kind, cp, s, k);
  return plan.readTape.keys.has(key) ? -1 : key;
}

/** Add a read to the plan's tape: `replay` reads it again on another placement (a plan without a tape). */
export function noteRead(plan: Pick<ResolvedPlan, 'readTape'>, key: number, replay: (on: PlacementOf) => boolean): void {
  plan.readTape!.keys.add(key);
  plan.readTape!.reads.push(replay);
}

/** The last plan onNodes rebound, its placement and the result: a tape's reads of one plan replay on one placement in a row. */
let lastPlan: ResolvedPlan | undefined;
let lastOn: PlacementOf | undefined;
let lastOnNodes: ResolvedPlan | undefined;

/** Add a read's key only: a replay already on the tape checks its value (a group of reads, e.g. every stage's ring). */
export function noteKey(plan: Pick<ResolvedPlan, 'readTape'>, key: number): void {
  plan.readTape!.keys.add(key);
}

/** The plan on another placement, recording nothing (plans are never changed: a repeated call gives the same object). */
export function onNodes(plan: ResolvedPlan, on: PlacementOf): ResolvedPlan {
  if (plan === lastPlan && on === lastOn) return lastOnNodes!;
  const { readTape: _, dtensorTp: __, ...rest } = plan;
  lastPlan = plan;
  lastOn = on;
  return (lastOnNodes = { ...rest, nodes: on.nodes, profiles: on.profiles, ...(on.dtensorTp ? { dtensorTp: on.dtensorTp } : {}) });
}

export function sameLink(a: Link, b: Link): boolean {
  return a === b || (a.latency_s === b.latency_s && a.bandwidth_Bps === b.bandwidth_Bps && a.source === b.source && a.samples === b.samples && a.samplesGroup === b.samplesGroup);
}

export function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether a policy reads the nodes only through the recorded readers (the original's formulas read them elsewhere). */
export function readsTracked(policy: EstimatorPolicy): boolean {
  return policy.links === 'alpha-beta' && policy.memoryLimit === 'hosting-nodes' && policy.dpAllreduce === 'per-stage';
}
