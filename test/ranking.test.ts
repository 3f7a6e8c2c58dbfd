/** Ranking and the summary: plans that fit rank first (fasop estimator); rank 1 is what export takes. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { rankRecords } from '../src/report/csv.js';
import type { PlanRecord } from '../src/search/record.js';
import { parseCsvText } from './helpers/csv.js';
import { runCli, savedCsvPath } from './helpers/cli.js';

const rec = (total: number, oom: boolean): PlanRecord => ({
  gbs: 32, mbs: 1, tp: 1, dp: 1, pp: 8, node_type: ['x'], gpu_cluster_str: 'A40:1', partition: [1], partition_layers: null,
  step_time: 1, throughput: 1, price_per_step: 1, is_oom: oom, oom_gpumem: 1, iterations: 1, total_time_seconds: total,
  total_time_hours: total / 3600, cost: 1, placement: ['A40'], estimator: 'fasop', partition_method: 'minmax', cost_source: '',
});

test('fits-first: every plan that fits ranks before every OOM plan; ties share the smallest rank', () => {
  const records = [rec(5, true), rec(9, false), rec(7, false), rec(1, true), rec(7, false)];
  const ranked = rankRecords(records, 'fits-first');
  assert.deepEqual(ranked.map((r) => [r.index, r.rank]), [[2, 1], [4, 1], [1, 3], [3, 4], [0, 5]]);
  // the original's order ranks by time only
  assert.deepEqual(rankRecords(records, 'time').map((r) => [r.index, r.rank]), [[3, 1], [0, 2], [2, 3], [4, 3], [1, 5]]);
});

test('fasop search: CSV rank 1 fits, OOM rows rank last; the summary names every part of the best plan; export --rank 1 takes it', async () => {
  const run = await runCli(['--gpus', 'H100', '4']);
  assert.equal(run.code, 0, run.err);
  const csv = savedCsvPath(run.out);
  assert.match(csv, /main_logs\/llama70b_H100x4_gbs32\.csv$/);
  const rows = parseCsvText(readFileSync(csv, 'utf8'));
  assert.equal(rows[0]!['is_oom'], 'False');
  assert.equal(rows[0]!['rank'], '1');
  const lastFit = Math.max(...rows.filter((r) => r['is_oom'] === 'False').map((r) => Number(r['rank'])));
  const firstOom = Math.min(...rows.filter((r) => r['is_oom'] === 'True').map((r) => Number(r['rank'])));
  assert.ok(lastFit < firstOom, `${lastFit} < ${firstOom}`);
  const b = rows[0]!;
  assert.match(run.out, new RegExp(`Batch: gbs 32 = micro-batch ${b['mbs']} × \\d+ micro-batch(es)? × DP ${b['dp']}`));
  assert.match(run.out, /GPUs: H100:4 — 32 GPUs \(4 nodes × 8\)/);
  assert.match(run.out, new RegExp(`Parallelism: TP=${b['tp']}, PP=${b['pp']}, DP=${b['dp']}, MBS=${b['mbs']}`));
  assert.ok(run.out.includes(`Layers per stage: ${b['partition_layers']}`), `${b['partition_layers']} in\n${run.out}`);
  assert.match(run.out, new RegExp(`Memory: ${Number(b['gpu_memory_GiB']).toFixed(2)} GiB of ${Number(b['gpu_memory_limit_GiB']).toFixed(2)} GiB usable per GPU`));
  assert.ok(Number(b['gpu_memory_GiB']) < Number(b['gpu_memory_limit_GiB']));
  const exp = await runCli(['export', '--csv', csv, '--rank', '1', '--format', 'json'], run.cwd);
  assert.equal(exp.code, 0, exp.err);
  assert.doesNotMatch(exp.err, /run out of GPU memory/);
  const plan = JSON.parse(exp.out);
  assert.deepEqual([plan.plan?.tp ?? plan.tp, plan.plan?.pp ?? plan.pp].map(Number), [Number(b['tp']), Number(b['pp'])]);
});

test('nothing fits: the summary gives the leanest plan\'s memory against the GPU\'s and what would help; exit 3', async () => {
  const run = await runCli(['--gpus', 'H100', '1', '--list-oom']);
  assert.equal(run.code, 3, run.err);
  assert.match(run.out, /No valid \(non-OOM\) configurations found\./);
  const m = /needs ([\d.]+) GiB on its fullest GPU \(stage \d+\), which has ([\d.]+) GiB usable: ([\d.]+)× too much/.exec(run.out);
  assert.ok(m, run.out);
  assert.ok(Number(m[1]) > Number(m[2]));
  assert.match(run.out, /more GPUs: .*--gpus H100 2/);
  assert.match(run.out, /--recipe bf16-adamw/);
  assert.match(run.out, /Exit status 3: no plan fits/);
  // no plan is timed (every memory floor is over the limit); the list holds each strategy with its leanest floor, the least of them under what the leanest plan needs
  assert.match(run.out, /0 fit in memory, each with its fastest execution; (\d+) do not, \1 of them known by their memory floor and not timed/);
  assert.equal(parseCsvText(readFileSync(savedCsvPath(run.out), 'utf8')).length, 0);
  const listed = /Plans out of memory listed at: (\S+)/.exec(run.out)![1]!;
  const rows = parseCsvText(readFileSync(listed, 'utf8'));
  assert.ok(rows.length > 10 && rows.every((r) => r['peak_is'] === 'at least' && Number(r['peak_memory_GiB']) > Number(r['gpu_memory_limit_GiB'])));
  assert.ok(Math.min(...rows.map((r) => Number(r['peak_memory_GiB']))) <= Number(m[1]));
  // every technique was searched: none is suggested again
  assert.doesNotMatch(run.out, /the techniques large runs use/);
  // the original's mode exits 0 like the original
  const ref = await runCli(['--gpus', 'H100', '1', '--estimator', 'reference']);
  assert.equal(ref.code, 0, ref.err);
  assert.match(ref.out, /No valid \(non-OOM\) configurations found\./);
});

test('--gpu-per-node other than the catalog node size is explained before the search', async () => {
  const run = await runCli(['--gpus', 'H100', '4', '--gpu-per-node', '3']);
  assert.match(run.out, /\[NOTICE\] --gpu-per-node 3: the catalog's H100 node \(p5\.48xlarge\) has 8 GPUs; plans use 3 per node/);
  const same = await runCli(['--gpus', 'H100', '4', '--gpu-per-node', '8']);
  assert.doesNotMatch(same.out, /NOTICE/);
});

test('export --csv --rank N of a plan that runs out of memory says so and names the best plan that fits', async () => {
  const run = await runCli(['--gpus', 'H100', '4', '--estimator', 'reference']);
  const csv = savedCsvPath(run.out);
  const rows = parseCsvText(readFileSync(csv, 'utf8'));
  const oom = rows.find((r) => r['is_oom'] === 'True')!;
  const fit = rows.find((r) => r['is_oom'] === 'False');
  const exp = await runCli(['export', '--csv', csv, '--rank', oom['rank']!, '--format', 'json'], run.cwd);
  assert.equal(exp.code, 0, exp.err);
  assert.match(exp.err, new RegExp(`rank ${oom['rank']} of .* is estimated to run out of GPU memory.*${fit ? `--rank ${fit['rank']}` : 'no plan in this file fits'}`));
});
