/** `--pareto` and `--pareto-gbs-max` searches: sub-clusters, gbs sweep, frontier, chart files. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { getDataset, getModel, loadCatalog } from '../src/catalog/catalog.js';
import { getEstimator } from '../src/estimate/index.js';
import { ProfileDb } from '../src/profiles/db.js';
import { readResultsCsv } from '../src/report/csv-read.js';
import { paretoFrontier, resultRowPoint } from '../src/report/pareto.js';
import { subClusters } from '../src/request/cluster.js';
import { search, type SearchRequest } from '../src/search/search.js';
import { REF_PROFILES, runCli } from './helpers/cli.js';

const catalog = loadCatalog();
const profiles = ProfileDb.open(REF_PROFILES);
const base = (over: Partial<SearchRequest>): SearchRequest => ({
  gpus: [{ type: 'A40', nodes: 8 }], model: getModel(catalog, 'llama70b'), dataset: getDataset(catalog, 'squad'), gbsValues: [32],
  gpusPerNode: 8, precision: 16, partitionMethod: 'minmax', estimator: 'reference', pareto: false, ...over,
});
const ctx = { catalog, profiles, estimator: getEstimator('reference') };

test('sub-clusters: every count vector, CLI order, all-zero skipped', () => {
  const s = subClusters([{ type: 'A40', nodes: 2 }, { type: 'A100', nodes: 1 }]);
  assert.deepEqual(s.map((c) => c.map((g) => `${g.type}:${g.nodes}`).join(',')), ['A100:1', 'A40:1', 'A40:1,A100:1', 'A40:2', 'A40:2,A100:1']);
  assert.equal(subClusters([{ type: 'A', nodes: 2 }, { type: 'B', nodes: 3 }, { type: 'C', nodes: 1 }]).length, 3 * 4 * 2 - 1);
});

test('pareto rows of A40:c equal a plain search of c A40 nodes (A40 has no _pareto variant)', async () => {
  const pareto = await search(base({ pareto: true }), ctx);
  for (const c of [1, 3, 8]) {
    const plain = await search(base({ gpus: [{ type: 'A40', nodes: c }] }), ctx);
    const sub = pareto.filter((r) => r.gpu_cluster_str === `A40:${c}`);
    assert.equal(sub.length, plain.length, `A40:${c}`);
    sub.forEach((r, i) => {
      assert.deepEqual(r.partition, plain[i]!.partition);
      assert.equal(r.step_time, plain[i]!.step_time);
      assert.equal(r.cost, plain[i]!.cost);
    });
  }
  assert.equal(pareto.length, 482);
});

test('the gbs-64 sweep reproduces the original\'s chart: 2,016 plans, its annotated best plan and 3 frontier points', async () => {
  const run = await runCli(['--gpus', 'A40', '8', '--pareto', '--dataset', 'squad', '--pareto-gbs-max', '64', '--make-pareto',
    '--pareto-title', 'pareto_A40_8_squad_gbs64', '--profile-dir', REF_PROFILES, '--estimator', 'reference', '--parsing']);
  assert.equal(run.code, 0, run.err);
  assert.match(run.out, /using 8 GPUs per node/);
  const rows = readResultsCsv(join(run.cwd, 'main_logs', 'llama70b_pareto.csv'));
  assert.equal(rows.length, 2016);
  assert.deepEqual([...new Set(rows.map((r) => r.gbs))].sort((a, b) => a - b), [1, 2, 4, 8, 16, 32, 64]);
  const { frontier, maxThroughput } = paretoFrontier(rows, resultRowPoint);
  assert.equal(frontier.length, 3);
  // the original's s8 chart annotates: gbs=64 mbs=1 tp=2 pp=32 dp=1, total_time(s)=1289.04
  const best = maxThroughput!;
  assert.deepEqual([best.gbs, best.mbs, best.tp, best.pp, best.dp], [64, 1, 2, 32, 1]);
  assert.equal(best.totalTimeS.toFixed(2), '1289.04');
  for (const ext of ['png', 'svg']) assert.ok(existsSync(join(run.cwd, 'main_logs', `pareto_A40_8_squad_gbs64.${ext}`)));
  // JSONL: one pareto_meta first, meta lines whose counts include every placement, then records
  const lines = readFileSync(readdirJsonl(run.cwd), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines[0].type, 'pareto_meta');
  assert.equal(lines[0].pareto_total_count, 2016);
  assert.deepEqual(lines[0].gbs_values, [1, 2, 4, 8, 16, 32, 64]);
  const metas = lines.filter((l) => l.type === 'meta');
  assert.equal(metas.length, 7 * 8);
  assert.equal(metas.reduce((a, m) => a + m.total_count, 0), 2016);
  assert.equal(lines.filter((l) => !l.type).length, 2016);
});

test('explicit --gpu-per-node 4 is kept in pareto mode', async () => {
  const run = await runCli(['--gpus', 'A40', '2', '--pareto', '--gpu-per-node', '4', '--profile-dir', REF_PROFILES, '--no-save-csv']);
  assert.equal(run.code, 3, run.err); // llama70b fits on no sub-cluster of two A40 nodes: exit 3 (docs/outputs.md)
  assert.doesNotMatch(run.out, /using 8 GPUs per node/);
  assert.match(run.out, /A40:2, Total nodes: 2 \(8 GPUs, 4 per node\)/);
});

function readdirJsonl(cwd: string): string {
  const dir = join(cwd, 'main_logs');
  const f = readdirSync(dir).find((x) => x.endsWith('.jsonl'))!;
  return join(dir, f);
}
