/**
 * Memory before time: floors under a plan's peak memory that hold for every whole-layer partition,
 * so that a plan that cannot fit is known before it is timed. Every stage holds at least one decoder
 * layer (stage 0 with the embedding, the last with lm_head), and some stage holds ⌈L/pp⌉ of them;
 * a stage's memory only grows with the layers it holds (memory-bytes.ts).
 */
import type { ModelSpec } from '../catalog/schema.js';
import { nodeCount } from '../model/graph.js';
import { DP_SHARDING, PLAIN_EXECUTION, RECOMPUTE, shardDegree, type Execution } from './execution.js';
import { stageNodeIndices } from './links.js';
import { extraGradBytesPerParam, paramsPerColumn, stageMemory, stateDivisors, stateSplitOf } from './memory-bytes.js';
import type { ResolvedPlan } from './plan.js';
import type { EstimatorPolicy } from './policy.js';
import { RECIPES, type TrainingRecipe } from './recipe.js';
import { idOfName, TupleCache } from './keyed-cache.js';
import { stageLimitsOf } from './memory.js';

/** GiB that stage 0, the last stage and the fullest stage hold at least, whatever the partition. */
export interface MemoryFloor {
  first_GiB: number;
  last_GiB: number;
  fullest_GiB: number;
}

/** Peak GiB per stage of the even whole-layer partition (the first stages take the extra layers): not a bound, a typical figure. */
export function evenPartitionMemory_GiB(model: ModelSpec, p: Pick<ResolvedPlan, 'tp' | 'dp' | 'pp' | 'mbs' | 'gbs'>, recipe: TrainingRecipe, e: Execution = PLAIN_EXECUTION): number[] {
  const L = model.num_layers;
  const sizes = Array.from({ length: p.pp }, (_, s) => 8 * (Math.floor(L / p.pp) + (s < L % p.pp ? 1 : 0)) + (s === 0 ? 1 : 0) + (s === p.pp - 1 ? 1 : 0));
  return stageMemory(model, sizes, nodeCount(model), p.mbs, p.tp, p.dp, p.gbs / (p.dp * p.mbs), recipe, e).map((x) => x.total_GiB);
}

/** Bytes of state per parameter under an execution's sharding (memory-bytes.ts, stageMemory). */
function stateBytesPerParam(recipe: TrainingRecipe, e: Execution, Z: number): number {
  if (e.dpSharding === 'none' || Z === 1) return recipe.stateBytesPerParam;
  const s = stateSplitOf(recipe, e, Z);
  const d = stateDivisors(e.dpSharding, Z);
  return s.weights / d.weights + s.grads / d.grads + (s.master + s.optimizer) / d.master;
}

/** The floors of one plan's memory (they depend on its degrees, batch and execution, not its placement). */
export function memoryFloor(model: ModelSpec, p: Pick<ResolvedPlan, 'tp' | 'dp' | 'pp' | 'mbs' | 'gbs'>, recipe: TrainingRecipe, e: Execution = PLAIN_EXECUTION): MemoryFloor {
  const n = nodeCount(model);
  const m = p.gbs / (p.dp * p.mbs);
  const memory = (sizes: number[]) => stageMemory(model, sizes, n, p.mbs, p.tp, p.dp, m, recipe, e);
  if (p.pp === 1) {
    const all = memory([n])[0]!.total_GiB;
    return { first_GiB: all, last_GiB: all, fullest_GiB: all };
  }
  // one layer on the stage in question, the rest anywhere (a stage's memory does not depend on the others)
  const middle = new Array<number>(p.pp - 2).fill(8);
  const rest = n - 9 - 8 * (p.pp - 2);
  const first_GiB = memory([9, ...middle, rest])[0]!.total_GiB;
  const last_GiB = memory([rest, ...middle, 9])[p.pp - 1]!.total_GiB;
  // the fullest stage: its layers' state and the optimizer's temporaries, activations left out
  const params = paramsPerColumn(model, p.tp);
  let layerParams = 0;
  for (let c = 1; c <= 8; c++) layerParams += params[c]!;
  const Z = shardDegree(e, p.dp);
  const P = Math.ceil(model.num_layers / p.pp) * layerParams;
  const extraGrads = extraGradBytesPerParam(recipe, e, p.dp * e.cp, m);
  const bytes = P * (stateBytesPerParam(recipe, e, Z) + extraGrads + recipe.optimizerTransientBytesPerParam / (e.dpSharding === 'none' ? 1 : Z));
  return { first_GiB, last_GiB, fullest_GiB: bytes / 2 ** 30 };
}

/** Whether a policy's memory check is one these floors bound: bytes, held to the hosting nodes, whole-layer stages. */
export function floorsApply(policy: EstimatorPolicy): boolean {
  return policy.memory === 'bytes' && policy.memoryLimit === 'hosting-nodes' && policy.partitionUnit === 'layer';
}

/** Floors kept per model at most (a sweep over gbs and sub-clusters meets many keys). */
const FLOORS_KEPT = 1 << 15;
const floorCache = new TupleCache<ModelSpec, MemoryFloor & { even_GiB?: number[] }>(FLOORS_KEPT);

/** What a plan's per-stage memory depends on beside its model and partition: recipe, degrees, batch, execution (a cache key). */
export function memoryKeyOf(plan: Pick<ResolvedPlan, 'tp' | 'dp' | 'pp' | 'mbs' | 'gbs'>, recipe: TrainingRecipe, e: Execution): number[] {
  return [idOfName(recipe.name), plan.tp, plan.dp, plan.pp, plan.mbs, plan.gbs, RECOMPUTE.indexOf(e.recompute), e.recomputeLayers ?? -1, DP_SHARDING.indexOf(e.dpSharding), e.shardGroup ?? -1, e.sequenceParallel ? 1 : 0, e.virtualStages, e.cp];
}

/** The last floors looked up per execution object, with what they were for: a strategy's executions come again on every placement. */
interface LastFloor { model: ModelSpec; recipe: TrainingRecipe; tp: number; dp: number; pp: number; mbs: number; gbs: number; floor: MemoryFloor & { even_GiB?: number[] } }
const lastFloors = new WeakMap<Execution, LastFloor>();

/** The floors of a plan, computed once per (model, recipe, degrees, batch, execution). */
function floorOf(plan: ResolvedPlan, recipe: TrainingRecipe): MemoryFloor & { even_GiB?: number[] } {
  const e = plan.execution ?? PLAIN_EXECUTION;
  const last = lastFloors.get(e);
  if (last && last.model === plan.model && last.recipe === recipe && last.tp === plan.tp && last.dp === plan.dp && last.pp === plan.pp && last.mbs === plan.mbs && last.gbs === plan.gbs) return last.floor;
  const key = memoryKeyOf(plan, recipe, e);
  const floor = floorCache.get(plan.model, key) ?? floorCache.set(plan.model, key, memoryFloor(plan.model, plan, recipe, e));
  lastFloors.set(e, { model: plan.model, recipe, tp: plan.tp, dp: plan.dp, pp: plan.pp, mbs: plan.mbs, gbs: plan.gbs, floor });
  return floor;
}

/** A plan's memory floor against its limits: ratio > 1 means no partition of it fits. */
export interface FloorCheck {
  /** the largest floor × the policy's margin ÷ the limit of the stage it bounds */
  ratio: number;
  /** that floor and limit */
  peak_GiB: number;
  limit_GiB: number;
  /** when ratio > 1: the even whole-layer partition's peak × margin ÷ limit, over the stages (to rank plans that do not fit) */
  evenRatio?: number;
}

/**
 * The plan's floors against the limits of the stages they bound (the fullest stage: the largest
 * limit of any stage), with the policy's margin; undefined where the policy's check is not bounded.
 */
export function floorCheck(plan: ResolvedPlan, policy: EstimatorPolicy): FloorCheck | undefined {
  if (!floorsApply(policy) || plan.fixedPartition) return undefined;
  const f = floorOf(plan, plan.recipe ?? RECIPES['megatron-mixed']!);
  const limits = stageLimitsOf(plan);
  const limit = (s: number) => limits.perStage_GiB[s]!;
  // the first, the last and the fullest stage, each against its limit: the largest ratio (the first of equals)
  let peak_GiB = f.first_GiB;
  let limit_GiB = limit(0);
  let ratio = (peak_GiB * policy.oomMargin) / limit_GiB;
  const last = (f.last_GiB * policy.oomMargin) / limit(plan.pp - 1);
  if (last > ratio) {
    ratio = last;
    peak_GiB = f.last_GiB;
    limit_GiB = limit(plan.pp - 1);
  }
  const fullest = (f.fullest_GiB * policy.oomMargin) / limits.most_GiB;
  if (fullest > ratio) {
    ratio = fullest;
    peak_GiB = f.fullest_GiB;
    limit_GiB = limits.most_GiB;
  }
  const best: FloorCheck = { ratio, peak_GiB, limit_GiB };
  if (best.ratio > 1) {
    const recipe = plan.recipe ?? RECIPES['megatron-mixed']!;
    f.even_GiB ??= evenPartitionMemory_GiB(plan.model, plan, recipe, plan.execution ?? PLAIN_EXECUTION);
    best.evenRatio = Math.max(...f.even_GiB.map((x, s) => (x * policy.oomMargin) / limit(s)));
  }
  return best;
}
