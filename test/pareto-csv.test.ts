import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FasopError } from '../src/errors.js';
import { parsePyNumber, parseResultsCsv, readResultsCsv } from '../src/report/csv-read.js';

const FIX = 'test/fixtures/pareto';
const ORIGINAL = '../shared/reference/outputs';

/** Assert a FasopError whose one-line form matches. */
function throwsFasop(fn: () => unknown, re: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FasopError, `expected a FasopError, got ${String(err)}`);
    assert.match(err.oneLine(), re);
    assert.ok(!err.oneLine().includes('\n'), 'one line');
    return true;
  });
}

test('csv-read: reads the original s1 CSV (all 59 rows, typed)', () => {
  const rows = readResultsCsv(join(ORIGINAL, 's1_A40x8_gbs32_squad_minmax.csv'));
  assert.equal(rows.length, 59);
  const first = rows[0]!;
  assert.equal(first.index, 0);
  assert.equal(first.gbs, 32);
  assert.equal(first.pp, 32);
  assert.deepEqual(first.nodeType, Array(8).fill('A40'));
  assert.equal(first.gpuCluster, 'A40:8');
  assert.equal(first.partition?.length, 32);
  assert.equal(first.partitionLayers, null); // empty cell
  assert.equal(first.isOom, true);
  assert.equal(first.throughputSamplesPerS, 4.69262597739348);
  assert.equal(first.costUsd, 39.7388377255249);
  assert.equal(first.totalTimeS, 2195.7854833602905);
  assert.equal(first.rank, 1);
  assert.equal(first.line, 2);
  assert.deepEqual(rows[1]!.partitionLayers, [11, 11, 10, 11, 11, 11, 10, 5]);
  // every row has tp·dp·pp = 32 GPUs (8 nodes × 4)
  for (const r of rows) assert.equal(r.tp * r.dp * r.pp, 32);
});

test('csv-read: reads the original s10 CSV', () => {
  const rows = readResultsCsv(join(ORIGINAL, 's10_A40x8_gbs32_squad_optimus-even.csv'));
  assert.equal(rows.length, 59);
  assert.ok(rows.every((r) => r.isOom === true));
});

test('csv-read: pp written as 16.0, extra trailing column kept, quoted commas', () => {
  const rows = readResultsCsv(join(FIX, 'small_valid.csv'));
  assert.equal(rows.length, 8);
  const r = rows.find((x) => x.index === 5)!;
  assert.equal(r.pp, 16);
  assert.equal(r.isOom, false);
  assert.deepEqual(r.extra, { note: 'note 5, with comma' });
  assert.equal(rows.find((x) => x.index === 0)!.partitionLayers, null);
});

test('csv-read: only the chart columns are required; others are undefined when absent', () => {
  const rows = parseResultsCsv('gbs,mbs,tp,dp,pp,throughput(samples/s),cost($),is_oom,total_time(s)\n4,1,1,1,8.0,2.5,1e-05,False,nan\n', 'mem');
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.costUsd, 1e-5);
  assert.ok(Number.isNaN(rows[0]!.totalTimeS));
  assert.equal(rows[0]!.index, undefined);
  assert.equal(rows[0]!.nodeType, undefined);
});

test('csv-read: header only gives no rows; CRLF, BOM and blank lines are fine; line numbers are real', () => {
  assert.deepEqual(parseResultsCsv('gbs,mbs,tp,dp,pp,throughput(samples/s),cost($),is_oom,total_time(s)\n', 'h'), []);
  const rows = parseResultsCsv(
    '\uFEFFgbs,mbs,tp,dp,pp,throughput(samples/s),cost($),is_oom,total_time(s),x\r\n\r\n1,1,1,1,1,1,1,True,1,"a\r\nb"\r\n2,1,1,1,1,1,1,true,1,c\r\n',
    'crlf',
  );
  assert.deepEqual(rows.map((r) => [r.gbs, r.line, r.isOom]), [[1, 3, true], [2, 5, true]]);
});

test('csv-read: missing required columns are listed', () => {
  throwsFasop(() => readResultsCsv(join(FIX, 'missing_columns.csv')), /lacks the columns cost\(\$\), is_oom/);
});

test('csv-read: bad cells name the file, line and column', () => {
  throwsFasop(() => readResultsCsv(join(FIX, 'bad_number.csv')), /bad_number\.csv, line 3: column throughput\(samples\/s\) is "fast", not a number/);
  const head = 'gbs,mbs,tp,dp,pp,throughput(samples/s),cost($),is_oom,total_time(s)';
  throwsFasop(() => parseResultsCsv(`${head}\n1,1,1,1,2.5,1,1,False,1\n`, 'm'), /line 2: column pp is "2.5", not a whole number/);
  throwsFasop(() => parseResultsCsv(`${head}\n1,1,1,1,2,1,1,maybe,1\n`, 'm'), /column is_oom is "maybe", not True or False/);
  throwsFasop(() => parseResultsCsv(`${head},partition\n1,1,1,1,2,1,1,False,1,"41, 40"\n`, 'm'), /column partition is .*not a list/);
  throwsFasop(() => parseResultsCsv(`${head},partition\n1,1,1,1,2,1,1,False,1,"[41, x]"\n`, 'm'), /column partition holds "x", not a whole number/);
  throwsFasop(() => parseResultsCsv(`${head}\n1,1,1\n`, 'm'), /not valid CSV/);
});

test('csv-read: missing, empty, blank and directory paths are FasopErrors', () => {
  throwsFasop(() => readResultsCsv(join(FIX, 'no_such_file.csv')), /CSV file not found: .*no_such_file\.csv/);
  throwsFasop(() => readResultsCsv(join(FIX, 'empty.csv')), /empty\.csv is empty/);
  throwsFasop(() => readResultsCsv(FIX), /is a directory/);
  const dir = mkdtempSync(join(tmpdir(), 'fasop-csv-'));
  try {
    writeFileSync(join(dir, 'blank.csv'), '\n \n');
    throwsFasop(() => readResultsCsv(join(dir, 'blank.csv')), /is empty/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('csv-read: Python number spellings', () => {
  assert.equal(parsePyNumber('16.0'), 16);
  assert.equal(parsePyNumber('-1.5e-3'), -0.0015);
  assert.equal(parsePyNumber('inf'), Infinity);
  assert.equal(parsePyNumber('-inf'), -Infinity);
  assert.ok(Number.isNaN(parsePyNumber('nan')!));
  assert.equal(parsePyNumber(''), undefined);
  assert.equal(parsePyNumber('0x10'), undefined);
  assert.equal(parsePyNumber('1,000'), undefined);
});
