/** Launch export: plan → Megatron-LM / torchtitan arguments (pure functions, plus the re-estimate). */
export { formatMegatronLayout, parseMegatronLayout, validateMegatronLayout, layoutLayersPerStage, type LayoutSymbol, type LayoutStageCounts } from './layout.js';
export { roundToLayers, layerToNodePartition, stageLayerRanges, TIE_RULE, type LayerPartition, type BoundaryRounding } from '../model/layer-rounding.js';
export { moduleFqnsPerModelPart, checkModuleFqns, torchtitanConfig, torchtitanToml, type TorchtitanConfig, type TorchtitanDpMode } from './torchtitan.js';
export { megatronArgs, shellQuote, type MegatronArgs } from './megatron.js';
export { placementReport, type PlacementReport, type NodeAssignment, type StageAssignment } from './placement.js';
export { exportPlan, type ExportablePlan, type ExportOptions, type ExportResult, type RoundingReport } from './export.js';
export { formatExport, commentLines, type ExportFormat } from './format.js';
export { resolvePlans, resolveBestPlacement, type PlanChoice } from './resolve.js';
export { readPlanCsv, readPlanCsvFile, type CsvPlanRow } from './csv-row.js';
