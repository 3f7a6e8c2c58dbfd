/**
 * One strategy, several executions: the request's executions as a strategy runs them, and the
 * fastest of them that fits on a placement (memory before time: an execution whose memory floor is
 * over the limit is not timed). The search, `--exhaustive` and `fasop export` choose the same way.
 */
import type { Catalog } from '../catalog/catalog.js';
import { FasopError } from '../errors.js';
import { PLAIN_EXECUTION, executionLabel } from '../estimate/execution.js';
import { timingOf, type Estimator, type PipelineRun, type Timing } from '../estimate/index.js';
import type { Estimate, ResolvedPlan } from '../estimate/plan.js';
import { newTape, onNodes, readsSame, type ReadTape } from '../estimate/placement-reads.js';
import { checkedPlacements, planExecution, planExecutionProblems, resolvePlan, type Placement, type PlanSettings } from '../plan/resolve.js';
import type { ProfileDb } from '../profiles/db.js';
import type { SearchRequest } from '../request/request.js';
import type { Strategy } from './enumerate.js';
import type { OomRecord } from './record.js';

/**
 * Each strategy with each of the request's executions as it runs there (no-ops dropped, so
 * duplicates collapse), less those a launcher refuses; the strategies themselves without any.
 */
export function withExecutions(req: SearchRequest, strategies: Strategy[], gbs: number, list = req.executions): Strategy[] {
  if (!list || list.length === 0) return strategies;
  const out: Strategy[] = [];
  for (const st of strategies) {
    const seen = new Set<string>();
    for (const e of list) {
      const execution = planExecution(e, st)!;
      const key = executionLabel(execution);
      if (seen.has(key)) continue;
      seen.add(key);
      if (planExecutionProblems(req, { ...st, gbs, execution }).length === 0) out.push({ ...st, execution });
    }
  }
  return out;
}

/**
 * Step times within this relative distance of each other are one time: the earlier execution in the
 * request's order is chosen, whatever the last bits of their sums (a host-bound plan gains nothing
 * from selective recompute; rounding should not decide for it).
 */
export const STEP_TIE_REL = 1e-12;

/** Of fitting candidates, the one the search keeps: the earliest in the request's order within STEP_TIE_REL of the fastest. */
function chosenOf<T extends { timing: { stepTime_s: number }; at: number }>(fits: readonly T[]): T | undefined {
  const best = fits.reduce((a, x) => Math.min(a, x.timing.stepTime_s), Infinity);
  let out: T | undefined;
  for (const x of fits) if (x.timing.stepTime_s <= best * (1 + STEP_TIE_REL) && (!out || x.at < out.at)) out = x;
  return out;
}

/** What chooseExecution found: the fastest execution that fits, else the leanest one that does not. */
export interface ExecutionChoice {
  fit?: { plan: ResolvedPlan; estimate: Estimate };
  oom?: Omit<OomRecord, 'placement' | 'gpu_cluster_str'>;
}

/**
 * Of one strategy's executions on a placement, the fastest that fits (the first of equals, in the
 * request's order). Not timed: an execution whose memory floor is over the limit, or whose step-time
 * floor cannot beat the fastest fitting one so far, or no faster than an earlier fitting one (its
 * pipeline inputs at least that one's, stage by stage: estimate.ts dominanceFloorsOf). With
 * fewestRecomputeLayers, a full recompute whose sibling without recompute does not fit is also tried
 * with the fewest layers that fit.
 * With memoryParts false the chosen estimate's stages carry their memory but not its parts.
 */
export async function chooseExecution(req: SearchRequest, profiles: ProfileDb, estimator: Estimator, place: Placement, choice: readonly Strategy[], gbs: number, memoryParts = true): Promise<ExecutionChoice> {
  // every execution timed that fits, and the fastest step time among them
  const fits: Kept[] = [];
  let best_s = Infinity;
  // the leanest execution that does not fit (the least over its limit; the earlier on ties); its record is built at the end
  let lean: Lean | undefined;
  const keepLean = (ratio: number, at: number, plan: ResolvedPlan, peak_GiB: number, limit_GiB: number, timed: boolean) => {
    if (!lean || ratio < lean.ratio || (ratio === lean.ratio && at < lean.at)) lean = { ratio, at, plan, peak_GiB, limit_GiB, timed };
  };
  // executions estimated past their memory floor (their partition's memory known; most of them timed)
  let estimated = 0;
  const outcome: Array<'fit' | 'oom' | 'skipped' | undefined> = new Array(choice.length);
  // executions that fit only on a partition within memory (minmax's did not fit): more recompute may loosen it
  const cappedFit: boolean[] = new Array(choice.length).fill(false);
  const settings = settingsOf(choice, gbs);
  // executions not timed because an earlier fitting one is no slower (its step time is a floor under theirs)
  const dominated: Array<{ at: number; plan: ResolvedPlan; by: Kept }> = [];
  for (const at of timingOrder(choice)) {
    const st = choice[at]!;
    const plan = resolvePlan(req, profiles, place, settings[at]!);
    const floor = estimator.memoryFloor?.(plan);
    if (floor && floor.ratio > 1) {
      const over = floor.evenRatio ?? floor.ratio;
      keepLean(over, at, plan, floor.peak_GiB, floor.limit_GiB, false);
      outcome[at] = 'oom';
      continue;
    }
    // an execution whose step-time floor is past the fastest one that fits (and its tie distance) cannot take its place
    if (fits.length && estimator.stepFloor_s) {
      // a floor of any partition already this far past it skips it as surely (1e-6 over: rounding cannot undo it)
      const f = (await estimator.stepFloor_s(plan, (best_s * (1 + STEP_TIE_REL) * (1 + 1e-6)) / (1 - 1e-9))) * (1 - 1e-9);
      if (f > best_s * (1 + STEP_TIE_REL)) {
        outcome[at] = 'skipped';
        continue;
      }
    }
    // an execution whose pipeline inputs are at least a fitting one's ends no earlier (more recompute on the same partition)
    if (fits.length && estimator.dominanceFloors_s) {
      const floors = await estimator.dominanceFloors_s(plan, fits.map((y) => y.timing.pipeline ?? NO_RUN));
      let by: Kept | undefined;
      let past = false;
      for (let i = 0; i < fits.length && !past; i++) {
        const f = floors[i];
        if (f === undefined) continue;
        past = f * (1 - 1e-9) > best_s * (1 + STEP_TIE_REL);
        // no faster than an earlier execution in the request's order: never chosen over it
        if (!by && fits[i]!.at < at && f >= fits[i]!.timing.stepTime_s) by = fits[i];
      }
      if (past || by) {
        outcome[at] = 'skipped';
        if (!past) dominated.push({ at, plan, by: by! });
        continue;
      }
    }
    const t = await timingOf(estimator, plan);
    estimated += 1;
    if (t.isOom) {
      const ratio = t.tightMemory_GiB / t.tightLimit_GiB;
      keepLean(ratio, at, plan, t.tightMemory_GiB, t.tightLimit_GiB, true);
      outcome[at] = 'oom';
      continue;
    }
    outcome[at] = 'fit';
    if (t.memoryCapped) cappedFit[at] = true;
    fits.push({ plan, timing: t, at });
    best_s = Math.min(best_s, t.stepTime_s);
  }
  // partial recompute: for each full recompute that may fit where its sibling without recompute does not
  if (req.fewestRecomputeLayers) {
    for (let at = 0; at < choice.length; at++) {
      const st = choice[at]!;
      const e = st.execution;
      if (!e || e.recompute !== 'full' || e.recomputeLayers !== undefined || outcome[at] === 'oom') continue;
      const none = noneSiblingsOf(choice)[at]!;
      // fewer recomputed layers are slower than none at all, on the same partition
      if (none >= 0 && outcome[none] === 'fit' && !cappedFit[none]) continue;
      const p = await fewestLayers(req, profiles, estimator, place, st, gbs, fits.length ? best_s : undefined);
      estimated += p.estimated;
      // just before its full recompute in the request's order: fewer layers recomputed
      if (p.fit) {
        fits.push({ ...p.fit, at: at - 0.5 });
        best_s = Math.min(best_s, p.fit.timing.stepTime_s);
      }
    }
  }
  // the floor holds to rounding: where the execution that rules one out lies just past the tie distance of the fastest, time it
  const justPast = (d: { by: Kept }) => {
    const window_s = best_s * (1 + STEP_TIE_REL);
    return d.by.timing.stepTime_s > window_s && d.by.timing.stepTime_s * (1 - 1e-9) <= window_s;
  };
  for (let i = dominated.findIndex(justPast); i >= 0; i = dominated.findIndex(justPast)) {
    const [d] = dominated.splice(i, 1);
    const t = await timingOf(estimator, d!.plan);
    estimated += 1;
    if (!t.isOom) {
      fits.push({ plan: d!.plan, timing: t, at: d!.at });
      best_s = Math.min(best_s, t.stepTime_s);
    }
  }
  const fit = chosenOf(fits);
  if (fit) return { fit: { plan: fit.plan, estimate: fit.timing.estimate!(memoryParts) } };
  const { plan, ratio, peak_GiB, limit_GiB, timed } = lean!;
  const st = choice[lean!.at]!;
  return { oom: { gbs, mbs: st.mbs, tp: st.tp, dp: st.dp, pp: st.pp, execution: plan.execution ?? PLAIN_EXECUTION, peak_GiB, limit_GiB, timed, timedExecutions: estimated, overRatio: ratio } };
}

/** The leanest execution that does not fit, so far. */
interface Lean { ratio: number; at: number; plan: ResolvedPlan; peak_GiB: number; limit_GiB: number; timed: boolean }

/** Where a timing carries no pipeline run: no floor compares with it. */
const NO_RUN: PipelineRun = { m: 0, v: 0, sp: false, cp: 0, lists: { forward_s: [], backward_s: [], compute_s: [], forwardSend_s: [], backwardSend_s: [], comm_s: [] }, ends: [] };

/** An execution that fits, as timed (its whole estimate is built only if it is the one kept). */
interface Kept { plan: ResolvedPlan; timing: Timing; at: number }

/**
 * Full recompute of k layers per stage (a multiple of v: Megatron counts per model chunk), k below the
 * most layers a stage can hold: the fastest k that fits. Memory falls with k, so the smallest k that
 * fits is found by bisection; at minmax's partition, which recompute does not change, time grows with
 * k, so from the first k whose minmax partition fits on no larger k is faster. Below it the estimate
 * takes partitions within memory (memory-caps.ts), which loosen as k grows: each such k is timed.
 * Skipped when no k can beat `best_s` (moreRecomputeFloor_s of its least recompute).
 */
async function fewestLayers(req: SearchRequest, profiles: ProfileDb, estimator: Estimator, place: Placement, st: Strategy, gbs: number, best_s: number | undefined): Promise<{ fit?: Omit<Kept, 'at'>; estimated: number }> {
  const e = st.execution!;
  const v = e.virtualStages;
  const most = Math.ceil(req.model.num_layers / st.pp);
  const J = Math.floor((most - 1) / v);
  let estimated = 0;
  if (J < 1) return { estimated };
  // one plan per layer count: the floor below and the probes ask for the same (its partitions are counted once)
  const plans = new Map<number, ResolvedPlan>();
  const planOf = (j: number) => {
    let plan = plans.get(j);
    if (!plan) plans.set(j, (plan = resolvePlan(req, profiles, place, { ...st, gbs, execution: { ...e, recomputeLayers: j * v } })));
    return plan;
  };
  const probe = async (j: number) => {
    const plan = planOf(j);
    const floor = estimator.memoryFloor?.(plan);
    if (floor && floor.ratio > 1) return undefined;
    const timing = await timingOf(estimator, plan);
    estimated += 1;
    return timing.isOom ? undefined : { plan, timing };
  };
  if (best_s !== undefined && estimator.moreRecomputeFloor_s) {
    const plan = planOf(1);
    if ((await estimator.moreRecomputeFloor_s(plan)) * (1 - 1e-9) > best_s * (1 + STEP_TIE_REL)) return { estimated };
  }
  let lo = 1;
  let hi = J;
  let found = await probe(hi);
  if (!found) return { estimated };
  const kept = new Map<number, Omit<Kept, 'at'>>([[hi, found]]);
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const r = await probe(mid);
    if (r) {
      found = r;
      kept.set(mid, r);
      hi = mid;
    } else lo = mid + 1;
  }
  // partitions within memory up to the first k whose minmax partition fits: the fastest of them (the fewest layers of equals)
  if (found.timing.memoryCapped) {
    const counts = [{ ...found, at: lo }];
    for (let j = lo + 1; j <= J; j++) {
      const r = kept.get(j) ?? await probe(j);
      if (!r) continue;
      counts.push({ ...r, at: j });
      if (!r.timing.memoryCapped) break;
    }
    const { plan, timing } = chosenOf(counts)!;
    found = { plan, timing };
  }
  return { fit: found, estimated };
}

/**
 * Jobs of fewer chooses (placements × strategies) than `minChooses` choose without the placement
 * memo: on the sub-clusters of `--pareto` over H100 20 + H200 20 (at most about 1,200 each) about 1 %
 * of its lookups were reusable and the first 60,000 results took 9 % more CPU with it
 * (docs/benchmarks.md). A setting, so that tests can run small jobs with the memo.
 */
export const placementMemo = { minChooses: 2048 };

/**
 * Each strategy's choice on the placements of one job so far, with what its estimates read of the
 * nodes (placement-reads.ts): on a placement where every read gives the same value the choice is
 * the same, and is reused (the plan rebound to this placement's nodes). For estimators whose reads
 * are all recorded (Estimator.placementReads); the latest placement per strategy is kept (on the
 * scale benchmarks' clusters an older one matched where the latest did not only for strategies
 * none of whose executions is timed: docs/benchmarks.md).
 */
export class PlacementMemo {
  private readonly kept = new Map<readonly Strategy[], Array<{ tape: ReadTape; choice: ExecutionChoice }>>();
  private lookups = 0;
  private hits = 0;
  private readonly small: boolean;
  /**
   * chooses: the job's placements × strategies (below placementMemo.minChooses the memo is off);
   * perStrategy: placements kept per strategy (a miss compares with each); the memo stops for the rest of its job once `probe`
   * lookups found fewer than `minHitRate` of them reusable.
   */
  constructor(chooses: number, private readonly perStrategy = 1, private readonly probe = 512, private readonly minHitRate = 0.05) {
    this.small = chooses < placementMemo.minChooses;
  }

  /** Whether reuse still pays on this job: recording and comparing reads costs more than it saves where placements rarely read the same. */
  get active(): boolean {
    return !this.small && (this.lookups < this.probe || this.hits >= this.minHitRate * this.lookups);
  }

  async choose(req: SearchRequest, profiles: ProfileDb, estimator: Estimator, place: Placement, choice: readonly Strategy[], gbs: number, memoryParts = true): Promise<ExecutionChoice> {
    if (!estimator.placementReads || !this.active) return chooseExecution(req, profiles, estimator, place, choice, gbs, memoryParts);
    let list = this.kept.get(choice);
    if (list) {
      this.lookups += 1;
      // this placement as the strategy's plans take it (their tp, micro-batch and cp share one cost table)
      const on = resolvePlan(req, profiles, place, settingsOf(choice, gbs)[0]!);
      for (const k of list) {
        if (!readsSame(k.tape, on)) continue;
        this.hits += 1;
        return k.choice.fit ? { fit: { plan: onNodes(k.choice.fit.plan, on), estimate: k.choice.fit.estimate } } : k.choice;
      }
    } else this.kept.set(choice, (list = []));
    const tape = newTape();
    place.readTape = tape;
    let c: ExecutionChoice;
    try {
      c = await chooseExecution(req, profiles, estimator, place, choice, gbs, memoryParts);
    } finally {
      place.readTape = undefined;
    }
    if (c.fit) c = { fit: { plan: onNodes(c.fit.plan, c.fit.plan), estimate: c.fit.estimate } };
    list.unshift({ tape, choice: c });
    if (list.length > this.perStrategy) list.pop();
    return c;
  }
}

const settingsCache = new WeakMap<readonly Strategy[], Map<number, PlanSettings[]>>();

/** Each choice with the job's gbs, once per (choices, gbs): the settings resolvePlan reads. */
function settingsOf(choice: readonly Strategy[], gbs: number): readonly PlanSettings[] {
  let byGbs = settingsCache.get(choice);
  if (!byGbs) settingsCache.set(choice, (byGbs = new Map()));
  let s = byGbs.get(gbs);
  if (!s) byGbs.set(gbs, (s = choice.map((st) => ({ ...st, gbs }))));
  return s;
}

const siblings = new WeakMap<readonly Strategy[], number[]>();

/** For each execution, the index of its sibling without recompute (same sharding, SP, virtual stages and cp), else −1; once per choice. */
function noneSiblingsOf(choice: readonly Strategy[]): number[] {
  let out = siblings.get(choice);
  if (out) return out;
  const same = (x: Strategy, e: NonNullable<Strategy['execution']>) => x.execution !== undefined && x.execution.recompute === 'none' && x.execution.dpSharding === e.dpSharding &&
    x.execution.sequenceParallel === e.sequenceParallel && x.execution.virtualStages === e.virtualStages && x.execution.cp === e.cp;
  out = choice.map((st) => (st.execution ? choice.findIndex((x) => same(x, st.execution!)) : -1));
  siblings.set(choice, out);
  return out;
}

const orders = new WeakMap<readonly Strategy[], number[]>();

/**
 * The order executions are timed in (the result does not depend on it: ties go to the request's
 * order): likely fastest first, so that the step-time floor skips more: less recompute first, then
 * more virtual stages (a smaller bubble), the distributed optimizer before DDP before FSDP.
 */
function timingOrder(choice: readonly Strategy[]): number[] {
  // a job's choices are shared by its placements (and by jobs of as many GPUs): each ordered once
  let o = orders.get(choice);
  if (!o) orders.set(choice, (o = orderOf(choice)));
  return o;
}

function orderOf(choice: readonly Strategy[]): number[] {
  const rc = { none: 0, selective: 1, op: 2, full: 3 } as const;
  const sh = { optimizer: 0, none: 1, gradients: 2, parameters: 3 } as const;
  const key = (st: Strategy) => {
    const e = st.execution ?? PLAIN_EXECUTION;
    return [rc[e.recompute], -e.virtualStages, sh[e.dpSharding]];
  };
  const keys = choice.map(key);
  return choice.map((_, i) => i).sort((a, b) => {
    const x = keys[a]!;
    const y = keys[b]!;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
    return a - b;
  });
}

/**
 * One strategy of the request's whole cluster, on every placement (or the one given): each with its
 * fastest execution that fits, else its leanest execution, estimated (to show what it needs).
 */
export async function resolveChosenPlans(req: SearchRequest, catalog: Catalog, profiles: ProfileDb, estimator: Estimator, s: PlanSettings, placement?: readonly string[]): Promise<Array<{ plan: ResolvedPlan; estimate: Estimate }>> {
  const degrees = { tp: s.tp, dp: s.dp, pp: s.pp, mbs: s.mbs };
  const choice = withExecutions(req, [degrees], s.gbs);
  if (choice.length === 0) {
    const why = req.executions!.map((e) => `${executionLabel(e)}: ${planExecutionProblems(req, { ...s, execution: planExecution(e, s) }).join('; ')}`);
    throw new FasopError(`no execution of the request runs with tp=${s.tp} dp=${s.dp} pp=${s.pp} mbs=${s.mbs} gbs=${s.gbs} (${why.join(' | ')})`, 'choose other degrees, or other --recompute/--dp-sharding/--virtual-stages/--cp values');
  }
  // the degrees' own checks, with the first execution that runs (the others differ only in techniques)
  const places = checkedPlacements(req, catalog, profiles, { ...s, execution: choice[0]!.execution ?? PLAIN_EXECUTION }, placement);
  const out: Array<{ plan: ResolvedPlan; estimate: Estimate }> = [];
  for (const place of places) {
    const c = await chooseExecution(req, profiles, estimator, place, choice, s.gbs);
    if (c.fit) out.push(c.fit);
    else {
      const plan = resolvePlan(req, profiles, place, { ...degrees, gbs: s.gbs, execution: c.oom!.execution });
      out.push({ plan, estimate: await estimator(plan) });
    }
  }
  return out;
}
