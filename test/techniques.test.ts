/** The execution techniques: what each changes in memory and time, and the flags that set them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getGpu, getModel, loadCatalog } from '../src/catalog/catalog.js';
import { estimate } from '../src/estimate/estimate.js';
import { PLAIN_EXECUTION, executionProblems, type Execution } from '../src/estimate/execution.js';
import { stageMemory } from '../src/estimate/memory-bytes.js';
import type { ResolvedPlan } from '../src/estimate/plan.js';
import { RECIPES } from '../src/estimate/recipe.js';
import { flopsOfLayerForward, nonEmbeddingParams, trainingFlopsPerToken } from '../src/model/flops.js';
import { nodeCount } from '../src/model/graph.js';
import { defaultProfileDir } from '../src/paths.js';
import { ProfileDb } from '../src/profiles/db.js';
import { readCsvFile } from './helpers/csv.js';
import { runCli } from './helpers/cli.js';
import { join } from 'node:path';

const catalog = loadCatalog();
const profiles = ProfileDb.open(defaultProfileDir());
const h100 = getGpu(catalog, 'H100');
const llama8b = getModel(catalog, 'llama8b');
const recipe = RECIPES['megatron-mixed']!;
const exec = (over: Partial<Execution>): Execution => ({ ...PLAIN_EXECUTION, ...over });

function plan(over: Partial<ResolvedPlan> & { nodes_?: number }): ResolvedPlan {
  const tp = over.tp ?? 1;
  return {
    model: llama8b,
    nodes: Array.from({ length: over.nodes_ ?? 1 }, () => ({ gpu: h100, interNode_bps: h100.interNode_bps, intraNode_bps: h100.intraNode_bps })),
    gpusPerNode: 8, tp, dp: 1, pp: 1, mbs: 1, gbs: 32,
    profiles: { H100: profiles.get('llama8b', 'H100', tp) },
    partitionMethod: 'even', precision: 16, pricePerSecond_usd: 0.01, iterations: 100, recipe,
    ...over,
  } as ResolvedPlan;
}

test('sharding divides master weights and Adam states (optimizer), then gradients, then weights (+ two gathered layers)', () => {
  const n = nodeCount(llama8b);
  const sizes = [n];
  const at = (dpSharding: Execution['dpSharding']) => stageMemory(llama8b, sizes, n, 1, 1, 8, 4, recipe, exec({ dpSharding }))[0]!;
  const none = at('none');
  const P = none.params;
  const opt = at('optimizer');
  assert.ok(Math.abs((none.stateBytes - opt.stateBytes) - P * (4 + 8) * (7 / 8)) < 1);
  const grads = at('gradients');
  assert.ok(Math.abs((opt.stateBytes - grads.stateBytes) - P * 4 * (7 / 8)) < 1);
  const full = at('parameters');
  assert.ok(full.parts.buffers > 0);
  assert.ok(Math.abs((grads.stateBytes - full.stateBytes) - (P * 2 * (7 / 8) - full.parts.buffers)) < 1);
  // activations do not depend on sharding
  assert.equal(full.activationBytes, none.activationBytes);
});

test('full recompute keeps each layer\'s input only and adds the layers\' forward to the backward; selective adds the attention core', async () => {
  const base = await estimate(plan({}));
  const full = await estimate(plan({ execution: exec({ recompute: 'full' }) }));
  const sel = await estimate(plan({ execution: exec({ recompute: 'selective' }) }));
  assert.ok(full.breakdown.stages[0]!.memoryParts_GiB!.activations < base.breakdown.stages[0]!.memoryParts_GiB!.activations / 3);
  assert.equal(sel.oomGpumem_GiB, base.oomGpumem_GiB);
  // full adds about a forward (a third of forward + backward); selective a small fraction of it
  const ratio = full.stepTime_s / base.stepTime_s;
  assert.ok(ratio > 1.2 && ratio < 1.45, `full recompute ×${ratio}`);
  assert.ok(sel.stepTime_s > base.stepTime_s && sel.stepTime_s < base.stepTime_s * 1.1);
  assert.match(full.breakdown.costSource, /execution rc=full/);
});

test('full recompute on the last stage of plain 1F1B: the recomputed layer replaces the freed logits at the peak; with v > 1 both count', () => {
  const n = nodeCount(llama8b);
  const L = llama8b.num_layers;
  const sizes = [1 + 8 * (L / 2), 8 * (L / 2) + 1];
  const at = (over: Partial<Execution>) => stageMemory(llama8b, sizes, n, 1, 1, 1, 8, recipe, exec({ recompute: 'full', ...over }));
  const plain = at({});
  const first = plain[0]!.parts;
  const last = plain[1]!.parts;
  assert.ok(last.logits > 0 && first.logits === 0);
  // stage 0 holds no logits: the whole recomputed layer counts
  const layerBuffer = first.recomputeBuffer;
  assert.ok(layerBuffer > 0);
  // the last stage: only what the layer's activations exceed the logits by (LLaMA-8B's logits at mbs 1 are the larger)
  assert.equal(last.recomputeBuffer, Math.max(0, layerBuffer - last.logits));
  const inter = at({ virtualStages: 2 })[1]!.parts;
  assert.equal(inter.recomputeBuffer, layerBuffer);
});

test('interleaving shrinks the bubble: pp 4, 8 micro-batches, v 2 is faster than v 1 and holds more chunks on stage 0', async () => {
  const p = { tp: 1, dp: 1, pp: 4, gbs: 8, gpusPerNode: 4 };
  const v1 = await estimate(plan(p));
  const v2 = await estimate(plan({ ...p, execution: exec({ virtualStages: 2 }) }));
  assert.ok(v2.breakdown.pipeline_s < v1.breakdown.pipeline_s);
  const ideal = (v: number) => (8 + 3 / v) / (8 + 3); // (m + (p−1)/v) / (m + p − 1) of the compute-bound pipeline
  assert.ok(v2.breakdown.pipeline_s / v1.breakdown.pipeline_s < ideal(2) + 0.05);
  assert.ok(v2.breakdown.stages[0]!.memoryParts_GiB!.activations > v1.breakdown.stages[0]!.memoryParts_GiB!.activations);
});

test('the launchers\' constraints', () => {
  const shape = { tp: 1, dp: 1, pp: 4, microBatches: 6, numLayers: 32, seqLength: 8192 };
  assert.deepEqual(executionProblems(exec({ sequenceParallel: true }), shape), ['sequence parallelism needs tp > 1']);
  assert.match(executionProblems(exec({ virtualStages: 3 }), shape).join('; '), /divisible by pp·v = 12.*micro-batches \(6\) divisible by pp 4/);
  assert.deepEqual(executionProblems(exec({ cp: 2 }), shape), []);
  assert.match(executionProblems(exec({ cp: 3 }), { ...shape, seqLength: 8188 }).join(), /divisible by 2·cp = 6/);
});

test('MFU: PaLM\'s FLOPs per token; LLaMA-8B at seq 8192', () => {
  const m = { ...llama8b, seq_length: 8192 };
  // 32 layers of (2·4096² + 2·4096·1024 + 3·4096·14336) weights + the 4096 × 128256 output
  assert.equal(nonEmbeddingParams(m), 32 * (2 * 4096 ** 2 + 2 * 4096 * 1024 + 3 * 4096 * 14336) + 4096 * 128256);
  assert.equal(trainingFlopsPerToken(m), 6 * nonEmbeddingParams(m) + 12 * 32 * 4096 * 8192);
  // one layer's forward at mbs 2: 2 FLOPs per weight per token, and causal attention's half of 4·s·(heads·dh) per token
  assert.equal(flopsOfLayerForward(m, 2), 2 * 16384 * (2 * 4096 ** 2 + 2 * 4096 * 1024 + 3 * 4096 * 14336) + 2 * 16384 * 8192 * 4096);
});

test('flags: techniques reach the CSV columns; no-ops are recorded as not applied; refused with the reference estimator', async () => {
  const r = await runCli(['--gpus', 'H100', '1', '--model-type', 'llama8b', '--gbs', '16', '--recompute', 'full', '--dp-sharding', 'optimizer', '--sequence-parallel']);
  assert.equal(r.code, 0, r.err);
  const rows = readCsvFile(join(r.cwd, 'main_logs', 'llama8b_H100x1_gbs16.csv'));
  assert.ok(rows.length > 0);
  for (const row of rows) {
    assert.equal(row['recompute'], 'full');
    assert.equal(row['dp_sharding'], Number(row['dp']) > 1 ? 'optimizer' : 'none');
    assert.equal(row['sequence_parallel'], Number(row['tp']) > 1 ? 'True' : 'False');
    assert.ok(Number(row['mfu']) > 0 && Number(row['mfu']) < 1);
  }
  const ref = await runCli(['--gpus', 'H100', '1', '--estimator', 'reference', '--recompute', 'full']);
  assert.equal(ref.code, 2);
  assert.match(ref.err, /--recompute needs --estimator fasop/);
  const layers = await runCli(['--gpus', 'H100', '1', '--recompute', 'none,selective', '--recompute-layers', '2']);
  assert.equal(layers.code, 2);
  assert.match(layers.err, /--recompute-layers applies only to --recompute full/);
});

test('comma lists search the cross product; no-ops collapse; interleaving only where a launcher runs it', async () => {
  const r = await runCli(['--gpus', 'H100', '4', '--gbs', '128', '--recompute', 'none,full', '--dp-sharding', 'none,optimizer', '--virtual-stages', '1,2', '--each-execution']);
  assert.equal(r.code, 0, r.err);
  const rows = readCsvFile(join(r.cwd, 'main_logs', 'llama70b_H100x4_gbs128.csv'));
  const key = (x: Record<string, string>) => [x['tp'], x['dp'], x['pp'], x['mbs'], x['placement']].join('|');
  const byPlan = new Map<string, Set<string>>();
  for (const x of rows) {
    if (x['virtual_stages'] === '2') {
      assert.ok(Number(x['pp']) >= 2 && 80 % (2 * Number(x['pp'])) === 0, `v 2 with pp ${x['pp']}`);
      assert.equal((128 / (Number(x['dp']) * Number(x['mbs']))) % Number(x['pp']), 0);
    }
    if (x['dp'] === '1') assert.equal(x['dp_sharding'], 'none');
    const k = key(x);
    const e = [x['recompute'], x['dp_sharding'], x['virtual_stages']].join('|');
    if (!byPlan.has(k)) byPlan.set(k, new Set());
    assert.ok(!byPlan.get(k)!.has(e), `duplicate ${k} ${e}`);
    byPlan.get(k)!.add(e);
  }
  // a dp 1, pp 1 strategy has two executions (recompute none/full); a dp 2, pp 8 one with 32 micro-batches all eight
  assert.ok([...byPlan.values()].some((s) => s.size === 8));
  assert.ok([...byPlan.values()].every((s) => s.size >= 2 && s.size <= 8));
  // the summary names the best plan's execution when it has one
  const best = rows.find((x) => x['rank'] === '1')!;
  const plain = best['recompute'] === 'none' && best['dp_sharding'] === 'none' && best['virtual_stages'] === '1';
  if (plain) assert.doesNotMatch(r.out, /Execution: /);
  else assert.match(r.out, /Execution: /);
});

test('recompute op (torchtitan\'s per-operator checkpointing): keeps q, v, gate, down, the attention and the block input; reruns the rest', async () => {
  const pt = RECIPES['fp32-master-adamw']!;
  const n = nodeCount(llama8b);
  const at = (recompute: Execution['recompute']) => stageMemory(llama8b, [n], n, 1, 1, 1, 1, pt, exec({ recompute }))[0]!.parts;
  const { hidden_size: h, intermediate_size: f, seq_length: s, num_layers: L } = llama8b;
  const kvd = (llama8b.num_key_value_heads * h) / llama8b.num_attention_heads;
  // bf16 outputs of q, v, attention, gate, down and fp32 log-sum-exp per layer, beyond the block input that full recompute keeps too
  const keptBeyondInput = s * 2 * (h + kvd + h + f + h) + 4 * llama8b.num_attention_heads * s;
  assert.equal(at('op').activations - at('full').activations, L * keptBeyondInput);
  assert.ok(at('op').activations < at('none').activations / 2);
  const t = async (recompute: Execution['recompute']) => (await estimate(plan({ recipe: pt, execution: exec({ recompute }) }))).stepTime_s;
  const [none, sel, op, full] = [await t('none'), await t('selective'), await t('op'), await t('full')];
  assert.ok(none < sel && sel < op && op < full, `${none} ${sel} ${op} ${full}`);
  // GPT-2's linears have biases (addmm, not in the save list): only the attention's output and the block input are kept
  const gpt2 = getModel(catalog, 'gpt2XL');
  const g = (recompute: Execution['recompute']) => stageMemory(gpt2, [nodeCount(gpt2)], nodeCount(gpt2), 1, 1, 1, 1, pt, exec({ recompute }))[0]!.parts;
  const gs = gpt2.seq_length;
  assert.equal(g('op').activations - g('full').activations, gpt2.num_layers * (gs * 2 * gpt2.hidden_size + 4 * gpt2.num_attention_heads * gs));
});

test('recompute op: asked for, not in the default space; refused under Megatron-LM\'s recipe, searched under a PyTorch one', async () => {
  const dflt = await runCli(['--gpus', 'H100', '1', '--model-type', 'llama8b', '--gbs', '16']);
  assert.equal(dflt.code, 0, dflt.err);
  assert.ok(readCsvFile(join(dflt.cwd, 'main_logs', 'llama8b_H100x1_gbs16.csv')).every((r) => r['recompute'] !== 'op'));
  const mg = await runCli(['--gpus', 'H100', '1', '--model-type', 'llama8b', '--gbs', '16', '--recompute', 'none,op']);
  assert.equal(mg.code, 2);
  assert.match(mg.err, /--recompute op is torchtitan's per-operator checkpointing; the recipe 'megatron-mixed' runs Megatron-LM/);
  const tt = await runCli(['--gpus', 'H100', '1', '--model-type', 'llama8b', '--gbs', '16', '--recompute', 'op', '--optimizer', 'fp32-master-adamw']);
  assert.equal(tt.code, 0, tt.err);
  const rows = readCsvFile(join(tt.cwd, 'main_logs', 'llama8b_H100x1_gbs16.csv'));
  assert.ok(rows.length > 0 && rows.every((r) => r['recompute'] === 'op'));
});
