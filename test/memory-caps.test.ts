/** minmax within memory: where minmax's partition overfills a stage, the fastest whole-layer partition that fits. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { addSearchOptions, resolveSearchOptions, type RawSearchOptions } from '../src/cli/search-options.js';
import { getEstimator } from '../src/estimate/index.js';
import { estimate } from '../src/estimate/estimate.js';
import { unitCaps } from '../src/estimate/memory-caps.js';
import { stageMemory } from '../src/estimate/memory-bytes.js';
import { sharedPlanCosts } from '../src/estimate/plan-costs.js';
import { layerUnitStarts } from '../src/estimate/partition-choice.js';
import { FASOP, REFERENCE, withPolicy } from '../src/estimate/policy.js';
import { cappedMinmax } from '../src/partition/capped.js';
import { expandSizes } from '../src/partition/units.js';
import { resolvePlans } from '../src/plan/resolve.js';
import { ProfileDb } from '../src/profiles/db.js';
import { resolveChosenPlans } from '../src/search/choose.js';

/** Every composition of `units` into caps.length parts within the caps, by brute force. */
function* compositions(units: number, caps: readonly number[], s = 0): Generator<number[]> {
  if (s === caps.length - 1) {
    if (units >= 1 && units <= caps[s]!) yield [units];
    return;
  }
  for (let k = 1; k <= Math.min(caps[s]!, units - (caps.length - 1 - s)); k++) for (const rest of compositions(units - k, caps, s + 1)) yield [k, ...rest];
}

test('cappedMinmax finds the least slowest stage within the caps (brute force on random instances), or says none exists', () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 300; trial++) {
    const S = 1 + Math.floor(rand() * 4);
    const units = S + Math.floor(rand() * 8);
    const caps = Array.from({ length: S }, () => 1 + Math.floor(rand() * units));
    const unitCost = Array.from({ length: S }, () => Array.from({ length: units }, () => rand()));
    const send = Array.from({ length: S }, () => rand() * 0.3);
    const time = (s: number, a: number, end: number) => unitCost[s]!.slice(a, end).reduce((x, y) => x + y, 0) + (s > 0 ? send[s]! : 0);
    const slowest = (sizes: number[]) => { let a = 0; return Math.max(...sizes.map((k, s) => { const t = time(s, a, a + k); a += k; return t; })); };
    const all = [...compositions(units, caps)];
    const got = cappedMinmax(units, caps, time);
    if (all.length === 0) {
      assert.equal(got, undefined, `${units} units, caps ${caps}`);
      continue;
    }
    assert.ok(got, `${units} units, caps ${caps}`);
    assert.equal(got.reduce((x, y) => x + y, 0), units);
    got.forEach((k, s) => assert.ok(k >= 1 && k <= caps[s]!, `stage ${s} holds ${k} of at most ${caps[s]}`));
    assert.equal(slowest(got), Math.min(...all.map(slowest)));
  }
  assert.equal(cappedMinmax(3, [1, 1], () => 1), undefined);
  assert.equal(cappedMinmax(3, [0, 3], () => 1), undefined);
});

function setup(gpus: string[], args: string[]) {
  const raw = addSearchOptions(new Command('search')).exitOverride().parse(args, { from: 'user' }).opts() as RawSearchOptions;
  const r = resolveSearchOptions(raw, gpus);
  return { req: r.request, catalog: r.catalog, profiles: ProfileDb.open(r.profileDir) };
}

// LLaMA-70B over 8 A40 nodes and one A100 node of 4 GPUs (the original's README example): minmax
// gives the faster A100 stage more layers than its 40 GB hold
const MIXED = ['A40', '8', 'A100', '1'];
const ARGS = ['--model-type', 'llama70b', '--dataset', 'c4', '--recompute', 'none', '--dp-sharding', 'none', '--virtual-stages', '1'];
const PLAN = { tp: 2, dp: 1, pp: 18, mbs: 1, gbs: 32 };

test('each stage\'s cap is the most whole layers it holds within its limit', () => {
  const { req, catalog, profiles } = setup(MIXED, ARGS);
  const [plan] = resolvePlans(req, catalog, profiles, PLAN, ['A100', 'A40', 'A40', 'A40', 'A40', 'A40', 'A40', 'A40', 'A40']);
  const c = sharedPlanCosts(plan!, FASOP, plan!.recipe!);
  const x = { plan: plan!, policy: FASOP, n: c.n, m: c.m, stageCosts: c.stageCosts, boundary: c.boundary };
  const starts = layerUnitStarts(plan!.model.num_layers);
  const limits = Array.from({ length: plan!.pp }, (_, s) => (s < 2 ? 39.59 : 47));
  const caps = unitCaps(x, plan!.recipe!, starts, limits);
  const units = starts.length - 1;
  const pp = plan!.pp;
  const memWith = (s: number, k: number) => {
    const u = new Array<number>(pp).fill(1);
    u[s] = k;
    u[s === pp - 1 ? 0 : pp - 1] = units - k - (pp - 2);
    return stageMemory(plan!.model, expandSizes(u, starts), c.n, plan!.mbs, plan!.tp, plan!.dp, c.m, plan!.recipe!, plan!.execution)[s]!.total_GiB;
  };
  caps.forEach((k, s) => {
    assert.ok(k >= 1, `stage ${s} holds a layer`);
    assert.ok(memWith(s, k) <= limits[s]!, `stage ${s}: ${k} layers fit`);
    if (k < units - (pp - 1)) assert.ok(memWith(s, k + 1) > limits[s]!, `stage ${s}: ${k + 1} layers do not`);
  });
  // the A100 stages (40 GB) hold fewer layers than the A40 ones at the same position
  assert.ok(caps[1]! < caps[2]!, `caps ${caps}`);
});

test('a plan whose minmax partition overfills a stage fits with the fastest partition within memory; the reference estimator keeps the original\'s', async () => {
  const { req, catalog, profiles } = setup(MIXED, ARGS);
  const [plan] = resolvePlans(req, catalog, profiles, PLAN, ['A100', 'A40', 'A40', 'A40', 'A40', 'A40', 'A40', 'A40', 'A40']);
  const asIs = await estimate(plan!, withPolicy(FASOP, { minmaxMemory: 'as-is' }));
  assert.ok(asIs.isOom, 'minmax loads the A100 stage past its memory');
  const e = await estimate(plan!);
  assert.ok(!e.isOom, 'a whole-layer partition fits');
  assert.match(e.breakdown.costSource, /minmax's overfilled a stage's memory/);
  e.breakdown.stages.forEach((st, s) => assert.ok(st.memory_GiB <= st.memoryLimit_GiB, `stage ${s}: ${st.memory_GiB} of ${st.memoryLimit_GiB}`));
  assert.equal(e.partitionLayers!.reduce((a, b) => a + b, 0), 80);
  // a plan minmax already fits is left as minmax gives it
  const h = setup(['H100', '4'], ['--model-type', 'llama8b', '--recompute', 'none', '--dp-sharding', 'none', '--virtual-stages', '1']);
  const [roomy] = resolvePlans(h.req, h.catalog, h.profiles, { tp: 1, dp: 8, pp: 4, mbs: 1, gbs: 32 });
  const mm = await estimate(roomy!, withPolicy(FASOP, { minmaxMemory: 'as-is' }));
  assert.ok(!mm.isOom, 'minmax fits this one');
  const same = await estimate(roomy!);
  assert.deepEqual(same.partition, mm.partition);
  assert.doesNotMatch(same.breakdown.costSource, /overfilled/);
  // the original's estimator: unchanged
  assert.equal(REFERENCE.minmaxMemory, 'as-is');
  // the search and the one-plan breakdown choose the same way
  const chosen = await resolveChosenPlans(req, catalog, profiles, getEstimator('fasop'), PLAN, ['A100', 'A40', 'A40', 'A40', 'A40', 'A40', 'A40', 'A40', 'A40']);
  assert.equal(chosen[0]!.estimate.stepTime_s, e.stepTime_s);
});
