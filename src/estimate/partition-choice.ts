/**
 * The partitions an estimate simulates: a caller-given one, or the plan's method's (minmax, even,
 * the original's dp, or an exact solver of the shared objective), plus minmax's beside an exact
 * solver's when the policy says so. The policy's partitionUnit says what a method cuts: the graph
 * operators (the original) or whole decoder layers, the embedding going with the first layer and
 * the final norm, lm_head and loss with the last (the only cuts Megatron-LM and torchtitan run).
 */
import { FasopError } from '../errors.js';
import { COL, columnOfNode, layersPerStage, nodeCount } from '../model/graph.js';
import { BRUTEFORCE_MAX_COMPOSITIONS, binomial, partitioners, referenceDpPartition } from '../partition/index.js';
import { evenSplit, optimusEvenPartition } from '../partition/even.js';
import { minmaxSearch } from '../partition/minmax.js';
import type { PartitionProblem } from '../partition/types.js';
import { expandSizes, groupProblem, type UnitStarts } from '../partition/units.js';
import { stageLists, stageTime_s, stageTimes_s } from './boundaries.js';
import type { TypeCosts } from './compute.js';
import { idOf, TupleCache } from './keyed-cache.js';
import { roundingOf } from './f32.js';
import type { ResolvedPlan } from './plan.js';
import type { EstimatorPolicy } from './policy.js';

/** What the partitioners see of a plan: per-stage operator costs, boundary costs, micro-batches. */
export interface PartitionInputs {
  plan: ResolvedPlan;
  policy: EstimatorPolicy;
  n: number;
  m: number;
  /** compute costs of the GPU type of each stage */
  stageCosts: readonly TypeCosts[];
  /** boundary[j][column] */
  boundary: readonly (readonly number[])[];
}

export interface Candidate {
  sizes: number[];
  /** decoder layers per stage as the method reports them (null: none reported) */
  partitionLayers: number[] | null;
  /** the sizes whose stage lists are reported, when the method leaves them stale (SPEC Q15e) */
  listedSizes?: number[];
  /** minmax's partition overfilled a stage's memory: this is the fastest that fits (memory-caps.ts) */
  memoryCapped?: true;
}

/** Above this many inner steps (pp·n³) the original's dp is refused: it would run for minutes. */
export const DP_ORIGINAL_MAX_STEPS = 2e9;

/** A caller-given partition, checked: pp positive stage sizes that cover the n graph operators. */
export function checkedFixedPartition(sizes: readonly number[], pp: number, n: number): Candidate {
  if (sizes.length !== pp || sizes.some((x) => !Number.isInteger(x) || x < 1) || sizes.reduce((a, b) => a + b, 0) !== n) {
    throw new FasopError(`partition [${sizes.join(', ')}] is not ${pp} positive stage sizes summing to ${n} graph operators`, 'give one operator count per pipeline stage (8 per decoder layer, +1 for the embedding on the first stage, +1 for lm_head on the last)');
  }
  return { sizes: [...sizes], partitionLayers: layersPerStage(sizes) };
}

/**
 * Where each unit of `perUnit` consecutive decoder layers starts in the operator graph of `layers`
 * layers: the first unit also holds the embedding, the last lm_head (with the final norm and loss).
 */
export function layerUnitStarts(layers: number, perUnit = 1): readonly number[] {
  const key = `${layers}/${perUnit}`;
  let starts = unitStartsCache.get(key);
  if (!starts) {
    const units = layers / perUnit;
    if (!Number.isSafeInteger(units) || units < 1) {
      throw new FasopError(`${layers} decoder layers do not split into units of ${perUnit}`, 'use a virtual-stage count that divides the number of layers');
    }
    starts = Object.freeze([0, ...Array.from({ length: units - 1 }, (_, u) => 1 + 8 * perUnit * (u + 1)), 8 * layers + 2]);
    unitStartsCache.set(key, starts);
  }
  return starts;
}
/** Unit starts by layers and layers per unit: every plan of a search shares a handful. */
const unitStartsCache = new Map<string, readonly number[]>();

/**
 * The units the policy partitions in: every operator, or the decoder layers. With v virtual stages
 * a unit is v layers, so that every rank's layers split into its v equal model chunks.
 */
export function unitStarts(x: PartitionInputs): UnitStarts | null {
  return x.policy.partitionUnit === 'layer' ? layerUnitStarts(x.plan.model.num_layers, x.plan.execution?.virtualStages ?? 1) : null;
}

/** The shared objective's problem over operators: each operator's cost on its stage's GPU type, and the boundary costs. */
export function partitionProblem(x: PartitionInputs): PartitionProblem {
  const rows = new Map<TypeCosts, number[]>();
  return {
    nodeCost_s: x.stageCosts.map((c) => rows.get(c) ?? rows.set(c, Array.from(c.node_s)).get(c)!),
    boundaryCost_s: (k, j) => x.boundary[j]![columnOfNode(k, x.n)]!,
    microBatches: x.m,
  };
}

/** The problem the exact methods solve: over operators, or grouped into the policy's units. */
function unitProblem(x: PartitionInputs, starts: UnitStarts | null): PartitionProblem {
  return starts ? groupProblem(partitionProblem(x), starts) : partitionProblem(x);
}

/** Operator counts per stage of a partition in the policy's units. */
const toOperators = (sizes: number[], starts: UnitStarts | null): number[] => (starts ? expandSizes(sizes, starts) : sizes);

/** The profile column of each unit's first and last operator, per unit starts (cached: the starts are). */
function unitColumnsOf(starts: UnitStarts, n: number): { firstCol: Int8Array; lastCol: Int8Array } {
  let c = unitColumns.get(starts);
  if (!c) {
    const units = starts.length - 1;
    c = { firstCol: new Int8Array(units), lastCol: new Int8Array(units) };
    for (let u = 0; u < units; u++) {
      c.firstCol[u] = columnOfNode(starts[u]!, n);
      c.lastCol[u] = columnOfNode(starts[u + 1]! - 1, n);
    }
    unitColumns.set(starts, c);
  }
  return c;
}
const unitColumns = new WeakMap<UnitStarts, { firstCol: Int8Array; lastCol: Int8Array }>();

/**
 * stageTimes_s (boundaries.ts) of a partition given in units, in O(stages) from per-unit prefix
 * sums: the same terms, summed by unit (test/layer-partition.test.ts compares the two).
 */
export function unitStageTimes(x: Pick<PartitionInputs, 'stageCosts' | 'boundary' | 'n' | 'policy'>, starts: UnitStarts): (unitSizes: readonly number[]) => number[] {
  const { pre, firstCol, lastCol, firstAndLast } = unitTables(x, starts);
  return (sizes) => {
    const S = sizes.length;
    const out = new Array<number>(S);
    let a = 0;
    let sendIn = 0;
    for (let s = 0; s < S; s++) {
      const end = a + sizes[s]!;
      const compute = pre[s]![end]! - pre[s]![a]!;
      if (firstAndLast) out[s] = compute + (S > 1 && s > 0 && s < S - 1 ? x.boundary[s - 1]![firstCol[a]!]! : 0);
      else {
        const sendOut = S > 1 && s < S - 1 ? x.boundary[s]![lastCol[end - 1]!]! : 0;
        out[s] = compute + sendOut + sendIn;
        sendIn = sendOut;
      }
      a = end;
    }
    return out;
  };
}

/** Per-unit prefix sums of each stage's compute, and each unit's first and last profile column. */
function unitTables(x: Pick<PartitionInputs, 'stageCosts' | 'n' | 'policy'>, starts: UnitStarts) {
  const thirds = x.policy.backward === 'twice-forward';
  return { pre: x.stageCosts.map((c) => unitPrefixOf(c, starts, thirds)), ...unitColumnsOf(starts, x.n), firstAndLast: x.policy.boundaries === 'first-and-last' };
}

const prefixKept = new WeakMap<TypeCosts, Map<UnitStarts, Float64Array>>();

/** Prefix sums of a GPU type's compute per unit (thirds: the original's node costs), once per (costs, unit starts, rule). Shared. */
function unitPrefixOf(c: TypeCosts, starts: UnitStarts, thirds: boolean): Float64Array {
  let byStarts = prefixKept.get(c);
  if (!byStarts) prefixKept.set(c, (byStarts = new Map()));
  // the rule is the policy's: a costs object is built under one policy
  let p = byStarts.get(starts);
  if (!p) {
    const units = starts.length - 1;
    p = new Float64Array(units + 1);
    for (let u = 0; u < units; u++) {
      let acc = 0;
      for (let k = starts[u]!; k < starts[u + 1]!; k++) acc += thirds ? c.node_s[k]! : c.forward_s[k]! + c.backward_s[k]!;
      p[u + 1] = p[u]! + acc;
    }
    byStarts.set(starts, p);
  }
  return p;
}

/**
 * One stage's term of unitStageTimes: stage s of S holding units [a, end), its sends by the units
 * at its cuts (the same terms: it depends on nothing else).
 */
export function unitStageTime(x: Pick<PartitionInputs, 'stageCosts' | 'boundary' | 'n' | 'policy'>, starts: UnitStarts): (s: number, a: number, end: number) => number {
  const { pre, firstCol, lastCol, firstAndLast } = unitTables(x, starts);
  const S = x.stageCosts.length;
  return (s, a, end) => {
    const compute = pre[s]![end]! - pre[s]![a]!;
    if (firstAndLast) return compute + (S > 1 && s > 0 && s < S - 1 ? x.boundary[s - 1]![firstCol[a]!]! : 0);
    const sendOut = S > 1 && s < S - 1 ? x.boundary[s]![lastCol[end - 1]!]! : 0;
    const sendIn = s > 0 ? x.boundary[s - 1]![lastCol[a - 1]!]! : 0;
    return compute + sendOut + sendIn;
  };
}

/** The original's greedy minmax over operators, or over the policy's units, on the policy's stage times. */
function unitMinmax(x: PartitionInputs, starts: UnitStarts | null): Candidate {
  const units = starts ? starts.length - 1 : x.n;
  const stageTimes = starts ? unitStageTimes(x, starts) : (sz: number[]) => stageTimes_s(x.stageCosts, x.boundary, sz, x.n, x.policy);
  // the original's edge rule is for operator units (an edge stage of embed + one operator)
  const { sizes, lastTimed } = minmaxSearch(units, x.plan.pp, stageTimes, { edgeRule: !starts });
  const ops = toOperators(sizes, starts);
  return {
    sizes: ops,
    partitionLayers: starts ? layersPerStage(ops) : null,
    ...(x.policy.minmaxStaleLists ? { listedSizes: toOperators(lastTimed, starts) } : {}),
  };
}

/**
 * The original's minmax at layer level (tp > 1, SPEC §9.1): L + 2 units (embed, layers, lm_head), a
 * layer's cost the pairwise float32 sum of its 8 nodes, each stage's term the boundary cost of its
 * first unit's last node.
 */
function layerMinmax(x: PartitionInputs): Candidate {
  const { plan, n, stageCosts, boundary } = x;
  const round = roundingOf(x.policy);
  const pp = plan.pp;
  const units = plan.model.num_layers + 2;
  const unitCost = (c: TypeCosts) => {
    const [, q, k, v, o, g, a, u, d] = c.column_s as [number, number, number, number, number, number, number, number, number];
    return round(round(round(q + k) + round(v + o)) + round(round(g + a) + round(u + d)));
  };
  const vectors = new Map<TypeCosts, Float64Array>();
  const unitCosts = stageCosts.map((c) => {
    if (!vectors.has(c)) {
      const v = new Float64Array(units).fill(unitCost(c));
      v[0] = c.column_s[COL.embed]!;
      v[units - 1] = c.column_s[COL.lm_head]!;
      vectors.set(c, v);
    }
    return vectors.get(c)!;
  });
  const unitColumn = (u: number) => (u === 0 ? COL.embed : u === units - 1 ? COL.lm_head : COL.mlp_down);
  const { sizes: unitSizes } = minmaxSearch(units, pp, (sz) => {
    const times: number[] = [];
    let a = 0;
    for (let s = 0; s < pp; s++) {
      const c = unitCosts[s]!;
      let acc = 0;
      for (let u = a; u < a + sz[s]!; u++) acc += c[u]!;
      times.push((pp > 1 && s > 0 && s < pp - 1 ? boundary[s - 1]![unitColumn(a)]! : 0) + acc);
      a += sz[s]!;
    }
    return times;
  });
  const partitionLayers = unitSizes.map((u, s) => u - (s === 0 ? 1 : 0) - (s === pp - 1 ? 1 : 0));
  return { sizes: partitionLayers.map((l, s) => 8 * l + (s === 0 ? 1 : 0) + (s === pp - 1 ? 1 : 0)), partitionLayers };
}

function minmaxCandidate(x: PartitionInputs, starts: UnitStarts | null): Candidate {
  if (starts) return keptUnitMinmax(x, starts);
  return x.policy.minmaxUnits === 'layers-when-tp' && x.plan.tp > 1 ? layerMinmax(x) : unitMinmax(x, null);
}

const minmaxKept = new TupleCache<readonly (readonly number[])[], Candidate>();

/**
 * unitMinmax over units (shared: callers must not change it), once per (boundary costs, stage costs, unit starts, policy): it reads
 * nothing else, so a plan's executions that share them (recompute, sharding) share the partition.
 */
function keptUnitMinmax(x: PartitionInputs, starts: UnitStarts): Candidate {
  // the plan's own stage-cost and boundary arrays (shared by its executions) first: no key to build
  let byCosts = minmaxByArrays.get(x.stageCosts);
  if (!byCosts) minmaxByArrays.set(x.stageCosts, (byCosts = []));
  for (const e of byCosts) if (e.boundary === x.boundary && e.starts === starts && e.policy === x.policy && e.pp === x.plan.pp) return e.candidate;
  const key = [idOf(x.policy), idOf(starts), x.plan.pp, x.stageCosts.length];
  for (const c of x.stageCosts) key.push(idOf(c));
  const candidate = minmaxKept.get(x.boundary, key) ?? minmaxKept.set(x.boundary, key, unitMinmax(x, starts));
  byCosts.push({ boundary: x.boundary, starts, policy: x.policy, pp: x.plan.pp, candidate });
  return candidate;
}

/** keptUnitMinmax's candidates by the stage-cost array itself, then its boundary array, unit starts, policy and pp. */
const minmaxByArrays = new WeakMap<readonly TypeCosts[], Array<{ boundary: PartitionInputs['boundary']; starts: UnitStarts; policy: EstimatorPolicy; pp: number; candidate: Candidate }>>();

/** `even`: the original's optimus-even over operators, or an even split of the decoder layers. */
function evenCandidate(x: PartitionInputs, starts: UnitStarts | null): Candidate {
  const { plan, n } = x;
  if (starts) {
    const layers = evenSplit(starts.length - 1, plan.pp);
    return { sizes: expandSizes(layers, starts), partitionLayers: layers };
  }
  return optimusEvenPartition(n, plan.model.num_layers, plan.pp, plan.tp);
}

/** The original's own dynamic program (SPEC §9.3, its objective, O(pp·units³): small models only). */
function originalDp(x: PartitionInputs, starts: UnitStarts | null): Candidate {
  const { plan } = x;
  const problem = unitProblem(x, starts);
  const costC = (k: number, j: number) => (x.boundary.length ? problem.boundaryCost_s(k, Math.min(j, x.boundary.length - 1)) : 0);
  const sizes = toOperators(referenceDpPartition(problem.nodeCost_s, costC, roundingOf(x.policy)(x.m), plan.pp), starts);
  return { sizes, partitionLayers: starts ? layersPerStage(sizes) : null };
}

/**
 * Refuse a plan the exhaustive enumerators (bruteforce, the original's dp) cannot finish, from its
 * degrees alone (the search checks every plan of a job this way before any output).
 */
export function checkPartitionReach(method: string, policy: Pick<EstimatorPolicy, 'partitionUnit'>, layers: number, pp: number, virtualStages: number): void {
  if (pp < 2 || (method !== 'bruteforce' && method !== 'dp-original')) return;
  const byLayer = policy.partitionUnit === 'layer';
  const units = byLayer ? layers / virtualStages : nodeCount({ num_layers: layers });
  const what = byLayer ? (virtualStages > 1 ? `units of ${virtualStages} decoder layers` : 'decoder layers') : 'graph operators';
  if (method === 'bruteforce') {
    const count = binomial(units - 1, pp - 1);
    if (count > BRUTEFORCE_MAX_COMPOSITIONS) {
      throw new FasopError(`--pp-partition-method bruteforce would enumerate C(${units - 1}, ${pp - 1}) ≈ ${count.toPrecision(3)} partitions of ${units} ${what} for pp ${pp}, more than its limit of ${BRUTEFORCE_MAX_COMPOSITIONS}`,
        `use --pp-partition-method dp (exact on the same objective, and fast) or fewer GPUs (${bruteforceReach(units)} stages at most here)`);
    }
    return;
  }
  const steps = pp * units ** 3;
  if (steps > DP_ORIGINAL_MAX_STEPS) {
    throw new FasopError(`dp-original on ${units} ${what} and pp ${pp} needs ~${steps.toExponential(1)} steps (the original never finishes such runs)`,
      'use --pp-partition-method dp (exact, fast) or a smaller model');
  }
}

/** The largest pipeline degree bruteforce enumerates over `units` units. */
const bruteforceReach = (units: number): number => {
  let pp = 1;
  while (pp < units && binomial(units - 1, pp) <= BRUTEFORCE_MAX_COMPOSITIONS) pp++;
  return pp;
};

/** The partitions to simulate for this plan (the estimate keeps the fastest; the first of equals). */
export async function candidatePartitions(x: PartitionInputs): Promise<Candidate[]> {
  const { plan, n } = x;
  if (plan.fixedPartition) return [checkedFixedPartition(plan.fixedPartition, plan.pp, n)];
  const starts = unitStarts(x);
  if (starts && plan.pp > starts.length - 1) {
    const v = plan.execution?.virtualStages ?? 1;
    throw new FasopError(`${plan.pp} pipeline stages cannot each hold ${v > 1 ? `${v} (one per virtual stage)` : 'one'} of ${plan.model.name}'s ${plan.model.num_layers} decoder layers`,
      'use a pipeline degree no larger than layers / virtual stages');
  }
  checkPartitionReach(plan.partitionMethod, x.policy, plan.model.num_layers, plan.pp, plan.execution?.virtualStages ?? 1);
  switch (plan.partitionMethod) {
    case 'minmax':
      return [minmaxCandidate(x, starts)];
    case 'even':
      return [evenCandidate(x, starts)];
    case 'dp-original':
      return [originalDp(x, starts)];
    case 'dp':
    case 'ilp':
    case 'bruteforce': {
      const r = await partitioners[plan.partitionMethod](unitProblem(x, starts));
      const sizes = toOperators(r.sizes, starts);
      const exact = { sizes, partitionLayers: layersPerStage(sizes) };
      return x.policy.simulatedCandidates && plan.pp > 1 ? [exact, minmaxCandidate(x, starts)] : [exact];
    }
    default:
      throw new FasopError(`unknown partition method '${String(plan.partitionMethod)}'`, 'use minmax, even, dp, ilp or bruteforce');
  }
}

