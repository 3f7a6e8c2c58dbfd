import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { getDataset, getGpu, getModel, iterationsFor, loadCatalog } from '../src/catalog/catalog.js';
import { FasopError } from '../src/errors.js';
import { tmp } from './helpers/cli.js';

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
