/**
 * A floor under a plan's step time that holds for every partition, so that an execution that cannot
 * beat one already timed need not be timed. Every stage runs all m micro-batches' forward and
 * backward one after another, after the first micro-batch's forwards on the stages before it and
 * before its last backward on them (pipelineFloor_s); T is one micro-batch's compute over all stages
 * (each operator at its cheapest GPU type), recompute included. Each stage also waits for its own
 * sends, once per chunk-micro-batch, so the busiest stage runs at least m·(T + v·sends)/pp; with whole
 * layers per stage (policy partitionUnit layer) some stage also runs ⌈L/pp⌉ layers m times. Stage 0
 * ends the pipeline and then runs its all-reduce and optimizer step, each at least that of the
 * fewest parameters it can hold; the embedding sync follows; every other term only adds to it.
 */
import type { ModelSpec } from '../catalog/schema.js';
import { COL, FIRST_LAYER_COL, LAST_LAYER_COL, columnOfNode } from '../model/graph.js';
import { dpAllreduceFloor_s, embeddingSync_s } from './data-parallel.js';
import { TupleCache } from './keyed-cache.js';
import { sharedParamsPerColumn } from './memory-bytes.js';
import { optimizerStep_s } from './step-terms.js';
import type { TypeCosts } from './compute.js';
import { sharedPlanCosts, type PlanCosts } from './plan-costs.js';
import { PLAIN_EXECUTION, shardDegree, type Execution } from './execution.js';
import type { ResolvedPlan } from './plan.js';
import type { EstimatorPolicy } from './policy.js';
import { RECIPES, type TrainingRecipe } from './recipe.js';
import { attentionCoreShare } from './technique-terms.js';
import { nodeOfType } from './node-of-type.js';

interface ComputeSums {
  all_s: number;
  decoderForward_s: number;
  /** the cheapest decoder layer's forward + backward, and its forward alone */
  layer_s: number;
  layerForward_s: number;
}

const oneCache = new WeakMap<TypeCosts, ComputeSums>();
const pairCache = new WeakMap<TypeCosts, WeakMap<TypeCosts, ComputeSums>>();

/** Σ over operators of the cheapest type's forward + backward, and of the decoder layers' forward alone. */
function sumsOf(costs: readonly TypeCosts[]): ComputeSums {
  const n = costs[0]!.node_s.length;
  let all_s = 0;
  let decoderForward_s = 0;
  let layer_s = Infinity;
  let layerForward_s = Infinity;
  let thisLayer = 0;
  let thisForward = 0;
  for (let k = 0; k < n; k++) {
    let node = Infinity;
    let fwd = Infinity;
    for (const c of costs) {
      node = Math.min(node, c.node_s[k]!);
      fwd = Math.min(fwd, c.forward_s[k]!);
    }
    all_s += node;
    const col = columnOfNode(k, n);
    if (col !== COL.embed && col !== COL.lm_head) {
      decoderForward_s += fwd;
      thisLayer += node;
      thisForward += fwd;
      if (col === LAST_LAYER_COL) {
        layer_s = Math.min(layer_s, thisLayer);
        layerForward_s = Math.min(layerForward_s, thisForward);
        thisLayer = 0;
        thisForward = 0;
      }
    }
  }
  return { all_s, decoderForward_s, layer_s: Number.isFinite(layer_s) ? layer_s : 0, layerForward_s: Number.isFinite(layerForward_s) ? layerForward_s : 0 };
}

/** sumsOf, once per GPU type's costs (or pair of types); three or more types are summed each time. */
function cachedSums(costs: readonly TypeCosts[]): ComputeSums {
  if (costs.length === 1) {
    let s = oneCache.get(costs[0]!);
    if (!s) oneCache.set(costs[0]!, (s = sumsOf(costs)));
    return s;
  }
  if (costs.length !== 2) return sumsOf(costs);
  let inner = pairCache.get(costs[0]!);
  if (!inner) pairCache.set(costs[0]!, (inner = new WeakMap()));
  let s = inner.get(costs[1]!);
  if (!s) inner.set(costs[1]!, (s = sumsOf(costs)));
  return s;
}

const sumsByPlanCosts = new WeakMap<PlanCosts, ComputeSums>();

/** cachedSums of a plan's GPU types' costs, once per shared PlanCosts (no list of its types built per call). */
function sumsOfPlanCosts(shared: PlanCosts): ComputeSums {
  let s = sumsByPlanCosts.get(shared);
  if (!s) sumsByPlanCosts.set(shared, (s = cachedSums([...shared.costs.values()])));
  return s;
}

/** The floor of the plan's step time in seconds (policy: the corrected estimator's measured backward). */
export function stepTimeFloor_s(plan: ResolvedPlan, policy: EstimatorPolicy): number {
  const recipe = plan.recipe ?? RECIPES['megatron-mixed']!;
  const e = plan.execution ?? PLAIN_EXECUTION;
  const shared = sharedPlanCosts(plan, policy, recipe);
  const sums = sumsOfPlanCosts(shared);
  const share = e.recompute === 'full' && e.recomputeLayers === undefined ? 1 : e.recompute === 'selective' ? attentionCoreShare(plan) : 0;
  const T = sums.all_s + sums.decoderForward_s * share;
  const m = plan.gbs / (plan.dp * plan.mbs);
  const v = e.virtualStages;
  // every stage's chain also runs its sends, once per chunk-micro-batch: boundary j (whole layers:
  // a decoder layer's output) is stage j's forward send and stage j+1's backward send
  let sends = 0;
  if (plan.pp > 1 && policy.boundaries === 'every-boundary' && policy.partitionUnit === 'layer') {
    const boundary = shared.boundary;
    for (let j = 0; j < plan.pp - 1; j++) sends += 2 * boundary[j]![COL.mlp_down]!;
  }
  // stage imbalance: whole layers per stage, so some stage runs at least ⌈L/pp⌉ of them, m times
  const busiest = policy.partitionUnit === 'layer' ? m * Math.ceil(plan.model.num_layers / plan.pp) * (sums.layer_s + sums.layerForward_s * share) : 0;
  const pipeline = Math.max(pipelineFloor_s(T, plan.pp, m, v), (m * (T + v * sends)) / plan.pp, busiest);
  return pipeline + stage0AfterPipeline_s(plan, policy, recipe, shared.stageTypes, e) + embeddingSync_s(plan, policy, recipe);
}

/**
 * A floor under what stage 0 runs after its last backward (its all-reduce and optimizer step): stage 0
 * ends the pipeline (the last micro-batch's backward ends there), holds the embedding and at least
 * one decoder layer per virtual stage (all of them when pp is 1), and both terms grow with its
 * parameters (P, when the partition is known). FSDP's all-reduce across replicas is left out (its floor is 0).
 */
export function stage0AfterPipeline_s(plan: ResolvedPlan, policy: EstimatorPolicy, recipe: TrainingRecipe, stageTypes: readonly string[], e: Execution,
  P = stage0ParamsFloor(plan.model, plan.tp, plan.pp === 1 ? plan.model.num_layers : e.virtualStages, plan.pp === 1)): number {
  const gpu = nodeOfType(plan.nodes, stageTypes[0]!)!.gpu;
  const opt = policy.optimizerStep ? optimizerStep_s(gpu, recipe, P / shardDegree(e, plan.dp)) : 0;
  const dp = e.dpSharding === 'parameters' ? 0 : dpAllreduceFloor_s(plan, policy, recipe, stageTypes, 0, P);
  return opt + dp;
}

const stage0Cache = new TupleCache<ModelSpec, number>();

/** Parameters on one GPU of a stage 0 holding `layers` decoder layers (and the head too when it is the only stage). */
function stage0ParamsFloor(model: ModelSpec, tp: number, layers: number, only: boolean): number {
  const key = [tp, layers, only ? 1 : 0];
  const hit = stage0Cache.get(model, key);
  if (hit !== undefined) return hit;
  const p = sharedParamsPerColumn(model, tp);
  let layer = 0;
  for (let c = FIRST_LAYER_COL; c <= LAST_LAYER_COL; c++) layer += p[c]!;
  const head = only && !model.tie_word_embeddings ? p[COL.lm_head]! : 0;
  return stage0Cache.set(model, key, p[COL.embed]! + layers * layer + head);
}

/**
 * The least step time of pp stages sharing T seconds of compute per micro-batch, m micro-batches,
 * each stage split into v chunks run as m·v chunk-micro-batches (as the estimator simulates
 * interleaving). Stage k cannot start before the first chunk-micro-batch's forwards on the stages
 * before it, runs all its m·c_k, and the stages before it then run the last one's backwards:
 * Z ≥ m·c_k + C_{<k}/v for every k. The c_k that fit the most compute under Z grow as
 * C_{k+1} = C_k(1 − 1/(v·m)) + Z/m, so T ≤ Z·v·(1 − (1 − 1/(v·m))^pp).
 */
export function pipelineFloor_s(T: number, pp: number, m: number, v: number): number {
  if (pp === 1) return m * T;
  return T / (v * (1 - (1 - 1 / (v * m)) ** pp));
}

/** Whether the floor holds under a policy: the corrected estimator's times (measured backward, no float32 rounding). */
export function timeFloorApplies(policy: EstimatorPolicy): boolean {
  return policy.backward === 'measured' && policy.rounding === 'float64';
}

/** What chainFloor_s reads of a partition's stage lists (estimate/boundaries.ts StageLists). */
export interface ChainInputs {
  forward_s: readonly number[];
  backward_s: readonly number[];
  forwardSend_s: readonly number[];
  backwardSend_s: readonly number[];
}

/**
 * A floor under the simulated pipeline (pipeline/onef1b.ts; interleaving as m·v chunk-micro-batches
 * of 1/v of each stage) of one partition, whose backwards gain extraBackward_s each: stage k cannot
 * start before the first micro-batch's forwards and sends on the stages before it, then runs every
 * forward with its send and every backward with its send but the last (each op of the simulator
 * waits for its stage's previous send), and stage 0 ends only after the last backward has come back
 * through the stages before k. Other terms only lengthen the stages. For the corrected estimator's
 * simulation (stage 0 waits for its own sends).
 */
export function chainFloor_s(l: ChainInputs, extraBackward_s: readonly number[], m: number, v: number): number {
  const P = l.forward_s.length;
  if (P === 1) return m * (l.forward_s[0]! + l.backward_s[0]! + extraBackward_s[0]!);
  const M = m * v;
  let before = 0; // Σ_{j<k} of forward/v + forward send + backward/v, and the backward sends of stages 1…k
  let floor = 0;
  for (let k = 0; k < P; k++) {
    const f = l.forward_s[k]! / v;
    const b = (l.backward_s[k]! + extraBackward_s[k]!) / v;
    const sf = l.forwardSend_s[k]!;
    const sb = k > 0 ? l.backwardSend_s[k]! : 0;
    floor = Math.max(floor, before + M * (f + b + sf) + (M - 1) * sb);
    before += f + sf + b + (k + 1 < P ? l.backwardSend_s[k + 1]! : 0);
  }
  return floor;
}
