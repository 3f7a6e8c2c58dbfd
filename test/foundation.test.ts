import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { getDataset, getGpu, getModel, iterationsFor, loadCatalog } from '../src/catalog/catalog.js';
import { modelFromHfConfig } from '../src/catalog/hf-config.js';
import { FasopError } from '../src/errors.js';
import { ProfileDb } from '../src/profiles/db.js';
import { parseNpy, writeNpy } from '../src/profiles/npy.js';
import { parseNpz, writeNpz } from '../src/profiles/npz.js';
import { readProfileFile, writeProfileFile } from '../src/profiles/profile.js';
import { REF_PROFILES, runCli, tmp } from './helpers/cli.js';

test('catalog: the original GPU figures, modern types with sourced prices', () => {
  const c = loadCatalog();
  assert.equal(getGpu(c, 'A40').interNode_bps, 100e9);
  assert.equal(getGpu(c, 'a100').intraNode_bps, 1840e9);
  assert.equal(getGpu(c, 'A40').intraNodeTiers?.sendrecv_bps.nvlinkPair, 375.12e9);
  assert.equal(getGpu(c, 'A10').pareto?.pricePerNodeHour_usd, 9.773);
  for (const t of ['H100', 'H200', 'A100-80G', 'L40S', 'B200', 'MI300X']) {
    const g = getGpu(c, t);
    assert.ok(g.instance.source.length > 0 && /\d{4}/.test(g.instance.date), `${t} price has a source and date`);
    assert.ok(g.bf16Dense_TFLOPS! > 100 && g.memory_GB >= 48);
  }
  assert.throws(() => getGpu(c, 'V100'), (e: unknown) => e instanceof FasopError && /unknown GPU type 'V100'/.test(e.message) && /A40/.test(e.hint));
});

test('catalog: models, alias, datasets and iterations', () => {
  const c = loadCatalog();
  const m = getModel(c, 'llama70b');
  assert.equal(m.intermediate_size, 28672);
  assert.equal(m.num_key_value_heads, 8);
  assert.equal(m.tie_word_embeddings, false);
  assert.equal(getModel(c, 'llama').name, 'llama1b');
  assert.equal(getModel(c, 'gpt2XL').num_layers, 48);
  assert.equal(iterationsFor(getDataset(c, 'squad'), 32), 322);
  assert.throws(() => getModel(c, 'gpt5'), /unknown model/);
  assert.throws(() => getDataset(c, 'wiki'), /unknown dataset 'wiki'/);
});

test('catalog: user files merge in; invalid files name the problem', () => {
  const dir = tmp();
  const good = join(dir, 'mine.json');
  writeFileSync(good, JSON.stringify({ datasets: { tiny: { samples: 100 } }, gpus: { X1: { ...loadCatalog().gpus['H100'], name: undefined } } }));
  const c = loadCatalog([good]);
  assert.equal(c.datasets['tiny']!.samples, 100);
  assert.equal(c.gpus['X1']!.name, 'X1');
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ gpus: { X2: { memory_GB: -1 } } }));
  assert.throws(() => loadCatalog([bad]), (e: unknown) => e instanceof FasopError && e.message.includes('bad.json') && /memory_GB/.test(e.message));
  writeFileSync(bad, '{nope');
  assert.throws(() => loadCatalog([bad]), /not valid JSON/);
});

test('Hugging Face config import: LLaMA, GPT-2; MoE and unknown types refused', () => {
  const llama = modelFromHfConfig({ model_type: 'llama', hidden_size: 4096, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 14336, vocab_size: 128256, max_position_embeddings: 131072, tie_word_embeddings: false }, 'cfg.json');
  assert.equal(llama.intermediate_size, 14336);
  assert.equal(llama.seq_length, 1024);
  const gpt2 = modelFromHfConfig({ model_type: 'gpt2', n_embd: 1600, n_layer: 48, n_head: 25, vocab_size: 50257, n_positions: 1024 }, 'gpt2.json');
  assert.equal(gpt2.intermediate_size, 6400);
  assert.equal(gpt2.tie_word_embeddings, true);
  assert.throws(() => modelFromHfConfig({ model_type: 'mixtral', num_local_experts: 8 }, 'm.json'), /mixture-of-experts/);
  assert.throws(() => modelFromHfConfig({ model_type: 't5' }, 't5.json'), /unsupported model_type 't5'/);
  assert.throws(() => modelFromHfConfig({ model_type: 'llama', hidden_size: 64 }, 'x.json'), /x\.json: field '\w+' is missing/);
});

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
  const none = await runCli(['profiles', '--profile-dir', REF_PROFILES, '--gpu', 'H100']);
  assert.equal(none.code, 2);
  assert.match(none.err, /^fasop: error: no profile files on GPU H100/);
});
