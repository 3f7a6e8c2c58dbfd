/** The training budget: tokens (--train-tokens, the dataset's token count), epochs; samples in the original's mode. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { getDataset, loadCatalog, parseTokenCount, trainingBudget } from '../src/catalog/catalog.js';
import { parseCsvText } from './helpers/csv.js';
import { REF_PROFILES, runCli, savedCsvPath } from './helpers/cli.js';

test('token counts: 2T, 300B, 1.5e12, 500M, 64k; anything else is NaN', () => {
  assert.deepEqual(['2T', '300b', '1.5e12', '500M', '64k', '1000'].map(parseTokenCount), [2e12, 3e11, 1.5e12, 5e8, 64000, 1000]);
  for (const bad of ['', 'x', '-1T', '0', '2 TB', '1e400']) assert.ok(Number.isNaN(parseTokenCount(bad)), bad);
});

test('every dataset with a token count names its source', () => {
  const c = loadCatalog();
  for (const name of ['c4', 'pile', 'redpajama', 'openwebtext']) {
    const d = getDataset(c, name);
    assert.ok(d.tokens! > 1e9 && d.tokensSource!.length > 20, name);
  }
  const c4 = getDataset(c, 'c4');
  assert.deepEqual(trainingBudget(c4, 1024, { countTokens: true }), { samples: Math.floor(175e9 / 1024), tokens: 175e9, epochs: 1, from: 'dataset-tokens', source: c4.tokensSource });
  assert.equal(trainingBudget(c4, 1024, { countTokens: true, epochs: 2 }).tokens, 350e9);
  assert.deepEqual(trainingBudget(c4, 1024, { countTokens: false }), { samples: c4.samples, epochs: 1, from: 'samples' });
  assert.equal(trainingBudget(getDataset(c, 'squad'), 1024, { countTokens: true, epochs: 3 }).samples, 3 * 10334);
});

/** iterations and total time of the CSV's rank-1 row. */
function best(stdout: string): { iterations: number; total_s: number; step_s: number; tokens: string } {
  const r = parseCsvText(readFileSync(savedCsvPath(stdout), 'utf8'))[0]!;
  return { iterations: Number(r['iterations']), total_s: Number(r['total_time(s)']), step_s: Number(r['step_time(s)']), tokens: r['train_tokens']! };
}

test('--train-tokens sets iterations = ⌊tokens / (seq_length × gbs)⌋ and time and cost follow', async () => {
  const a = await runCli(['--gpus', 'H100', '2', '--model-type', 'llama8b', '--gbs', '64', '--train-tokens', '2T']);
  assert.equal(a.code, 0, a.err);
  const seq = Number(/Seq len: (\d+)/.exec(a.out)![1]);
  const ba = best(a.out);
  assert.equal(ba.iterations, Math.floor(Math.floor(2e12 / seq) / 64));
  assert.ok(Math.abs(ba.total_s - ba.step_s * ba.iterations) <= 1e-6 * ba.total_s);
  assert.equal(ba.tokens, '2000000000000');
  assert.match(a.out, /Training budget: 2,000,000,000,000 tokens \(--train-tokens\)/);
  const b = await runCli(['--gpus', 'H100', '2', '--model-type', 'llama8b', '--gbs', '64', '--train-tokens', '1T']);
  assert.ok(Math.abs(best(b.out).total_s * 2 - ba.total_s) / ba.total_s < 1e-4, 'half the tokens, half the time');
});

test('the dataset\'s tokens are the default budget of --estimator fasop (with source); --epochs multiplies; the reference counts samples', async () => {
  const one = await runCli(['--gpus', 'H100', '2', '--model-type', 'llama8b', '--dataset', 'openwebtext']);
  assert.match(one.out, /Training budget: 9,040,017,095 tokens = 1 epoch of openwebtext's 9,040,017,095 tokens \(nanoGPT/);
  const two = await runCli(['--gpus', 'H100', '2', '--model-type', 'llama8b', '--dataset', 'openwebtext', '--epochs', '2']);
  assert.ok(Math.abs(best(two.out).iterations - 2 * best(one.out).iterations) <= 1);
  const ref = await runCli(['--gpus', 'A40', '8', '--dataset', 'c4', '--gbs', '64', '--profile-dir', REF_PROFILES, '--estimator', 'reference']);
  assert.equal(ref.code, 0, ref.err);
  assert.match(ref.out, /Dataset samples: 364,868,892/);
  assert.equal(best(ref.out).iterations, Math.floor(364868892 / 64));
});

test('budget flags that do not apply are refused with a fix', async () => {
  for (const [args, re] of [
    [['--estimator', 'reference', '--train-tokens', '1T'], /--train-tokens needs --estimator fasop/],
    [['--estimator', 'reference', '--epochs', '2'], /--epochs needs --estimator fasop/],
    [['--train-tokens', '1T', '--epochs', '2'], /--train-tokens and --epochs both set the training budget/],
    [['--train-tokens', 'lots'], /--train-tokens must be a positive token count, got 'lots'/],
    [['--epochs', '0'], /--epochs must be a number above 0 and at most 1000000/],
    [['--train-tokens', '1000', '--gbs', '32'], /--train-tokens 1000 is less than one sequence \(1024 tokens\)/],
    [['--train-tokens', '10k', '--gbs', '32'], /--gbs 32 is larger than the training budget \(10000 tokens = 9 sequences of 1024\)/],
  ] as const) {
    const r = await runCli(['--gpus', 'H100', '2', '--profile-dir', REF_PROFILES, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
    assert.equal(r.err.trim().split('\n').length, 1);
  }
});
