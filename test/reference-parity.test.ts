/** Parity with the original FASOP's recorded outputs (../shared/reference/outputs). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseCsvText, type CsvRow } from './helpers/csv.js';
import { REF_OUTPUTS, REF_PROFILES, runCli } from './helpers/cli.js';

type Row = CsvRow;
const parseCsv = parseCsvText;

const key = (r: Row) => [r['gbs'], r['mbs'], r['tp'], r['dp'], String(Number(r['pp'])), r['node_type']].join('|');
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

function compareCsv(ours: Row[], ref: Row[]): void {
  assert.equal(ours.length, ref.length, 'same number of rows');
  const refByKey = new Map(ref.map((r) => [key(r), r]));
  assert.deepEqual(new Set(ours.map(key)), new Set(refByKey.keys()), 'same set of plans');
  for (const o of ours) {
    const r = refByKey.get(key(o))!;
    for (const c of ['partition', 'partition_layers', 'is_oom']) assert.equal(o[c], r[c], `${c} of ${key(o)}`);
    for (const c of ['step_time(s)', 'oom_gpumem(GB)', 'throughput(samples/s)', 'cost($)']) {
      assert.ok(rel(Number(o[c]), Number(r[c])) <= 1e-6, `${c} of ${key(o)}: ${o[c]} vs ${r[c]}`);
    }
  }
  // ranks by total time: our order must be a valid ordering of the reference's ranks
  assert.deepEqual(ours.map((r) => r['rank']), ref.map((r) => r['rank']));
}

for (const [name, method] of [['s1_A40x8_gbs32_squad_minmax.csv', 'minmax'], ['s10_A40x8_gbs32_squad_optimus-even.csv', 'optimus-even']] as const) {
  test(`CSV parity: ${name}`, async () => {
    const run = await runCli(['--gpus', 'A40', '8', '--gbs', '32', '--dataset', 'squad', '--pp-partition-method', method, '--profile-dir', REF_PROFILES, '--estimator', 'reference']);
    assert.equal(run.code, 0, run.err);
    const ours = parseCsv(readFileSync(join(run.cwd, 'main_logs', 'llama70b.csv'), 'utf8'));
    const ref = parseCsv(readFileSync(join(REF_OUTPUTS, name), 'utf8'));
    compareCsv(ours, ref);
  });
}

// Larger clusters (INDEX.md's later files): pp 64 plans where the original's node-level minmax ends on
// its edge move and reports the stage lists of the partition before that move (SPEC Q15e).
for (const [name, args] of [
  ['s12_A40x16_gbs64_squad_minmax.csv', ['--gpus', 'A40', '16', '--gbs', '64', '--dataset', 'squad']],
  ['s13_A40x4_gpn8_gbs256_redpajama_minmax.csv', ['--gpus', 'A40', '4', '--gbs', '256', '--gpu-per-node', '8', '--dataset', 'redpajama']],
  ['s14_A40x32_gbs512_c4_minmax.csv', ['--gpus', 'A40', '32', '--gbs', '512', '--dataset', 'c4']],
] as const) {
  test(`CSV parity: ${name}`, async () => {
    const run = await runCli([...args, '--profile-dir', REF_PROFILES, '--estimator', 'reference']);
    assert.equal(run.code, 0, run.err);
    const ours = parseCsv(readFileSync(join(run.cwd, 'main_logs', 'llama70b.csv'), 'utf8'));
    compareCsv(ours, parseCsv(readFileSync(join(REF_OUTPUTS, name), 'utf8')));
  });
}

test('JSONL parity: s4 (A40×4, gbs 32), every record bit for bit', async () => {
  const run = await runCli(['--gpus', 'A40', '4', '--gbs', '32', '--dataset', 'squad', '--parsing', '--no-save-csv', '--parsing-file', 's4.jsonl', '--profile-dir', REF_PROFILES, '--estimator', 'reference']);
  assert.equal(run.code, 0, run.err);
  const ours = readFileSync(join(run.cwd, 's4.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const ref = readFileSync(join(REF_OUTPUTS, 's4_A40x4_gbs32_squad.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(ours[0], ref[0], 'meta line');
  assert.equal(ours.length, ref.length);
  for (let i = 1; i < ref.length; i++) {
    for (const [k, v] of Object.entries(ref[i])) assert.deepEqual(ours[i][k], v, `record ${i} field ${k}`);
  }
  // the original's text layout (separators, key order) for the shared fields
  const firstOurs = readFileSync(join(run.cwd, 's4.jsonl'), 'utf8').split('\n')[1]!;
  const firstRef = readFileSync(join(REF_OUTPUTS, 's4_A40x4_gbs32_squad.jsonl'), 'utf8').split('\n')[1]!;
  assert.ok(firstOurs.startsWith(firstRef.slice(0, -1)), 'same text up to the original\'s last field');
});

test('verbose log parity: s5 per-plan lines equal up to timings', async () => {
  const run = await runCli(['--gpus', 'A40', '4', '--gbs', '32', '--dataset', 'squad', '--verbose', '--no-save-csv', '--profile-dir', REF_PROFILES, '--estimator', 'reference']);
  assert.equal(run.code, 0, run.err);
  const planLines = (text: string) => text.split('\n')
    .map((l) => l.replace(/^.*\r/, '').replace(/^(\[ *\d+\/\d+\].*?\| )searching\.\.\./, '$1').replace(/complete! [\d.]+s/, 'complete!'))
    .filter((l) => /^\[ *\d+\/\d+\] MBS=/.test(l) || /^ {9}\S.*\| imbal=/.test(l));
  const ours = planLines(run.out);
  const ref = planLines(readFileSync(join(REF_OUTPUTS, 's5_A40x4_gbs32_squad_verbose.log'), 'utf8'));
  assert.equal(ours.length, 106);
  assert.deepEqual(ours, ref);
});
