// fasop as a library: search a cluster, pick the best plan, estimate it again, export it.
// Run from the repository root after `npm run build`:
//   node docs/examples/export.mjs [profile-dir]        (default ../shared/reference/profiles)
import {
  loadCatalog, loadProfiles, getModel, getDataset, parseGpuTokens,
  search, estimate, getEstimator, rankRecords, resolvePlans, exportPlan,
} from '../../dist/index.js';

const catalog = loadCatalog();
const profiles = loadProfiles(process.argv[2] ?? '../shared/reference/profiles');

// The same request `fasop search --gpus A40 4 --gbs 32 --dataset squad` builds.
const request = {
  gpus: parseGpuTokens(['A40', '4'], catalog),
  model: getModel(catalog, 'llama70b'),
  dataset: getDataset(catalog, 'squad'),
  gbsValues: [32],
  gpusPerNode: 4,
  precision: 16,
  partitionMethod: 'minmax',
  estimator: 'reference',
  pareto: false,
};
const ctx = { catalog, profiles, estimator: getEstimator('reference') };

// search(): every plan, estimated; rankRecords(): by total training time, as the CSV ranks them.
const records = await search(request, ctx);
const best = rankRecords(records)[0].record;
console.log(`plans estimated: ${records.length}`);
console.log(`best: tp=${best.tp} dp=${best.dp} pp=${best.pp} mbs=${best.mbs} gbs=${best.gbs} step_time=${best.step_time} oom=${best.is_oom}`);

// resolvePlans(): the fully resolved plan behind a record; estimate() runs the estimator on it.
const [{ plan }] = await resolvePlans(request, ctx, best);
const again = await estimate({ ...plan, fixedPartition: best.partition }, 'reference');
console.log(`estimate() of the same plan and partition: ${again.stepTime_s}`);

// exportPlan() (also exported as `export`): launcher arguments for the plan's layer partition.
const out = await exportPlan(best, { model: request.model, gpusPerNode: request.gpusPerNode, plan, estimator: ctx.estimator });
console.log(`layers per stage: ${JSON.stringify(out.layerPartition.layersPerStage)} exact=${out.layerPartition.exact}`);
console.log(`megatron: ${out.megatron.args.join(' ')}`);
console.log(`torchtitan module_fqns_per_model_part: ${JSON.stringify(out.torchtitan.module_fqns_per_model_part)}`);

// A tp = 1 plan cuts its node partition inside layers: export rounds it to whole layers and
// re-estimates the rounded partition.
const cut = rankRecords(records).find((r) => r.record.tp === 1).record;
const [{ plan: cutPlan }] = await resolvePlans(request, ctx, cut);
const cutOut = await exportPlan(cut, { model: request.model, gpusPerNode: request.gpusPerNode, plan: cutPlan, estimator: ctx.estimator });
console.log(`tp=1 plan: node partition ${JSON.stringify(cut.partition)} -> layers ${JSON.stringify(cutOut.layerPartition.layersPerStage)} exact=${cutOut.layerPartition.exact}`);
if (cutOut.rounding) console.log(`rounding: ${cutOut.rounding.stepTimeBefore_s} s -> ${cutOut.rounding.stepTimeAfter_s} s (${cutOut.rounding.changePct.toFixed(2)} %)`);
console.log(`tp=1 megatron layout: ${cutOut.megatron.layout}`);
