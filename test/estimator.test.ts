/** The corrected estimator's policies, each checked on a real plan with the shipped H100 profiles. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { getGpu, getModel, loadCatalog } from '../src/catalog/catalog.js';
import { interpolateRow } from '../src/estimate/interpolate.js';
import { estimate } from '../src/estimate/estimate.js';
import { allreduceTime_s, interNodeRing, intraAllreduce, linkTime_s, type Link } from '../src/estimate/links-alpha-beta.js';
import { stageMemory } from '../src/estimate/memory-bytes.js';
import type { ResolvedPlan } from '../src/estimate/plan.js';
import { RECIPES } from '../src/estimate/recipe.js';
import { defaultProfileDir } from '../src/paths.js';
import { ProfileDb } from '../src/profiles/db.js';

const catalog = loadCatalog();
const profiles = ProfileDb.open(defaultProfileDir());
const h100 = getGpu(catalog, 'H100');

function plan(over: Partial<Omit<ResolvedPlan, 'nodes'>> & { modelName?: string; nodeCount?: number } = {}): ResolvedPlan {
  const { modelName: _m, nodeCount: _n, ...rest } = over;
  const model = getModel(catalog, over.modelName ?? 'llama8b');
  const tp = over.tp ?? 1;
  return {
    model,
    nodes: Array.from({ length: over.nodeCount ?? 1 }, () => ({ gpu: h100, interNode_bps: h100.interNode_bps, intraNode_bps: h100.intraNode_bps })),
    gpusPerNode: 8, tp, dp: 1, pp: 1, mbs: 1, gbs: 32,
    profiles: { H100: profiles.get(model.name, 'H100', tp) },
    partitionMethod: 'minmax', precision: 16, pricePerSecond_usd: 0.01, iterations: 100,
    recipe: RECIPES['megatron-mixed'],
    ...rest,
  } as ResolvedPlan;
}

test('interpolation between rows and extrapolation beyond them', () => {
  assert.deepEqual(interpolateRow([1, 2, 4], [10, 20, 40], 2), { value: 20, how: 'exact' });
  assert.deepEqual(interpolateRow([1, 2, 4], [10, 20, 40], 3), { value: 30, how: 'interpolated' });
  assert.deepEqual(interpolateRow([1, 2, 4], [10, 20, 40], 8), { value: 80, how: 'extrapolated' });
});

test('micro-batches without a row are interpolated/extrapolated and flagged; time grows with b', async () => {
  const e3 = await estimate(plan({ mbs: 3, gbs: 24, pp: 2, dp: 4 }));
  assert.match(e3.breakdown.costSource, /interpolated between rows/);
  const e64 = await estimate(plan({ mbs: 64, gbs: 64, pp: 8 }));
  assert.match(e64.breakdown.costSource, /EXTRAPOLATED beyond mbs 32/);
  const c = (b: number) => estimate(plan({ mbs: b, gbs: 96, pp: 8 })).then((e) => e.breakdown.stages[1]!.compute_s);
  const [c2, c3, c4] = [await c(2), await c(3), await c(4)];
  assert.ok(c2 < c3 && c3 < c4);
});

test('measured backward and extra operators: a layer costs what the profile says', async () => {
  const e = await estimate(plan({ pp: 4, fixedPartition: [65, 64, 64, 65] }));
  assert.match(e.breakdown.costSource, /measured fwd\+bwd, \+8 extra ops/);
  const p = profiles.get('llama8b', 'H100', 1);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  // a middle stage of whole layers: its compute = layers × (fwd + bwd of the 8 nodes + the layer's extra ops)
  const st = e.breakdown.stages[1]!;
  assert.equal(st.nodes % 8, 0);
  const extrasPerLayer = p.extraNames.reduce((a, name, j) => a + (name === 'final_norm' || name === 'loss' ? 0 : (name === 'residual_add' ? 2 : 1) * (p.extraForward_ms![0]![j]! + p.extraBackward_ms![0]![j]!)), 0);
  const layer_ms = sum(p.forward_ms[0]!.slice(1, 9)) + sum(p.backward_ms![0]!.slice(1, 9)) + extrasPerLayer;
  // compute_s of the breakdown is the stage's simulated backward + forward, accumulation pass included
  const accumulate_s = ((32 - 1) / 32) * ((st.nodes / 8) * 218_112_000 / 1e9) * 2.02e-3;
  const expected = (st.nodes / 8) * layer_ms / 1000 + accumulate_s;
  assert.ok(Math.abs(st.compute_s - expected) / expected < 2e-3, `${st.compute_s} vs ${expected}`);
});

test('every pipeline boundary is priced both ways', async () => {
  const e = await estimate(plan({ pp: 8, nodeCount: 2, gpusPerNode: 4, fixedPartition: [33, 32, 32, 32, 32, 32, 32, 33] }));
  const s = e.breakdown.stages;
  for (let j = 0; j < s.length - 1; j++) {
    assert.ok(s[j]!.forwardSend_s > 0, `forward send of stage ${j}`);
    assert.equal(s[j]!.forwardSend_s, s[j + 1]!.backwardSend_s);
  }
  assert.equal(s[0]!.backwardSend_s, 0);
  assert.equal(s[s.length - 1]!.forwardSend_s, 0);
  // the boundary between the two nodes (stage 3 → 4) is the slow one
  assert.ok(s[3]!.forwardSend_s > 3 * s[2]!.forwardSend_s, s.map((x) => x.forwardSend_s).join(', '));
});

test('embedding sync only for tied embeddings; DP all-reduce per stage of its own parameters', async () => {
  const tied = await estimate(plan({ modelName: 'llama1b', pp: 2 }));
  const untied = await estimate(plan({ pp: 2 }));
  assert.ok(tied.breakdown.embeddingSync_s > 0);
  assert.equal(untied.breakdown.embeddingSync_s, 0);
  const dp = await estimate(plan({ pp: 4, dp: 2, gbs: 32, fixedPartition: [65, 64, 64, 65] }));
  const ar = dp.breakdown.stages.map((s) => s.dpAllreduce_s);
  assert.ok(ar.every((x) => x > 0));
  // the first and last stages hold the 0.5 B-parameter embedding and lm_head: their all-reduces are the longest
  assert.ok(Math.min(ar[0]!, ar[3]!) > 1.25 * Math.max(ar[1]!, ar[2]!), String(ar));
});

test('memory in bytes: grows with the micro-batch, first stage holds the most in-flight micro-batches, OOM against the host GPU', async () => {
  const small = await estimate(plan({ pp: 4, mbs: 1 }));
  const big = await estimate(plan({ pp: 4, mbs: 8, gbs: 64 }));
  assert.ok(big.oomGpumem_GiB > small.oomGpumem_GiB);
  const mem = big.breakdown.stages.map((s) => s.memory_GiB);
  assert.ok(mem[0]! > mem[1]! && mem[1]! > mem[2]!, `in-flight 4, 3, 2: ${mem}`);
  assert.ok(big.breakdown.stages.every((s) => s.memoryLimit_GiB === h100.memoryLimit_GiB));
  const huge = await estimate(plan({ modelName: 'llama70b', pp: 2, mbs: 1 }));
  assert.equal(huge.isOom, true);
  assert.ok(huge.oomGpumem_GiB > h100.memoryLimit_GiB);
});

test('bf16-adamw memory layout: each allocator-traced run (validation/results/memtrace) within 2 % per rank', () => {
  const dir = new URL('../validation/results/memtrace/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 9, String(files.length));
  const model = { ...getModel(catalog, 'llama8b'), num_layers: 4 };
  const n = 8 * 4 + 2;
  for (const f of files) {
    const t = JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as { plan: { pp: number; mbs: number; gbs: number; m: number; rank: number }; max_memory_allocated_GiB: number };
    const sizes = t.plan.pp === 1 ? [n] : [17, 17];
    const mem = stageMemory(model, sizes, n, t.plan.mbs, 1, 1, t.plan.m, RECIPES['bf16-adamw']!);
    const predicted = mem[t.plan.rank]!.total_GiB;
    const err = (predicted - t.max_memory_allocated_GiB) / t.max_memory_allocated_GiB;
    assert.ok(Math.abs(err) <= 0.02, `${f}: predicted ${predicted.toFixed(2)} GiB, traced ${t.max_memory_allocated_GiB.toFixed(2)}`);
  }
});

test('pipeline last stage (bf16-adamw): retained outputs grow with m; the step-end concatenation can be the peak', () => {
  const model = { ...getModel(catalog, 'llama8b'), num_layers: 4 };
  const r = RECIPES['bf16-adamw']!;
  const logits_GiB = (1024 * model.vocab_size * 2) / 2 ** 30;
  const last = (m: number) => stageMemory(model, [17, 17], 34, 1, 1, 1, m, r)[1]!;
  // at b = 1 the concatenation of all m outputs at the end (2·m·b·s·V·2 B) is the peak
  assert.ok(Math.abs(last(16).activationBytes / 2 ** 30 - 2 * 16 * logits_GiB) < 1e-9);
  // megatron-mixed keeps no outputs: the last stage's activations do not depend on m
  const mm = (m: number) => stageMemory(model, [17, 17], 34, 1, 1, 1, m, RECIPES['megatron-mixed']!)[1]!.activationBytes;
  assert.equal(mm(4), mm(16));
});

test('host-issue floor: only with a recipe that has CPU issue times (eager ones); raises and flags tp2 at b = 1, leaves tp1 at b = 4; flags host-sensitive plans', async () => {
  const r = RECIPES['bf16-adamw']!;
  const noHost = { ...r, hostIssue: undefined };
  const small = await estimate(plan({ tp: 2, mbs: 1, gbs: 8, recipe: r }));
  const smallGpu = await estimate(plan({ tp: 2, mbs: 1, gbs: 8, recipe: noHost }));
  assert.equal(small.breakdown.hostBound, true);
  assert.match(small.breakdown.costSource, /HOST-BOUND/);
  assert.ok(small.breakdown.stages[0]!.compute_s >= small.breakdown.stages[0]!.hostIssue_s! - 1e-12);
  assert.ok(small.stepTime_s > smallGpu.stepTime_s * 1.05, `${small.stepTime_s} vs ${smallGpu.stepTime_s}`);
  const big = await estimate(plan({ tp: 1, mbs: 4, gbs: 8, recipe: r }));
  const bigGpu = await estimate(plan({ tp: 1, mbs: 4, gbs: 8, recipe: noHost }));
  assert.equal(big.breakdown.hostBound, false);
  assert.equal(big.stepTime_s, bigGpu.stepTime_s);
  // host-sensitive: the GPU bounds the plan, but not by more than the spread of hosts' speed
  const kinds = new Set<string>();
  for (const tp of [1, 2]) {
    for (const mbs of [1, 2, 4, 8]) {
      const e = await estimate(plan({ tp, mbs, gbs: 16, recipe: r }));
      const g = await estimate(plan({ tp, mbs, gbs: 16, recipe: noHost }));
      const b = e.breakdown;
      if (b.hostBound) assert.equal(b.hostSensitive, true);
      if (!b.hostBound) assert.equal(e.stepTime_s, g.stepTime_s);
      if (b.hostSensitive && !b.hostBound) assert.match(b.costSource, /HOST-SENSITIVE/);
      if (!b.hostSensitive) assert.doesNotMatch(b.costSource, /HOST-/);
      const issue = Math.max(...b.stages.map((st) => st.hostIssue_s! / (g.breakdown.stages[b.stages.indexOf(st)]!.compute_s)));
      assert.equal(b.hostSensitive, issue * r.hostIssue!.hostSpreadFactor > 1, `tp${tp} b${mbs}`);
      kinds.add(b.hostBound ? 'bound' : b.hostSensitive ? 'sensitive' : 'gpu');
    }
  }
  assert.deepEqual([...kinds].sort(), ['bound', 'gpu', 'sensitive']);
  // Megatron-LM runs eagerly: the default recipe has the floor too; a captured step has none
  const megatron = await estimate(plan({ tp: 2, mbs: 1, gbs: 8 }));
  assert.equal(typeof megatron.breakdown.hostBound, 'boolean');
  const captured = await estimate(plan({ tp: 2, mbs: 1, gbs: 8, recipe: RECIPES['megatron-mixed-graph'] }));
  assert.equal(captured.breakdown.hostBound, undefined);
  assert.equal(captured.breakdown.hostSensitive, undefined);
  assert.doesNotMatch(captured.breakdown.costSource, /HOST-BOUND/);
});

test('links: measured samples are interpolated between sizes and extended at the bandwidth of the last two; the line outside', () => {
  const link: Link = { latency_s: 10e-6, bandwidth_Bps: 100e9, source: 'measured', samples: [[1e6, 20e-6], [2e6, 40e-6], [4e6, 60e-6]], samplesGroup: 2 };
  const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-15, `${a} vs ${b}`);
  near(linkTime_s(link, 1.5e6), 30e-6);
  near(linkTime_s(link, 3e6), 50e-6);
  // beyond 4 MB: 60 µs + the rest at 2 MB per 20 µs
  assert.ok(Math.abs(linkTime_s(link, 8e6) - 100e-6) < 1e-15);
  // below the smallest sample: latency + bytes / bandwidth
  assert.ok(Math.abs(linkTime_s(link, 0.5e6) - (10e-6 + 0.5e6 / 100e9)) < 1e-15);
  // all-reduce: the samples only for the group they were measured on
  near(allreduceTime_s(link, 2e6, 2), 40e-6);
  assert.ok(Math.abs(allreduceTime_s(link, 2e6, 4) - (10e-6 + 1.5 * (2e6 / 100e9))) < 1e-15);
  // the catalog's H200 entry: captured links for cuda-graph recipes, eager ones otherwise
  const h200 = getGpu(catalog, 'H200');
  const eager = intraAllreduce(h200, h200.intraNode_bps, 2, 'eager');
  const graph = intraAllreduce(h200, h200.intraNode_bps, 2, 'cuda-graph');
  assert.ok(allreduceTime_s(graph, 4 * 2 ** 20, 2) < allreduceTime_s(eager, 4 * 2 ** 20, 2));
});

test('dp-overlap: DDP buckets hide behind the last backward by the measured exposed fraction; the last bucket always shows', async () => {
  const h200 = getGpu(catalog, 'H200');
  const onH200 = (gpu: typeof h200, recipe = RECIPES['bf16-adamw']!) => estimate({
    ...plan({ dp: 2, mbs: 4, gbs: 8, recipe }),
    nodes: [{ gpu, interNode_bps: gpu.interNode_bps, intraNode_bps: gpu.intraNode_bps }],
    profiles: { H200: profiles.get('llama8b', 'H200', 1) },
  } as ResolvedPlan).then((e) => e.breakdown.stages[0]!.dpAllreduce_s);
  const f = h200.measured!.allreduceExposedFraction!;
  assert.ok(f > 0 && f < 1);
  const overlapped = await onH200(h200);
  const noFraction = await onH200({ ...h200, measured: { ...h200.measured!, allreduceExposedFraction: undefined } });
  const noOverlap = await onH200(h200, { ...RECIPES['bf16-adamw']!, dpOverlapBucketBytes: undefined });
  assert.ok(Math.abs(noFraction - noOverlap) < 1e-12, 'no measured fraction: the whole all-reduce shows');
  assert.ok(overlapped < noOverlap);
  // what still shows: the embedding's gradient (the last bucket) in full plus f of the rest
  const link = intraAllreduce(h200, h200.intraNode_bps, 2, 'eager');
  const model = getModel(catalog, 'llama8b');
  const last = allreduceTime_s(link, model.vocab_size * model.hidden_size * 2, 2);
  assert.ok(Math.abs(overlapped - (last + f * (noOverlap - last))) < 1e-9, `${overlapped} vs ${last + f * (noOverlap - last)}`);
});

test('a collective ring with g ranks on a node crosses the network on g rails: one 16-rank ring over two 8-GPU nodes runs at the NIC total', async () => {
  const node = { gpu: h100, interNode_bps: h100.interNode_bps, intraNode_bps: h100.intraNode_bps };
  const nic_Bps = h100.interNode_bps / 8;
  const bytes = 2 ** 30;
  assert.ok(Math.abs(interNodeRing(node, node, 8).bandwidth_Bps - nic_Bps) < 1);
  assert.ok(Math.abs(interNodeRing(node, node, 1).bandwidth_Bps - nic_Bps / 8) < 1);
  // eight rings of 2 ranks (tp 8 × dp 2), each 1/8 of the bytes on its own rail, take as long as the ring formula says one ring of 16 on all rails takes, up to 2·15/16 vs 2·1/2
  const wide = allreduceTime_s(interNodeRing(node, node, 8), bytes, 16);
  const narrow = allreduceTime_s(interNodeRing(node, node, 1), bytes / 8, 2);
  assert.ok(Math.abs(wide / narrow - 1.875) < 0.01, `${wide} ${narrow}`);
  // and the estimator uses it: tp 1 × dp 16 over two nodes all-reduces in far less than 8× the tp 8 × dp 2 time
  const dpOf = async (tp: number, dp: number) => (await estimate(plan({ tp, dp, nodeCount: 2, gbs: dp * 4, profiles: { H100: profiles.get('llama8b', 'H100', tp) } }))).breakdown.stages[0]!.dpAllreduce_s;
  const ratio = (await dpOf(1, 16)) / (await dpOf(8, 2));
  assert.ok(ratio > 1 && ratio < 4, `ratio ${ratio}`);
});
