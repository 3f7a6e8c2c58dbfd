/**
 * The partitions an estimate simulates: a caller-given one, or the plan's method's (the original's
 * minmax at node or layer level, optimus-even, the original's dp, or an exact solver of the shared
 * objective), plus the balanced one beside an exact solver's when the policy says so.
 */
import { FasopError } from '../errors.js';
import { COL, columnOfNode, layersPerStage } from '../model/graph.js';
import { partitioners, referenceDpPartition } from '../partition/index.js';
import { optimusEvenPartition } from '../partition/even.js';
import { minmaxSearch } from '../partition/minmax.js';
import type { PartitionProblem } from '../partition/types.js';
import { stageLists, stageTime_s, stageTimes_s } from './boundaries.js';
import type { TypeCosts } from './compute.js';
import { roundingOf } from './f32.js';
import type { ResolvedPlan } from './plan.js';
import type { EstimatorPolicy } from './policy.js';

/** What the partitioners see of a plan: per-stage node costs, boundary costs, micro-batches. */
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
}

/** Above this many inner steps (pp·n³) the original's dp is refused: it would run for minutes. */
export const DP_ORIGINAL_MAX_STEPS = 2e9;

/** A caller-given partition, checked: pp positive stage sizes that cover the n nodes. */
export function checkedFixedPartition(sizes: readonly number[], pp: number, n: number): Candidate {
  if (sizes.length !== pp || sizes.some((x) => !Number.isInteger(x) || x < 1) || sizes.reduce((a, b) => a + b, 0) !== n) {
    throw new FasopError(`partition [${sizes.join(', ')}] is not ${pp} positive stage sizes summing to ${n} nodes`, 'give one node count per pipeline stage');
  }
  return { sizes: [...sizes], partitionLayers: layersPerStage(sizes) };
}

/** The shared objective's problem: each node's cost on its stage's GPU type, and the boundary costs. */
export function partitionProblem(x: PartitionInputs): PartitionProblem {
  return {
    nodeCost_s: x.stageCosts.map((c) => Array.from(c.node_s)),
    boundaryCost_s: (k, j) => x.boundary[j]![columnOfNode(k, x.n)]!,
    microBatches: x.m,
  };
}

/** The original's greedy minmax over nodes, on the policy's stage times. */
function nodeMinmax(x: PartitionInputs): Candidate {
  const { sizes, lastTimed } = minmaxSearch(x.n, x.plan.pp, (sz) => stageTimes_s(x.stageCosts, x.boundary, sz, x.n, x.policy));
  return { sizes, partitionLayers: null, ...(x.policy.minmaxStaleLists ? { listedSizes: lastTimed } : {}) };
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

function minmaxCandidate(x: PartitionInputs): Candidate {
  return x.policy.minmaxUnits === 'layers-when-tp' && x.plan.tp > 1 ? layerMinmax(x) : nodeMinmax(x);
}

/** The original's own dynamic program (SPEC §9.3, its objective, O(pp·n³): small models only). */
function originalDp(x: PartitionInputs): Candidate {
  const { plan, n } = x;
  const steps = plan.pp * n ** 3;
  if (steps > DP_ORIGINAL_MAX_STEPS) {
    throw new FasopError(`dp-original on ${n} nodes and pp ${plan.pp} needs ~${steps.toExponential(1)} steps (the original never finishes such runs)`,
      'use --pp-partition-method dp (exact, fast) or a smaller model');
  }
  const costC = (k: number, j: number) => x.boundary[Math.min(j, x.boundary.length - 1)]?.[columnOfNode(k, n)] ?? 0;
  const sizes = referenceDpPartition(x.stageCosts.map((c) => Array.from(c.node_s)), costC, roundingOf(x.policy)(x.m), plan.pp);
  return { sizes, partitionLayers: null };
}

/** The partitions to simulate for this plan (the estimate keeps the fastest; the first of equals). */
export async function candidatePartitions(x: PartitionInputs): Promise<Candidate[]> {
  const { plan, n } = x;
  if (plan.fixedPartition) return [checkedFixedPartition(plan.fixedPartition, plan.pp, n)];
  switch (plan.partitionMethod) {
    case 'minmax':
      return [minmaxCandidate(x)];
    case 'even': {
      const r = optimusEvenPartition(n, plan.model.num_layers, plan.pp, plan.tp);
      return [{ sizes: r.sizes, partitionLayers: r.partitionLayers }];
    }
    case 'dp-original':
      return [originalDp(x)];
    case 'dp':
    case 'ilp':
    case 'bruteforce': {
      const r = await partitioners[plan.partitionMethod](partitionProblem(x));
      const exact = { sizes: r.sizes, partitionLayers: layersPerStage(r.sizes) };
      return x.policy.simulatedCandidates && plan.pp > 1 ? [exact, minmaxCandidate(x)] : [exact];
    }
    default:
      throw new FasopError(`unknown partition method '${String(plan.partitionMethod)}'`, 'use minmax, even, dp, ilp or bruteforce');
  }
}

