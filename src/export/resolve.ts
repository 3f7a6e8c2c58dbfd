import type { Catalog } from '../catalog/catalog.js';
import type { Estimator } from '../estimate/index.js';
import type { Estimate, ResolvedPlan } from '../estimate/plan.js';
import { resolvePlans as resolvePlansOf } from '../plan/resolve.js';
import type { ProfileDb } from '../profiles/db.js';
import { clusterString } from '../request/cluster.js';
import type { SearchRequest } from '../request/request.js';
import type { PlanRecord } from '../search/record.js';
import { toRecord } from '../search/search.js';
import { resolveChosenPlans } from '../search/choose.js';

export interface PlanChoice {
  tp: number;
  dp: number;
  pp: number;
  mbs: number;
  gbs: number;
  /** GPU type of each node, in placement order; omitted: every placement of the cluster */
  placement?: readonly string[];
}

/** One plan of the request's cluster on each matching placement, resolved and estimated (no search). */
export async function resolvePlans(
  req: SearchRequest,
  ctx: { catalog: Catalog; profiles: ProfileDb; estimator: Estimator },
  want: PlanChoice,
): Promise<Array<{ plan: ResolvedPlan; record: PlanRecord; estimate: Estimate }>> {
  const cluster = clusterString(req.gpus);
  // several executions (the default space): each placement's fastest that fits, as the search ranks it
  const chosen = (req.executions?.length ?? 0) > 1
    ? await resolveChosenPlans(req, ctx.catalog, ctx.profiles, ctx.estimator, want, want.placement)
    : await Promise.all(resolvePlansOf(req, ctx.catalog, ctx.profiles, want, want.placement).map(async (plan) => ({ plan, estimate: await ctx.estimator(plan) })));
  return chosen.map(({ plan, estimate }) => ({ plan, estimate, record: toRecord(plan, estimate, plan.nodes.map((n) => n.gpu.name), cluster, req) }));
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
