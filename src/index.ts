/**
 * fasop as a library: the same search and estimator the CLI uses.
 *
 *   import { loadCatalog, loadProfiles, search, estimate, paretoFrontier } from 'fasop';
 */
export { FasopError, isFasopError } from './errors.js';
export { loadCatalog, getGpu, getModel, getDataset, iterationsFor, type Catalog } from './catalog/catalog.js';
export { loadHfModelConfig, modelFromHfConfig } from './catalog/hf-config.js';
export type { GpuSpec, ModelSpec, DatasetSpec } from './catalog/schema.js';
export { ProfileDb } from './profiles/db.js';
export { readProfileFile, writeProfileFile, NODE_COLUMNS, type ProfileTable } from './profiles/profile.js';
export { parseGpuTokens, placements, subClusters, type NodeGroup } from './request/cluster.js';
export { enumerateStrategies, type Strategy } from './search/enumerate.js';
export { search, searchEvents, type SearchEvent } from './search/search.js';
export type { SearchRequest, EstimatorName } from './request/request.js';
export { resolvePlan, resolvePlans as resolvePlansOf, placementOf, planProblems, type PlanSettings, type Placement } from './plan/resolve.js';
export type { PlanRecord } from './search/record.js';
export type { ResolvedPlan, Estimate, ClusterNode, PartitionMethod } from './estimate/plan.js';
export { getEstimator, policyOf, FASOP, REFERENCE, POLICIES, withPolicy, type Estimator, type EstimatorPolicy } from './estimate/index.js';
export { formatCsv, rankRecords } from './report/csv.js';
export { simulate1F1B } from './pipeline/onef1b.js';
export { paretoFrontier, type ParetoPoint, type ParetoResult } from './report/pareto.js';
export { readResultsCsv, type ResultRow } from './report/csv-read.js';

import { defaultProfileDir } from './paths.js';
import { ProfileDb } from './profiles/db.js';
import { estimate as estimateWith, policyOf, type EstimatorPolicy } from './estimate/index.js';
import type { Estimate, ResolvedPlan } from './estimate/plan.js';
import type { EstimatorName } from './request/request.js';

/** Open a profile directory (default: the shipped profiles). */
export function loadProfiles(dir: string = defaultProfileDir()): ProfileDb {
  return ProfileDb.open(dir);
}

/** Estimate one fully resolved plan under a policy or a policy's name (default: the corrected model, as the CLI). */
export async function estimate(plan: ResolvedPlan, policy: EstimatorPolicy | EstimatorName = 'fasop'): Promise<Estimate> {
  return estimateWith(plan, typeof policy === 'string' ? policyOf(policy) : policy);
}

// Launch export: a plan → Megatron-LM / torchtitan arguments (docs/export.md, docs/api.md).
export {
  exportPlan, exportPlan as export, resolvePlans, resolveBestPlacement, formatExport,
  formatMegatronLayout, parseMegatronLayout, validateMegatronLayout, layoutLayersPerStage,
  roundToLayers, layerToNodePartition, moduleFqnsPerModelPart, checkModuleFqns, torchtitanConfig, torchtitanToml,
  megatronArgs, placementReport, readPlanCsv, readPlanCsvFile,
  type ExportablePlan, type ExportOptions, type ExportResult, type ExportFormat, type LayerPartition, type PlanChoice,
  type PlacementReport, type TorchtitanConfig, type MegatronArgs,
} from './export/index.js';
