// Child process of bench/run.mjs: time one search scenario in a fresh process (cold), then warm runs.
import { loadCatalog, getModel, getDataset, loadProfiles, search, getEstimator } from '../dist/index.js';

const [scenarioJson, warmRuns] = process.argv.slice(2);
const s = JSON.parse(scenarioJson);
const t0 = performance.now();
const c0 = process.cpuUsage();
const catalog = loadCatalog();
const profiles = loadProfiles(s.profileDir);
const request = {
  gpus: s.gpus, model: getModel(catalog, s.model ?? 'llama70b'), dataset: getDataset(catalog, s.dataset),
  gbsValues: s.gbsValues, gpusPerNode: s.gpusPerNode ?? 4, precision: 16,
  partitionMethod: s.method ?? 'minmax', estimator: s.estimator ?? 'reference', pareto: Boolean(s.pareto),
};
const ctx = { catalog, profiles, estimator: getEstimator(request.estimator) };
const rows = (await search(request, ctx)).length;
const coldMs = performance.now() - t0;
const cold = process.cpuUsage(c0);
const warm = [];
for (let i = 0; i < Number(warmRuns); i++) {
  const c = process.cpuUsage();
  await search(request, ctx);
  const u = process.cpuUsage(c);
  warm.push((u.user + u.system) / 1000);
}
warm.sort((a, b) => a - b);
console.log(JSON.stringify({ rows, coldWallMs: coldMs, coldCpuMs: (cold.user + cold.system) / 1000, warmCpuMedianMs: warm[Math.floor(warm.length / 2)] ?? null }));
