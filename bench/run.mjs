// Benchmarks of the search (run on demand: `npm run build && node bench/run.mjs`). Each scenario runs
// in a fresh Node process: "cold" is the first search in that process (profile loading and JIT
// warm-up included); "warm" is the median CPU time of later runs; "command" is the wall time of the
// whole `fasop` command (Node start-up included). The original's times are the recorded ones in
// ../shared/reference/outputs/INDEX.md (one core of this machine kind).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REF = new URL('../../shared/reference/profiles', import.meta.url).pathname;
const BIN = new URL('../bin/fasop.js', import.meta.url).pathname;
const ONCE = new URL('./search-once.mjs', import.meta.url).pathname;
const only = process.argv[2];

const scenarios = [
  { name: 's1: A40×8, gbs 32, squad (minmax)', original_s: 5.9, gpus: [{ type: 'A40', nodes: 8 }], dataset: 'squad', gbsValues: [32], args: ['--gpus', 'A40', '8', '--gbs', '32'] },
  { name: 's4: A40×4, gbs 32, squad', original_s: 3.7, gpus: [{ type: 'A40', nodes: 4 }], dataset: 'squad', gbsValues: [32], args: ['--gpus', 'A40', '4', '--gbs', '32'] },
  { name: 'A40×8, gbs 64, c4', original_s: 7.0, gpus: [{ type: 'A40', nodes: 8 }], dataset: 'c4', gbsValues: [64], args: ['--gpus', 'A40', '8', '--gbs', '64', '--dataset', 'c4'] },
  { name: 'A40×16, gbs 128, pile', original_s: null, gpus: [{ type: 'A40', nodes: 16 }], dataset: 'pile', gbsValues: [128], args: ['--gpus', 'A40', '16', '--gbs', '128', '--dataset', 'pile'] },
  { name: 'pareto: A40×8 --pareto', original_s: 60, gpus: [{ type: 'A40', nodes: 8 }], dataset: 'squad', gbsValues: [32], pareto: true, gpusPerNode: 8, args: ['--gpus', 'A40', '8', '--pareto'] },
  { name: 'pareto: A40×8 --pareto --pareto-gbs-max 64', original_s: 270, gpus: [{ type: 'A40', nodes: 8 }], dataset: 'squad', gbsValues: [1, 2, 4, 8, 16, 32, 64], pareto: true, gpusPerNode: 8, args: ['--gpus', 'A40', '8', '--pareto', '--pareto-gbs-max', '64'] },
  { name: 'main job: H100×4 nodes (32 GPUs), llama70b, gbs 32, --estimator fasop (shipped profiles)', original_s: null, gpus: [{ type: 'H100', nodes: 4 }], dataset: 'squad', gbsValues: [32], gpusPerNode: 8, estimator: 'fasop', profileDir: new URL('../profiles', import.meta.url).pathname, args: ['--gpus', 'H100', '4'] },
  { name: 'dp partition: A40×8, gbs 32 (Scenario 6)', original_s: null, gpus: [{ type: 'A40', nodes: 8 }], dataset: 'squad', gbsValues: [32], method: 'dp', args: ['--gpus', 'A40', '8', '--gbs', '32', '--pp-partition-method', 'dp'] },
];

const rows = [];
for (const s of scenarios) {
  if (only && !s.name.includes(only)) continue;
  const r = JSON.parse(execFileSync(process.execPath, [ONCE, JSON.stringify({ ...s, profileDir: s.profileDir ?? REF }), '9'], { encoding: 'utf8' }));
  const cwd = mkdtempSync(join(tmpdir(), 'fasop-bench-'));
  const cmd = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const p = spawnSync(process.execPath, [BIN, ...s.args, '--dataset', s.dataset, '--profile-dir', s.profileDir ?? REF, '--estimator', s.estimator ?? 'reference', '--no-save-csv'], { cwd, encoding: 'utf8' });
    if (p.status !== 0) throw new Error(p.stderr);
    cmd.push(performance.now() - t);
  }
  cmd.sort((a, b) => a - b);
  rows.push({ ...s, ...r, commandMs: cmd[1] });
}
const f = (x) => (x === null || x === undefined ? '—' : x.toFixed(1));
console.log('| scenario | plans | cold search (ms, wall) | warm search (ms CPU, median) | whole command (ms, wall) | original (s) | speed-up: search cold / command |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) {
  const sp = r.original_s ? `${(r.original_s * 1000 / r.coldWallMs).toFixed(0)}× / ${(r.original_s * 1000 / r.commandMs).toFixed(0)}×` : '—';
  console.log(`| ${r.name} | ${r.rows} | ${f(r.coldWallMs)} | ${f(r.warmCpuMedianMs)} | ${f(r.commandMs)} | ${r.original_s ?? 'not recorded'} | ${sp} |`);
}
