import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FasopError } from '../src/errors.js';
import { ProfileDb } from '../src/profiles/db.js';
import { parseNpy, writeNpy } from '../src/profiles/npy.js';
import { parseNpz, writeNpz } from '../src/profiles/npz.js';
import { readProfileFile, writeProfileFile } from '../src/profiles/profile.js';
import { REF_PROFILES, runCli, tmp } from './helpers/cli.js';

test('npy/npz: round trip of floats, ints and strings; unknown arrays survive a rewrite', () => {
  const npz = writeNpz({
    data: { dtype: 'f8', shape: [2, 10], data: Array.from({ length: 20 }, (_, i) => i / 3) },
    mbs: { dtype: 'i8', shape: [2], data: [1, 2] },
    gpu: { dtype: 'U', shape: [], data: ['H100'] },
    custom: { dtype: 'f8', shape: [3], data: [1, 2, 3] },
  });
  const arrays = parseNpz(npz);
  assert.deepEqual(arrays.get('gpu')!.data, ['H100']);
  const dir = tmp();
  const path = join(dir, 'm_H100_2.npz');
  writeFileSync(path, npz);
  const t = readProfileFile(path);
  assert.equal(t.meta['gpu'], 'H100');
  assert.ok(Math.abs(t.forward_ms[1]![3]! - 13 / 3) < 1e-15);
  const path2 = join(dir, 'm_H100_4.npz');
  writeProfileFile(path2, { ...t, tp: 4 });
  const again = parseNpz(readFileSync(path2));
  assert.deepEqual(Array.from((again.get('custom')!.data as Float64Array)), [1, 2, 3]);
  assert.equal(parseNpy(writeNpy({ dtype: 'f8', shape: [1], data: [2.5] })).data[0], 2.5);
});

test('profiles: reads the original A40 files (×1 raw ms, mbs rows 2^r)', () => {
  const db = ProfileDb.open(REF_PROFILES);
  assert.deepEqual(db.tpsFor('llama70b', 'A40'), [1, 2, 4, 8]);
  const t = db.get('llama70b', 'A40', 2);
  assert.deepEqual(t.mbs, [1, 2, 4, 8, 16]);
  assert.ok(Math.abs(t.forward_ms[0]![0]! - 0.98961162) < 1e-8);
  assert.throws(() => db.get('llama70b', 'A100', 1), (e: unknown) => e instanceof FasopError && /llama70b_A100_1\.npz/.test(e.message));
});

test('profiles: corrupt, truncated, empty, wrong shape/dtype, NaN, negative, bad names → errors naming the file', () => {
  const dir = tmp();
  const src = readFileSync(join(REF_PROFILES, 'llama70b_A40_1.npz'));
  const cases: [string, Uint8Array, RegExp][] = [
    ['m_A40_1.npz', src.subarray(0, 100), /m_A40_1\.npz.*(zip|truncated|readable)/],
    ['m_A40_2.npz', new Uint8Array(), /m_A40_2\.npz.*empty/],
    ['m_A40_3.npz', writeNpz({ data: { dtype: 'f8', shape: [2, 9], data: new Array(18).fill(1) } }), /shape \(2, 9\)/],
    ['m_A40_4.npz', writeNpz({ data: { dtype: 'U', shape: [1], data: ['x'] } }), /dtype/],
    ['m_A40_5.npz', writeNpz({ data: { dtype: 'f8', shape: [1, 10], data: [NaN, 1, 1, 1, 1, 1, 1, 1, 1, 1] } }), /NaN.*finite/],
    ['m_A40_6.npz', writeNpz({ data: { dtype: 'f8', shape: [1, 10], data: [-1, 1, 1, 1, 1, 1, 1, 1, 1, 1] } }), /-1/],
    ['m_A40_7.npz', writeNpz({ other: { dtype: 'f8', shape: [1], data: [1] } }), /no array 'data'/],
  ];
  for (const [name, bytes, re] of cases) {
    writeFileSync(join(dir, name), bytes);
    assert.throws(() => readProfileFile(join(dir, name)), (e: unknown) => e instanceof FasopError && re.test(e.message) && e.message.includes(name), name);
  }
  const badName = tmp();
  copyFileSync(join(REF_PROFILES, 'llama70b_A40_1.npz'), join(badName, 'llama70b-A40.npz'));
  assert.throws(() => ProfileDb.open(badName), /llama70b-A40\.npz.*\{model\}_\{gpu\}_\{tp\}/);
  assert.throws(() => ProfileDb.open(join(badName, 'nope')), /does not exist/);
});

test('fasop profiles: the original viewer numbers (TP1 mbs1: 0.78 13.26 13.29 27.32)', async () => {
  const run = await runCli(['profiles', '--profile-dir', REF_PROFILES]);
  assert.equal(run.code, 0, run.err);
  assert.match(run.out, /^1 {4}1 {5}│ {7}0\.78 {6}13\.26 {6}13\.29 │ {6}27\.32$/m);
  assert.match(run.out, /^1 {4}8 {5}│ {7}0\.89 {6}94\.27 {5}108\.60 │ {5}203\.76$/m);
  assert.match(run.out, /^1 {3}1 {8}2\.78 {5}0\.16 {5}0\.14 {5}1\.18 {5}3\.00 {5}0\.04 {5}2\.96 {5}3\.00$/m);
  assert.match(run.out, /LAYER BREAKDOWN/);
  // graph nodes are called operators here ("nodes" are the cluster's machines elsewhere)
  const ours = await runCli(['profiles', '--model', 'llama1b', '--gpu', 'H100']);
  assert.equal(ours.code, 0, ours.err);
  assert.match(ours.out, /OPERATORS THE ORIGINAL FORMAT OMITS/);
  assert.doesNotMatch(ours.out, /\bnodes?\b/i);
  const none = await runCli(['profiles', '--profile-dir', REF_PROFILES, '--gpu', 'H100']);
  assert.equal(none.code, 2);
  assert.match(none.err, /^fasop: error: no profile files on GPU H100/);
});
