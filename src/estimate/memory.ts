/**
 * Peak memory per stage and the out-of-memory check, as the policy counts them: the original's
 * elements or the recipe's bytes, and which GPUs' limit a stage is held to. Pure functions.
 */
import { stageNodeIndices, stageNodeRange } from './links.js';
import { noteRead, onNodes, READ, readToNote, sameNumbers } from './placement-reads.js';
import { elementStageMemory } from './memory-elements.js';
import { stageMemory, stageTotals, type StageMemory } from './memory-bytes.js';
import { roundingOf } from './f32.js';
import type { ResolvedPlan } from './plan.js';
import type { EstimatorPolicy } from './policy.js';
import type { TrainingRecipe } from './recipe.js';
import { widthsOf } from './boundaries.js';
import { idOf, TupleCache } from './keyed-cache.js';
import type { ModelSpec } from '../catalog/schema.js';

export interface MemoryOutcome {
  /** peak GiB per stage, before any margin */
  total_GiB: number[];
  /** parameters each stage holds on one GPU */
  params: number[];
  /** the byte model's parts per stage (policy 'bytes' only) */
  parts?: StageMemory[];
}

/** Peak memory per stage; with `withParts` false the byte model's parts are left out (the same totals). */
export function memoryOf(plan: ResolvedPlan, policy: EstimatorPolicy, recipe: TrainingRecipe, sizes: readonly number[], n: number, m: number, withParts = true): MemoryOutcome {
  if (policy.memory === 'elements') return elementStageMemory(plan, sizes, m, widthsOf(plan, policy).ffn);
  if (!withParts) return sharedTotals(plan, recipe, sizes, n, m);
  const parts = stageMemory(plan.model, sizes, n, plan.mbs, plan.tp, plan.dp, m, recipe, plan.execution);
  return { total_GiB: parts.map((x) => x.total_GiB), params: parts.map((x) => x.params), parts };
}

/** Distinct totals kept per model at most (then forgotten at once). */
const TOTALS_KEPT = 1 << 13;
const totalsCache = new TupleCache<ModelSpec, MemoryOutcome>(TOTALS_KEPT);

/**
 * stageTotals once per (model, recipe, operators, micro-batch, tp, dp, micro-batches, execution
 * object, partition): it reads nothing of the placement, so a strategy's executions on placements
 * that partition alike share it. Shared: callers must not change it.
 */
function sharedTotals(plan: ResolvedPlan, recipe: TrainingRecipe, sizes: readonly number[], n: number, m: number): MemoryOutcome {
  const key = (TOTALS_KEYS[sizes.length] ??= new Array<number>(7 + sizes.length).fill(0));
  key[0] = idOf(recipe);
  key[1] = plan.execution ? idOf(plan.execution) : 0;
  key[2] = n;
  key[3] = plan.mbs;
  key[4] = plan.tp;
  key[5] = plan.dp;
  key[6] = m;
  for (let s = 0; s < sizes.length; s++) key[7 + s] = sizes[s]!;
  return totalsCache.get(plan.model, key) ?? totalsCache.set(plan.model, key.slice(), stageTotals(plan.model, sizes, n, plan.mbs, plan.tp, plan.dp, m, recipe, plan.execution));
}

/** sharedTotals' lookup keys by stage count, rewritten per call (an entry keeps a copy). */
const TOTALS_KEYS: number[][] = [];

/**
 * Node whose memory limit applies to stage s in the original (SPEC §12), where its mapping is
 * defined; where it crashes (pp > N with N ∤ pp, or ⌊N/pp⌋ = 1) the nodes that host the stage.
 */
function originalLimitNodes(plan: ResolvedPlan, s: number): number[] {
  const N = plan.nodes.length;
  const { pp } = plan;
  if (pp > N) {
    const j = Math.floor(s / Math.floor(pp / N));
    if (j < N) return [j];
  } else if (pp === N) {
    return [s];
  } else {
    const k = Math.floor(N / pp);
    if (k > 1) return [(s + 1) * k - 2];
  }
  return stageNodeIndices(plan, s);
}

export interface OomOutcome {
  limits_GiB: readonly number[];
  isOom: boolean;
  /** the memory figure reported (oom_gpumem) */
  reported_GiB: number;
}

/** Each stage's limit, whether any stage exceeds it (with the policy's margin), and the figure reported. */
export function oomCheck(plan: ResolvedPlan, policy: EstimatorPolicy, total_GiB: readonly number[]): OomOutcome {
  const round = roundingOf(policy);
  const limits_GiB = policy.memoryLimit === 'node-formula'
    ? total_GiB.map((_, s) => Math.min(...originalLimitNodes(plan, s).map((i) => plan.nodes[i]!.gpu.memoryLimit_GiB)))
    : stageLimitsOf(plan).perStage_GiB;
  let isOom = false;
  // Math.max of all, pairwise (the same value, NaN and signed zeros included), in a plain loop
  let most_GiB = -Infinity;
  for (let s = 0; s < total_GiB.length; s++) most_GiB = Math.max(most_GiB, total_GiB[s]!);
  let reported_GiB = most_GiB;
  const margin = round(policy.oomMargin);
  for (let s = 0; s < total_GiB.length; s++) {
    const withMargin = round(total_GiB[s]! * margin);
    if (withMargin > limits_GiB[s]!) {
      isOom = true;
      if (policy.oomReported === 'last-oom-stage-with-margin') reported_GiB = withMargin;
    }
  }
  return { limits_GiB, isOom, reported_GiB };
}

/** stageLimitsOf's lookup key, rewritten per call (an entry keeps a copy). */
const LIMITS_KEY: number[] = [0, 0, 0, 0, 0];

const limitsCache = new TupleCache<readonly unknown[], { perStage_GiB: number[]; most_GiB: number }>();

/** Each stage's memory limit (its nodes' smallest) and the largest, once per placement and degrees. Shared: callers must not change it. */
export function stageLimitsOf(plan: ResolvedPlan): { perStage_GiB: number[]; most_GiB: number } {
  const key = LIMITS_KEY;
  key[0] = plan.tp;
  key[1] = plan.dp;
  key[2] = plan.pp;
  key[3] = plan.execution?.cp ?? 1;
  key[4] = plan.gpusPerNode;
  let limits = limitsCache.get(plan.nodes, key);
  if (!limits) {
    // each stage's nodes' smallest limit: Math.min pairwise over them (the same value), in a plain loop
    const perStage_GiB = new Array<number>(plan.pp);
    for (let s = 0; s < plan.pp; s++) {
      let least = Infinity;
      const { first, last } = stageNodeRange(plan, s);
      for (let i = first; i <= last; i++) least = Math.min(least, plan.nodes[i]!.gpu.memoryLimit_GiB);
      perStage_GiB[s] = least;
    }
    limits = limitsCache.set(plan.nodes, key.slice(), { perStage_GiB, most_GiB: Math.max(...perStage_GiB) });
  }
  const read = readToNote(plan, READ.limits, plan.execution?.cp ?? 1);
  if (read >= 0) noteLimitsRead(plan, read, limits.perStage_GiB);
  return limits;
}

/** Record the stage limits as read (apart from stageLimitsOf, which then creates no closure context per call). */
function noteLimitsRead(plan: ResolvedPlan, read: number, want: readonly number[]): void {
  noteRead(plan, read, (on) => sameNumbers(stageLimitsOf(onNodes(plan, on)).perStage_GiB, want));
}
