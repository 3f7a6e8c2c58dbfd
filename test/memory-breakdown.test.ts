/** The per-GPU memory breakdown (`--exhaustive`): the parts of each stage sum to what the OOM check compares. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { estimate } from '../src/estimate/estimate.js';
import { PLAIN_EXECUTION, type Execution } from '../src/estimate/execution.js';
import { oomCheck } from '../src/estimate/memory.js';
import { activationBytesPerColumn, lossPeakLogitBytes, partsTotal, peakMoment, stageMemory } from '../src/estimate/memory-bytes.js';
import type { ResolvedPlan } from '../src/estimate/plan.js';
import { FASOP } from '../src/estimate/policy.js';
import { RECIPES, type TrainingRecipe } from '../src/estimate/recipe.js';
import { COL, nodeCount } from '../src/model/graph.js';
import { memoryBreakdownLines } from '../src/report/console.js';
import { runCli } from './helpers/cli.js';
import { llama8b, llama8bPlan as plan } from './helpers/plans.js';

const mixed = RECIPES['megatron-mixed']!;
const bf16 = RECIPES['bf16-adamw']!;
const exec = (over: Partial<Execution>): Execution => ({ ...PLAIN_EXECUTION, ...over });
const GiB = 2 ** 30;

/** Whole-layer sizes (graph operators per stage) of pp equal stages. */
function evenSizes(pp: number, layers = llama8b.num_layers): number[] {
  return Array.from({ length: pp }, (_, s) => (layers / pp) * 8 + (s === 0 ? 1 : 0) + (s === pp - 1 ? 1 : 0));
}

const PLANS: Array<[string, Partial<ResolvedPlan>]> = [
  ['plain pp 4', { pp: 4, gbs: 8 }],
  ['tp 2 pp 4, full recompute, distributed optimizer over dp 1, SP', { tp: 2, pp: 4, execution: exec({ recompute: 'full', dpSharding: 'optimizer', sequenceParallel: true }) }],
  ['tp 2 pp 2 dp 2, FSDP', { tp: 2, pp: 2, dp: 2, execution: exec({ dpSharding: 'parameters' }) }],
  ['pp 4 interleaved v 2', { pp: 4, gbs: 8, execution: exec({ virtualStages: 2 }) }],
  ['bf16-adamw pp 4 dp 2 (DDP buckets, retained outputs)', { pp: 4, dp: 2, recipe: bf16 }],
  ['bf16-adamw pp 1, one micro-batch (gradients allocated after the peak)', { pp: 1, gbs: 1, recipe: bf16 }],
  ['tp 2 pp 2 cp 2 (ring buffers)', { tp: 2, pp: 2, execution: exec({ cp: 2 }) }],
  ['fp32-master-adamw pp 2 dp 4 FSDP, accumulating', { pp: 2, dp: 4, recipe: RECIPES['fp32-master-adamw']!, execution: exec({ dpSharding: 'parameters' }) }],
];

test('every stage\'s parts sum to the total the OOM check compares with its limit', async () => {
  for (const [name, over] of PLANS) {
    const p = plan(over);
    const est = await estimate(p);
    const totals = est.breakdown.stages.map((s) => s.memory_GiB);
    est.breakdown.stages.forEach((s, i) => {
      const parts = s.memoryParts_GiB;
      assert.ok(parts, `${name}: stage ${i} has parts`);
      assert.ok(Math.abs(partsTotal(parts) - s.memory_GiB) < 1e-9 * s.memory_GiB, `${name}: stage ${i}: parts ${partsTotal(parts)} against ${s.memory_GiB}`);
    });
    const oom = oomCheck(p, FASOP, totals);
    assert.equal(est.isOom, oom.isOom, name);
    assert.equal(est.oomGpumem_GiB, Math.max(...totals), name);
    assert.equal(est.isOom, est.breakdown.stages.some((s) => partsTotal(s.memoryParts_GiB!) * FASOP.oomMargin > s.memoryLimit_GiB), name);
  }
});

/** Bytes one micro-batch of `layers` decoder layers saves for backward (no recompute). */
function layerActivationBytes(layers: number, recipe: TrainingRecipe): number {
  const acts = activationBytesPerColumn(llama8b, 1, 1, recipe);
  let perLayer = 0;
  for (let c = COL.attn_q; c <= COL.mlp_down; c++) perLayer += acts[c]!;
  return layers * perLayer;
}

test('DDP\'s gradient buckets only where gradients are unsharded; PyTorch FSDP keeps fp32 shards and no bf16 weights or .grad', () => {
  const master = RECIPES['fp32-master-adamw']!;
  const n = nodeCount(llama8b);
  const sizes = evenSizes(1);
  const parts = (recipe: TrainingRecipe, e: Execution, m: number) => stageMemory(llama8b, sizes, n, 1, 1, 8, m, recipe, e)[0]!;
  for (const recipe of [bf16, master]) {
    const ddp = parts(recipe, PLAIN_EXECUTION, 4);
    const P = ddp.params;
    assert.equal(ddp.parts.gradBuckets, P * recipe.gradBytes * recipe.dpExtraGradCopiesWhenAccumulating);
    assert.ok(ddp.parts.gradBuckets > 0);
    // ZeRO-1 beside DDP keeps the buckets; ZeRO-2 and FSDP reduce-scatter each micro-batch into their shards
    assert.equal(parts(recipe, exec({ dpSharding: 'optimizer' }), 4).parts.gradBuckets, ddp.parts.gradBuckets);
    for (const dpSharding of ['gradients', 'parameters'] as const) assert.equal(parts(recipe, exec({ dpSharding }), 4).parts.gradBuckets, 0, `${recipe.name} ${dpSharding}`);
    // one micro-batch: no accumulation, no buckets
    assert.equal(parts(recipe, PLAIN_EXECUTION, 1).parts.gradBuckets, 0);
  }
  // FSDP under fp32 master weights: 4 (fp32 parameter shard) + 4 (fp32 gradient shard) + 8 (Adam) B per parameter over 8 shards
  const fsdp = parts(master, exec({ dpSharding: 'parameters' }), 4);
  const P = fsdp.params;
  assert.equal(fsdp.parts.weights, 0);
  assert.equal(fsdp.parts.grads, (4 * P) / 8);
  assert.equal(fsdp.parts.master, (4 * P) / 8);
  assert.equal(fsdp.parts.optimizer, (8 * P) / 8);
  // the gathered units stay in bf16, as the all-gather sends them
  assert.equal(fsdp.parts.buffers, parts(bf16, exec({ dpSharding: 'parameters' }), 4).parts.buffers);
  assert.ok(fsdp.parts.buffers > 0);
  // ZeRO-2 keeps the stateSplit of its recipe (bf16 weights whole)
  assert.equal(parts(master, exec({ dpSharding: 'gradients' }), 4).parts.weights, 2 * P);
});

test('1F1B: stage s holds min(pp − s, m) micro-batches; interleaved, Megatron\'s warm-up count in whole-stage units', () => {
  const n = nodeCount(llama8b);
  const pp = 4;
  const perStage = layerActivationBytes(llama8b.num_layers / pp, mixed);
  // the last stage adds its final norm's saved tensors (the lm_head column less its logits)
  const finalNorm = activationBytesPerColumn(llama8b, 1, 1, mixed)[COL.lm_head]! - lossPeakLogitBytes(llama8b, 1, 1, mixed);
  const held = (m: number, v: number) => stageMemory(llama8b, evenSizes(pp), n, 1, 1, 1, m, mixed, exec({ virtualStages: v }))
    .map((st, s) => (st.parts.activations - (s === pp - 1 ? finalNorm : 0)) / perStage);
  const close = (a: number[], b: number[]) => a.forEach((x, i) => assert.ok(Math.abs(x - b[i]!) < 1e-9, `${a} against ${b}`));
  close(held(8, 1), [4, 3, 2, 1]);
  close(held(2, 1), [2, 2, 2, 1]);
  // v 2: (2(pp − s − 1) + pp + 1) chunk-micro-batches of half a stage
  close(held(8, 2), [11 / 2, 9 / 2, 7 / 2, 5 / 2]);
});

test('the logits and loss term is on the last stage only: one micro-batch at the loss\'s peak, plus the pipeline\'s retained outputs', () => {
  const n = nodeCount(llama8b);
  const L = lossPeakLogitBytes(llama8b, 1, 1, mixed);
  assert.equal(L, 1024 * llama8b.vocab_size * mixed.lossPeakBytesPerLogit);
  for (const v of [1, 2]) {
    const st = stageMemory(llama8b, evenSizes(4), n, 1, 1, 1, 8, mixed, exec({ virtualStages: v }));
    assert.deepEqual(st.map((x) => x.parts.logits), [0, 0, 0, L], `v ${v}: the last chunk's micro-batch runs its backward right after its forward`);
  }
  assert.equal(stageMemory(llama8b, [n], n, 1, 1, 1, 8, mixed)[0]!.parts.logits, L);
  // bf16-adamw under torch.distributed.pipelining keeps every micro-batch's bf16 output on the last stage
  const retained = 1024 * llama8b.vocab_size * bf16.retainedOutputBytes;
  const bf = stageMemory(llama8b, evenSizes(4), n, 1, 1, 1, 8, bf16);
  assert.deepEqual(bf.slice(0, 3).map((x) => x.parts.logits), [0, 0, 0]);
  const last = bf[3]!.parts;
  const expected = last.activations === 0 ? 2 * 8 * retained : lossPeakLogitBytes(llama8b, 1, 1, bf16) + 7 * retained;
  assert.ok(Math.abs(last.logits - expected) < 1, `${last.logits} against ${expected}`);
});

test('the optimizer step can be the peak: then the in-flight parts are shown apart and not counted', async () => {
  const est = await estimate(plan({ pp: 1, gbs: 1, recipe: bf16 }));
  const s = est.breakdown.stages[0]!;
  const p = s.memoryParts_GiB!;
  assert.equal(peakMoment(p), 'optimizer-step', 'one micro-batch, no DP: the gradients come after the activation peak');
  assert.ok(p.gradsNotYetAllocated < 0);
  const state = p.weights + p.grads + p.master + p.optimizer + p.buffers + p.gradBuckets;
  assert.ok(Math.abs(state + p.transient - s.memory_GiB) < 1e-9);
  const row = memoryBreakdownLines(est.breakdown.stages, { microBatches: 1, virtualStages: 1, oomMargin: 1 })[2]!;
  assert.match(row, new RegExp(`\\(${p.activations.toFixed(2)}\\).*\\(${p.gradsNotYetAllocated.toFixed(2)}\\)\\s+${p.transient.toFixed(2)} `));
});

test('the table: one row per stage; in flight, per micro-batch, reserve from the margin, total against the usable limit', async () => {
  const est = await estimate(plan({ tp: 2, pp: 4, gbs: 8 }));
  const lines = memoryBreakdownLines(est.breakdown.stages, { microBatches: 8, virtualStages: 1, oomMargin: 1.1, nominal_GB: { H100: 80 } });
  const head = lines[1]!.trim().split(/\s{2,}/);
  const rows = lines.slice(2, 6).map((l) => l.trim().split(/\s+/));
  rows.forEach((r, s) => {
    const st = est.breakdown.stages[s]!;
    const cell = (k: string) => r[head.indexOf(k)]!;
    assert.equal(cell('stage'), String(s));
    assert.equal(cell('in_flight'), String(4 - s));
    assert.ok(Math.abs(Number(cell('in_flight')) * Number(cell('per_mb')) - st.memoryParts_GiB!.activations) < 0.01 * (4 - s));
    assert.equal(Number(cell('logits_loss')) > 0, s === 3);
    assert.equal(cell('reserve'), (0.1 * st.memory_GiB).toFixed(2));
    assert.equal(r[r.length - 3], (1.1 * st.memory_GiB).toFixed(2));
    assert.equal(r[r.length - 1], st.memoryLimit_GiB.toFixed(2));
  });
  assert.match(lines.join('\n'), /H100 80 GB nominal/);
  assert.match(lines.join('\n'), /fullest GPU: stage 0/);
});

test('--exhaustive prints the breakdown, its totals those of the stage table', async () => {
  const run = await runCli(['--gpus', 'H100', '1', '--model-type', 'llama8b', '--exhaustive', '--mbs', '1', '--tp', '2', '--dp', '1', '--pp', '4',
    '--recompute', 'full', '--dp-sharding', 'optimizer', '--sequence-parallel', '--virtual-stages', '1']);
  assert.equal(run.code, 0, run.err);
  const lines = run.out.split('\n');
  const stageTable = lines.findIndex((l) => /^ {2}stage {2}gpu/.test(l));
  const memTable = lines.findIndex((l) => /^ {2}stage {2}weights/.test(l));
  assert.ok(stageTable > 0 && memTable > stageTable);
  for (let s = 0; s < 4; s++) {
    const fromStages = /(\d+\.\d+) \/ (\d+\.\d+)$/.exec(lines[stageTable + 1 + s]!)!;
    const fromParts = /(\d+\.\d+) \/ (\d+\.\d+)$/.exec(lines[memTable + 1 + s]!)!;
    assert.deepEqual(fromParts.slice(1), fromStages.slice(1), `stage ${s}`);
  }
  assert.match(run.out, /in_flight: micro-batches whose activations the stage holds at its peak, 1F1B: min\(pp − s, m\)/);
});
