import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { addSearchOptions, resolveSearchOptions, type RawSearchOptions } from '../src/cli/search-options.js';
import { getEstimator, type Estimator } from '../src/estimate/index.js';
import { newTape, readsSame } from '../src/estimate/placement-reads.js';
import { placementOf, resolvePlan } from '../src/plan/resolve.js';
import { ProfileDb } from '../src/profiles/db.js';
import { chooseExecution, PlacementMemo, placementMemo, withExecutions } from '../src/search/choose.js';
import { searchEvents, type SearchEvent } from '../src/search/search.js';

/** The search `fasop search ARGS --gpus GPUS` resolves to, its profiles and its estimator. */
function resolved(gpus: string[], args: string[]) {
  const raw = addSearchOptions(new Command('search')).exitOverride().parse(args, { from: 'user' }).opts() as RawSearchOptions;
  const r = resolveSearchOptions(raw, gpus);
  return { r, profiles: ProfileDb.open(r.profileDir), estimator: getEstimator(r.request.estimator) };
}

/** Every event of a search, and how many executions it timed, with the placement memo or without it. */
async function run(gpus: string[], args: string[], memo: boolean): Promise<{ events: SearchEvent[]; timed: number }> {
  const { r, profiles, estimator: base } = resolved(gpus, args);
  let timed = 0;
  const estimator: Estimator = Object.assign((p: Parameters<Estimator>[0]) => base(p), base);
  estimator.timing = async (p) => {
    timed += 1;
    return base.timing!(p);
  };
  if (!memo) delete estimator.placementReads;
  const events: SearchEvent[] = [];
  for await (const ev of searchEvents(r.request, { catalog: r.catalog, profiles, estimator })) events.push(ev);
  return { events, timed };
}

// mixed clusters whose rotations differ where a strategy's stages see it, and where they do not:
// the types' order (the cost source lists them as a placement has them), context parallelism,
// hybrid sharding, 6 GPUs per node, a Pareto sweep over sub-clusters
const CASES: { gpus: string[]; args: string[] }[] = [
  { gpus: ['H100', '4', 'H200', '4'], args: ['--gbs', '64', '--dataset', 'c4'] },
  { gpus: ['H100', '2', 'H200', '1'], args: ['--gbs', '16', '--dataset', 'c4', '--model-type', 'llama8b', '--seq-length', '8192', '--cp', '1,2'] },
  { gpus: ['H100', '2', 'H200', '3'], args: ['--gbs', '64', '--dataset', 'c4', '--model-type', 'llama8b', '--optimizer', 'fp32-master-adamw', '--shard-group', 'full,node,2'] },
  { gpus: ['A40', '3', 'H100', '2'], args: ['--gbs', '24', '--dataset', 'c4', '--model-type', 'llama1b', '--gpu-per-node', '6', '--substitute-profile', 'A40=H200'] },
  { gpus: ['H100', '2', 'H200', '2'], args: ['--pareto', '--pareto-gbs-max', '16', '--dataset', 'c4', '--model-type', 'llama8b'] },
  // minmax overfills the A100 stages here: partitions within memory, which read each stage's limit
  { gpus: ['A40', '2', 'A100', '1'], args: ['--gbs', '16', '--dataset', 'c4', '--model-type', 'llama8b', '--seq-length', '8192'] },
];

test('choices reused across placements that read the same change no event (with and without the memo)', async () => {
  // these jobs are small: the memo is used on every job here
  const gate = placementMemo.minChooses;
  placementMemo.minChooses = 0;
  try {
    let saved = 0;
    for (const c of CASES) {
      const off = await run(c.gpus, c.args, false);
      const on = await run(c.gpus, c.args, true);
      assert.ok(off.events.filter((e) => e.type === 'result').length > 20, c.gpus.join(' '));
      assert.deepEqual(on.events, off.events, `${c.gpus.join(' ')} ${c.args.join(' ')}`);
      assert.ok(on.timed <= off.timed, c.gpus.join(' '));
      saved += off.timed - on.timed;
    }
    // the memo is in use: placements that read the same are not timed again
    assert.ok(saved > 100, `timed ${saved} fewer executions`);
  } finally {
    placementMemo.minChooses = gate;
  }
});

test('a job of fewer chooses (placements × strategies) than the gate chooses without the memo; one of more, with it', async () => {
  const c = CASES[0]!;
  const off = await run(c.gpus, c.args, false);
  const gate = placementMemo.minChooses;
  try {
    placementMemo.minChooses = off.events.filter((e) => e.type === 'result' || e.type === 'oom').length + 1;
    assert.equal((await run(c.gpus, c.args, true)).timed, off.timed, 'below the gate: every strategy timed on every placement');
    placementMemo.minChooses = 1;
    assert.ok((await run(c.gpus, c.args, true)).timed < off.timed, 'at the gate: choices reused');
  } finally {
    placementMemo.minChooses = gate;
  }
});

test('a recorded read tells placements apart where a node its stage uses differs, and only there', async () => {
  const { r, profiles, estimator } = resolved(['H100', '2', 'H200', '2'], ['--gbs', '16', '--dataset', 'c4', '--model-type', 'llama8b', '--recompute', 'none', '--dp-sharding', 'optimizer', '--virtual-stages', '1', '--cp', '1']);
  const place = placementOf(r.request, r.catalog, r.request.gpus, ['H100', 'H100', 'H200', 'H200']);
  // pp 2: stage 0 on the two H100 nodes (a data-parallel ring across them), stage 1 on the H200s
  for (const pp of [1, 2]) {
    const tape = newTape();
    const plan = { ...resolvePlan(r.request, profiles, place, { tp: 8, dp: 4 / pp, pp, mbs: 1, gbs: 16 }), readTape: tape };
    const t = await estimator.timing!(plan);
    assert.ok(t.stepTime_s > 0 && tape.reads.length >= 2);
    const on = (nodes: typeof place.nodes) => ({ nodes, profiles: plan.profiles });
    assert.equal(readsSame(tape, on([...place.nodes.map((n) => ({ ...n }))])), true, `pp ${pp}: equal nodes`);
    // the second H100 node with half the network: its stage's all-reduce ring reads it
    const slower = place.nodes.map((n, i) => (i === 1 ? { ...n, interNode_bps: n.interNode_bps / 2 } : n));
    assert.equal(readsSame(tape, on(slower)), false, `pp ${pp}: a slower NIC`);
    // the smaller memory of a node
    const smaller = place.nodes.map((n, i) => (i === 0 ? { ...n, gpu: { ...n.gpu, memoryLimit_GiB: n.gpu.memoryLimit_GiB / 2 } } : n));
    assert.equal(readsSame(tape, on(smaller)), false, `pp ${pp}: less memory`);
  }
});

test('the memo stops on a job where placements rarely read the same, and its choices stay those of a fresh choice', async () => {
  const { r, profiles, estimator } = resolved(['H100', '1', 'H200', '1'], ['--gbs', '16', '--dataset', 'c4', '--model-type', 'llama8b']);
  // pp 2, a stage on each node: the two rotations give the stages other GPU types
  const choice = withExecutions(r.request, [{ tp: 8, dp: 1, pp: 2, mbs: 1 }], 16);
  const rotations = [['H100', 'H200'], ['H200', 'H100']].map((types) => placementOf(r.request, r.catalog, r.request.gpus, types));
  const memo = new PlacementMemo(Infinity, 4, 1, 0.5);
  const first = await memo.choose(r.request, profiles, estimator, rotations[0]!, choice, 16);
  assert.equal(memo.active, true);
  const second = await memo.choose(r.request, profiles, estimator, rotations[1]!, choice, 16);
  // one lookup, no reuse: below half, the memo is off for the rest of the job
  assert.equal(memo.active, false);
  const third = await memo.choose(r.request, profiles, estimator, rotations[0]!, choice, 16);
  for (const [got, place] of [[first, rotations[0]!], [second, rotations[1]!], [third, rotations[0]!]] as const) {
    const fresh = await chooseExecution(r.request, profiles, estimator, place, choice, 16);
    assert.deepEqual(got.fit?.estimate ?? got.oom, fresh.fit?.estimate ?? fresh.oom);
  }
  assert.notDeepEqual(first.fit?.estimate.stepTime_s, second.fit?.estimate.stepTime_s);
});

test('a search result\'s estimate is the full choice\'s less its memory parts, and estimate() of its plan gives the parts', async () => {
  const { r, profiles, estimator } = resolved(['H100', '1', 'H200', '1'], ['--gbs', '16', '--dataset', 'c4', '--model-type', 'llama8b']);
  const place = placementOf(r.request, r.catalog, r.request.gpus, ['H100', 'H200']);
  let compared = 0;
  for (const degrees of [{ tp: 8, dp: 1, pp: 2, mbs: 1 }, { tp: 4, dp: 2, pp: 2, mbs: 2 }, { tp: 8, dp: 2, pp: 1, mbs: 1 }]) {
    const choice = withExecutions(r.request, [degrees], 16);
    const full = await chooseExecution(r.request, profiles, estimator, place, choice, 16);
    const light = await chooseExecution(r.request, profiles, estimator, place, choice, 16, false);
    if (!full.fit) continue;
    const stages = full.fit.estimate.breakdown.stages;
    assert.ok(stages.every((s) => s.memoryParts_GiB !== undefined), 'the full choice has the parts');
    const withoutParts = { ...full.fit.estimate, breakdown: { ...full.fit.estimate.breakdown, stages: stages.map(({ memoryParts_GiB: _, ...s }) => s) } };
    assert.deepEqual(light.fit!.estimate, withoutParts);
    assert.deepEqual(await estimator(light.fit!.plan), full.fit.estimate);
    compared += 1;
  }
  assert.ok(compared >= 2, `${compared} strategies fit`);
});

test('the search\'s results carry no memory parts', async () => {
  const { events } = await run(['H100', '1', 'H200', '1'], ['--gbs', '16', '--dataset', 'c4', '--model-type', 'llama8b'], true);
  const results = events.filter((e) => e.type === 'result');
  assert.ok(results.length > 5);
  for (const e of results) assert.ok(e.estimate.breakdown.stages.every((s) => s.memoryParts_GiB === undefined && s.memory_GiB > 0));
});
