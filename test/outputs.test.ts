/** Result files: names, no silent replacement, concurrent runs, columns, progress off a terminal. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { ProgressLine, formatDuration, progressText } from '../src/report/console.js';
import { ADDED_COLUMNS, CSV_COLUMNS, ORIGINAL_COLUMNS } from '../src/report/csv.js';
import { claimNewFile, resultStem, writeNewFile } from '../src/report/result-names.js';
import { parseCsvText } from './helpers/csv.js';
import { BIN, ensureBuilt } from './helpers/build.js';
import { REF_PROFILES, runCli, savedCsvPath, tmp } from './helpers/cli.js';

before(() => ensureBuilt());

test('result stems name model, cluster, sweep and gbs', () => {
  assert.equal(resultStem('llama70b', [{ type: 'H100', nodes: 4 }], [32], false), 'llama70b_H100x4_gbs32');
  assert.equal(resultStem('llama70b', [{ type: 'A40', nodes: 8 }, { type: 'A100', nodes: 1 }], [1, 2, 4, 8], true, '_try'), 'llama70b_A40x8-A100x1_pareto_gbs1-8_try');
});

test('writeNewFile never replaces a file; claimNewFile hands out each name once', () => {
  const dir = tmp();
  writeFileSync(join(dir, 'r.csv'), 'old');
  assert.equal(writeNewFile(dir, 'r', '.csv', 'a'), join(dir, 'r_2.csv'));
  assert.equal(writeNewFile(dir, 'r', '.csv', 'b'), join(dir, 'r_3.csv'));
  assert.equal(readFileSync(join(dir, 'r.csv'), 'utf8'), 'old');
  assert.equal(readFileSync(join(dir, 'r_3.csv'), 'utf8'), 'b');
  const a = claimNewFile(dir, 'j', '.jsonl');
  const b = claimNewFile(dir, 'j', '.jsonl');
  assert.deepEqual([a.path, b.path], [join(dir, 'j.jsonl'), join(dir, 'j_2.jsonl')]);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('tmp')), [], 'no temporary file left');
});

test('the CSV has the original\'s columns first, then fasop\'s; memory in GiB, partition_layers filled', async () => {
  assert.deepEqual(CSV_COLUMNS.slice(0, ORIGINAL_COLUMNS.length), [...ORIGINAL_COLUMNS]);
  for (const c of ADDED_COLUMNS) assert.doesNotMatch(c, /\(GB\)|_GB$/, `${c}: new memory columns are in GiB`);
  const run = await runCli(['--gpus', 'H100', '2', '--model-type', 'llama8b', '--dataset', 'c4']);
  assert.equal(run.code, 0, run.err);
  const text = readFileSync(savedCsvPath(run.out), 'utf8');
  assert.equal(text.split('\n')[0], CSV_COLUMNS.join(','));
  const rows = parseCsvText(text);
  for (const r of rows) {
    assert.match(r['partition_layers']!, /^\[\d+(, \d+)*\]$/, 'partition_layers filled');
    const layers = JSON.parse(r['partition_layers']!) as number[];
    assert.equal(layers.length, Number(r['pp']));
    assert.equal(layers.reduce((a, b) => a + b, 0), 32, 'llama8b has 32 layers');
    assert.equal(Number(r['gpus']), Number(r['tp']) * Number(r['dp']) * Number(r['pp']));
    assert.equal(Number(r['gpu_memory_GiB']), Number(r['oom_gpumem(GB)']), 'one GPU type: the fullest GPU is the peak');
    assert.equal(r['is_oom'], Number(r['gpu_memory_GiB']) > Number(r['gpu_memory_limit_GiB']) ? 'True' : 'False');
    assert.deepEqual([r['model'], r['dataset'], r['train_tokens']], ['llama8b', 'c4', '175000000000']);
    assert.equal(r['seq_length'], '1024', 'the catalog\'s llama8b sequence');
  }
  assert.equal(CSV_COLUMNS[CSV_COLUMNS.length - 1], 'seq_length');
});

test('seq_length: the search writes it, export takes it from the CSV, a different --seq-length is refused, older files still read', async () => {
  const run = await runCli(['--gpus', 'H100', '2', '--model-type', 'llama8b', '--dataset', 'c4', '--seq-length', '4096']);
  assert.equal(run.code, 0, run.err);
  const csv = savedCsvPath(run.out);
  const text = readFileSync(csv, 'utf8');
  assert.ok(parseCsvText(text).every((r) => r['seq_length'] === '4096'));
  const seqArg = (out: string) => /--seq-length (\d+)/.exec(out)?.[1];
  const ex = await runCli(['export', '--csv', csv, '--rank', '1', '--format', 'megatron']);
  assert.equal(ex.code, 0, ex.err);
  assert.equal(seqArg(ex.out), '4096');
  const same = await runCli(['export', '--csv', csv, '--rank', '1', '--format', 'megatron', '--seq-length', '4096']);
  assert.equal(same.code, 0, same.err);
  assert.equal(same.out, ex.out);
  const other = await runCli(['export', '--csv', csv, '--rank', '1', '--format', 'megatron', '--seq-length', '2048']);
  assert.equal(other.code, 2);
  assert.equal(other.err.trim().split('\n').length, 1, other.err);
  assert.match(other.err, /--seq-length 2048 disagrees with .*seq_length 4096/);
  // a file written before the column: read as before, the sequence from the flags (the catalog's by default)
  const lines = text.trim().split('\n').map((l) => l.slice(0, l.lastIndexOf(',')));
  assert.ok(lines[0]!.endsWith('tokens_per_s_per_gpu'));
  const old = join(tmp(), 'llama8b_old.csv');
  writeFileSync(old, `${lines.join('\n')}\n`);
  const oldDefault = await runCli(['export', '--csv', old, '--rank', '1', '--format', 'megatron']);
  assert.equal(oldDefault.code, 0, oldDefault.err);
  assert.equal(seqArg(oldDefault.out), '1024');
  const oldGiven = await runCli(['export', '--csv', old, '--rank', '1', '--format', 'megatron', '--seq-length', '4096']);
  assert.equal(oldGiven.code, 0, oldGiven.err);
  assert.equal(oldGiven.out, ex.out);
});

test('the original\'s names under --estimator reference and --original-names; --add-exp-name in both schemes', async () => {
  const cwd = tmp();
  const a = await runCli(['--gpus', 'A40', '2', '--profile-dir', REF_PROFILES, '--estimator', 'reference'], cwd);
  assert.equal(savedCsvPath(a.out), join(cwd, 'main_logs', 'llama70b.csv'));
  const b = await runCli(['--gpus', 'A40', '2', '--profile-dir', REF_PROFILES, '--estimator', 'reference', '--add-exp-name', '_x'], cwd);
  assert.equal(savedCsvPath(b.out), join(cwd, 'main_logs', 'llama70b_x.csv'));
  const c = await runCli(['--gpus', 'A40', '2', '--profile-dir', REF_PROFILES, '--estimator', 'reference', '--no-original-names'], cwd);
  assert.equal(savedCsvPath(c.out), join(cwd, 'main_logs', 'llama70b_A40x2_gbs32.csv'));
  const d = await runCli(['--gpus', 'A40', '2', '--profile-dir', REF_PROFILES, '--original-names', '--add-exp-name', '_y'], cwd);
  assert.equal(savedCsvPath(d.out), join(cwd, 'main_logs', 'llama70b_y.csv'));
  const e = await runCli(['--gpus', 'A40', '2', '--profile-dir', REF_PROFILES, '--estimator', 'reference'], cwd);
  assert.match(e.out, /Replacing the earlier .*llama70b\.csv/);
});

/** Run the CLI as a process (so that two can run at once) and collect its output. */
function spawnCli(args: string[], cwd: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => res({ code, out, err }));
  });
}

test('two --parsing runs started together write two whole JSONL files and two CSVs', async () => {
  ensureBuilt();
  const cwd = tmp();
  const args = ['--gpus', 'A40', '4', '--profile-dir', REF_PROFILES, '--estimator', 'reference', '--no-original-names', '--parsing'];
  const [a, b] = await Promise.all([spawnCli(args, cwd), spawnCli(args, cwd)]);
  for (const r of [a, b]) assert.equal(r.code, 0, r.err);
  const jsonl = [a, b].map((r) => /Results saved to: (\S+\.jsonl)/.exec(r.out)![1]!);
  const csv = [a, b].map((r) => savedCsvPath(r.out));
  assert.notEqual(jsonl[0], jsonl[1]);
  assert.notEqual(csv[0], csv[1]);
  for (const f of jsonl) {
    const lines = readFileSync(f, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 54, 'meta line + 53 plans');
    for (const l of lines) JSON.parse(l);
  }
  assert.equal(readdirSync(join(cwd, 'main_logs')).length, 4);
});

test('progress off a terminal: one line per interval with plans done, rate and ETA; nothing on a fast search', () => {
  let t = 0;
  const lines: string[] = [];
  const p = new ProgressLine((s) => lines.push(s), 'lines', { intervalMs: 10_000, now: () => t });
  for (let done = 1; done <= 100; done++) {
    t += 500; // 2 plans per second
    p.update(done, 100, done - 1, 1);
  }
  p.finish();
  assert.equal(lines.length, 4, lines.join(''));
  assert.equal(lines[0], '[fasop] 20/100 plans (20%) | fit 19 | OOM 1 | 2.0 plans/s | ETA 40 s\n');
  assert.ok(lines.every((l) => !l.includes('\r') && l.endsWith('\n')));
  const quick: string[] = [];
  const q = new ProgressLine((s) => quick.push(s), 'lines', { now: () => 0 });
  q.update(5, 5, 5, 0);
  assert.deepEqual(quick, []);
  assert.equal(progressText(10, 40, 10, 0, 5), '[fasop] 10/40 plans (25%) | fit 10 | OOM 0 | 2.0 plans/s | ETA 15 s');
  assert.deepEqual([formatDuration(59), formatDuration(725), formatDuration(3 * 3600 + 120)], ['59 s', '12m 05s', '3h 02m']);
});

// an earlier result file that the searches below must keep or replace in one rename
const PREVIOUS = 'index,gbs\n0,512 (the previous results: must survive Ctrl-C)\n';

test('--original-names: a finished search replaces the previous CSV in one rename and leaves no temporary file', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'fasop-atomic-'));
  const logs = join(cwd, 'main_logs');
  mkdirSync(logs);
  writeFileSync(join(logs, 'llama70b.csv'), PREVIOUS);
  const r = spawnSync(process.execPath, [BIN, '--gpus', 'A40', '2', '--profile-dir', REF_PROFILES, '--original-names', '--plain', '--each-execution'], { cwd, encoding: 'utf8', timeout: 60_000 });
  // llama70b does not fit on two A40 nodes: exit 3 (docs/outputs.md); --each-execution times and lists every plan
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stdout, /Replacing the earlier .*llama70b\.csv/);
  const csv = readFileSync(join(logs, 'llama70b.csv'), 'utf8');
  assert.notEqual(csv, PREVIOUS);
  assert.match(csv, /^index,gbs,mbs,tp,dp,pp,/);
  assert.equal(csv.trimEnd().split('\n').length, 45);
  assert.deepEqual(readdirSync(logs), ['llama70b.csv']);
  assert.ok(!existsSync(join(cwd, 'tmp')));
});

test('by default a search keeps every earlier result: a new name per model, cluster and gbs, _2 on a repeat', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'fasop-keep-'));
  const logs = join(cwd, 'main_logs');
  mkdirSync(logs);
  writeFileSync(join(logs, 'llama70b.csv'), PREVIOUS);
  for (let i = 0; i < 2; i++) {
    const r = spawnSync(process.execPath, [BIN, '--gpus', 'A40', '2', '--profile-dir', REF_PROFILES], { cwd, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stdout, new RegExp(`CSV file saved at: .*llama70b_A40x2_gbs32${i ? '_2' : ''}\\.csv`));
  }
  assert.equal(readFileSync(join(logs, 'llama70b.csv'), 'utf8'), PREVIOUS);
  assert.deepEqual(readdirSync(logs).sort(), ['llama70b.csv', 'llama70b_A40x2_gbs32.csv', 'llama70b_A40x2_gbs32_2.csv']);
});

test("the original README's mixed-cluster command finds plans that fit; on half its A40 nodes nothing fits, and what would help names only what the search did not try", () => {
  const cwd = mkdtempSync(join(tmpdir(), 'fasop-nofit-'));
  const ok = spawnSync(process.execPath, [BIN, '--gpus', 'A40', '8', 'A100', '1', '--model-type', 'llama70b', '--dataset', 'c4'], { cwd, encoding: 'utf8', timeout: 60_000 });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /Best configuration \(non-OOM; rank 1, \d+ of \d+ plans fit in memory\)/);
  const r = spawnSync(process.execPath, [BIN, '--gpus', 'A40', '4', 'A100', '1', '--model-type', 'llama70b', '--dataset', 'c4'], { cwd, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stdout, /The leanest, TP=\d+ PP=\d+ DP=\d+ MBS=\d+ on A40:4, A100:1/);
  assert.match(r.stdout, /What would make it fit:\n {4}- more GPUs: .* e\.g\. --gpus A40 \d+ A100 \d+/);
  // every micro-batch size that divides gbs/dp (1 among them) was searched: a smaller one is no advice
  assert.doesNotMatch(r.stdout, /micro-batch/);
});

test('--parsing: a strategy that fits and one that does not carry the same execution fields, and a fitting line agrees with its CSV row', async () => {
  const run = await runCli(['--gpus', 'H100', '2', '--gbs', '32', '--parsing', '--parsing-file', 'p.jsonl']);
  assert.equal(run.code, 0, run.err);
  const lines = readFileSync(join(run.cwd, 'p.jsonl'), 'utf8').trimEnd().split('\n').slice(1).map((l) => JSON.parse(l));
  const fit = lines.filter((x) => !x.is_oom);
  const oom = lines.filter((x) => x.is_oom);
  assert.ok(fit.length > 0 && oom.length > 0, `${fit.length} fit, ${oom.length} do not`);
  const execution = ['cp', 'recompute', 'recompute_layers', 'dp_sharding', 'shard_group', 'sequence_parallel', 'virtual_stages'];
  for (const x of lines) for (const k of execution) assert.ok(k in x, `index ${x.index} lacks ${k}`);
  const rows = parseCsvText(readFileSync(savedCsvPath(run.out), 'utf8'));
  // the CSV numbers its own rows (the strategies that fit): the row is found by its plan and step time
  const row = rows.find((r) => ['mbs', 'tp', 'dp', 'pp'].every((k) => Number(r[k]) === fit[0][k]) && Number(r['step_time(s)']) === fit[0].step_time)!;
  assert.ok(row, `CSV row of JSONL index ${fit[0].index}`);
  // the CSV writes Python's True/False and an empty cell for none
  const asCsv = (v: unknown) => (v === true ? 'True' : v === false ? 'False' : String(v ?? ''));
  for (const k of [...execution, 'seq_length']) assert.equal(asCsv(fit[0][k]), row[k], k);
  assert.ok(Math.abs(fit[0].mfu - Number(row['mfu'])) < 1e-12 && fit[0].mfu > 0);
});
