/**
 * What every partition and execution of a plan's degrees share: each GPU type's operator costs, the
 * type that times each stage, the boundary costs and the micro-batch count, computed once per
 * (placement, cost tables, policy, recipe, degrees, batch). Shared: callers must not change them.
 */
import { FasopError } from '../errors.js';
import { nodeCount } from '../model/graph.js';
import { sharedBoundaryCosts } from './boundaries.js';
import { sharedTypeCosts, type TypeCosts } from './compute.js';
import { idOf, TupleCache } from './keyed-cache.js';
import { stageNodeRange } from './links.js';
import { noteRead, onNodes, READ, readToNote, sameNumbers } from './placement-reads.js';
import type { ResolvedPlan } from './plan.js';
import type { EstimatorPolicy } from './policy.js';
import type { TrainingRecipe } from './recipe.js';

export interface PlanCosts {
  /** graph operators of the model */
  n: number;
  /** micro-batches per step */
  m: number;
  /** each GPU type's costs, in the plan's profile order */
  costs: ReadonlyMap<string, TypeCosts>;
  /** the GPU type that times each stage */
  stageTypes: readonly string[];
  stageCosts: readonly TypeCosts[];
  boundary: number[][];
  sources: readonly string[];
}

/** Micro-batches per step: gbs / (dp·mbs), which must be whole. */
export function microBatchesOf(plan: Pick<ResolvedPlan, 'gbs' | 'dp' | 'mbs'>): number {
  const m = plan.gbs / (plan.dp * plan.mbs);
  if (!Number.isInteger(m) || m < 1) {
    throw new FasopError(`gbs ${plan.gbs} is not a multiple of dp·mbs = ${plan.dp * plan.mbs}`, 'choose gbs, dp and mbs so that gbs/(dp·mbs) is a whole number');
  }
  return m;
}

/**
 * GPU type whose costs time stage s. One type: that type. Several (a stage that spans nodes of
 * different types): the slowest of them, since the slowest replica sets the pace.
 */
function stageType(plan: ResolvedPlan, s: number, costs: ReadonlyMap<string, TypeCosts>): string {
  // the stage's nodes in order; the first of the slowest types (every type's costs must exist)
  const { first, last } = stageNodeRange(plan, s);
  let i = first;
  let slowest = plan.nodes[i]!.gpu.name;
  let slowest_s = layerOf(plan, costs, slowest);
  for (i += 1; i <= last; i++) {
    const t = plan.nodes[i]!.gpu.name;
    if (t === slowest) continue;
    const x = layerOf(plan, costs, t);
    if (x > slowest_s) {
      slowest = t;
      slowest_s = x;
    }
  }
  return slowest;
}

/** A decoder layer's seconds on a GPU type (its costs must exist). */
function layerOf(plan: ResolvedPlan, costs: ReadonlyMap<string, TypeCosts>, gpu: string): number {
  const c = costs.get(gpu);
  if (!c) throw new FasopError(`no ${plan.model.name} profile for GPU ${gpu} at TP ${plan.tp}`, 'add the profile file or remove the GPU type from --gpus');
  return c.layer_s;
}

function planCostsOf(plan: ResolvedPlan, policy: EstimatorPolicy, recipe: TrainingRecipe): PlanCosts {
  const n = nodeCount(plan.model);
  const m = microBatchesOf(plan);
  const costs = new Map<string, TypeCosts>();
  for (const [gpu, profile] of Object.entries(plan.profiles)) costs.set(gpu, sharedTypeCosts(plan, policy, recipe, gpu, profile, n));
  const stageTypes = new Array<string>(plan.pp);
  for (let s = 0; s < plan.pp; s++) stageTypes[s] = stageType(plan, s, costs);
  return {
    n, m, costs, stageTypes,
    stageCosts: stageTypes.map((t) => costs.get(t)!),
    boundary: sharedBoundaryCosts(plan, policy, recipe),
    sources: [...costs.values()].map((c) => c.source),
  };
}

/** sharedPlanCosts' lookup key, rewritten per call (an entry keeps a copy). */
const PLAN_KEY: number[] = new Array<number>(12).fill(0);

const planCostCache = new TupleCache<Record<string, unknown>, PlanCosts>();

/** planCostsOf once per (cost tables, placement, policy, recipe, model, degrees, batch, cp, DTensor extras). */
export function sharedPlanCosts(plan: ResolvedPlan, policy: EstimatorPolicy, recipe: TrainingRecipe): PlanCosts {
  const key = PLAN_KEY;
  key[0] = idOf(plan.nodes);
  key[1] = idOf(policy);
  key[2] = idOf(recipe);
  key[3] = idOf(plan.model);
  key[4] = plan.tp;
  key[5] = plan.dp;
  key[6] = plan.pp;
  key[7] = plan.mbs;
  key[8] = plan.gbs;
  key[9] = plan.execution?.cp ?? 1;
  key[10] = plan.gpusPerNode;
  key[11] = plan.dtensorTp ? idOf(plan.dtensorTp) : 0;
  const pc = planCostCache.get(plan.profiles, key) ?? planCostCache.set(plan.profiles, key.slice(), planCostsOf(plan, policy, recipe));
  const read = readToNote(plan, READ.planCosts, plan.execution?.cp ?? 1);
  if (read >= 0) notePlanCostsRead(plan, policy, recipe, read, pc);
  return pc;
}

/** Record the plan's costs as read (apart from sharedPlanCosts, which then creates no closure context per call). */
function notePlanCostsRead(plan: ResolvedPlan, policy: EstimatorPolicy, recipe: TrainingRecipe, read: number, pc: PlanCosts): void {
  noteRead(plan, read, (on) => {
    const o = sharedPlanCosts(onNodes(plan, on), policy, recipe);
    // the types' order too: the cost source lists them as the placement first has them
    return o.stageTypes.every((t, s) => t === pc.stageTypes[s]) && o.sources.every((x, i) => x === pc.sources[i]) && o.boundary.every((row, j) => sameNumbers(row, pc.boundary[j]!));
  });
}
