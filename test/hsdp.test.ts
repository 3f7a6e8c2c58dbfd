/** Hybrid sharded data parallelism (HSDP): `--shard-group`, its resolution per plan, its pricing and its export. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { getGpu, getModel, loadCatalog } from '../src/catalog/catalog.js';
import { dpGather_s, replicaAllreduce_s } from '../src/estimate/data-parallel.js';
import { estimate } from '../src/estimate/estimate.js';
import { PLAIN_EXECUTION, executionLabel, executionProblems, type Execution, type RequestExecution } from '../src/estimate/execution.js';
import { allreduceTime_s, interNodeRing, intraAllreduce } from '../src/estimate/links-alpha-beta.js';
import type { ResolvedPlan } from '../src/estimate/plan.js';
import { FASOP, withPolicy } from '../src/estimate/policy.js';
import { RECIPES } from '../src/estimate/recipe.js';
import { defaultProfileDir } from '../src/paths.js';
import { planExecution } from '../src/plan/resolve.js';
import { ProfileDb } from '../src/profiles/db.js';
import { executionsOfOptions } from '../src/request/options.js';
import { readCsvFile } from './helpers/csv.js';
import { runCli, savedCsvPath } from './helpers/cli.js';

const catalog = loadCatalog();
const profiles = ProfileDb.open(defaultProfileDir());
const h100 = getGpu(catalog, 'H100');
const llama8b = getModel(catalog, 'llama8b');
const pytorch = RECIPES['fp32-master-adamw']!;
const fsdp = (over: Partial<Execution> = {}): Execution => ({ ...PLAIN_EXECUTION, dpSharding: 'parameters', ...over });
const TT = ['--optimizer', 'fp32-master-adamw'];

/** llama8b on two 8-GPU H100 nodes with one 400 Gb/s NIC each (the network slower than NVLink), tp 1 unless given, one stage, the PyTorch recipe. */
function plan(over: Partial<ResolvedPlan> = {}): ResolvedPlan {
  const tp = over.tp ?? 1;
  return {
    model: llama8b,
    nodes: Array.from({ length: 2 }, () => ({ gpu: h100, interNode_bps: 400e9, intraNode_bps: h100.intraNode_bps })),
    gpusPerNode: 8, tp, dp: 16 / tp, pp: 1, mbs: 1, gbs: 64,
    profiles: { H100: profiles.get('llama8b', 'H100', tp) },
    partitionMethod: 'even', precision: 16, pricePerSecond_usd: 0.01, iterations: 100, recipe: pytorch,
    ...over,
  } as ResolvedPlan;
}

const oneLine = (err: string) => err.trim().split('\n');

test('--shard-group: full, node and counts expand dp sharding parameters only; the defaults per launcher', () => {
  const base = { estimator: 'fasop', recompute: 'none', virtualStages: '1', sequenceParallel: false } as const;
  const tt = { gpusPerNode: 8, launcher: 'pytorch' } as const;
  const got = executionsOfOptions({ ...base, dpSharding: 'none,parameters', shardGroup: 'full,node,4,node' }, 32, tt)!;
  assert.deepEqual(got.map(executionLabel), ['plain', 'sh=parameters', 'sh=parameters:node', 'sh=parameters:4']);
  assert.deepEqual(got[2]!.shardGroup, { gpusPerNode: 8 });
  // the default space: full and node under a PyTorch recipe, full only under Megatron-LM (no shard group at all)
  assert.deepEqual(executionsOfOptions({ ...base, dpSharding: 'optimizer,parameters' }, 32, tt)!.map(executionLabel), ['sh=optimizer', 'sh=parameters', 'sh=parameters:node']);
  const megatron = executionsOfOptions({ estimator: 'fasop' }, 32, { gpusPerNode: 8, launcher: 'megatron-lm' })!;
  assert.ok(megatron.every((e) => !('shardGroup' in e)));
  assert.equal(megatron.length, 3 * 3 * 6); // recompute × sharding × the 6 divisors of 32 layers
  assert.equal(megatron.filter((e) => e.dpSharding === 'parameters').length, 3 * 6);
  // --plain keeps the plain space; --shard-group full under Megatron-LM is the default
  assert.deepEqual(executionsOfOptions({ estimator: 'fasop', plain: true }, 32, tt)!.map(executionLabel), ['plain']);
  assert.deepEqual(executionsOfOptions({ ...base, dpSharding: 'parameters', shardGroup: 'full' }, 32, { gpusPerNode: 8, launcher: 'megatron-lm' })!.map(executionLabel), ['sh=parameters']);
});

test('--shard-group errors: one line, exit 2, with the fix', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--dp-sharding', 'none,optimizer', '--shard-group', 'node', ...TT], /--shard-group applies only to dp sharding parameters .* fix: add parameters to --dp-sharding/],
    [['--estimator', 'reference', '--shard-group', 'node'], /--shard-group needs --estimator fasop .* fix: drop it, or use --estimator fasop/],
    [['--shard-group', '1', ...TT], /--shard-group takes full, node or a whole number >= 2 .*got '1' — fix: pass e\.g\. --shard-group full,node/],
    [['--shard-group', 'rack', ...TT], /got 'rack'/],
    [['--shard-group', 'node'], /hybrid sharding runs under torchtitan's FSDP2; the Megatron-LM recipe's HSDP flags are not checked .* fix: use a PyTorch recipe/],
    [['--plain', '--shard-group', 'full'], /--plain searches the plain DP × TP × PP space; it cannot be combined with --shard-group/],
  ];
  for (const [flags, want] of cases) {
    const r = await runCli(['--gpus', 'H100', '2', '--model-type', 'llama8b', ...flags]);
    assert.equal(r.code, 2, `${flags.join(' ')}: ${r.err}`);
    assert.equal(oneLine(r.err).length, 1, r.err);
    assert.match(r.err, /^fasop: error: /);
    assert.match(r.err, want);
  }
});

test('node resolves per plan: the data-parallel ranks of one node at its tp·cp, full where a node holds the whole group', () => {
  const node: RequestExecution = { ...fsdp(), shardGroup: { gpusPerNode: 8 } };
  const at = (tp: number, dp: number, cp = 1) => planExecution({ ...node, cp }, { tp, dp })!;
  assert.equal(at(1, 16).shardGroup, 8);
  assert.equal(at(2, 8).shardGroup, 4);
  assert.equal(at(4, 4).shardGroup, 2);
  assert.equal(at(2, 8, 2).shardGroup, 2);
  // a node with the whole data-parallel group (or more): plain FSDP, the same label as full
  assert.equal(at(1, 8).shardGroup, undefined);
  assert.equal(at(1, 4).shardGroup, undefined);
  assert.equal(executionLabel(at(1, 4)), executionLabel(planExecution(fsdp(), { tp: 1, dp: 4 })!));
  // one data-parallel rank per node: no shard group of 2 fits in a node, and the plan does not run it
  const lone = at(8, 2);
  assert.equal(lone.shardGroup, 1);
  assert.match(executionProblems(lone, { tp: 8, dp: 2, pp: 1, microBatches: 4, numLayers: 32, seqLength: 1024 }).join(), /shard group 1 must be at least 2/);
  // counts as given: equal to dp is full; one that does not divide dp is refused for that plan
  assert.equal(planExecution({ ...fsdp(), shardGroup: 16 }, { tp: 1, dp: 16 })!.shardGroup, undefined);
  const six = planExecution({ ...fsdp(), shardGroup: 6 }, { tp: 1, dp: 16 })!;
  assert.match(executionProblems(six, { tp: 1, dp: 16, pp: 1, microBatches: 4, numLayers: 32, seqLength: 1024 }).join(), /shard group 6 must be at least 2 and divide dp 16/);
  // sharding a no-op (dp·cp = 1): no shard group either
  assert.deepEqual(planExecution(node, { tp: 8, dp: 1 }), { ...PLAIN_EXECUTION });
});

test('a node-local shard group on two nodes (400 Gb/s each) gathers over NVLink and all-reduces its 1/Z across the replicas over the network', async () => {
  const full = plan({ execution: fsdp() });
  const hybrid = plan({ execution: fsdp({ shardGroup: 8 }) });
  const node = full.nodes[0]!;
  const bytes = 1e9;
  // the shard group's ring stays inside a node: the intra-node link of 8 ranks
  const gatherHybrid = dpGather_s(hybrid, FASOP, pytorch, 0, bytes, 8);
  assert.equal(gatherHybrid, allreduceTime_s(intraAllreduce(h100, node.intraNode_bps, 8, pytorch.launch), bytes, 8) / 2);
  // the whole group's ring (16 ranks, 8 per node) crosses the network, its 8 ranks per node on all 8 rails
  const inter = interNodeRing(node, full.nodes[1]!, 8);
  assert.ok(allreduceTime_s(inter, 64 * 2 ** 20, 16) > allreduceTime_s(intraAllreduce(h100, node.intraNode_bps, 16, pytorch.launch), 64 * 2 ** 20, 16));
  const gatherFull = dpGather_s(full, FASOP, pytorch, 0, bytes, 16);
  assert.equal(gatherFull, allreduceTime_s(inter, bytes, 16) / 2);
  assert.ok(gatherHybrid < gatherFull / 2, `${gatherHybrid} < ${gatherFull} / 2`);
  // policy hybridSharding 'whole-group' prices the shard group's gathers on the whole group's ring instead
  const wholeGroup = withPolicy(FASOP, { hybridSharding: 'whole-group' });
  assert.equal(dpGather_s(hybrid, wholeGroup, pytorch, 0, bytes, 8), allreduceTime_s(inter, bytes, 8) / 2);

  // the replicas (ranks j and 8 + j) all-reduce 1/8 of the gradients on one rail each; without overlap, exactly that
  const P = 1e9;
  const inputs = (p: ResolvedPlan, policy = withPolicy(FASOP, { dpOverlap: false })) => ({ plan: p, policy, recipe: pytorch, stageTypes: ['H100'], sizes: [1], stageParams: [P], lastBackward_s: [1] });
  const [replica] = replicaAllreduce_s(inputs(hybrid), 8);
  assert.equal(replica, allreduceTime_s(interNodeRing(node, full.nodes[1]!, 1), (P * pytorch.gradBytes) / 8, 2));
  assert.deepEqual(replicaAllreduce_s(inputs(full), 16), [0]);
  // 'whole-group': the whole group's all-reduce of all the gradients, divided by Z
  const noOverlapWhole = withPolicy(wholeGroup, { dpOverlap: false });
  assert.equal(replicaAllreduce_s(inputs(hybrid, noOverlapWhole), 8)[0], allreduceTime_s(inter, P * pytorch.gradBytes, 16) / 8);

  // in the estimate: plain FSDP ends with no all-reduce, HSDP with the replicas', its states twice full FSDP's (1/8 rather than 1/16)
  const [a, b] = [await estimate(full), await estimate(hybrid)];
  const sa = a.breakdown.stages[0]!;
  const sb = b.breakdown.stages[0]!;
  assert.equal(sa.dpAllreduce_s, 0);
  assert.ok(sb.dpAllreduce_s > 0);
  // PyTorch FSDP keeps no bf16 weights beside its fp32 shards (the recipe's fsdpStateSplit)
  assert.equal(sa.memoryParts_GiB!.weights, 0);
  assert.equal(sb.memoryParts_GiB!.weights, 0);
  for (const k of ['grads', 'master', 'optimizer'] as const) {
    assert.ok(Math.abs(sb.memoryParts_GiB![k] / sa.memoryParts_GiB![k] - 2) < 1e-9, `${k}: ${sb.memoryParts_GiB![k]} vs ${sa.memoryParts_GiB![k]}`);
  }
  assert.equal(sb.memoryParts_GiB!.activations, sa.memoryParts_GiB!.activations);
  assert.equal(sb.memoryParts_GiB!.buffers, sa.memoryParts_GiB!.buffers);
  assert.ok(sb.memory_GiB > sa.memory_GiB);
  // the gathers each micro-batch (m = 4) are cheaper inside a node: the compute with its exposed gathers is shorter
  assert.ok(sb.compute_s < sa.compute_s, `${sb.compute_s} < ${sa.compute_s}`);
});

test('the default Megatron-LM search has no shard group, and --shard-group full changes nothing', async () => {
  const args = ['--gpus', 'H100', '2', '--model-type', 'llama8b', '--gbs', '32', '--recompute', 'none', '--virtual-stages', '1', '--each-execution'];
  const dflt = await runCli(args);
  assert.equal(dflt.code, 0, dflt.err);
  const full = await runCli([...args, '--shard-group', 'full']);
  assert.equal(full.code, 0, full.err);
  const rows = readCsvFile(savedCsvPath(dflt.out));
  assert.ok(rows.some((r) => r['dp_sharding'] === 'parameters'));
  assert.ok(rows.every((r) => r['shard_group'] === ''));
  assert.deepEqual(readCsvFile(savedCsvPath(full.out)), rows);
});

test('a torchtitan-recipe search lists HSDP rows with shard_group filled, one node\'s dp ranks; export writes shard and replicate degrees', async () => {
  const r = await runCli(['--gpus', 'H100', '2', '--model-type', 'llama8b', '--gbs', '32', ...TT, '--dp-sharding', 'parameters', '--recompute', 'none', '--virtual-stages', '1', '--no-sequence-parallel', '--each-execution']);
  assert.equal(r.code, 0, r.err);
  const csv = savedCsvPath(r.out);
  const rows = readCsvFile(csv);
  const hybrid = rows.filter((x) => x['shard_group'] !== '');
  assert.ok(hybrid.length > 0);
  for (const x of hybrid) {
    const [tp, dp] = [Number(x['tp']), Number(x['dp'])];
    assert.equal(Number(x['shard_group']), 8 / tp, `tp ${tp} dp ${dp}`);
    assert.ok(dp > 8 / tp && dp % (8 / tp) === 0);
  }
  // every strategy whose dp group spans nodes with two or more of its ranks per node has its HSDP row, and only those
  const key = (x: Record<string, string>) => [x['tp'], x['dp'], x['pp'], x['mbs']].join('|');
  const spans = new Set(rows.filter((x) => Number(x['dp']) > 8 / Number(x['tp']) && 8 / Number(x['tp']) >= 2).map(key));
  assert.deepEqual(new Set(hybrid.map(key)), spans);
  assert.ok(spans.size >= 3);

  const row = hybrid.find((x) => x['tp'] === '1' && x['dp'] === '16')!;
  const ex = await runCli(['export', '--csv', csv, '--rank', row['rank']!, '--format', 'json', ...TT]);
  assert.equal(ex.code, 0, ex.err);
  const json = JSON.parse(ex.out) as { torchtitan: { parallelism: Record<string, number> }; megatron: unknown; refused: { megatron?: { message: string } } };
  assert.equal(json.torchtitan.parallelism['data_parallel_shard_degree'], 8);
  assert.equal(json.torchtitan.parallelism['data_parallel_replicate_degree'], 2);
  assert.equal(json.megatron, null);
  assert.match(json.refused.megatron!.message, /hybrid sharding/);

  // explicit degrees with --shard-group node: resolved at tp 2 to 4 dp ranks, 2 replicas
  const deg = await runCli(['export', '--gpus', 'H100', '2', '--model-type', 'llama8b', '--gbs', '32', ...TT, '--tp', '2', '--dp', '8', '--pp', '1', '--mbs', '1',
    '--dp-sharding', 'parameters', '--shard-group', 'node', '--recompute', 'none', '--virtual-stages', '1', '--sequence-parallel', '--format', 'torchtitan']);
  assert.equal(deg.code, 0, deg.err);
  assert.match(deg.out, /^data_parallel_replicate_degree = 2$/m);
  assert.match(deg.out, /^data_parallel_shard_degree = 4$/m);
  assert.match(deg.out, /execution: sh=parameters:4 sp/);
});
