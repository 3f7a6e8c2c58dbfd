/**
 * `--substitute-profile GPU=OTHER` under the fasop estimator: GPU is derived from OTHER's measured
 * files by the roofline — OTHER's operator profile when it has one (not the nearest), else its
 * per-model files column by column (derive-table.ts) — and the transfer check's bounds.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { getGpu, getModel, loadCatalog } from '../src/catalog/catalog.js';
import { FasopError } from '../src/errors.js';
import { COL } from '../src/model/graph.js';
import { costLookupOf } from '../src/plan/resolve.js';
import { ProfileDb } from '../src/profiles/db.js';
import { derivedProfileTable } from '../src/profiles/derive-table.js';
import { rooflineOf } from '../src/profiles/derive.js';
import { readProfileFile } from '../src/profiles/profile.js';
import { transferRows } from '../validation/checks/transfer.js';
import { REF_PROFILES, runCli } from './helpers/cli.js';

const PROFILES = resolve(import.meta.dirname, '../profiles');
const catalog = loadCatalog();
const lookup = costLookupOf(catalog);
const llama8b = getModel(catalog, 'llama8b');
const roof = (g: string) => rooflineOf(getGpu(catalog, g));

test('a per-model file derived for another GPU: compute-bound GEMMs by the peak ratio, element-wise operators past their fixed part by the bandwidth ratio', () => {
  const src = readProfileFile(join(PROFILES, 'llama8b_H200_1.npz'));
  const t = derivedProfileTable(src, { model: llama8b, gpu: 'A100', from: roof('H200'), to: roof('A100'), by: '--substitute-profile A100=H200' });
  assert.equal(t.gpu, 'A100');
  assert.deepEqual(t.mbs, src.mbs);
  assert.deepEqual(t.extraNames, src.extraNames);
  assert.equal(t.derivedFrom!.gpu, 'H200');
  assert.match(t.derivedFrom!.words, /^derived from H200 \(compute x3\.170: 989\/312 TFLOP\/s, memory x3\.087: 4800\/1555 GB\/s\) from llama8b_H200_1\.npz \(--substitute-profile A100=H200\)$/);
  const peak = 989 / 312;
  const bw = 4800 / 1555;
  // a 1024·mbs × 4096 × 14336 GEMM is compute-bound on both GPUs: every row, forward and backward, scales by the peak ratio
  src.mbs.forEach((_, r) => {
    assert.ok(Math.abs(t.forward_ms[r]![COL.mlp_gate]! / src.forward_ms[r]![COL.mlp_gate]! - peak) < 1e-9);
    assert.ok(Math.abs(t.backward_ms![r]![COL.mlp_gate]! / src.backward_ms![r]![COL.mlp_gate]! - peak) < 1e-9);
  });
  // the input RMSNorm: its fixed part (the time at no micro-batch on the line of the two smallest rows) stays, the rest scales with the bandwidth
  const j = src.extraNames.indexOf('input_norm');
  const at = (r: number) => src.extraForward_ms![r]![j]!;
  const fixed = Math.min(at(0), Math.max(0, at(0) - src.mbs[0]! * (at(1) - at(0)) / (src.mbs[1]! - src.mbs[0]!)));
  assert.ok(fixed > 0 && fixed < at(0));
  src.mbs.forEach((_, r) => assert.ok(Math.abs(t.extraForward_ms![r]![j]! - (fixed + (at(r) - fixed) * bw)) < 1e-9 * at(r)));
  assert.ok(t.extraForward_ms![src.mbs.length - 1]![j]! / at(src.mbs.length - 1) > 0.95 * bw, 'large sizes scale nearly with the bandwidth');
});

test('ProfileDb: a substitute with an operator profile is the derivation source, not the nearest; one with per-model files only is derived from them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fasop-subst-'));
  copyFileSync(join(PROFILES, 'ops_H200.json'), join(dir, 'ops_H200.json'));
  // a second operator profile, of an A40 (the H200's times × 6: only its source matters here)
  const doc = JSON.parse(readFileSync(join(PROFILES, 'ops_H200.json'), 'utf8'));
  doc.gpu = 'A40';
  for (const t of Object.values(doc.tables) as { axes: string[]; points: number[][] }[]) for (const p of t.points) for (let i = t.axes.length; i < p.length; i++) p[i]! *= 6;
  writeFileSync(join(dir, 'ops_A40.json'), JSON.stringify(doc));
  copyFileSync(join(PROFILES, 'llama8b_H100_2.npz'), join(dir, 'llama8b_H100_2.npz'));
  const db = ProfileDb.open(dir);
  const model = { ...llama8b, seq_length: 2048 };
  assert.equal(db.costTable(model, 'A100', 2, 2, lookup).shapeSource!.derivedFrom, 'A40', 'the nearest measured GPU to an A100');
  const fromH200 = db.costTable(model, 'A100', 2, 2, lookup, 1, 'H200');
  assert.equal(fromH200.shapeSource!.derivedFrom, 'H200');
  assert.match(fromH200.shapeSource!.words, /operator profile H200 .*derived from H200 .*\(--substitute-profile A100=H200\)/);
  assert.equal(db.costTable(model, 'H100', 2, 2, lookup).shapeSource!.derivedFrom, 'H200', 'the nearest measured GPU to an H100');
  assert.equal(db.costTable(model, 'H100', 2, 2, lookup, 1, 'A40').shapeSource!.derivedFrom, 'A40');
  // H100 has per-model files only: at their sequence length and TP they are the source, scaled
  const fromFile = db.costTable(llama8b, 'A100', 2, 4, lookup, 1, 'H100');
  assert.equal(fromFile.format, 'npz');
  assert.equal(fromFile.gpu, 'A100');
  assert.equal(fromFile.derivedFrom!.gpu, 'H100');
  assert.deepEqual(db.tpsForModel(llama8b, 'A100', 'H100'), [2]);
  assert.equal(db.canCost('llama8b', 'A100', 'H100'), true);
  assert.equal(db.canCost('llama8b', 'A100', 'A10'), false);
  const refused = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof FasopError && re.test(e.message), String(re));
  refused(() => db.costTable(llama8b, 'A100', 4, 4, lookup, 1, 'H100'), /no profile .*llama8b_H100_4\.npz/);
  refused(() => db.costTable(model, 'A100', 2, 4, lookup, 1, 'H100'), /--substitute-profile A100=H100: profile .*llama8b_H100_2\.npz is at sequence length 1024, the request at 2048/);
  refused(() => db.costTable(llama8b, 'A100', 2, 4, lookup, 2, 'H100'), /--substitute-profile A100=H100: context parallelism 2 cannot be priced from .*llama8b_H100_2\.npz/);
});

test('search: --substitute-profile A100=A40 (per-model files only) and H100=H200 (operator profile) say so in cost_source and the summary', async () => {
  const a = await runCli(['--gpus', 'A100', '4', '--substitute-profile', 'A100=A40', '--profile-dir', REF_PROFILES, '--model-type', 'llama70b', '--gbs', '64', '--no-save-csv']);
  assert.equal(a.code, 0, a.err);
  assert.match(a.out, /Priced by: A100 tp\d mbs\d+: derived from A40 \(compute x0\.480: 149\.7\/312 TFLOP\/s, memory x0\.448: 696\/1555 GB\/s\) from llama70b_A40_\d\.npz \(--substitute-profile A100=A40\)/);
  // a GPU with an operator profile is the source by shape, even where its per-model file would match
  const h = await runCli(['--gpus', 'A100', '1', '--substitute-profile', 'A100=H100', '--model-type', 'llama8b', '--gbs', '64', '--no-save-csv']);
  assert.equal(h.code, 0, h.err);
  assert.match(h.out, /Priced by: A100 tp\d mbs\d+: operator profile H100 .*derived from H100 \(compute x3\.170: 989\/312 TFLOP\/s, memory x2\.154: 3350\/1555 GB\/s\) \(--substitute-profile A100=H100\)/);
  const b = await runCli(['--gpus', 'H100', '1', '--substitute-profile', 'H100=H200', '--model-type', 'llama8b', '--gbs', '64', '--exhaustive', '--mbs', '1', '--tp', '1', '--dp', '8', '--pp', '1']);
  assert.equal(b.code, 0, b.err);
  assert.match(b.out, /compute costs: H100 tp1 mbs1: operator profile H200 .*derived from H200 \(compute x1\.000: 989\/989 TFLOP\/s, memory x1\.433: 4800\/3350 GB\/s\) \(--substitute-profile H100=H200\)/);
  const c = await runCli(['--gpus', 'A100', '1', '--substitute-profile', 'A100=A10', '--model-type', 'llama8b', '--gbs', '64']);
  assert.equal(c.code, 2);
  assert.match(c.err, /no profile for model llama8b on GPU A10 \(substitute for A100\) .*no operator profile \(ops_A10\.json\) there either/);
});

test('transfer check: H100 per-model files predicted from the H200 ones (and back) within the measured bounds', () => {
  const summary = (rows: ReturnType<typeof transferRows>, key: 'Forward' | 'Backward') => {
    const e = rows.map((r) => Math.abs(100 * (r[`predicted${key}_ms`]! - r[`measured${key}_ms`]!) / r[`measured${key}_ms`]!));
    return { mean: e.reduce((x, y) => x + y, 0) / e.length, max: Math.max(...e) };
  };
  const h100 = transferRows(PROFILES, 'H100', 'H200', PROFILES, true);
  assert.equal(h100.length, 72);
  // bounds measured (docs/operator-profiles.md, 'How well it transfers'); without the fixed part: 11.6 / 30.8 % forward
  const f = summary(h100, 'Forward');
  const b = summary(h100, 'Backward');
  assert.ok(f.mean <= 9.0 && f.max <= 16.0, JSON.stringify(f));
  assert.ok(b.mean <= 6.0 && b.max <= 13.0, JSON.stringify(b));
  const h200 = summary(transferRows(PROFILES, 'H200', 'H100', PROFILES, true), 'Forward');
  assert.ok(h200.mean <= 7.0 && h200.max <= 12.0, JSON.stringify(h200));
});
