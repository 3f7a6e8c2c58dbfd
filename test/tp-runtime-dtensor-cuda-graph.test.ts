/** PyTorch DTensor tensor parallelism (recipe bf16-adamw-graph-dtensor, policy tp-runtime): its profile, its terms, its validation. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCatalog } from '../src/catalog/catalog.js';
import { FasopError } from '../src/errors.js';
import { estimate } from '../src/estimate/estimate.js';
import { RECIPES } from '../src/estimate/recipe.js';
import { tpRuntimeTerms } from '../src/estimate/tp-runtime.js';
import type { ResolvedPlan } from '../src/estimate/plan.js';
import { defaultProfileDir } from '../src/paths.js';
import { ProfileDb } from '../src/profiles/db.js';
import { parseDtensorTp, readDtensorTp } from '../src/profiles/dtensor-tp.js';
import { compareRecords, planOfRecord } from '../src/validate/compare.js';
import { readValidationRecords } from '../src/validate/records.js';
import { runCli, tmp, savedCsvPath } from './helpers/cli.js';
import { readCsvFile } from './helpers/csv.js';

const RESULTS = join(import.meta.dirname, '..', 'validation', 'results');
const GRAPH = join(defaultProfileDir(), 'graph');
const SHIPPED = join(GRAPH, 'dtensor_tp_H200.json');
const dtensorRecords = () => readValidationRecords(RESULTS).filter((r) => /_tp2_.*_graph(_rep\d+)?\.json$/.test(r.file) && !r.file.includes('manualtp'));

test('DTensor TP profile: the shipped file parses; a broken one is refused with the problem named', () => {
  const entries = readDtensorTp(SHIPPED)!;
  assert.deepEqual(entries.map((e) => `${e.model} tp${e.tp}`).sort(), ['llama1b tp2', 'llama8b tp2']);
  for (const e of entries) {
    assert.deepEqual(e.mbs, [1, 2, 4]);
    assert.ok(e.perLayer_ms.every((x) => x > 0) && e.fixed_ms.every((x) => x > 0), JSON.stringify(e));
  }
  assert.equal(readDtensorTp(join(GRAPH, 'dtensor_tp_NOPE.json')), undefined, 'a GPU without the file: not measured');
  const bad = (text: string, re: RegExp) => assert.throws(() => parseDtensorTp(text, 'x.json'), (e: unknown) => e instanceof FasopError && re.test(e.message));
  bad('{', /x\.json is not valid JSON/);
  bad('{"entries": []}', /has no "entries" object/);
  bad('{"entries": {"a": {"model": "m", "tp": 1, "rows": [{}]}}}', /entry "a" needs a model, a tp of 2 or more and rows/);
  bad('{"entries": {"a": {"model": "m", "tp": 2, "rows": [{"mbs": 1, "perLayer_ms": 1, "fixed_ms": 1, "stepPerLayer_ms": 0}]}}}', /mbs 1 has no valid stepFixed_ms/);
  bad('{"entries": {"a": {"model": "m", "tp": 2, "rows": [{"mbs": 0}]}}}', /without a distinct whole mbs/);
});

test('measured DTensor extras add exactly m·(layers·per-layer + fixed) + (layers·per-step-layer + per-step-fixed) to the captured Megatron-style step', async () => {
  const rec = dtensorRecords().find((r) => r.file.startsWith('h200_llama8b4L_tp2_pp1_dp1_mbs2_gbs8_graph'))!;
  const db = ProfileDb.open(defaultProfileDir());
  const plan = planOfRecord(rec, loadCatalog(), db, ProfileDb.open(GRAPH));
  assert.equal(plan.recipe!.name, 'bf16-adamw-graph-dtensor');
  const x = plan.dtensorTp!['H200']!;
  const dt = await estimate(plan);
  const { dtensorTp: _, ...plain } = plan;
  const mega = await estimate({ ...plain, recipe: RECIPES['bf16-adamw-graph']! });
  const k = x.mbs.indexOf(2);
  const m = 8 / 2;
  const L = 4;
  const want_ms = m * (L * x.perLayer_ms[k]! + x.fixed_ms[k]!) + L * x.stepPerLayer_ms[k]! + x.stepFixed_ms[k]!;
  assert.ok(Math.abs((dt.stepTime_s - mega.stepTime_s) * 1e3 - want_ms) < 1e-6, `${(dt.stepTime_s - mega.stepTime_s) * 1e3} vs ${want_ms}`);
  assert.match(dt.breakdown.costSource ?? JSON.stringify(dt.breakdown), /DTensor TP measured/);
  // memory: loss_parallel's peak holds 8 B more per local logit (profiler/loss_parallel.py), and
  // DTensor one more bf16 copy of a local vocab table (allocator traces, docs/accuracy.md)
  const logits = 2 * 1024 * (128256 / 2);
  const table = (128256 / 2) * 4096 * 2;
  const memDiff = Math.max(...dt.breakdown.stages.map((s) => s.memory_GiB)) - Math.max(...mega.breakdown.stages.map((s) => s.memory_GiB));
  assert.ok(Math.abs(memDiff - (8 * logits + table) / 2 ** 30) < 1e-9, String(memDiff));
});

test('without a measured DTensor profile the extras are counted (3 more all-reduces per layer, loss_parallel) and the estimate says so', async () => {
  const rec = dtensorRecords().find((r) => r.file.startsWith('h200_llama1b8L_tp2_pp1_dp1_mbs1_gbs8_graph'))!;
  const plan = planOfRecord(rec, loadCatalog(), ProfileDb.open(defaultProfileDir()), ProfileDb.open(GRAPH));
  const { dtensorTp: _, ...counted } = plan;
  const est = await estimate(counted);
  const mega = await estimate({ ...counted, recipe: RECIPES['bf16-adamw-graph']! });
  assert.ok(est.stepTime_s > mega.stepTime_s);
  const src = JSON.stringify(est.breakdown);
  assert.match(src, /x7\/layer/);
  assert.match(src, /DTensor TP counted \(not measured for llama1b tp2 on H200: profiler\/dtensor_tp\.sh\)/);
  assert.match(src, /loss_parallel \+[\d.]+ ms \(measured 5\.6 ms per 1e9 local logits\)/);
});

test('DTensor TP captured runs (2x H200, two machines) are scored: MAPE <= 5 %, every run within 10 %, best plan in every scenario; counted without the profile, still within 10 %', async (t) => {
  const db = ProfileDb.open(defaultProfileDir());
  const s = await compareRecords(readValidationRecords(RESULTS), loadCatalog(), db, 'fasop', [], ProfileDb.open(GRAPH));
  const dt = s.all.filter((p) => p.runtime === 'dtensor' && p.launch === 'cuda-graph');
  assert.ok(dt.length >= 18 && dt.every((p) => p.modelled), String(dt.length));
  const first = dt.filter((p) => !p.repeat);
  assert.ok(first.length >= 12 && first.every((p) => s.plans.includes(p)));
  const mape = (ps: typeof dt) => ps.reduce((a, p) => a + Math.abs(p.stepError), 0) / ps.length;
  assert.ok(mape(first) <= 0.05, String(mape(first)));
  assert.ok(dt.every((p) => Math.abs(p.stepError) <= 0.10), JSON.stringify(dt.filter((p) => Math.abs(p.stepError) > 0.10)));
  const sc = s.scenarios.filter((v) => v.scenario.endsWith(' graph dtensor'));
  assert.ok(sc.length >= 4 && sc.every((v) => v.same), JSON.stringify(sc));
  // eager DTensor runs are scored apart from these (recipe bf16-adamw-dtensor; test/tp-runtime-dtensor-eager.test.ts)
  assert.ok(s.plans.some((p) => p.runtime === 'dtensor' && p.launch === 'eager'));
  // the same runs with the graph profiles minus the DTensor file: counted, worse, still within 10 %
  const dir = tmp('fasop-graph-');
  try {
    cpSync(GRAPH, dir, { recursive: true });
    rmSync(join(dir, 'dtensor_tp_H200.json'));
    const c = await compareRecords(readValidationRecords(RESULTS), loadCatalog(), db, 'fasop', [], ProfileDb.open(dir));
    const cdt = c.plans.filter((p) => p.runtime === 'dtensor' && p.launch === 'cuda-graph');
    assert.ok(cdt.every((p) => Math.abs(p.stepError) <= 0.10) && mape(cdt) > mape(first), `${mape(cdt)} vs ${mape(first)}`);
    t.diagnostic(`DTensor captured: measured MAPE ${(100 * mape(first)).toFixed(1)} %, counted ${(100 * mape(cdt)).toFixed(1)} %`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fasop search --recipe bf16-adamw-graph-dtensor: measured extras on H200, counted (and said) on H100; a corrupt profile is one clear error', async () => {
  const h200 = await runCli(['--model-type', 'llama8b', '--gpus', 'H200', '1', '--gpu-per-node', '2', '--recipe', 'bf16-adamw-graph-dtensor', '--gbs', '8']);
  assert.equal(h200.code, 0, h200.err);
  const rows = readCsvFile(savedCsvPath(h200.out));
  const tp2 = rows.filter((r) => r['tp'] === '2');
  assert.ok(tp2.length > 0 && tp2.every((r) => /DTensor TP measured/.test(r['cost_source']!)), JSON.stringify(tp2[0]));
  assert.ok(rows.filter((r) => r['tp'] === '1').every((r) => !/DTensor/.test(r['cost_source']!)));
  const h100 = await runCli(['--model-type', 'llama8b', '--gpus', 'H100', '1', '--gpu-per-node', '2', '--recipe', 'bf16-adamw-graph-dtensor', '--gbs', '8']);
  assert.equal(h100.code, 0, h100.err);
  const r100 = readCsvFile(savedCsvPath(h100.out)).filter((r) => r['tp'] === '2');
  assert.ok(r100.every((r) => /DTensor TP counted .*24 B of HBM traffic per local logit/.test(r['cost_source']!)), r100[0]?.['cost_source']);
  // a corrupt dtensor_tp file in the profile folder: one line, exit 2, no output written
  const dir = tmp('fasop-prof-');
  cpSync(defaultProfileDir(), dir, { recursive: true });
  writeFileSync(join(dir, 'graph', 'dtensor_tp_H200.json'), '{"entries": 3}');
  const bad = await runCli(['--model-type', 'llama8b', '--gpus', 'H200', '1', '--gpu-per-node', '2', '--recipe', 'bf16-adamw-graph-dtensor', '--gbs', '8', '--profile-dir', dir]);
  rmSync(dir, { recursive: true, force: true });
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^fasop: error: DTensor TP profile .*dtensor_tp_H200\.json has no "entries" object — fix: measure it on a 2-GPU machine/);
  assert.equal(bad.err.trim().split('\n').length, 1);
  assert.ok(!existsSync(join(bad.cwd, 'main_logs')), 'no output written');
});

test('tp-runtime terms: Megatron-style adds nothing; measured DTensor extras interpolate between rows and are flagged beyond them', () => {
  const x = readDtensorTp(SHIPPED)!.find((e) => e.model === 'llama8b')!;
  const plan = (mbs: number) => ({ mbs, tp: 2, model: { name: 'llama8b' }, dtensorTp: { H200: x } }) as unknown as ResolvedPlan;
  const dt = RECIPES['bf16-adamw-graph-dtensor']!;
  const none = tpRuntimeTerms(plan(2), RECIPES['bf16-adamw-graph']!, 'H200', 1e-4);
  assert.deepEqual([none.qkvGrads, none.gateUpGrads, none.perLayer_s, none.fixed_s, none.note], [1, 1, 0, 0, '']);
  assert.equal(tpRuntimeTerms(plan(2), dt, 'H200', 0).perLayer_s, 0, 'no TP all-reduce to add to: nothing');
  const at3 = tpRuntimeTerms(plan(3), dt, 'H200', 1e-4);
  const k2 = x.mbs.indexOf(2), k4 = x.mbs.indexOf(4);
  assert.ok(Math.abs(at3.perLayer_s * 1e3 - (x.perLayer_ms[k2]! + x.perLayer_ms[k4]!) / 2) < 1e-12);
  assert.ok(Math.abs(at3.step.fixed_s * 1e3 - (x.stepFixed_ms[k2]! + x.stepFixed_ms[k4]!) / 2) < 1e-12);
  assert.match(at3.note, /DTensor TP measured .*\(INTERPOLATED from mbs 1\/2\/4\)/);
  const at8 = tpRuntimeTerms(plan(8), dt, 'H200', 1e-4);
  assert.match(at8.note, /EXTRAPOLATED from mbs 1\/2\/4/);
  assert.equal(at8.step.fixed_s * 1e3, x.stepFixed_ms[k4], 'per-step figures hold at the last row');
  assert.equal(tpRuntimeTerms(plan(2), dt, 'H200', 1e-4).note.includes('INTERPOLATED'), false);
});
