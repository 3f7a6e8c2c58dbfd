/** The estimator's public face: one `estimate(plan, policy)`, the named policies, and an estimator by name. */
import { FasopError } from '../errors.js';
import { dominanceFloorsOf, estimate, moreRecomputeFloorOf, stepFloorOf, timeEstimate, type PipelineRun, type Timing } from './estimate.js';
import { floorCheck, floorsApply, type FloorCheck } from './memory-bound.js';
import { timeFloorApplies } from './time-bound.js';
import type { Estimate, ResolvedPlan } from './plan.js';
import { POLICIES, type EstimatorPolicy } from './policy.js';
import { readsTracked } from './placement-reads.js';

export { estimate, microBatchesOf, timeEstimate, type PipelineRun, type Timing } from './estimate.js';
export { FASOP, REFERENCE, POLICIES, withPolicy, type EstimatorPolicy } from './policy.js';

/** The policy of a name ('reference' reproduces the original; 'fasop' is the corrected model). */
export function policyOf(name: string): EstimatorPolicy {
  const p = POLICIES.get(name);
  if (!p) throw new FasopError(`unknown estimator '${name}'`, 'use --estimator reference or --estimator fasop');
  return p;
}

/**
 * Estimates one resolved plan (the search is generic over it). `memoryFloor`, where the policy's memory
 * check allows it, tells before any timing whether no partition of a plan can fit (memory-bound.ts).
 */
export type Estimator = ((plan: ResolvedPlan) => Estimate | Promise<Estimate>) & {
  memoryFloor?: (plan: ResolvedPlan) => FloorCheck | undefined;
  /**
   * a floor under the plan's step time in seconds, as the estimate partitions it (time-bound.ts);
   * where the floor of any partition is already above `past_s`, that looser floor (no partition is found)
   */
  stepFloor_s?: (plan: ResolvedPlan, past_s?: number) => number | Promise<number>;
  /**
   * a floor under the step time of the plan with at least its recomputed layers per stage, on the
   * partition each layer count takes (estimate.ts)
   */
  moreRecomputeFloor_s?: (plan: ResolvedPlan) => Promise<number>;
  /** floors under the plan's step time from executions already timed whose pipeline inputs its own are at least (estimate.ts dominanceFloorsOf) */
  dominanceFloors_s?: (plan: ResolvedPlan, runs: readonly PipelineRun[]) => Promise<Array<number | undefined>>;
  /** the plan's Timing (estimate.ts): the figures of the estimate, its breakdown built on demand, memory before time */
  timing?: (plan: ResolvedPlan) => Promise<Timing>;
  /** whether the estimator reads the plan's nodes only through the recorded readers (placement-reads.ts) */
  placementReads?: boolean;
};

/** An estimator's Timing of a plan: its own where it has one, else from its whole estimate. */
export async function timingOf(estimator: Estimator, plan: ResolvedPlan): Promise<Timing> {
  if (estimator.timing) return estimator.timing(plan);
  const est = await estimator(plan);
  const tight = est.breakdown.stages.reduce((a, x) => (x.memory_GiB / x.memoryLimit_GiB > a.memory_GiB / a.memoryLimit_GiB ? x : a));
  return { stepTime_s: est.stepTime_s, isOom: est.isOom, tightMemory_GiB: tight.memory_GiB, tightLimit_GiB: tight.memoryLimit_GiB, timed: true, estimate: () => est };
}

/** The estimator of a policy, or of a policy's name. */
export function getEstimator(policy: string | EstimatorPolicy): Estimator {
  const p = typeof policy === 'string' ? policyOf(policy) : policy;
  const run: Estimator = (plan) => estimate(plan, p);
  if (floorsApply(p)) run.memoryFloor = (plan) => floorCheck(plan, p);
  if (floorsApply(p) && timeFloorApplies(p)) {
    run.stepFloor_s = (plan, past_s) => stepFloorOf(plan, p, past_s);
    run.moreRecomputeFloor_s = (plan) => moreRecomputeFloorOf(plan, p);
    run.dominanceFloors_s = (plan, runs) => dominanceFloorsOf(plan, runs, p);
  }
  run.timing = (plan) => timeEstimate(plan, p);
  if (readsTracked(p)) run.placementReads = true;
  return run;
}
