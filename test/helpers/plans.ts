/** A resolved LLaMA-8B plan on one H100 node under the default recipe, its fields overridable (estimator-level tests). */
import { getGpu, getModel, loadCatalog } from '../../src/catalog/catalog.js';
import type { ResolvedPlan } from '../../src/estimate/plan.js';
import { RECIPES } from '../../src/estimate/recipe.js';
import { defaultProfileDir } from '../../src/paths.js';
import { ProfileDb } from '../../src/profiles/db.js';

const catalog = loadCatalog();
const profiles = ProfileDb.open(defaultProfileDir());
export const h100 = getGpu(catalog, 'H100');
export const llama8b = getModel(catalog, 'llama8b');

export function llama8bPlan(over: Partial<ResolvedPlan>): ResolvedPlan {
  const tp = over.tp ?? 1;
  return {
    model: llama8b,
    nodes: [{ gpu: h100, interNode_bps: h100.interNode_bps, intraNode_bps: h100.intraNode_bps }],
    gpusPerNode: 8, tp, dp: 1, pp: 1, mbs: 1, gbs: 32,
    profiles: { H100: profiles.get('llama8b', 'H100', tp) },
    partitionMethod: 'even', precision: 16, pricePerSecond_usd: 0.01, iterations: 100, recipe: RECIPES['megatron-mixed']!,
    ...over,
  } as ResolvedPlan;
}
