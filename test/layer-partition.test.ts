/**
 * Partitioning in whole decoder layers (policy partitionUnit 'layer', the fasop estimator): the
 * unit grouping, every method on layer units, and search → export giving back the ranked step time.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { getGpu, getModel, loadCatalog } from '../src/catalog/catalog.js';
import { estimate } from '../src/estimate/estimate.js';
import { layerUnitStarts, unitStageTimes } from '../src/estimate/partition-choice.js';
import { boundaryCosts, stageTimes_s } from '../src/estimate/boundaries.js';
import { typeCosts } from '../src/estimate/compute.js';
import type { ResolvedPlan } from '../src/estimate/plan.js';
import { FASOP, REFERENCE, withPolicy } from '../src/estimate/policy.js';
import { RECIPES } from '../src/estimate/recipe.js';
import { layersPerStage, nodeCount } from '../src/model/graph.js';
import { evaluatePartition, evenSplit, expandSizes, groupProblem, partitioners, type PartitionProblem } from '../src/partition/index.js';
import { minmaxSearch } from '../src/partition/minmax.js';
import { FasopError } from '../src/errors.js';
import { defaultProfileDir } from '../src/paths.js';
import { ProfileDb } from '../src/profiles/db.js';
import { parseCsvText } from './helpers/csv.js';
import { REF_OUTPUTS, REF_PROFILES, runCli, savedCsvPath } from './helpers/cli.js';
import { join } from 'node:path';

const catalog = loadCatalog();
const profiles = ProfileDb.open(defaultProfileDir());
const h100 = getGpu(catalog, 'H100');

/** A random problem of `items` items and `pp` stages with its own cost per stage row and boundary. */
function problemOf(seed: number, items: number, pp: number): PartitionProblem {
  let x = seed >>> 0 || 1;
  const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const rows = Array.from({ length: pp }, () => Array.from({ length: items }, () => rnd()));
  const bc = Array.from({ length: items }, () => Array.from({ length: pp }, () => 0.3 * rnd()));
  return { nodeCost_s: rows, boundaryCost_s: (k, j) => bc[k]![j]!, microBatches: 1 + Math.floor(rnd() * 16) };
}

test('units: a partition of grouped units has the objective of the item partition it covers (property)', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 2 ** 31 }), fc.integer({ min: 2, max: 12 }), fc.integer({ min: 1, max: 4 }),
    fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 12 }),
    (seed, units, pp, widths) => {
      const w = Array.from({ length: units }, (_, u) => widths[u % widths.length]!);
      const starts = [0];
      for (const x of w) starts.push(starts.at(-1)! + x);
      if (pp > units) return;
      const items = problemOf(seed, starts.at(-1)!, pp);
      const grouped = groupProblem(items, starts);
      const unitSizes = evenSplit(units, pp);
      const itemSizes = expandSizes(unitSizes, starts);
      assert.equal(itemSizes.reduce((a, b) => a + b, 0), starts.at(-1));
      const a = evaluatePartition(grouped, unitSizes).objective;
      const b = evaluatePartition(items, itemSizes).objective;
      assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, b), `${a} vs ${b}`);
    },
  ), { numRuns: 300, seed: 7 });
  assert.throws(() => groupProblem(problemOf(1, 6, 2), [0, 3, 3, 6]), FasopError);
  assert.throws(() => groupProblem(problemOf(1, 6, 2), [0, 3, 5]), FasopError);
  assert.throws(() => expandSizes([2, 2], [0, 3, 6, 9]), FasopError);
  assert.throws(() => expandSizes([0, 3], [0, 3, 6, 9]), FasopError);
});

test('units: the exact methods agree on a grouped problem, and its optimum is never below the item-level one', async () => {
  for (let seed = 1; seed <= 12; seed++) {
    const starts = [0, 5, 9, 13, 17, 21, 25, 30];
    const pp = 2 + (seed % 4);
    const items = problemOf(seed, 30, pp);
    const grouped = groupProblem(items, starts);
    const dp = await partitioners.dp(grouped);
    const bf = await partitioners.bruteforce(grouped);
    const ilp = await partitioners.ilp(grouped);
    assert.deepEqual(dp.sizes, bf.sizes, `seed ${seed}`);
    assert.deepEqual(ilp.sizes, bf.sizes, `seed ${seed}`);
    const fine = await partitioners.dp(items);
    assert.ok(fine.objective <= dp.objective * (1 + 1e-12), `seed ${seed}: ${fine.objective} > ${dp.objective}`);
  }
});

test('evenSplit: sizes differ by at most one, the middle stages take the remainder before the edge stages', () => {
  for (let units = 1; units <= 40; units++) {
    for (let pp = 1; pp <= units; pp++) {
      const s = evenSplit(units, pp);
      assert.equal(s.length, pp);
      assert.equal(s.reduce((a, b) => a + b, 0), units);
      assert.ok(Math.max(...s) - Math.min(...s) <= 1);
      const r = units % pp;
      if (pp > 2 && r > 0 && r <= pp - 2) assert.ok(s[0] === Math.floor(units / pp) && s[pp - 1] === Math.floor(units / pp), `${units}/${pp}: [${s}]`);
    }
  }
  assert.deepEqual(evenSplit(10, 4), [2, 3, 3, 2]);
  assert.deepEqual(evenSplit(11, 4), [3, 3, 3, 2]);
  assert.deepEqual(evenSplit(5, 2), [3, 2]);
  assert.throws(() => evenSplit(3, 4), FasopError);
});

test('minmax: the original\'s edge rule can empty a stage of one unit; without it every stage keeps one', () => {
  // from [2, 2, 1, 1, 2] a unit moves from stage 1 to stage 3; then the slowest is the last stage, an
  // edge stage of 2 units, and the fastest stage 2 holds one: the edge rule moves it to the last stage
  const times = (w: number[]) => (sizes: number[]) => sizes.map((x, s) => x * w[s]!);
  const w = [1, 10, 0.15, 0.1, 6];
  assert.deepEqual(minmaxSearch(8, 5, times(w)).sizes, [2, 1, 0, 2, 3]);
  assert.deepEqual(minmaxSearch(8, 5, times(w), { edgeRule: false }).sizes, [2, 1, 2, 2, 1]);
  fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), fc.array(fc.double({ min: 0.01, max: 100, noNaN: true }), { minLength: 40, maxLength: 40 }), (units, pp, w) => {
    if (pp > units) return;
    const s = minmaxSearch(units, pp, times(w), { edgeRule: false }).sizes;
    assert.equal(s.reduce((a, b) => a + b, 0), units);
    assert.ok(s.every((x) => x >= 1), `[${s}]`);
  }), { numRuns: 500, seed: 11 });
});

test('layer units: embedding with layer 0, lm_head with the last layer', () => {
  const starts = layerUnitStarts(16);
  assert.equal(starts.length, 17);
  assert.deepEqual(expandSizes([16], starts), [nodeCount({ num_layers: 16 })]);
  assert.deepEqual(expandSizes([1, 14, 1], starts), [9, 112, 9]);
  assert.deepEqual(layersPerStage(expandSizes([3, 5, 8], starts)), [3, 5, 8]);
  assert.deepEqual(layerUnitStarts(1), [0, 10]);
  // with v virtual stages a unit is v layers, so each rank's layers split into its v chunks
  assert.deepEqual(layersPerStage(expandSizes([1, 2, 1], layerUnitStarts(8, 2))), [2, 4, 2]);
  assert.throws(() => layerUnitStarts(9, 2), FasopError);
});

const llama1b = getModel(catalog, 'llama1b');
function plan(method: ResolvedPlan['partitionMethod'], pp = 8): ResolvedPlan {
  const tp = Math.max(1, 8 / pp);
  return {
    model: llama1b,
    nodes: Array.from({ length: Math.max(1, pp / 8) }, () => ({ gpu: h100, interNode_bps: h100.interNode_bps, intraNode_bps: h100.intraNode_bps })),
    gpusPerNode: 8, tp, dp: 1, pp, mbs: 1, gbs: 32,
    profiles: { H100: profiles.get('llama1b', 'H100', tp) },
    partitionMethod: method, precision: 16, pricePerSecond_usd: 0.01, iterations: 100,
    recipe: RECIPES['megatron-mixed'],
  } as ResolvedPlan;
}

test('unitStageTimes: the stage times of boundaries.ts, from per-unit sums (every policy variant)', () => {
  const variants = [FASOP, withPolicy(FASOP, { boundaries: 'first-and-last' }), withPolicy(FASOP, { backward: 'twice-forward' }), withPolicy(REFERENCE, { partitionUnit: 'layer' })];
  const n = nodeCount(llama1b);
  for (const pp of [2, 4, 8, 16]) {
    const p = plan('minmax', pp);
    for (const policy of variants) {
      const recipe = RECIPES['megatron-mixed']!;
      const c = typeCosts(p, policy, recipe, 'H100', p.profiles['H100']!, n);
      const x = { stageCosts: Array.from({ length: pp }, () => c), boundary: boundaryCosts(p, policy, recipe), n, policy };
      for (const perUnit of [1, 2]) {
        const starts = layerUnitStarts(16, perUnit);
        if (pp > starts.length - 1) continue;
        const fast = unitStageTimes(x, starts);
        fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 1e6 }), { minLength: pp - 1, maxLength: pp - 1 }), (r) => {
          // a random composition of the units into pp stages
          const cuts = [...new Set(r.map((v) => 1 + (v % (starts.length - 2 || 1))))].sort((a, b) => a - b).slice(0, pp - 1);
          while (cuts.length < pp - 1) for (let k = 1; k < starts.length - 1 && cuts.length < pp - 1; k++) if (!cuts.includes(k)) cuts.push(k);
          cuts.sort((a, b) => a - b);
          const bounds = [0, ...cuts, starts.length - 1];
          const sizes = bounds.slice(1).map((b, i) => b - bounds[i]!);
          const want = stageTimes_s(x.stageCosts, x.boundary, expandSizes(sizes, starts), n, policy);
          const got = fast(sizes);
          got.forEach((t, s) => assert.ok(Math.abs(t - want[s]!) <= 1e-12 * Math.max(1, want[s]!), `${policy.name} pp ${pp} [${sizes}] stage ${s}: ${t} vs ${want[s]}`));
        }), { numRuns: 40, seed: pp * 7 + perUnit });
      }
    }
  }
});

test('fasop estimator: every partition method cuts only between decoder layers; the operator unit still cuts inside them', async () => {
  assert.equal(FASOP.partitionUnit, 'layer');
  assert.equal(REFERENCE.partitionUnit, 'operator');
  const methods = ['minmax', 'even', 'dp', 'ilp', 'bruteforce', 'dp-original'] as const;
  for (const pp of [2, 4, 8, 16]) {
    const steps = new Map<string, number>();
    for (const m of methods) {
      const est = await estimate(plan(m, pp), FASOP);
      const layers = layersPerStage(est.partition);
      assert.ok(layers, `${m} pp ${pp}: [${est.partition}] cuts inside a layer`);
      assert.equal(layers.reduce((a, b) => a + b, 0), 16);
      assert.ok(layers.every((l) => l >= 1), `${m}: every stage holds a layer`);
      assert.deepEqual(est.partitionLayers, layers);
      // the same partition as a fixed one gives the same step time: what export re-estimates
      const fixed = await estimate({ ...plan(m, pp), fixedPartition: est.partition }, FASOP);
      assert.equal(fixed.stepTime_s, est.stepTime_s, `${m} pp ${pp}`);
      steps.set(m, est.stepTime_s);
    }
    // the exact methods solve one objective and also simulate minmax's partition: never slower than minmax
    for (const m of ['dp', 'ilp', 'bruteforce']) assert.ok(steps.get(m)! <= steps.get('minmax')!, `${m} pp ${pp}`);
  }
  // switching the field back to operators gives the original's freedom: the dp optimum cuts inside a layer here
  const ops = await estimate(plan('dp', 8), withPolicy(FASOP, { partitionUnit: 'operator' }));
  assert.equal(layersPerStage(ops.partition), null, `[${ops.partition}]`);
});

test('search -> export rank 1: the exported whole-layer plan is the ranked plan, same step time (fasop estimator)', async () => {
  const run = await runCli(['--gpus', 'H100', '4', '--gbs', '64']);
  assert.equal(run.code, 0, run.err);
  assert.doesNotMatch(run.out, /graph operators per stage|rounded to whole layers/);
  const rows = parseCsvText(readFileSync(savedCsvPath(run.out), 'utf8'));
  assert.ok(rows.length > 50);
  for (const r of rows) {
    assert.equal(r['layers_rounded'], 'False', `rank ${r['rank']}`);
    const layers = JSON.parse(r['partition_layers']!) as number[];
    assert.deepEqual(layersPerStage(JSON.parse(r['partition']!)), layers);
  }
  const rank1 = rows.find((r) => r['rank'] === '1')!;
  const exp = await runCli(['export', '--csv', savedCsvPath(run.out), '--rank', '1', '--format', 'json'], run.cwd);
  assert.equal(exp.code, 0, exp.err);
  const j = JSON.parse(exp.out);
  assert.equal(j.rounding, null);
  assert.equal(j.layerPartition.exact, true);
  assert.deepEqual(j.layerPartition.layersPerStage, JSON.parse(rank1['partition_layers']!));
  const ranked = Number(rank1['step_time(s)']);
  assert.ok(Math.abs(j.layerPartition.stepTime_s - ranked) <= 1e-9 * ranked, `${j.layerPartition.stepTime_s} vs ${ranked}`);
  assert.ok(!j.warnings.some((w: string) => /re-estimating/.test(w)), j.warnings.join('\n'));
  const mg = await runCli(['export', '--csv', savedCsvPath(run.out), '--rank', '1', '--format', 'megatron'], run.cwd);
  assert.match(mg.out, /# layers per stage: \[[\d, ]+\] \(the plan's own partition: it cuts only between layers\)\n# re-estimated as exported: step time [\d.]+ s\n/);
  assert.doesNotMatch(mg.out, /rounding:/);
});

test('search -> export with dp in layer units on llama8b: every rank exports as ranked', async () => {
  const run = await runCli(['--gpus', 'H100', '2', '--model-type', 'llama8b', '--pp-partition-method', 'dp']);
  assert.equal(run.code, 0, run.err);
  const csv = savedCsvPath(run.out);
  const rows = parseCsvText(readFileSync(csv, 'utf8')).filter((r) => Number(r['pp']) > 1).slice(0, 3);
  assert.ok(rows.length > 0);
  for (const r of rows) {
    const exp = await runCli(['export', '--csv', csv, '--rank', r['rank']!, '--format', 'json'], run.cwd);
    assert.equal(exp.code, 0, exp.err);
    const j = JSON.parse(exp.out);
    assert.equal(j.rounding, null);
    assert.ok(Math.abs(j.layerPartition.stepTime_s - Number(r['step_time(s)'])) <= 1e-9 * Number(r['step_time(s)']), `rank ${r['rank']}`);
  }
});

test('--exhaustive: layers per stage for a whole-layer plan; the operator partition only where it cuts inside layers', async () => {
  const fasop = await runCli(['--gpus', 'H100', '4', '--exhaustive', '--mbs', '1', '--tp', '2', '--dp', '1', '--pp', '16']);
  assert.equal(fasop.code, 0, fasop.err);
  assert.match(fasop.out, /^ {2}layers per stage: \[[\d, ]+\]$/m);
  assert.doesNotMatch(fasop.out, /graph operators per stage|\bnodes\b/);
  assert.match(fasop.out, /stage {2}gpu {8}layers {2}operators/);
  const ref = await runCli(['--gpus', 'A40', '8', '--exhaustive', '--mbs', '1', '--tp', '1', '--dp', '1', '--pp', '32', '--estimator', 'reference', '--profile-dir', REF_PROFILES]);
  assert.equal(ref.code, 0, ref.err);
  const csv = parseCsvText(readFileSync(join(REF_OUTPUTS, 's1_A40x8_gbs32_squad_minmax.csv'), 'utf8'));
  const row = csv.find((r) => r['tp'] === '1' && r['pp'] === '32' && r['mbs'] === '1')!;
  const ops = (JSON.parse(row['partition']!) as number[]).join(', ');
  assert.ok(ref.out.includes(`  partition, graph operators per stage: [${ops}]   (it cuts inside decoder layers: fasop export rounds it to whole layers)`), ref.out.slice(0, 600));
  assert.match(ref.out, /^ {6}0 {2}A40 {12}- {9}21 /m);
});

test('techniques: interleaved plans hold a multiple of v layers per stage; export (--csv and --best) re-estimates with the plan\'s execution', async () => {
  const flags = ['--gpus', 'H100', '4', '--gbs', '128', '--recompute', 'none,full', '--dp-sharding', 'none,optimizer', '--sequence-parallel', '--virtual-stages', '1,2'];
  const run = await runCli(flags);
  assert.equal(run.code, 0, run.err);
  const csv = savedCsvPath(run.out);
  const rows = parseCsvText(readFileSync(csv, 'utf8'));
  const interleaved = rows.filter((r) => r['virtual_stages'] === '2');
  assert.ok(interleaved.length > 10);
  for (const r of interleaved) assert.ok((JSON.parse(r['partition_layers']!) as number[]).every((l) => l % 2 === 0), `rank ${r['rank']}: ${r['partition_layers']}`);
  const top = rows.filter((r) => Number(r['rank']) <= 3 && r['is_oom'] === 'False');
  assert.ok(top.some((r) => r['virtual_stages'] === '2' || r['recompute'] !== 'none' || r['dp_sharding'] !== 'none'), 'a technique among the best plans');
  for (const r of top) {
    const exp = await runCli(['export', '--csv', csv, '--rank', r['rank']!, '--format', 'json'], run.cwd);
    assert.equal(exp.code, 0, exp.err);
    const j = JSON.parse(exp.out);
    assert.equal(j.plan.execution.virtualStages, Number(r['virtual_stages']));
    assert.ok(Math.abs(j.layerPartition.stepTime_s - Number(r['step_time(s)'])) <= 1e-9 * Number(r['step_time(s)']), `rank ${r['rank']}: ${j.layerPartition.stepTime_s} vs ${r['step_time(s)']}`);
  }
  // the summary names the best plan's execution when it has one (every plan recomputes here)
  const full = await runCli(['--gpus', 'H100', '4', '--recompute', 'full', '--no-save-csv']);
  assert.match(full.out, /^ {2}Execution: recompute full[^\n]*\n {2}Layers per stage: \[[\d, ]+\]\n/m);
  const best = await runCli(['export', '--best', ...flags, '--format', 'json'], run.cwd);
  assert.equal(best.code, 0, best.err);
  const jb = JSON.parse(best.out);
  assert.equal(jb.layerPartition.stepTime_s, jb.plan.stepTime_s);
});
