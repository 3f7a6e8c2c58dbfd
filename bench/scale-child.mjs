// Child process of bench/search-scale.mjs: one search of one build (its dist/ folder), in this
// fresh process. argv: DIST MODE CAP_S GPU_TOKENS_JSON ARGS_JSON [WORKERS]
//   MODE one:      searchEvents on this thread (every build has it)
//   MODE parallel: the parallel search over WORKERS threads (builds that have dist/search/parallel.js)
//   MODE hot:      the search run twice on this thread; the second run's plans per CPU second
// Keeps every result as `fasop search` does (a build with report/result-table.js: in its compact table,
// with the extras; before: the record objects), stops after CAP_S seconds (0: no cap), then writes the
// ranked CSV of what it kept to a temporary file as `fasop search` would (csv_s), and prints one JSON
// line: results (plans, or strategies where a build gives one per strategy), plans timed by the
// estimator (this thread's), total, seconds, results/s, peak RSS (MiB, CSV included) and a hash of the results
// (hashing is the benchmark's own check: its time, hash_s, is left out of seconds and cpu_s).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importBuild } from './scale-common.mjs';

const [dist, mode, capArg, gpuJson, argsJson, workersArg] = process.argv.slice(2);
const { imp, getEstimator, search, resolve } = await importBuild(dist);
const { searchEvents, planJobs, countPlans } = search;
const csv = await imp('report/csv.js');
const { planExtras } = await imp('report/plan-extras.js');
const tableModule = await imp('report/result-table.js').catch(() => undefined);
const gpuTokens = JSON.parse(gpuJson);
const args = JSON.parse(argsJson);
const cap_s = Number(capArg);
const t0 = performance.now();
let out;
try {
  // every plan the estimator times is counted (a build with the technique space times several per result)
  let timed = 0;
  const { raw, r, ctx } = resolve(gpuTokens, args, (name) => {
    const base = getEstimator(name);
    const estimator = Object.assign((plan) => { timed += 1; return base(plan); }, base);
    // a build whose estimator times through `timing` (memory before time) counts the plans it simulated
    if (base.timing) estimator.timing = async (plan) => { const t = await base.timing(plan); if (t.timed) timed += 1; return t; };
    return estimator;
  });
  const total = countPlans(planJobs(r.request, ctx.profiles, ctx.catalog));
  const run = async (events) => {
    const start = performance.now();
    const cpu = process.cpuUsage();
    const hash = createHash('sha256');
    const records = [];
    const extras = [];
    const table = tableModule ? new tableModule.ResultTable() : undefined;
    let results = 0;
    let capped = false;
    // the results hash is the benchmark's own check, not the search's work: its time is left out of `seconds`
    let hash_ms = 0;
    timed = 0;
    for await (const ev of events) {
      if (ev.type === 'result') {
        const x = planExtras(ev.record, ev.estimate, r.request.model.num_layers);
        if (table) table.add(ev.record, x);
        else {
          records.push(ev.record);
          extras.push(x);
        }
        const h = performance.now();
        hash.update(JSON.stringify(ev.record));
        hash_ms += performance.now() - h;
      } else if (ev.type === 'oom') {
        const h = performance.now();
        hash.update(JSON.stringify(ev.oom));
        hash_ms += performance.now() - h;
      } else continue;
      results += 1;
      if (cap_s > 0 && (results & 255) === 0 && performance.now() - start > cap_s * 1000) { capped = true; break; }
    }
    const c = process.cpuUsage(cpu);
    const seconds = (performance.now() - start - hash_ms) / 1000;
    // the ranked CSV, as `fasop search` writes it
    const t = performance.now();
    const dir = mkdtempSync(join(tmpdir(), 'fasop-csv-'));
    const opts = { order: r.request.estimator === 'reference' ? 'time' : 'fits-first', fillLayers: r.request.estimator !== 'reference' };
    // a build that cannot write this CSV (one string past V8's longest) still reports its search
    let csv_error;
    try {
      if (table) {
        const { writeFileAtomic } = await imp('guard/write.js');
        writeFileAtomic(join(dir, 'r.csv'), csv.csvChunks(table, opts));
      } else writeFileSync(join(dir, 'r.csv'), csv.formatCsv(records, { ...opts, extras }));
    } catch (err) {
      csv_error = String(err?.message ?? err).split('\n')[0];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return { plans: results, timed, seconds, hash_s: hash_ms / 1000, cpu_s: (c.user + c.system) / 1e6 - hash_ms / 1000, csv_s: (performance.now() - t) / 1000, ...(csv_error ? { csv_error } : {}), capped, hash: hash.digest('hex').slice(0, 16) };
  };
  let res;
  let threads = 1;
  if (mode === 'parallel') {
    const { parallelSearchEvents } = await imp('search/parallel.js');
    res = await run(parallelSearchEvents(r.request, ctx, { workers: Number(workersArg), source: { raw, gpuTokens }, slimEstimates: true, onThreads: (t) => { threads = t; } }));
  } else if (mode === 'hot') {
    await run(searchEvents(r.request, ctx)); // warm-up: JIT, cost tables
    res = await run(searchEvents(r.request, ctx));
  } else {
    res = await run(searchEvents(r.request, ctx));
  }
  out = {
    ...res, total, threads,
    plansPerSecond: res.plans / res.seconds,
    plansPerCpuSecond: res.plans / res.cpu_s,
    timedPerCpuSecond: res.timed / res.cpu_s,
    projected_s: res.capped ? total / (res.plans / res.seconds) : res.seconds,
    processWall_s: (performance.now() - t0) / 1000,
    peakRss_MiB: process.resourceUsage().maxRSS / 1024,
  };
} catch (err) {
  out = { error: String(err?.message ?? err).split('\n')[0], processWall_s: (performance.now() - t0) / 1000, peakRss_MiB: process.resourceUsage().maxRSS / 1024 };
}
console.log(JSON.stringify(out));
process.exit(0);
