/** `fasop validate`: the committed H100 and H200 runs (eager and CUDA-graph) against the corrected and the original estimator. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { profileDirFor } from '../src/request/options.js';
import { loadCatalog } from '../src/catalog/catalog.js';
import { defaultProfileDir } from '../src/paths.js';
import { ProfileDb } from '../src/profiles/db.js';
import { compareRecords } from '../src/validate/compare.js';
import { readValidationRecords } from '../src/validate/records.js';
import { runCli } from './helpers/cli.js';

const RESULTS = join(import.meta.dirname, '..', 'validation', 'results');
const CAL = ['llama8b-4L gbs16 2xH100'];

const graphProfiles = () => ProfileDb.open(join(defaultProfileDir(), 'graph'));

test('eager runs: memory and best plan on target everywhere; step time on target wherever the GPU, not the CPU, bounds the plan', async (t) => {
  const records = readValidationRecords(RESULTS);
  const all = await compareRecords(records, loadCatalog(), ProfileDb.open(defaultProfileDir()), 'fasop', CAL, graphProfiles());
  const plans = all.plans.filter((p) => p.launch === 'eager');
  assert.ok(plans.length >= 52, String(plans.length));
  assert.ok(all.plans.every((p) => p.modelled && !p.repeat));
  assert.equal(plans.filter((p) => p.runtime === 'dtensor').length, 6, 'eager DTensor runs with loss_parallel are scored');
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const memErr = plans.map((p) => Math.abs(p.memoryError));
  assert.ok(mean(memErr) <= 0.05, `memory mean ${mean(memErr)}`);
  assert.ok(Math.max(...memErr) <= 0.10, `memory max ${Math.max(...memErr)}`);
  assert.equal(all.overall.memoryMaxError, Math.max(...memErr), 'memory is scored on eager runs only');
  const eagerScenarios = all.scenarios.filter((v) => !v.scenario.endsWith(' graph'));
  assert.ok(eagerScenarios.length >= 9 && eagerScenarios.every((v) => v.same), JSON.stringify(eagerScenarios));
  // plans the GPU bounds even on a host as slow as the slowest seen (not flagged) meet the step-time targets
  const others = plans.filter((p) => !p.hostSensitive);
  const mape = mean(others.map((p) => Math.abs(p.stepError)));
  assert.ok(others.length >= 25 && mape <= 0.05, `unflagged MAPE ${mape} over ${others.length}`);
  assert.ok(others.every((p) => Math.abs(p.stepError) <= 0.10), JSON.stringify(others.filter((p) => Math.abs(p.stepError) > 0.10)));
  assert.ok(plans.filter((p) => p.hostBound).every((p) => p.hostSensitive), 'host-bound plans are host-sensitive too');
  // the flagged ones are where the error is: the committed sweep ran on slow hosts, whose CPU issued
  // the same work up to 1.6x slower than the host that measured the figures; a guard against
  // regressions, not a target (docs/accuracy.md)
  const flagged = plans.filter((p) => p.hostSensitive);
  const fmape = mean(flagged.map((p) => Math.abs(p.stepError)));
  assert.ok(flagged.length >= 10 && fmape <= 0.25, `flagged MAPE ${fmape} over ${flagged.length}`);
  t.diagnostic(`fasop, eager runs: unflagged MAPE ${(100 * mape).toFixed(1)} %, host-sensitive ${(100 * fmape).toFixed(1)} %`);
});

test('eager llama1b runs on six more H200 hosts: GPU-bound plans on target on every machine; host-bound plans on target on the host whose CPU the figures were measured on', async () => {
  const db = ProfileDb.open(defaultProfileDir());
  const diag = (name: string) => join(import.meta.dirname, '..', 'validation', 'results', name);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const sets: Record<string, Awaited<ReturnType<typeof compareRecords>>> = {};
  for (const name of ['eager_repeat', 'eager_alone', 'eager_figures_host', 'eager_other_host_1', 'eager_other_host_2', 'eager_slow_host']) {
    sets[name] = await compareRecords(readValidationRecords(diag(name)), loadCatalog(), db, 'fasop');
    const gpuBound = sets[name]!.plans.filter((p) => !p.hostSensitive);
    assert.ok(gpuBound.every((p) => Math.abs(p.stepError) <= 0.10), `${name}: ${JSON.stringify(gpuBound.filter((p) => Math.abs(p.stepError) > 0.10))}`);
    if (gpuBound.length) assert.ok(mean(gpuBound.map((p) => Math.abs(p.stepError))) <= 0.05, name);
    assert.ok(sets[name]!.scenarios.every((v) => v.same), `${name}: best plan`);
  }
  // this host measured the recipe's CPU figures (profiler/host_issue.py) before its runs
  const hostBoundFig = sets['eager_figures_host']!.plans.filter((p) => p.hostBound);
  assert.ok(hostBoundFig.length >= 8 && mean(hostBoundFig.map((p) => Math.abs(p.stepError))) <= 0.07, JSON.stringify(hostBoundFig.map((p) => p.stepError)));
  // one process per host (lone 1-GPU runs on two hosts): within 11 %
  const lone = [...sets['eager_alone']!.all, ...sets['eager_other_host_1']!.all].filter((p) => p.dp * p.tp * p.pp === 1);
  assert.ok(lone.length >= 14 && lone.every((p) => Math.abs(p.stepError) <= 0.11), JSON.stringify(lone.map((p) => p.stepError)));
});

test('CUDA-graph runs (H100 and H200, graph profiles): step-time MAPE <= 5 %, every plan within 10 %, predicted best = measured best in every scenario', async (t) => {
  const records = readValidationRecords(RESULTS);
  const s = await compareRecords(records, loadCatalog(), ProfileDb.open(defaultProfileDir()), 'fasop', CAL, graphProfiles());
  const plans = s.plans.filter((p) => p.launch === 'cuda-graph');
  assert.ok(plans.length >= 57, String(plans.length));
  assert.ok(plans.some((p) => p.scenario.includes('xH100')) && plans.some((p) => p.scenario.includes('xH200')));
  assert.ok(plans.some((p) => p.tp === 2) && plans.some((p) => p.pp === 2) && plans.some((p) => p.dp === 2));
  assert.ok(plans.every((p) => !p.hostBound), 'a captured step has no host-issue floor');
  const mape = plans.reduce((a, p) => a + Math.abs(p.stepError), 0) / plans.length;
  assert.ok(mape <= 0.05, `MAPE ${mape}`);
  assert.ok(plans.every((p) => Math.abs(p.stepError) <= 0.10), JSON.stringify(plans.filter((p) => Math.abs(p.stepError) > 0.10)));
  const graphScenarios = s.scenarios.filter((v) => v.scenario.endsWith(' graph'));
  assert.ok(graphScenarios.length >= 10 && graphScenarios.every((v) => v.same), JSON.stringify(graphScenarios.filter((v) => !v.same)));
  // repeats on other hosts are estimated as well as the first measurements
  const repeats = s.all.filter((p) => p.repeat && p.launch === 'cuda-graph');
  assert.ok(repeats.length >= 40 && repeats.every((p) => Math.abs(p.stepError) <= 0.10), String(repeats.length));
  t.diagnostic(`fasop, CUDA-graph runs: MAPE ${(100 * mape).toFixed(1)} % over ${plans.length} plans`);
});

test('validate estimates captured runs with the graph profiles and eager runs with the eager ones', async () => {
  const records = readValidationRecords(RESULTS);
  const eagerOnly = await compareRecords(records, loadCatalog(), ProfileDb.open(defaultProfileDir()), 'fasop', CAL);
  const both = await compareRecords(records, loadCatalog(), ProfileDb.open(defaultProfileDir()), 'fasop', CAL, graphProfiles());
  const byFile = new Map(eagerOnly.all.map((p) => [p.file, p.predictedStep_ms]));
  for (const p of both.all) {
    if (p.launch === 'eager') assert.equal(p.predictedStep_ms, byFile.get(p.file), p.file);
  }
  assert.ok(both.all.filter((p) => p.launch === 'cuda-graph').some((p) => p.predictedStep_ms !== byFile.get(p.file)));
});

test('the original\'s model is far worse on the same runs (what the corrections gained)', async () => {
  const records = readValidationRecords(RESULTS);
  const ref = await compareRecords(records, loadCatalog(), ProfileDb.open(defaultProfileDir()), 'reference', CAL, graphProfiles());
  const fas = await compareRecords(records, loadCatalog(), ProfileDb.open(defaultProfileDir()), 'fasop', CAL, graphProfiles());
  assert.ok(ref.overall.stepMape > 3 * fas.overall.stepMape);
  assert.ok(ref.overall.memoryMape > 3 * fas.overall.memoryMape);
  assert.ok(ref.scenarios.filter((v) => v.same).length < fas.scenarios.filter((v) => v.same).length);
});

test('a plan exported by `fasop export` ran through the harness (--module-fqns) and matches its estimate', async () => {
  const records = readValidationRecords(RESULTS).filter((r) => r.file.includes('_exported'));
  assert.equal(records.length, 1);
  const fqns = (records[0]!.plan as { module_fqns?: string[][] }).module_fqns!;
  assert.deepEqual(fqns, [['tok_embeddings', 'layers.0', 'layers.1', 'layers.2'], ['layers.3', 'norm', 'output']]);
  const s = await compareRecords(records, loadCatalog(), ProfileDb.open(defaultProfileDir()), 'fasop');
  assert.ok(Math.abs(s.plans[0]!.stepError) <= 0.05 && Math.abs(s.plans[0]!.memoryError) <= 0.05, JSON.stringify(s.plans[0]));
});

test('fasop validate prints both tables, the DTensor runs without loss_parallel apart, and the calibration split', async () => {
  const run = await runCli(['validate', RESULTS]);
  assert.equal(run.code, 0, run.err);
  assert.match(run.out, /### estimator: fasop/);
  assert.match(run.out, /### estimator: reference/);
  assert.match(run.out, /held-out scenarios: step time MAPE/);
  assert.match(run.out, /configuration the estimator does not model \(PyTorch DTensor tensor parallelism with all-gathered logits/);
  assert.match(run.out, /\| llama8b-4L gbs8 2xH200 graph dtensor \| tp2 pp1 dp1 mbs4 \|/);
  const bad = await runCli(['validate', join(RESULTS, 'nope')]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^fasop: error: validation results folder .*nope cannot be read/);
});


test('search with --recipe bf16-adamw-graph is costed with the graph profiles (profile folder\'s graph/), and says so when one is missing', async () => {
  assert.equal(profileDirFor('bf16-adamw-graph', defaultProfileDir()), join(defaultProfileDir(), 'graph'));
  assert.equal(profileDirFor('bf16-adamw', defaultProfileDir()), defaultProfileDir());
  const graphDir = join(defaultProfileDir(), 'graph');
  assert.equal(profileDirFor('bf16-adamw-graph', graphDir), graphDir, 'a folder without graph/ is used as it is');
  const out = mkdtempSync(join(tmpdir(), 'fasop-graph-'));
  try {
    const eager = await runCli(['search', '--gpus', 'H200', '1', '--model-type', 'llama8b', '--recipe', 'bf16-adamw', '--gbs', '16', '--output-dir', out]);
    const graph = await runCli(['search', '--gpus', 'H200', '1', '--model-type', 'llama8b', '--recipe', 'bf16-adamw-graph', '--gbs', '16', '--output-dir', out]);
    assert.equal(eager.code, 0, eager.err);
    assert.equal(graph.code, 0, graph.err);
    const step = (s: string) => Number(/Step time: ([\d.]+)s/.exec(s)![1]);
    assert.notEqual(step(graph.out), step(eager.out));
    const missing = await runCli(['search', '--gpus', 'H100', '1', '--model-type', 'llama70b', '--recipe', 'bf16-adamw-graph', '--gbs', '16', '--output-dir', out]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /no profile for model llama70b on GPU H100 in .*profiles\/graph/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('4-GPU captured plans (dp 4, pp 4, tp 4 on 4x H200), links measured on 2 GPUs and the ring formula for 4: MAPE <= 3 %, every plan within 6 %, best plan in both scenarios', async () => {
  const recs = readValidationRecords(join(import.meta.dirname, '..', 'validation', 'results', 'four_gpu'));
  const s = await compareRecords(recs, loadCatalog(), ProfileDb.open(defaultProfileDir()), 'fasop', [], graphProfiles());
  // measured: 16 plans, MAPE 1.6 %, max 4.6 % (tp4 b1); pp4 b4 gbs8 (2 micro-batches for 4 stages) crashed and is not scored
  assert.equal(s.plans.length, 16);
  assert.ok(s.plans.every((p) => p.launch === 'cuda-graph' && p.tp * p.pp * p.dp === 4));
  const errs = s.plans.map((p) => Math.abs(p.stepError));
  assert.ok(errs.reduce((a, b) => a + b, 0) / errs.length <= 0.03 && Math.max(...errs) <= 0.06, JSON.stringify(errs));
  assert.ok(s.scenarios.length === 2 && s.scenarios.every((v) => v.same), JSON.stringify(s.scenarios));
});
