// Child process of bench/shape-costs.mjs: one search scenario with the library of one build (its
// dist/ folder), timed cold (the first search in a fresh process) and warm (CPU median of later runs).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [distDir, scenarioJson, warmRuns] = process.argv.slice(2);
const { loadCatalog, getModel, getDataset, loadProfiles, search, getEstimator } = await import(pathToFileURL(join(distDir, 'index.js')).href);
const s = JSON.parse(scenarioJson);
const t0 = performance.now();
const catalog = loadCatalog();
const profiles = loadProfiles(s.profileDir);
const model = { ...getModel(catalog, s.model), ...(s.seqLength ? { seq_length: s.seqLength } : {}) };
const request = {
  gpus: s.gpus, model, dataset: getDataset(catalog, s.dataset), gbsValues: s.gbsValues, gpusPerNode: s.gpusPerNode,
  precision: 16, partitionMethod: 'minmax', estimator: 'fasop', pareto: false,
};
const ctx = { catalog, profiles, estimator: getEstimator('fasop') };
let rows;
try {
  rows = (await search(request, ctx)).length;
} catch (err) {
  console.log(JSON.stringify({ error: String(err.message ?? err).split('\n')[0] }));
  process.exit(0);
}
const coldWallMs = performance.now() - t0;
const warm = [];
for (let i = 0; i < Number(warmRuns); i++) {
  const c = process.cpuUsage();
  await search(request, ctx);
  const u = process.cpuUsage(c);
  warm.push((u.user + u.system) / 1000);
}
warm.sort((a, b) => a - b);
console.log(JSON.stringify({ rows, coldWallMs, warmCpuMedianMs: warm[Math.floor(warm.length / 2)] ?? null }));
