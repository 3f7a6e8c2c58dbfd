// One build against another where single runs move more than the change (docs/benchmarks.md):
//   npm run build && node bench/interleaved.mjs BEFORE_REF [--rounds R] [--runs N] [--only a,b,s]
// BEFORE_REF is exported with `git archive` and built beside this checkout, as bench/search-scale.mjs
// does. Each round runs before and after in turn, each in a fresh process that searches N times on one
// thread; a process reports the least CPU time of its runs after the first (the JIT's warm-up left out).
//   (a) LLaMA-70B, --gpus H100 64 H200 64 --gbs 1024
//   (b) LLaMA-3.1-405B dimensions, --gpus H100 256 A100 128 --seq-length 8192 --gbs 2048
//   (s) the small sweep, --gpus H100 4 H200 4 --pareto --pareto-gbs-max 32
// Child mode (internal): node bench/interleaved.mjs --child DIST GPUS_JSON ARGS_JSON N
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { ROOT, buildRef, importBuild, llama405bCatalog, scenarios as allScenarios, takeFlag } from './scale-common.mjs';

const argv = process.argv.slice(2);

if (argv[0] === '--child') {
  const [, dist, gpuJson, argsJson, nArg] = argv;
  const { search, resolve } = await importBuild(dist);
  const { r, ctx } = resolve(JSON.parse(gpuJson), JSON.parse(argsJson));
  const cpu_s = [];
  let results = 0;
  for (let i = 0; i < Number(nArg); i++) {
    const c = process.cpuUsage();
    results = 0;
    for await (const ev of search.searchEvents(r.request, ctx)) if (ev.type === 'result' || ev.type === 'oom') results += 1;
    const u = process.cpuUsage(c);
    cpu_s.push((u.user + u.system) / 1e6);
  }
  console.log(JSON.stringify({ results, least_s: Math.min(...cpu_s.slice(1)), first_s: cpu_s[0] }));
  process.exit(0);
}

const rounds = Number(takeFlag(argv, '--rounds', '3'));
const runs = Number(takeFlag(argv, '--runs', '4'));
const only = new Set(takeFlag(argv, '--only', 'a,b,s').split(','));
const ref = argv[0];
if (!ref) throw new Error('usage: node bench/interleaved.mjs BEFORE_REF [--rounds R] [--runs N] [--only a,b,s]');
const before = buildRef(ref);
const scenarios = allScenarios(llama405bCatalog());
const child = (root, s) => JSON.parse(execFileSync(process.execPath, [new URL(import.meta.url).pathname, '--child', join(root, 'dist'), JSON.stringify(s.gpus), JSON.stringify(s.args), String(runs)], { encoding: 'utf8' }));

console.log(`machine: ${cpus()[0]?.model ?? '?'} (${cpus().length} cores), node ${process.version}, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}, ${new Date().toISOString()}; before = ${ref}; ${rounds} rounds of ${runs} runs`);
console.log('');
console.log('| scenario | results | before: least CPU (s) per round | after: least CPU (s) per round | after / before (medians) |');
console.log('|---|---|---|---|---|');
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
for (const key of ['a', 'b', 's']) {
  if (!only.has(key)) continue;
  const s = scenarios[key];
  const b = [];
  const a = [];
  let results = 0;
  for (let i = 0; i < rounds; i++) {
    b.push(child(before, s).least_s);
    const x = child(ROOT, s);
    a.push(x.least_s);
    results = x.results;
  }
  const f = (xs) => xs.map((x) => x.toFixed(2)).join(', ');
  console.log(`| ${s.name} | ${results.toLocaleString('en-US')} | ${f(b)} | ${f(a)} | ${(median(a) / median(b)).toFixed(2)} |`);
}
