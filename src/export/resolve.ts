import type { Catalog } from '../catalog/catalog.js';
import { FasopError } from '../errors.js';
import type { Estimate, ResolvedPlan } from '../estimate/plan.js';
import type { ProfileDb } from '../profiles/db.js';
import type { PlanRecord } from '../search/record.js';
import { searchEvents, type Estimator, type SearchRequest } from '../search/search.js';

export interface PlanChoice {
  tp: number;
  dp: number;
  pp: number;
  mbs: number;
  gbs: number;
  /** GPU type of each node, in placement order; omitted: every placement of the cluster */
  placement?: readonly string[];
}

const SKIP = {
  partition: [], partitionLayers: null, stepTime_s: 0, throughput: 0, pricePerStep_usd: 0, isOom: false, oomGpumem_GiB: 0,
  iterations: 0, totalTime_s: 0, totalTime_h: 0, cost_usd: 0,
  breakdown: { microBatches: 0, stages: [], pipeline_s: 0, embeddingSync_s: 0, costSource: '' },
} as Estimate;

const sameTypes = (plan: ResolvedPlan, placement: readonly string[]) =>
  plan.nodes.length === placement.length && plan.nodes.every((n, i) => n.gpu.name === placement[i] || n.gpu.instance.name === placement[i]);

/**
 * The resolved plans (one per matching placement) that a search with `req` would estimate for
 * these degrees, together with their records, estimated with `ctx.estimator`. Other strategies
 * are skipped without estimating.
 */
export async function resolvePlans(
  req: SearchRequest,
  ctx: { catalog: Catalog; profiles: ProfileDb; estimator: Estimator },
  want: PlanChoice,
): Promise<Array<{ plan: ResolvedPlan; record: PlanRecord; estimate: Estimate }>> {
  const match = (p: ResolvedPlan) => p.tp === want.tp && p.dp === want.dp && p.pp === want.pp && p.mbs === want.mbs && p.gbs === want.gbs
    && (!want.placement || sameTypes(p, want.placement));
  const plans: ResolvedPlan[] = [];
  const out: Array<{ plan: ResolvedPlan; record: PlanRecord; estimate: Estimate }> = [];
  const wrapped: Estimator = async (p) => {
    if (!match(p)) return SKIP;
    plans.push(p);
    return ctx.estimator(p);
  };
  for await (const ev of searchEvents({ ...req, gbsValues: [want.gbs] }, { catalog: ctx.catalog, profiles: ctx.profiles, estimator: wrapped })) {
    if (ev.type === 'result' && ev.estimate !== SKIP) out.push({ plan: plans[out.length]!, record: ev.record, estimate: ev.estimate });
  }
  if (out.length === 0) {
    throw new FasopError(
      `plan tp=${want.tp} dp=${want.dp} pp=${want.pp} mbs=${want.mbs} gbs=${want.gbs}${want.placement ? ` on [${want.placement.join(', ')}]` : ''} is not among the plans fasop enumerates for this cluster`,
      'check the degrees against --gpus and --gpu-per-node (tp·dp·pp = GPUs, tp | GPUs per node, dp·mbs | gbs) and that profiles exist for this tp',
    );
  }
  return out;
}

/** Among the matching placements, the one with the shortest total time (first on ties). */
export async function resolveBestPlacement(
  req: SearchRequest,
  ctx: { catalog: Catalog; profiles: ProfileDb; estimator: Estimator },
  want: PlanChoice,
): Promise<{ plan: ResolvedPlan; record: PlanRecord; estimate: Estimate }> {
  const all = await resolvePlans(req, ctx, want);
  return all.reduce((a, b) => (b.record.total_time_seconds < a.record.total_time_seconds ? b : a));
}
