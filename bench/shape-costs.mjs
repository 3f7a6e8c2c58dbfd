// Search time before and after costing by shape, on the same machine in one run:
//   npm run build && node bench/shape-costs.mjs [BEFORE_REF]   (default BEFORE_REF: main; pass the commit before the change)
// BEFORE_REF is exported with `git archive` into a temporary folder and built there with this
// checkout's node_modules; both builds then run the same scenarios, each in a fresh process.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const CHILD = new URL('./search-version.mjs', import.meta.url).pathname;
const ref = process.argv[2] ?? 'main';

const before = mkdtempSync(join(tmpdir(), 'fasop-before-'));
execFileSync('sh', ['-c', `git -C "${ROOT}" archive "${ref}" | tar -x -C "${before}"`]);
symlinkSync(join(ROOT, 'node_modules'), join(before, 'node_modules'));
execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(before, 'tsconfig.json')], { stdio: 'inherit' });

const shipped = (dir) => join(dir, 'profiles');
const scenarios = [
  { name: 'H100×64 + H200×64 nodes, llama70b, gbs 1024 (per-model profiles)', gpus: [{ type: 'H100', nodes: 64 }, { type: 'H200', nodes: 64 }], model: 'llama70b', gbsValues: [1024], gpusPerNode: 8, dataset: 'c4' },
  { name: 'H200×8 nodes, llama8b at seq 4096, gbs 512 (operator profile)', gpus: [{ type: 'H200', nodes: 8 }], model: 'llama8b', seqLength: 4096, gbsValues: [512], gpusPerNode: 8, dataset: 'c4' },
  { name: 'A100×16 nodes, llama70b, gbs 512 (derived from H200)', gpus: [{ type: 'A100', nodes: 16 }], model: 'llama70b', gbsValues: [512], gpusPerNode: 8, dataset: 'c4' },
];
const run = (root, s) => JSON.parse(execFileSync(process.execPath, [CHILD, join(root, 'dist'), JSON.stringify({ ...s, profileDir: shipped(root) }), '3'], { encoding: 'utf8', maxBuffer: 1 << 26 }));
const f = (x) => (x === undefined || x === null ? '—' : x.toFixed(0));
console.log(`machine: ${cpus()[0]?.model ?? '?'} (${cpus().length} cores), node ${process.version}, ${new Date().toISOString()}; before = ${ref}`);
console.log('| scenario | plans | before: cold (ms wall) | before: warm (ms CPU) | after: cold (ms wall) | after: warm (ms CPU) |');
console.log('|---|---|---|---|---|---|');
for (const s of scenarios) {
  const b = run(before, s);
  const a = run(ROOT, s);
  const bCells = b.error ? `not supported (${b.error.slice(0, 60)}…) | —` : `${f(b.coldWallMs)} | ${f(b.warmCpuMedianMs)}`;
  console.log(`| ${s.name} | ${a.rows ?? b.rows} | ${bCells} | ${f(a.coldWallMs)} | ${f(a.warmCpuMedianMs)} |`);
}
