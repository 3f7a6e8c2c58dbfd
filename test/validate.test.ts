/** `fasop validate`: the committed H100 runs against the corrected and the original estimator. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import { loadCatalog } from '../src/catalog/catalog.js';
import { defaultProfileDir } from '../src/paths.js';
import { ProfileDb } from '../src/profiles/db.js';
import { compareRecords } from '../src/validate/compare.js';
import { readValidationRecords } from '../src/validate/records.js';
import { runCli } from './helpers/cli.js';

const RESULTS = join(import.meta.dirname, '..', 'validation', 'results');
const CAL = ['llama8b-4L gbs16 2xH100'];

test('corrected estimator vs the runs: memory and best plan on target everywhere; step time on target wherever the GPU, not the CPU, bounds the plan', async (t) => {
  const records = readValidationRecords(RESULTS);
  const s = await compareRecords(records, loadCatalog(), ProfileDb.open(defaultProfileDir()), 'fasop', CAL);
  assert.ok(s.plans.length >= 52, String(s.plans.length));
  assert.ok(s.plans.every((p) => p.runtime === 'megatron-style' && !p.repeat));
  assert.ok(s.overall.memoryMape <= 0.05, `memory mean ${s.overall.memoryMape}`);
  assert.ok(s.overall.memoryMaxError <= 0.10, `memory max ${s.overall.memoryMaxError}`);
  assert.ok(s.scenarios.length >= 9 && s.scenarios.every((v) => v.same), JSON.stringify(s.scenarios));
  // plans the estimator does not flag as host-bound meet the step-time targets
  const others = s.plans.filter((p) => !p.hostBound);
  const mape = others.reduce((a, p) => a + Math.abs(p.stepError), 0) / others.length;
  assert.ok(others.length >= 25 && mape <= 0.05, `unflagged MAPE ${mape} over ${others.length}`);
  assert.ok(others.every((p) => Math.abs(p.stepError) <= 0.10), JSON.stringify(others.filter((p) => Math.abs(p.stepError) > 0.10)));
  // the host-bound ones (measured CPU issue time above GPU time) are where the error is; a guard
  // against regressions, not a target (docs/accuracy.md: 8.2 % MAPE, 18.7 % max)
  const flagged = s.plans.filter((p) => p.hostBound);
  const fmape = flagged.reduce((a, p) => a + Math.abs(p.stepError), 0) / flagged.length;
  assert.ok(flagged.length >= 10 && fmape <= 0.10, `flagged MAPE ${fmape} over ${flagged.length}`);
  assert.ok(s.overall.stepMape <= 0.06, `overall MAPE ${s.overall.stepMape}`);
  t.diagnostic(`fasop: MAPE ${(100 * s.overall.stepMape).toFixed(1)} % (unflagged ${(100 * mape).toFixed(1)} %, host-bound ${(100 * fmape).toFixed(1)} %)`);
});

test('the original\'s model is far worse on the same runs (what the corrections gained)', async () => {
  const records = readValidationRecords(RESULTS);
  const ref = await compareRecords(records, loadCatalog(), ProfileDb.open(defaultProfileDir()), 'reference', CAL);
  const fas = await compareRecords(records, loadCatalog(), ProfileDb.open(defaultProfileDir()), 'fasop', CAL);
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

test('fasop validate prints both tables, the DTensor runs apart, and the calibration split', async () => {
  const run = await runCli(['validate', RESULTS]);
  assert.equal(run.code, 0, run.err);
  assert.match(run.out, /### estimator: fasop/);
  assert.match(run.out, /### estimator: reference/);
  assert.match(run.out, /held-out scenarios: step time MAPE/);
  assert.match(run.out, /runtime the estimator does not model \(PyTorch DTensor/);
  const bad = await runCli(['validate', join(RESULTS, 'nope')]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^fasop: error: validation results folder .*nope cannot be read/);
});

