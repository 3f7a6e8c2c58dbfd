/**
 * Policy minmaxMemory 'within-memory': the greedy minmax balances stage times only, so on a cluster of mixed
 * GPUs it can load a faster GPU's stage past that GPU's memory. Where it does, the estimate takes
 * the partition whose slowest stage is fastest among those whose every stage fits its limit
 * (partition/capped.ts), so a plan is out of memory only when no whole-layer partition fits.
 */
import { layersPerStage } from '../model/graph.js';
import { cappedMinmax } from '../partition/capped.js';
import { expandSizes, type UnitStarts } from '../partition/units.js';
import { roundingOf } from './f32.js';
import { stageTotalsOfRanges } from './memory-bytes.js';
import { unitStageTime, type Candidate, type PartitionInputs } from './partition-choice.js';
import type { TrainingRecipe } from './recipe.js';
import type { ModelSpec } from '../catalog/schema.js';
import { PLAIN_EXECUTION } from './execution.js';
import { TupleCache } from './keyed-cache.js';
import { memoryKeyOf } from './memory-bound.js';

/** Caps kept per model at most (a sweep meets many keys). */
const KEPT = 1 << 14;
const capsKept = new TupleCache<ModelSpec, number[]>(KEPT);

/**
 * The most units each stage can hold within its limit (with the policy's margin, as the OOM check
 * compares). 0: not even one unit fits.
 */
export function unitCaps(x: PartitionInputs, recipe: TrainingRecipe, starts: UnitStarts, limits_GiB: readonly number[]): number[] {
  const { plan } = x;
  const e = plan.execution ?? PLAIN_EXECUTION;
  const key = [...memoryKeyOf(plan, recipe, e), starts.length, 0];
  // a placement's stages take a few distinct limits (one per GPU type): every stage's cap under each,
  // once; neighbouring stages mostly share one, so the last limit's caps are kept at hand
  let lastLimit = 0;
  let lastCaps: readonly number[] | undefined;
  return limits_GiB.map((limit, s) => {
    if (lastCaps === undefined || !Object.is(limit, lastLimit)) {
      key[key.length - 1] = limit;
      lastCaps = capsKept.get(plan.model, key) ?? capsKept.set(plan.model, key.slice(), capsUnder(x, recipe, starts, limit));
      lastLimit = limit;
    }
    return lastCaps[s]!;
  });
}

/**
 * Every stage's cap under one limit, by bisection on every stage at once: a stage's memory grows
 * with its layers and depends on nothing else.
 */
function capsUnder(x: PartitionInputs, recipe: TrainingRecipe, starts: UnitStarts, limit_GiB: number): number[] {
  const { plan, policy, n, m } = x;
  const e = plan.execution ?? PLAIN_EXECUTION;
  const pp = plan.pp;
  const units = starts.length - 1;
  const most = units - (pp - 1);
  const round = roundingOf(policy);
  const margin = round(policy.oomMargin);
  // stage s holding k units: the first from operator 0, the last up to the head, a middle one from the second unit
  const at = new Array<number>(pp);
  const size = new Array<number>(pp);
  const fitting = (k: readonly number[]) => {
    for (let s = 0; s < pp; s++) {
      if (s === 0) { at[s] = 0; size[s] = starts[k[s]!]!; }
      else if (s === pp - 1) { at[s] = starts[units - k[s]!]!; size[s] = n - at[s]!; }
      else { at[s] = starts[1]!; size[s] = starts[1 + k[s]!]! - starts[1]!; }
    }
    const mem = stageTotalsOfRanges(plan.model, at, size, n, plan.mbs, plan.tp, plan.dp, m, recipe, e);
    return mem.map((g) => round(g * margin) <= limit_GiB);
  };
  const lo: number[] = fitting(new Array<number>(pp).fill(1)).map((ok) => (ok ? 1 : 0));
  const hi = lo.map((l) => (l === 0 ? 0 : most));
  while (lo.some((l, s) => l < hi[s]!)) {
    const mid = lo.map((l, s) => (l < hi[s]! ? Math.ceil((l + hi[s]!) / 2) : Math.max(1, l)));
    const ok = fitting(mid);
    for (let s = 0; s < pp; s++) {
      if (lo[s]! >= hi[s]!) continue;
      if (ok[s]) lo[s] = mid[s]!;
      else hi[s] = mid[s]! - 1;
    }
  }
  return lo;
}

const cappedKept = new WeakMap<Candidate, Map<string, Candidate | null>>();

/**
 * The fastest whole-unit partition whose every stage fits (undefined: none does). Kept per minmax
 * candidate (shared by plans of the same stage costs and boundaries) and caps.
 */
export function memoryCappedCandidate(x: PartitionInputs, recipe: TrainingRecipe, starts: UnitStarts, limits_GiB: readonly number[], minmax: Candidate): Candidate | undefined {
  if (x.plan.pp < 2) return undefined;
  const caps = unitCaps(x, recipe, starts, limits_GiB);
  // the caps cannot hold every unit: no partition fits
  if (caps.reduce((a, b) => a + b, 0) < starts.length - 1) return undefined;
  let byCaps = cappedKept.get(minmax);
  if (!byCaps) cappedKept.set(minmax, (byCaps = new Map()));
  const key = caps.join(',');
  let c = byCaps.get(key);
  if (c === undefined) {
    const unitSizes = cappedMinmax(starts.length - 1, caps, unitStageTime(x, starts));
    const sizes = unitSizes && expandSizes(unitSizes, starts);
    byCaps.set(key, (c = sizes ? { sizes, partitionLayers: layersPerStage(sizes), memoryCapped: true } : null));
  }
  return c ?? undefined;
}
