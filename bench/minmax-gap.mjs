// How far the original's greedy `minmax` partition is from the exact optimum, on the s1 command
// (A40×8, gbs 32, squad, reference cost terms). For every plan: the simulated step time with the
// minmax partition vs with the exact `dp` partition (the shared objective), and the gap.
// Run: npm run build && node bench/minmax-gap.mjs
import { loadCatalog, getModel, getDataset, loadProfiles, search, getEstimator } from '../dist/index.js';

const REF = new URL('../../shared/reference/profiles', import.meta.url).pathname;
const catalog = loadCatalog();
const profiles = loadProfiles(REF);
const estimator = process.argv[2] ?? 'reference';
const base = { gpus: [{ type: 'A40', nodes: 8 }], model: getModel(catalog, 'llama70b'), dataset: getDataset(catalog, 'squad'), gbsValues: [32], gpusPerNode: 4, precision: 16, estimator, pareto: false, eachExecution: true }; // every plan, the same list for both methods
const ctx = { catalog, profiles, estimator: getEstimator(estimator) };
console.log(`estimator: ${estimator}`);
const mm = await search({ ...base, partitionMethod: 'minmax' }, ctx);
const ex = await search({ ...base, partitionMethod: 'dp' }, ctx);
const gaps = mm.map((r, i) => (r.step_time - ex[i].step_time) / ex[i].step_time);
const rows = mm.map((r, i) => ({ tp: r.tp, dp: r.dp, pp: r.pp, mbs: r.mbs, minmax_s: r.step_time, exact_s: ex[i].step_time, gap: gaps[i] }));
rows.sort((a, b) => b.gap - a.gap);
if (process.env.SHOW_WORST) for (const r of rows.slice(-3)) console.log("worst-for-dp", JSON.stringify(r), JSON.stringify(mm.find((x) => x.tp === r.tp && x.dp === r.dp && x.mbs === r.mbs).partition), JSON.stringify(ex.find((x) => x.tp === r.tp && x.dp === r.dp && x.mbs === r.mbs).partition));
const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
console.log(`plans: ${gaps.length}; minmax slower than exact dp: max ${(100 * Math.max(...gaps)).toFixed(2)} %, mean ${(100 * mean).toFixed(2)} %, min ${(100 * Math.min(...gaps)).toFixed(2)} %; plans with gap > 1 %: ${gaps.filter((g) => g > 0.01).length}`);
console.log('| tp | dp | pp | mbs | minmax step (s) | exact-dp step (s) | gap |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows.slice(0, 8)) console.log(`| ${r.tp} | ${r.dp} | ${r.pp} | ${r.mbs} | ${r.minmax_s.toFixed(4)} | ${r.exact_s.toFixed(4)} | ${(100 * r.gap).toFixed(2)} % |`);
const best = (rs) => rs.filter((r) => !r.is_oom).sort((a, b) => a.step_time - b.step_time)[0];
console.log(`fastest plan overall: minmax ${Math.min(...mm.map((r) => r.step_time)).toFixed(4)} s, exact dp ${Math.min(...ex.map((r) => r.step_time)).toFixed(4)} s; best non-OOM: ${best(mm)?.step_time ?? 'none'} / ${best(ex)?.step_time ?? 'none'}`);
