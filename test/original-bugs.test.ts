/**
 * Inputs that crash or mislead the original FASOP (SPEC.md Appendix B, §16) get a correct answer
 * or a clear error here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { getGpu, loadCatalog } from '../src/catalog/catalog.js';
import { readCsvFile, type CsvRow } from './helpers/csv.js';
import { REF_PROFILES, runCli } from './helpers/cli.js';

const P = ['--profile-dir', REF_PROFILES, '--estimator', 'reference'];
const A40_LIMIT_GIB = 47;

type Row = CsvRow;
const readCsv = readCsvFile;

/** Every row: a finite positive step time, consistent throughput/cost, and is_oom agreeing with the A40 limit. */
function checkSane(rows: Row[], gbs: number): void {
  assert.ok(rows.length > 0);
  for (const r of rows) {
    const step = Number(r['step_time(s)']);
    assert.ok(Number.isFinite(step) && step > 0 && step < 1000, `step time ${step} of ${JSON.stringify(r)}`);
    assert.ok(Math.abs(Number(r['throughput(samples/s)']) - gbs / step) <= 1e-9 * (gbs / step));
    const mem = Number(r['oom_gpumem(GB)']);
    assert.ok(Number.isFinite(mem) && mem > 0);
    // is_oom = some stage's memory × 1.1 exceeds the limit; the reported figure is that stage's × 1.1
    if (r['is_oom'] === 'True') assert.ok(mem > A40_LIMIT_GIB, `${mem} reported for an OOM plan`);
    else assert.ok(mem * 1.1 <= A40_LIMIT_GIB + 1e-4, `${mem} GiB not OOM`);
    assert.equal(Number(r['tp']) * Number(r['dp']) * Number(r['pp']), rows[0]!['node_type']!.split(',').length * 4);
    assert.equal((gbs / (Number(r['dp']) * Number(r['mbs']))) % 1, 0);
  }
}

for (const [nodes, gbs, crash] of [[3, 24, 'KeyError'], [5, 55, 'UnboundLocalError'], [11, 55, 'IndexError']] as const) {
  test(`--gpus A40 ${nodes} --gbs ${gbs} (the original: ${crash}) gives a full, sane search`, async () => {
    const run = await runCli(['--gpus', 'A40', String(nodes), '--gbs', String(gbs), ...P]);
    assert.equal(run.code, 0, run.err);
    const rows = readCsv(join(run.cwd, 'main_logs', 'llama70b.csv'));
    checkSane(rows, gbs);
    if (nodes === 11) {
      // dp·mbs = 55 is exactly one micro-batch (the original's float32 quotient made it 0.99… → 0)
      const one = rows.filter((r) => Number(r['dp']) * Number(r['mbs']) === 55);
      assert.ok(one.length > 0, 'plans with dp·mbs = 55 are searched');
      const ex = await runCli(['--gpus', 'A40', '11', '--gbs', '55', '--exhaustive', '--mbs', one[0]!['mbs']!, '--tp', one[0]!['tp']!, '--dp', one[0]!['dp']!, '--pp', String(Number(one[0]!['pp'])), ...P]);
      assert.equal(ex.code, 0, ex.err);
      assert.match(ex.out, /micro-batches per step: 1\n/);
    }
  });
}

test('--gpu-per-node 6: finite step times (the original: 2·10¹⁰ s for tp·dp = 3 from a 40 bit/s placeholder)', async () => {
  const run = await runCli(['--gpus', 'A40', '1', '--gpu-per-node', '6', '--gbs', '24', ...P]);
  assert.equal(run.code, 0, run.err);
  const rows = readCsv(join(run.cwd, 'main_logs', 'llama70b.csv'));
  assert.equal(rows.length, 33);
  for (const r of rows) {
    const step = Number(r['step_time(s)']);
    assert.ok(Number.isFinite(step) && step > 0 && step < 100, `step ${step} s for tp=${r['tp']} dp=${r['dp']} pp=${r['pp']}`);
  }
  // tp·dp = 3 plans (dp = 3) are of the same order as their tp·dp = 2 and 6 neighbours
  const dp3 = rows.filter((r) => Number(r['tp']) * Number(r['dp']) === 3).map((r) => Number(r['step_time(s)']));
  const others = rows.filter((r) => Number(r['tp']) * Number(r['dp']) !== 3).map((r) => Number(r['step_time(s)']));
  assert.ok(dp3.length > 0);
  assert.ok(Math.max(...dp3) < 3 * Math.max(...others), `${Math.max(...dp3)} vs ${Math.max(...others)}`);
});

test('--pp-partition-method even is optimus-even (the original: argparse exit 2)', async () => {
  const a = await runCli(['--gpus', 'A40', '2', '--pp-partition-method', 'even', ...P]);
  const b = await runCli(['--gpus', 'A40', '2', '--pp-partition-method', 'optimus-even', ...P]);
  assert.equal(a.code, 0, a.err);
  assert.equal(b.code, 0, b.err);
  const strip = (p: string) => readFileSync(p, 'utf8');
  assert.equal(strip(join(a.cwd, 'main_logs', 'llama70b.csv')), strip(join(b.cwd, 'main_logs', 'llama70b.csv')));
});

test('--exhaustive with --mbs/--tp/--dp/--pp prints the breakdown (the original: AssertionError: Done!)', async () => {
  const run = await runCli(['--gpus', 'A40', '2', '--exhaustive', '--mbs', '1', '--tp', '1', '--dp', '1', '--pp', '8', ...P]);
  assert.equal(run.code, 0, run.err);
  assert.match(run.out, /Plan mbs=1 tp=1 dp=1 pp=8 gbs=32/);
  assert.match(run.out, /step time: \d+\.\d+ s/);
  assert.match(run.out, /compute costs: A40: forward x3, row mbs=1/);
});

test('--gpus A100 2 and --model-type llama1b without profiles: an error naming the missing file (no A40 stand-in)', async () => {
  const a = await runCli(['--gpus', 'A100', '2', ...P]);
  assert.equal(a.code, 2);
  assert.match(a.err, /llama70b_A100_\{tp\}\.npz/);
  const b = await runCli(['--gpus', 'A40', '2', '--model-type', 'llama1b', ...P]);
  assert.equal(b.code, 2);
  assert.match(b.err, /llama1b_A40_\{tp\}\.npz/);
});

test('--substitute-profile A100=A40 under --estimator reference reproduces the original\'s heterogeneous costing (unscaled), marked in cost_source', async () => {
  const run = await runCli(['--gpus', 'A40', '2', 'A100', '1', '--substitute-profile', 'A100=A40', '--parsing', '--parsing-file', 'h.jsonl', ...P]);
  assert.equal(run.code, 0, run.err);
  const rows = readCsv(join(run.cwd, 'main_logs', 'llama70b_heterogeneous.csv'));
  assert.ok(rows.length > 0);
  for (const r of rows) {
    assert.match(r['cost_source']!, /A100 SUBSTITUTED with the A40 profile \(--substitute-profile A100=A40\)/);
    assert.match(r['cost_source']!, /(^|; )A40: forward x3/);
    assert.ok(Number.isFinite(Number(r['step_time(s)'])));
  }
  const lines = readFileSync(join(run.cwd, 'h.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const records = lines.filter((l) => l.index !== undefined);
  assert.equal(records.length, rows.length);
  assert.ok(records.every((l) => /SUBSTITUTED/.test(l.cost_source)));
  // the cost of an A100 node is costed with the A40 profile: the same compute as an all-A40 stage
  const homo = await runCli(['--gpus', 'A40', '3', '--exhaustive', '--mbs', '1', '--tp', '4', '--dp', '1', '--pp', '3', ...P]);
  const het = await runCli(['--gpus', 'A40', '2', 'A100', '1', '--substitute-profile', 'A100=A40', '--exhaustive', '--mbs', '1', '--tp', '4', '--dp', '1', '--pp', '3', ...P]);
  assert.equal(homo.code, 0, homo.err);
  assert.equal(het.code, 0, het.err);
  const compute = (t: string) => [...t.matchAll(/^\s+\d+\s+\S+\s+\d+\s+\d+\s+([\d.]+)/gm)].map((m) => Number(m[1])); // stage, gpu, layers, operators, compute_s
  assert.equal(compute(het.out).length, 9, 'three placements (rotations) of three stages');
  assert.deepEqual(compute(het.out).slice(0, 3), compute(homo.out));
});

test('--substitute-profile A100=A40 under the fasop estimator derives A100 from the A40 files: its stage is faster by about the roofline ratio', async () => {
  const F = ['--profile-dir', REF_PROFILES, '--exhaustive', '--mbs', '1', '--tp', '4', '--dp', '1', '--pp', '3', '--pp-partition-method', 'even'];
  const homo = await runCli(['--gpus', 'A40', '3', ...F]);
  const het = await runCli(['--gpus', 'A40', '2', 'A100', '1', '--substitute-profile', 'A100=A40', ...F]);
  assert.equal(homo.code, 0, homo.err);
  assert.equal(het.code, 0, het.err);
  // the first placement puts the A100 node on stage 0; the even partition is the all-A40 plan's
  const stages = (t: string) => [...t.matchAll(/^\s+(\d+)\s+(\S+)\s+(\d+)\s+\d+\s+([\d.]+)/gm)].map((m) => ({ gpu: m[2]!, nodes: Number(m[3]), compute_s: Number(m[4]) }));
  const a = stages(homo.out);
  const h = stages(het.out).slice(0, 3);
  assert.equal(h[0]!.gpu, 'A100');
  assert.deepEqual(h.map((x) => x.nodes), a.map((x) => x.nodes));
  assert.deepEqual(h.slice(1).map((x) => x.compute_s), a.slice(1).map((x) => x.compute_s), 'the A40 stages are the A40 files as they are');
  const catalog = loadCatalog();
  const [a40, a100] = [getGpu(catalog, 'A40'), getGpu(catalog, 'A100')];
  const peak = a100.bf16Dense_TFLOPS! / a40.bf16Dense_TFLOPS!;
  const bw = a100.hbm_GBps! / a40.hbm_GBps!;
  // GEMMs scale by the peak ratio (2.08), bandwidth-bound operators by the bandwidth ratio (2.23) past their fixed part
  const ratio = a[0]!.compute_s / h[0]!.compute_s;
  assert.ok(ratio > 0.9 * Math.min(peak, bw) && ratio < Math.max(peak, bw), `A40 stage / A100 stage = ${ratio}, roofline ${peak.toFixed(3)}..${bw.toFixed(3)}`);
  assert.match(het.out, /A100 tp4 mbs1: derived from A40 \(compute x0\.480: 149\.7\/312 TFLOP\/s, memory x0\.448: 696\/1555 GB\/s\) from llama70b_A40_4\.npz \(--substitute-profile A100=A40\), exact row/);
  assert.doesNotMatch(het.out, /SUBSTITUTED/);
});

test('micro-batches above the profiled rows are marked in cost_source (never labelled as a measured row)', async () => {
  const run = await runCli(['--gpus', 'A40', '2', '--gbs', '32', ...P]);
  assert.equal(run.code, 0, run.err);
  const rows = readCsv(join(run.cwd, 'main_logs', 'llama70b.csv'));
  for (const r of rows) {
    const mbs = Number(r['mbs']);
    const tp = Number(r['tp']);
    const lastRow = tp === 2 || tp === 8 ? 16 : 8; // rows of the reference A40 files
    if (mbs > lastRow) assert.match(r['cost_source']!, new RegExp(`row mbs=${lastRow} for mbs ${mbs} \\(clamped: beyond the profiled rows\\)`));
    else assert.equal(r['cost_source'], `A40: forward x3, row mbs=${mbs}`);
  }
  assert.ok(rows.some((r) => /clamped/.test(r['cost_source']!)));
});
