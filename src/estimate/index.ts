import { FasopError } from '../errors.js';
import { partitioners, referenceDpPartition } from '../partition/index.js';
import type { Estimator, EstimatorName } from '../search/search.js';
import { estimateFasop } from './estimate-fasop.js';
import { estimateReference, type PartitionOutcome, type ReferenceContext } from './estimate-reference.js';
import { f32 } from './f32.js';
import { columnOfNode, layersPerStage } from '../model/graph.js';
import type { PartitionProblem } from '../partition/types.js';

/** The reference cost terms as a partition problem for the shared objective (dp/ilp/bruteforce). */
function referenceProblem(ctx: ReferenceContext): PartitionProblem {
  return {
    nodeCost_s: ctx.stageCosts.map((c) => Array.from(c)),
    boundaryCost_s: (k, j) => ctx.costC[j]![columnOfNode(k, ctx.n)]!,
    microBatches: ctx.m,
  };
}

/** Above this many inner steps (pp·n³) the original's dp is refused: it would run for minutes. */
export const DP_ORIGINAL_MAX_STEPS = 2e9;

/**
 * Partition methods beyond minmax/even for the reference estimator: `dp`, `ilp` and `bruteforce`
 * solve the shared exact objective (docs/partitioning.md) on the original's cost terms; `dp-original`
 * is the original's own dynamic program (SPEC §9.3, its objective, O(pp·n³): small models only).
 */
async function referenceExternal(ctx: ReferenceContext): Promise<PartitionOutcome> {
  const method = ctx.plan.partitionMethod;
  if (method === 'dp-original') {
    const steps = ctx.plan.pp * ctx.n ** 3;
    if (steps > DP_ORIGINAL_MAX_STEPS) {
      throw new FasopError(`dp-original on ${ctx.n} nodes and pp ${ctx.plan.pp} needs ~${steps.toExponential(1)} steps (the original never finishes such runs)`,
        'use --pp-partition-method dp (exact, fast) or a smaller model');
    }
    const costC = (k: number, j: number) => ctx.costC[Math.min(j, ctx.costC.length - 1)]?.[columnOfNode(k, ctx.n)] ?? 0;
    const sizes = referenceDpPartition(ctx.stageCosts.map((c) => Array.from(c)), costC, f32(ctx.m), ctx.plan.pp);
    return { sizes, partitionLayers: null };
  }
  if (method === 'dp' || method === 'ilp' || method === 'bruteforce') {
    const r = await partitioners[method](referenceProblem(ctx));
    return { sizes: r.sizes, partitionLayers: layersPerStage(r.sizes) };
  }
  throw new FasopError(`unknown partition method '${method}'`, 'use minmax, even, dp, ilp or bruteforce');
}

/** The estimator for a name: `reference` reproduces the original; `fasop` is the corrected model. */
export function getEstimator(name: EstimatorName): Estimator {
  switch (name) {
    case 'reference':
      return (plan) => estimateReference(plan, referenceExternal);
    case 'fasop':
      return (plan) => estimateFasop(plan, {
        solver: plan.partitionMethod === 'dp' || plan.partitionMethod === 'ilp' || plan.partitionMethod === 'bruteforce'
          ? partitioners[plan.partitionMethod]
          : undefined,
      });
    default:
      throw new FasopError(`unknown estimator '${String(name)}'`, 'use --estimator reference or --estimator fasop');
  }
}
