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
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const argv = process.argv.slice(2);

if (argv[0] === '--child') {
  const [, dist, gpuJson, argsJson, nArg] = argv;
  const imp = (p) => import(pathToFileURL(join(dist, p)).href);
  (await imp('cli/heap.js').catch(() => undefined))?.boundHeapGrowth();
  const { Command } = await import('commander');
  const { addSearchOptions, resolveSearchOptions } = await imp('cli/search-options.js');
  const { ProfileDb } = await imp('profiles/db.js');
  const { getEstimator } = await imp('estimate/index.js');
  const { searchEvents } = await imp('search/search.js');
  const raw = addSearchOptions(new Command('search')).exitOverride().parse(JSON.parse(argsJson), { from: 'user' }).opts();
  const r = resolveSearchOptions(raw, JSON.parse(gpuJson));
  const ctx = { catalog: r.catalog, profiles: ProfileDb.open(r.profileDir), estimator: getEstimator(r.request.estimator) };
  const cpu_s = [];
  let results = 0;
  for (let i = 0; i < Number(nArg); i++) {
    const c = process.cpuUsage();
    results = 0;
    for await (const ev of searchEvents(r.request, ctx)) if (ev.type === 'result' || ev.type === 'oom') results += 1;
    const u = process.cpuUsage(c);
    cpu_s.push((u.user + u.system) / 1e6);
  }
  console.log(JSON.stringify({ results, least_s: Math.min(...cpu_s.slice(1)), first_s: cpu_s[0] }));
  process.exit(0);
}

const ROOT = new URL('..', import.meta.url).pathname;
const flag = (name, dflt) => {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const rounds = Number(flag('--rounds', '3'));
const runs = Number(flag('--runs', '4'));
const only = new Set(flag('--only', 'a,b,s').split(','));
const ref = argv[0];
if (!ref) throw new Error('usage: node bench/interleaved.mjs BEFORE_REF [--rounds R] [--runs N] [--only a,b,s]');

const before = mkdtempSync(join(tmpdir(), 'fasop-before-'));
execFileSync('sh', ['-c', `git -C "${ROOT}" archive "${ref}" | tar -x -C "${before}"`]);
symlinkSync(join(ROOT, 'node_modules'), join(before, 'node_modules'));
execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(before, 'tsconfig.json')], { stdio: 'inherit' });

// LLaMA-3.1-405B's shape (Meta's config.json), as an extra catalog (as bench/search-scale.mjs gives it)
const extra = join(mkdtempSync(join(tmpdir(), 'fasop-catalog-')), 'llama405b.json');
writeFileSync(extra, JSON.stringify({ models: { llama405b: {
  architecture: 'llama', hidden_size: 16384, seq_length: 1024, num_layers: 126, vocab_size: 128256, num_attention_heads: 128,
  num_key_value_heads: 8, intermediate_size: 53248, tie_word_embeddings: false, max_position_embeddings: 131072, source: 'Llama-3.1-405B config.json',
} } }));
const scenarios = {
  a: { name: '(a) llama70b, H100×64 + H200×64 nodes, gbs 1024', gpus: ['H100', '64', 'H200', '64'], args: ['--gbs', '1024'] },
  b: { name: '(b) 405B dims, H100×256 + A100×128 nodes, seq 8192, gbs 2048', gpus: ['H100', '256', 'A100', '128'], args: ['--model-type', 'llama405b', '--seq-length', '8192', '--gbs', '2048', '--catalog', extra] },
  s: { name: '(s) H100×4 + H200×4, --pareto --pareto-gbs-max 32', gpus: ['H100', '4', 'H200', '4'], args: ['--pareto', '--pareto-gbs-max', '32'] },
};
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
