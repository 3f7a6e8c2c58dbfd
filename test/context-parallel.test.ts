/** Context parallelism: ring attention's time and memory, rank placement, the search flag, CSV and export. */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { getModel, loadCatalog } from '../src/catalog/catalog.js';
import type { ModelSpec } from '../src/catalog/schema.js';
import { FasopError } from '../src/errors.js';
import { estimate } from '../src/estimate/estimate.js';
import { PLAIN_EXECUTION, defaultCpDegrees, shardDegree, type Execution } from '../src/estimate/execution.js';
import { interNode, intraP2p } from '../src/estimate/links-alpha-beta.js';
import { rankOf, stageNodeIndices } from '../src/estimate/links.js';
import { ringBufferBytes, stageMemory } from '../src/estimate/memory-bytes.js';
import type { ResolvedPlan } from '../src/estimate/plan.js';
import { FASOP, REFERENCE } from '../src/estimate/policy.js';
import { RECIPES } from '../src/estimate/recipe.js';
import { contextParallelExtra_s, kvChunkBytes, ringAttention, ringLink } from '../src/estimate/technique-terms.js';
import { decoderShapes } from '../src/model/shapes.js';
import { typeCosts } from '../src/estimate/compute.js';
import { gradAccumulate_s } from '../src/estimate/step-terms.js';
import { nodeCount } from '../src/model/graph.js';
import { defaultProfileDir } from '../src/paths.js';
import { ProfileDb } from '../src/profiles/db.js';
import { readOperatorProfile } from '../src/profiles/operators.js';
import { shapeProfileTable } from '../src/profiles/shape-table.js';
import { resolvePlans } from '../src/plan/resolve.js';
import { gpusOfRow } from '../src/report/chart.js';
import { executionsOfOptions } from '../src/request/options.js';
import type { SearchRequest } from '../src/request/request.js';
import { search } from '../src/search/search.js';
import { getEstimator } from '../src/estimate/index.js';
import { readPublishedSets } from '../src/validate/published-records.js';
import { planOfPublished, scorePublished } from '../src/validate/published.js';
import { readCsvFile } from './helpers/csv.js';
import { runCli, savedCsvPath } from './helpers/cli.js';

const catalog = loadCatalog();
const PROFILES = defaultProfileDir();
const profiles = ProfileDb.open(PROFILES);
const recipe = RECIPES['megatron-mixed']!;
const llama8b = getModel(catalog, 'llama8b');
const at = (seq: number): ModelSpec => ({ ...llama8b, seq_length: seq });
const exec = (over: Partial<Execution>): Execution => ({ ...PLAIN_EXECUTION, ...over });

function request(model: ModelSpec, nodes: number, gbs: number, executions?: Execution[]): SearchRequest {
  return {
    gpus: [{ type: 'H200', nodes }], model, dataset: { name: 'cp-test', samples: 10_000, description: 'test' }, gbsValues: [gbs],
    gpusPerNode: 8, precision: 16, partitionMethod: 'minmax', estimator: 'fasop', pareto: false, recipe, ...(executions ? { executions } : {}),
  };
}

/** One plan of H200 nodes resolved as the search resolves it (the cost tables at its cp). */
function planOf(o: { seq: number; tp: number; cp: number; dp?: number; pp: number; mbs?: number; gbs?: number; nodes?: number; over?: Partial<Execution> }): ResolvedPlan {
  const execution = exec({ cp: o.cp, ...o.over });
  const [p] = resolvePlans(request(at(o.seq), o.nodes ?? 1, o.gbs ?? 8), catalog, profiles, { tp: o.tp, dp: o.dp ?? 1, pp: o.pp, mbs: o.mbs ?? 1, gbs: o.gbs ?? 8, execution });
  return p!;
}

test('cp 1 is the plan without context parallelism: same shapes, tables, memory and estimate', async () => {
  const model = at(8192);
  assert.deepEqual(decoderShapes(model, { tp: 2, mbs: 2, seq: 8192, cp: 1 }), decoderShapes(model, { tp: 2, mbs: 2, seq: 8192 }));
  const ops = readOperatorProfile(join(PROFILES, 'ops_H200.json'));
  assert.deepEqual(shapeProfileTable(ops, { model, gpu: 'H200', tp: 2, mbs: 2, cp: 1 }), shapeProfileTable(ops, { model, gpu: 'H200', tp: 2, mbs: 2 }));
  const n = nodeCount(model);
  assert.deepEqual(stageMemory(model, [n], n, 1, 1, 8, 4, recipe, exec({ cp: 1 })), stageMemory(model, [n], n, 1, 1, 8, 4, recipe));
  const p = planOf({ seq: 8192, tp: 2, cp: 1, dp: 2, pp: 2 });
  const withCp1 = await estimate(p);
  const without = await estimate({ ...p, execution: undefined });
  assert.ok(Math.abs(withCp1.stepTime_s - without.stepTime_s) <= 1e-12 * without.stepTime_s);
  assert.equal(withCp1.oomGpumem_GiB, without.oomGpumem_GiB);
  assert.deepEqual(contextParallelExtra_s(p, FASOP, recipe, p.execution!, ['H200', 'H200'], [n - 130, 130]), { forward: [0, 0], backward: [0, 0] });
  assert.equal(ringBufferBytes(model, 1, 1, 1, recipe), 0);
});

test('a search with --cp 1 writes the same CSV as one without', async () => {
  const args = ['--gpus', 'H100', '1', '--model-type', 'llama8b', '--gbs', '8'];
  const plain = await runCli(args);
  const cp1 = await runCli([...args, '--cp', '1']);
  assert.equal(plain.code, 0, plain.err);
  assert.equal(cp1.code, 0, cp1.err);
  assert.equal(readFileSync(savedCsvPath(cp1.out), 'utf8'), readFileSync(savedCsvPath(plain.out), 'utf8'));
});

test('ranks: tp innermost, then cp, dp, pp (Megatron-LM tp-cp-ep-dp-pp); a stage spans tp·cp·dp ranks', () => {
  const p = planOf({ seq: 8192, tp: 2, cp: 2, dp: 2, pp: 2, nodes: 2, gbs: 8 });
  assert.equal(rankOf(p, 0, 0, 1, 0), 1);
  assert.equal(rankOf(p, 0, 0, 0, 1), 2);
  assert.equal(rankOf(p, 0, 1, 0, 0), 4);
  assert.equal(rankOf(p, 1, 0, 0, 0), 8);
  assert.deepEqual(stageNodeIndices(p, 0), [0]);
  assert.deepEqual(stageNodeIndices(p, 1), [1]);
  // the world is tp·cp·dp·pp: tp·dp·pp alone = 8 GPUs is not a plan of 16
  assert.throws(() => planOf({ seq: 8192, tp: 2, cp: 1, dp: 2, pp: 2, nodes: 2 }), (e: unknown) => e instanceof FasopError && /tp·dp·pp = 8 but the cluster has 16 GPUs/.test(e.message));
});

test('per-rank compute: every operator on s/cp tokens, the attention as cp causal steps of s/cp (about attn(s)/cp)', () => {
  const ops = readOperatorProfile(join(PROFILES, 'ops_H200.json'));
  const s = 32768;
  const cp2 = shapeProfileTable(ops, { model: at(s), gpu: 'H200', tp: 1, mbs: 1, cp: 2 });
  const half = shapeProfileTable(ops, { model: at(s / 2), gpu: 'H200', tp: 1, mbs: 1 });
  const full = shapeProfileTable(ops, { model: at(s), gpu: 'H200', tp: 1, mbs: 1 });
  // the node columns (GEMMs, embedding, lm_head) are those of a sequence of s/cp tokens
  assert.deepEqual(cp2.forward_ms, half.forward_ms);
  assert.deepEqual(cp2.backward_ms, half.backward_ms);
  const j = cp2.extraNames.indexOf('attn_core');
  assert.ok(j >= 0);
  for (const f of ['extraForward_ms', 'extraBackward_ms'] as const) {
    const attn = cp2[f]![0]![j]!;
    assert.ok(Math.abs(attn - 2 * half[f]![0]![j]!) < 1e-12 * attn, `${f}: two ring steps of s/2`);
    const ratio = attn / (full[f]![0]![j]! / 2);
    assert.ok(ratio > 0.8 && ratio < 1.25, `${f}: ${attn} ms against attn(s)/cp ${full[f]![0]![j]! / 2} ms`);
  }
  // the other extras (norms, RoPE, residuals, loss) run on s/cp tokens
  for (const name of ['input_norm', 'rope', 'loss']) {
    const k = cp2.extraNames.indexOf(name);
    assert.equal(cp2.extraForward_ms![0]![k], half.extraForward_ms![0]![k]);
  }
  assert.match(cp2.shapeSource!.words, /a cp 2 rank/);
  // a sequence whose attention is out of the profile's reach for one rank is in reach split over cp ranks
  const reach = 4 * Math.max(...ops.tables.attention!.points.map((q) => q[ops.tables.attention!.axes.indexOf('seq')]!));
  assert.throws(() => shapeProfileTable(ops, { model: at(2 * reach), gpu: 'H200', tp: 1, mbs: 1 }), /beyond the reach/);
  assert.doesNotThrow(() => shapeProfileTable(ops, { model: at(2 * reach), gpu: 'H200', tp: 1, mbs: 1, cp: 2 }));
});

test('ring communication: (cp − 1) K/V chunks forward, 2(cp − 1) backward; total grows with cp; exposed only beyond the attention step', () => {
  const s = 8192;
  const rings = [2, 4, 8].map((cp) => {
    const p = planOf({ seq: s, tp: 1, cp, pp: 8 / cp });
    return { cp, p, r: ringAttention(p, FASOP, recipe, 0, 'H200') };
  });
  for (const { cp, p, r } of rings) {
    assert.equal(kvChunkBytes(p, recipe), 2 * 1 * (s / cp) * 8 * 128 * 2);
    assert.ok(Math.abs(r.forwardComm_s - (cp - 1) * r.chunk_s) < 1e-15);
    assert.ok(r.backwardComm_s > r.forwardComm_s);
    assert.ok(Math.abs(r.forwardExposed_s - (cp - 1) * Math.max(0, r.chunk_s - r.stepForward_s)) < 1e-15);
    assert.ok(r.forwardExposed_s <= r.forwardComm_s && r.backwardExposed_s <= r.backwardComm_s);
  }
  assert.ok(rings[0]!.r.forwardComm_s < rings[1]!.r.forwardComm_s && rings[1]!.r.forwardComm_s < rings[2]!.r.forwardComm_s);
  assert.ok(rings[0]!.r.backwardComm_s < rings[1]!.r.backwardComm_s && rings[1]!.r.backwardComm_s < rings[2]!.r.backwardComm_s);
  // at 64k tokens each step's attention hides its transfer; at 4k split 8 ways the transfers show
  const long = ringAttention(planOf({ seq: 65536, tp: 1, cp: 2, pp: 4 }), FASOP, recipe, 0, 'H200');
  assert.ok(long.stepForward_s > long.chunk_s);
  assert.equal(long.forwardExposed_s, 0);
  assert.equal(long.backwardExposed_s, 0);
  const short = ringAttention(planOf({ seq: 4096, tp: 1, cp: 8, pp: 1 }), FASOP, recipe, 0, 'H200');
  assert.ok(short.forwardExposed_s > 0);
});

test('the ring runs on NVLink while tp·cp fits a node, across nodes beyond', () => {
  const inside = planOf({ seq: 16384, tp: 4, cp: 2, pp: 2, nodes: 2 });
  const across = planOf({ seq: 16384, tp: 8, cp: 2, pp: 1, nodes: 2 });
  const node = inside.nodes[0]!;
  assert.deepEqual(ringLink(inside, recipe, 0), intraP2p(node, 0, 4, recipe.launch));
  assert.deepEqual(ringLink(across, recipe, 0), interNode(node, across.nodes[1]!, 8));
  const a = ringAttention(inside, FASOP, recipe, 0, 'H200');
  const b = ringAttention(across, FASOP, recipe, 0, 'H200');
  // tp 8 passes half tp 4's K/V heads (8 KV heads: 1 per rank against 2) yet takes longer on the network
  assert.equal(kvChunkBytes(across, recipe) * 2, kvChunkBytes(inside, recipe));
  assert.ok(b.chunk_s > a.chunk_s);
});

test('the step time carries each layer\'s exposed ring time; recompute runs the forward ring again', async () => {
  const p = planOf({ seq: 4096, tp: 1, cp: 8, pp: 1, gbs: 8 });
  const n = nodeCount(p.model);
  const r = ringAttention(p, FASOP, recipe, 0, 'H200');
  const plain = contextParallelExtra_s(p, FASOP, recipe, p.execution!, ['H200'], [n]);
  assert.ok(Math.abs(plain.forward[0]! - 32 * r.forwardExposed_s) < 1e-12);
  assert.ok(Math.abs(plain.backward[0]! - 32 * r.backwardExposed_s) < 1e-12);
  const full = contextParallelExtra_s(p, FASOP, recipe, exec({ cp: 8, recompute: 'full' }), ['H200'], [n]);
  assert.ok(Math.abs(full.backward[0]! - plain.backward[0]! - 32 * r.forwardExposed_s) < 1e-12);
  // one stage: its compute is the nodes' forward and backward, the ring's exposed time and gradient accumulation
  const est = await estimate(p);
  const nodes = typeCosts(p, FASOP, recipe, 'H200', p.profiles['H200']!, n).node_s.reduce((a, x) => a + x, 0);
  const params = stageMemory(p.model, [n], n, 1, 1, 1, 8, recipe, p.execution)[0]!.params;
  const accumulate = (7 / 8) * gradAccumulate_s(p.nodes[0]!.gpu, recipe, params);
  const compute = est.breakdown.stages[0]!.compute_s;
  assert.ok(Math.abs(compute - (nodes + plain.forward[0]! + plain.backward[0]! + accumulate)) < 1e-9 * compute);
  assert.ok(plain.forward[0]! + plain.backward[0]! > 0.01 * compute, 'the transfers show at 4k tokens over 8 ranks');
  assert.match(est.breakdown.costSource, /execution cp=8/);
  assert.match(est.breakdown.costSource, /a cp 8 rank/);
});

test('memory: activations at s/cp (logits and log-sum-exp too) plus one layer\'s ring buffers; state unchanged', () => {
  const model = at(16384);
  const n = nodeCount(model);
  const one = stageMemory(model, [n], n, 1, 1, 1, 4, recipe, exec({}))[0]!;
  for (const cp of [2, 4, 8]) {
    const m = stageMemory(model, [n], n, 1, 1, 1, 4, recipe, exec({ cp }))[0]!;
    const ring = ringBufferBytes(model, 1, 1, cp, recipe);
    assert.ok(ring > 0);
    assert.ok(Math.abs((m.activationBytes - ring) * cp - one.activationBytes) < 1e-6 * one.activationBytes, `cp ${cp}`);
    assert.equal(m.stateBytes, one.stateBytes);
  }
  // the buffers: forward, the cp − 1 chunks received plus each step's output and log-sum-exp; backward, two K/V/dK/dV buffers
  const kv = 2 * (16384 / 4) * 8 * 128 * 2;
  const out = (16384 / 4) * 32 * 128 * 2 + 4 * 32 * (16384 / 4);
  assert.equal(ringBufferBytes(model, 1, 1, 4, recipe), Math.max(3 * kv + 4 * out, 4 * kv));
});

test('gradients are reduced and state sharded over dp·cp', async () => {
  assert.equal(shardDegree(exec({ dpSharding: 'optimizer', cp: 2 }), 4), 8);
  assert.equal(shardDegree(exec({ dpSharding: 'parameters', shardGroup: 2, cp: 2 }), 4), 4);
  assert.equal(shardDegree(exec({ cp: 4 }), 2), 1);
  const dp1 = await estimate(planOf({ seq: 8192, tp: 1, cp: 2, dp: 1, pp: 4 }));
  assert.ok(dp1.breakdown.stages.every((s) => s.dpAllreduce_s > 0), 'dp 1, cp 2 still all-reduces over its 2 cp ranks');
  const sharded = planOf({ seq: 8192, tp: 1, cp: 2, dp: 1, pp: 4, over: { dpSharding: 'optimizer' } });
  assert.equal(sharded.execution!.dpSharding, 'optimizer');
  const a = await estimate(sharded);
  assert.ok(a.breakdown.stages[0]!.memoryParts_GiB!.optimizer < dp1.breakdown.stages[0]!.memoryParts_GiB!.optimizer / 1.9);
});

test('refusals: the reference policy; a per-model file alone; --cp without the corrected estimator; bad degrees', async () => {
  const p = planOf({ seq: 8192, tp: 1, cp: 2, pp: 4 });
  await assert.rejects(estimate(p, REFERENCE), (e: unknown) => e instanceof FasopError && /corrected estimator only/.test(e.message));
  await assert.rejects(estimate(p, { ...FASOP, contextParallel: 'unpriced' }), (e: unknown) => e instanceof FasopError && /not priced by this policy/.test(e.message));
  const dir = mkdtempSync(join(tmpdir(), 'fasop-cp-'));
  copyFileSync(join(PROFILES, 'llama8b_H200_1.npz'), join(dir, 'llama8b_H200_1.npz'));
  const only = ProfileDb.open(dir);
  assert.throws(() => only.costTable(llama8b, 'H200', 1, 1, { gpuSpec: () => { throw new Error('unused'); } }, 2),
    (e: unknown) => e instanceof FasopError && /measured on whole sequences/.test(e.message) && /operator profile/.test(e.hint));
  const cli = await runCli(['--gpus', 'H200', '1', '--model-type', 'llama8b', '--gbs', '8', '--cp', '2', '--profile-dir', dir]);
  assert.equal(cli.code, 2);
  assert.equal(cli.err.trim().split('\n').length, 1);
  assert.match(cli.err, /context parallelism 2 cannot be priced/);
  const ref = await runCli(['--gpus', 'H200', '1', '--estimator', 'reference', '--cp', '2']);
  assert.equal(ref.code, 2);
  assert.match(ref.err, /--cp needs --estimator fasop/);
  for (const [cp, what] of [['3', /2·cp = 6 equal chunks/], ['16', /does not divide the cluster's 8 GPUs/], ['1,x', /--cp must be a whole number/]] as const) {
    const r = await runCli(['--gpus', 'H200', '1', '--model-type', 'llama8b', '--seq-length', '8192', '--cp', cp]);
    assert.equal(r.code, 2, cp);
    assert.match(r.err, what);
  }
  assert.deepEqual(executionsOfOptions({ estimator: 'fasop', cp: '1,2', recompute: 'none,full', dpSharding: 'none', virtualStages: '1', sequenceParallel: false }, 32)!.map((e) => `${e.cp} ${e.recompute}`), ['1 none', '1 full', '2 none', '2 full']);
});

test('search: cp degrees with tp·cp·dp·pp = GPUs; the CSV records cp; export writes the launchers\' flags', async () => {
  const recs = await search(request(at(16384), 1, 8, [exec({ cp: 1 }), exec({ cp: 2 }), exec({ cp: 4 })]), { catalog, profiles, estimator: getEstimator('fasop') });
  const cps = new Set(recs.map((r) => r.cp));
  assert.deepEqual([...cps].sort(), [1, 2, 4]);
  for (const r of recs) assert.equal(r.tp * r.cp * r.dp * r.pp, 8);
  assert.ok(recs.some((r) => r.cp === 4 && r.tp === 2 && r.dp === 1 && r.pp === 1));
  const run = await runCli(['--gpus', 'H200', '1', '--model-type', 'llama8b', '--seq-length', '16384', '--gbs', '8', '--cp', '2']);
  assert.equal(run.code, 0, run.err);
  const csv = savedCsvPath(run.out);
  // export takes the sequence length from the CSV's seq_length column
  assert.match(run.out, /Next: fasop export --csv \S+ --rank 1 --format megatron\n/);
  const rows = readCsvFile(csv);
  assert.ok(rows.length > 0);
  for (const row of rows) {
    assert.equal(row['cp'], '2');
    assert.equal(Number(row['gpus']), 8);
    assert.equal(Number(row['tp']) * 2 * Number(row['dp']) * Number(row['pp']), 8);
  }
  assert.equal(gpusOfRow({ gbs: 8, mbs: 1, tp: 2, pp: 1, dp: 2, costUsd: 1, throughputSamplesPerS: 1, isOom: false, totalTimeS: 1, extra: { cp: rows[0]!['cp']! } }), 8);
  const mg = await runCli(['export', '--csv', csv, '--rank', '1', '--format', 'megatron'], run.cwd);
  assert.equal(mg.code, 0, mg.err);
  assert.match(mg.out, /--context-parallel-size 2 /);
  assert.match(mg.out, /--seq-length 16384 /);
  const tt = await runCli(['export', '--csv', csv, '--rank', '1', '--format', 'torchtitan', '--seq-length', '16384'], run.cwd);
  assert.equal(tt.code, 0, tt.err);
  assert.match(tt.out, /context_parallel_degree = 2/);
});

test('validate --published: a context-parallel record is placed and priced (an fp8 one is listed out of scope)', async () => {
  const sets = readPublishedSets(join(import.meta.dirname, '..', 'validation', 'published'));
  const cpRecords = sets.flatMap((s) => s.records).filter((r) => r.cp > 1);
  assert.ok(cpRecords.length >= 1);
  const summary = await scorePublished(sets, catalog, profiles);
  for (const r of cpRecords) {
    const u = summary.unscored.find((x) => x.id === r.id);
    assert.ok(r.precision === 'fp8' ? u && /fp8/.test(u.reason) : summary.scores.some((x) => x.id === r.id), r.id);
  }
  // the same configuration in bf16 is in scope: its ranks are placed tp·cp·dp·pp and its tables are a cp rank's
  const bf16 = { ...cpRecords[0]!, precision: 'bf16' as const, recompute: cpRecords[0]!.recompute ?? 'none', dpSharding: cpRecords[0]!.dpSharding ?? 'none', sequenceParallel: false };
  const plan = planOfPublished(bf16, catalog, profiles);
  assert.equal(plan.execution!.cp, bf16.cp);
  assert.equal(plan.tp * bf16.cp * plan.dp * plan.pp, bf16.nodes * bf16.gpusPerNode);
  const est = await estimate(plan);
  assert.ok(est.stepTime_s > 0 && Number.isFinite(est.oomGpumem_GiB));
  assert.match(est.breakdown.costSource, new RegExp(`a cp ${bf16.cp} rank`));
});

test('default space: cp degrees from sequence 16384, at least 4096 tokens a rank, dividing the GPUs; --cp and --plain fix them', async () => {
  assert.deepEqual(defaultCpDegrees(8192, 64), [1]);
  assert.deepEqual(defaultCpDegrees(16384, 64), [1, 2, 4]);
  assert.deepEqual(defaultCpDegrees(131072, 8), [1, 2, 4, 8]);
  assert.deepEqual(defaultCpDegrees(131072, 64), [1, 2, 4, 8, 16, 32]);
  assert.deepEqual(defaultCpDegrees(131072, 24), [1, 2, 4, 8]);
  // 2·cp must divide the sequence (Megatron's load-balanced causal split): 24576 = 2^13 · 3
  assert.deepEqual(defaultCpDegrees(24576, 64), [1, 2, 4]);
  const cpsOf = (raw: Parameters<typeof executionsOfOptions>[0], seqLength?: number, gpus?: number) =>
    [...new Set(executionsOfOptions(raw, 32, { gpusPerNode: 8, launcher: 'megatron-lm', seqLength, gpus })!.map((e) => e.cp))];
  assert.deepEqual(cpsOf({ estimator: 'fasop' }, 32768, 16), [1, 2, 4, 8]);
  assert.deepEqual(cpsOf({ estimator: 'fasop' }, 4096, 16), [1]);
  assert.deepEqual(cpsOf({ estimator: 'fasop', plain: true }, 32768, 16), [1]);
  assert.deepEqual(cpsOf({ estimator: 'fasop', cp: '1' }, 32768, 16), [1]);
  // a search at 128k tokens on one node: cp degrees in the CSV without asking, and the best plan is one of them
  const run = await runCli(['--gpus', 'H100', '1', '--model-type', 'llama8b', '--seq-length', '131072', '--gbs', '8']);
  assert.equal(run.code, 0, run.err);
  const rows = readCsvFile(savedCsvPath(run.out));
  assert.deepEqual([...new Set(rows.map((r) => Number(r['cp'])))].sort((a, b) => a - b), [1, 2, 4, 8]);
  assert.match(run.out, /Parallelism: TP=\d+, PP=\d+, DP=\d+, MBS=\d+, CP=\d+/);
});
