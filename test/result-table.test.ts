// The compact result table the CLI ranks and writes from: records and extras read back as added,
// and its CSV byte for byte the CSV of the record objects.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { addSearchOptions, resolveSearchOptions, type RawSearchOptions } from '../src/cli/search-options.js';
import { getEstimator } from '../src/estimate/index.js';
import { ProfileDb } from '../src/profiles/db.js';
import { csvChunks, formatCsv, rankRecords } from '../src/report/csv.js';
import { planExtras, type PlanExtras } from '../src/report/plan-extras.js';
import { ResultTable } from '../src/report/result-table.js';
import type { PlanRecord } from '../src/search/record.js';
import { searchEvents } from '../src/search/search.js';
import { REF_PROFILES } from './helpers/cli.js';

async function results(gpuTokens: string[], args: string[]) {
  const raw = addSearchOptions(new Command('search')).exitOverride().parse(args, { from: 'user' }).opts() as RawSearchOptions;
  const r = resolveSearchOptions(raw, gpuTokens);
  const ctx = { catalog: r.catalog, profiles: ProfileDb.open(r.profileDir), estimator: getEstimator(r.request.estimator) };
  const records: PlanRecord[] = [];
  const extras: PlanExtras[] = [];
  for await (const ev of searchEvents(r.request, ctx)) {
    if (ev.type !== 'result') continue;
    records.push(ev.record);
    extras.push(planExtras(ev.record, ev.estimate, r.request.model.num_layers));
  }
  return { records, extras };
}

const CASES = [
  { name: 'fasop, two GPU types, Pareto sub-clusters and gbs', gpus: ['H100', '1', 'H200', '2'], args: ['--pareto', '--pareto-gbs-max', '16', '--dataset', 'c4'], order: 'fits-first' as const },
  { name: 'reference estimator, original profiles, Pareto', gpus: ['A40', '4'], args: ['--estimator', 'reference', '--profile-dir', REF_PROFILES, '--gpu-per-node', '4', '--pareto', '--pareto-gbs-max', '64'], order: 'time' as const },
];

for (const c of CASES) {
  test(`the result table gives back every record and its extras, and the same CSV: ${c.name}`, async () => {
    const { records, extras } = await results(c.gpus, c.args);
    assert.ok(records.length > 100, `enough records (${records.length})`);
    const table = new ResultTable();
    records.forEach((r, i) => table.add(r, extras[i]));
    assert.equal(table.length, records.length);
    assert.equal(table.fits, records.filter((r) => !r.is_oom).length);
    for (let i = 0; i < records.length; i++) {
      assert.deepEqual(table.record(i), records[i], `record ${i}`);
      assert.deepEqual(table.extras(i), extras[i], `extras ${i}`);
    }
    const ranked = rankRecords(records, c.order);
    const t = table.ranked(c.order);
    assert.deepEqual([...t.order], ranked.map((r) => r.index));
    assert.deepEqual([...t.rank], ranked.map((r) => r.rank));
    // records share partitions: each distinct block of lists is kept once
    const added = records.reduce((a, r, i) => a + r.partition.length + (r.partition_layers ?? extras[i]!.layersPerStage ?? []).length, 0);
    assert.ok(table.listValues > 0 && table.listValues < added / 2, `${table.listValues} list values kept of ${added} added`);
    const opts = { order: c.order, fillLayers: c.order === 'fits-first', context: { model: 'm', dataset: 'd', trainTokens: 1e9 } };
    assert.equal([...csvChunks(table, opts)].join(''), formatCsv(records, { ...opts, extras }));
  });
}

test('a record the columns cannot hold exactly is kept as it came; ties share a rank', () => {
  const base: PlanRecord = {
    gbs: 32, mbs: 1, tp: 1, dp: 1, pp: 2, node_type: ['x', 'x'], gpu_cluster_str: 'A40:2', partition: [5, 5], partition_layers: null,
    step_time: 2, throughput: 16, price_per_step: 3, is_oom: false, oom_gpumem: 1, iterations: 10, total_time_seconds: 20,
    total_time_hours: 20 / 3600, cost: 30, placement: ['A40', 'A40'], estimator: 'fasop', partition_method: 'minmax', cost_source: 's',
    cp: 1, recompute: 'none', recompute_layers: null, dp_sharding: 'none', shard_group: null, sequence_parallel: false, virtual_stages: 1,
    mfu: 0.5, tokens_per_s_per_gpu: 100, seq_length: 2048,
  };
  const odd = [
    { ...base, throughput: 15 }, // not gbs / step_time
    { ...base, partition: [4.5, 5.5] }, // not whole numbers
    { ...base, partition_layers: [1, 2, 3] }, // not one per stage
    { ...base, total_time_seconds: 21 },
  ];
  const table = new ResultTable();
  const all = [base, ...odd, { ...base, is_oom: true }, { ...base, step_time: 1, throughput: 32, total_time_seconds: 10, total_time_hours: 10 / 3600 }];
  for (const r of all) table.add(r);
  all.forEach((r, i) => assert.deepEqual(table.record(i), r, `record ${i}`));
  assert.equal(table.extras(0), undefined);
  const ranked = rankRecords(all, 'fits-first');
  const t = table.ranked('fits-first');
  assert.deepEqual([...t.order], ranked.map((r) => r.index));
  assert.deepEqual([...t.rank], ranked.map((r) => r.rank));
  assert.ok(new Set(t.rank).size < all.length, 'some records tie');
});

test('number and True/False cells are what csvField makes of them (csvRow writes them without it)', async () => {
  const { csvField } = await import('../src/report/csv.js');
  const { pyBool, pyFloat } = await import('../src/report/pyformat.js');
  const cells = [0, -0, 1, -1.5, 1e-7, -2.5e-9, 1e16, -3e21, 123456.789, NaN, Infinity, -Infinity].map(pyFloat);
  cells.push(String(12), String(2 ** 40), pyBool(true), pyBool(false), '');
  for (const c of cells) assert.equal(csvField(c), c, c);
});
