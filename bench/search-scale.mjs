// Search at cluster scale, before and after, on this machine in one run (docs/benchmarks.md):
//   npm run build && node bench/search-scale.mjs [BEFORE_REF] [--cap SECONDS] [--only a,b,c,d]
// BEFORE_REF (default 84ee787, the plain search before the technique space) is exported with `git archive`
// into a temporary folder beside this checkout's and built there with its node_modules. Every
// search runs in a fresh process (bench/scale-child.mjs), which reports its plans/s and peak RSS.
//   (a) LLaMA-70B, --gpus H100 64 H200 64 --gbs 1024 (the default space)
//   (b) LLaMA-3.1-405B dimensions, --gpus H100 256 A100 128 (A100 costs derived), --seq-length 8192,
//       --gbs 2048, the default space of the build (with the technique space: all of it)
//   (c) --gpus H100 20 H200 20 --pareto --pareto-gbs-max 64
//   (d) the hot path: (a) run twice on one thread, the second run's plans per CPU second
// Searches longer than --cap seconds (default 120) stop there; their total is projected from the rate.
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ROOT, buildRef, llama405bCatalog, scenarios as allScenarios, takeFlag } from './scale-common.mjs';

const CHILD = new URL('./scale-child.mjs', import.meta.url).pathname;
const argv = process.argv.slice(2);
const cap = Number(takeFlag(argv, '--cap', '120'));
const only = new Set(takeFlag(argv, '--only', 'a,b,c,d').split(','));
const ref = argv[0] ?? '84ee787';
const before = buildRef(ref);
const scenarios = allScenarios(llama405bCatalog());
const threads = availableParallelism();
const run = (root, mode, s, capS, workers = 1) => {
  try {
    return JSON.parse(execFileSync(process.execPath, [CHILD, join(root, 'dist'), mode, String(capS), JSON.stringify(s.gpus), JSON.stringify(s.args), String(workers)], { encoding: 'utf8', maxBuffer: 1 << 26 }));
  } catch (err) {
    return { error: String(err.message).split('\n')[0] };
  }
};

const n = (x, d = 0) => (x === undefined || x === null || !Number.isFinite(x) ? '—' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const cells = (r) => (r.error
  ? `error: ${r.error.slice(0, 90)} | — | — | — | ${n(r.peakRss_MiB)}`
  : `${n(r.plans)}${r.capped ? ` of ${n(r.total)} (capped)` : ''} | ${r.threads > 1 ? '—' : n(r.timed)} | ${n(r.seconds, 2)}${r.capped ? ` (projected ${n(r.projected_s)})` : ''} | ${n(r.plansPerSecond)} | ${n(r.peakRss_MiB)}${r.csv_error ? ` (its CSV not written: ${r.csv_error.slice(0, 40)})` : ''}`);

console.log(`machine: ${cpus()[0]?.model ?? '?'} (${cpus().length} cores), node ${process.version}, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}, ${new Date().toISOString()}; before = ${ref}; cap ${cap} s`);
// how many cores this process really gets now: a pure CPU loop on 1 and on 2 threads at once
const spin = (k) => Promise.all(Array.from({ length: k }, () => new Promise((done) => {
  const w = new Worker('let x = 0; for (let i = 0; i < 3e8; i++) x += i % 7; require("node:worker_threads").parentPort.postMessage(x)', { eval: true });
  w.on('message', () => { void w.terminate(); done(); });
})));
const wall = async (k) => { const t = performance.now(); await spin(k); return performance.now() - t; };
const w1 = await wall(1);
const w2 = await wall(2);
console.log(`cores available now: the same CPU loop on 2 threads at once takes ${(w2 / w1).toFixed(2)}× the wall time of 1 (1.0: two free cores; 2.0: one)`);
console.log('');
console.log('| scenario | build | threads | results | plans timed | search (s) | results/s | peak RSS (MiB) | results hash |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const key of ['a', 'b', 'c']) {
  if (!only.has(key)) continue;
  const s = scenarios[key];
  const rows = [
    ['before', 1, run(before, 'one', s, cap)],
    ['after', 1, run(ROOT, 'one', s, cap)],
    ['after', threads, run(ROOT, 'parallel', s, cap, threads)],
  ];
  for (const [build, t, r] of rows) console.log(`| ${s.name} | ${build} | ${r.threads ?? t} | ${cells(r)} | ${r.hash ?? '—'} |`);
}
if (only.has('d')) {
  console.log('');
  console.log('| (d) hot path, (a) on one thread, second run | results | plans timed | CPU (s) | results per CPU second | plans timed per CPU second |');
  console.log('|---|---|---|---|---|---|');
  for (const [build, root] of [['before', before], ['after', ROOT]]) {
    const r = run(root, 'hot', scenarios.a, 0);
    console.log(r.error ? `| ${build} | error: ${r.error} | — | — | — | — |` : `| ${build} | ${n(r.plans)} | ${n(r.timed)} | ${n(r.cpu_s, 2)} | ${n(r.plansPerCpuSecond)} | ${n(r.timedPerCpuSecond)} |`);
  }
}
