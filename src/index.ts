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
export { search, searchEvents, type SearchRequest, type SearchEvent, type Estimator, type EstimatorName } from './search/search.js';
export type { PlanRecord } from './search/record.js';
export type { ResolvedPlan, Estimate, ClusterNode, PartitionMethod } from './estimate/plan.js';
export { getEstimator } from './estimate/index.js';
export { formatCsv, rankRecords } from './report/csv.js';
export { simulate1F1B } from './pipeline/onef1b.js';
export { paretoFrontier, type ParetoPoint, type ParetoResult } from './report/pareto.js';
export { readResultsCsv, type ResultRow } from './report/csv-read.js';

import { defaultProfileDir } from './paths.js';
import { ProfileDb } from './profiles/db.js';
import { getEstimator } from './estimate/index.js';
import type { Estimate, ResolvedPlan } from './estimate/plan.js';
import type { EstimatorName } from './search/search.js';

/** Open a profile directory (default: the shipped profiles). */
export function loadProfiles(dir: string = defaultProfileDir()): ProfileDb {
  return ProfileDb.open(dir);
}

/** Estimate one fully resolved plan with the named estimator. */
export async function estimate(plan: ResolvedPlan, estimator: EstimatorName = 'reference'): Promise<Estimate> {
  return getEstimator(estimator)(plan);
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
