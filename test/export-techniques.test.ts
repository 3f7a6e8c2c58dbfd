/** Export of a plan's execution (recompute, dp sharding, SP, interleaving, CP) and of the model's own arguments (docs/export.md). */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { getModel, loadCatalog } from '../src/catalog/catalog.js';
import { readPlanCsv, readPlanCsvFile } from '../src/export/csv-row.js';
import { exportPlan, type ExportablePlan, type ExportResult } from '../src/export/export.js';
import { formatExport } from '../src/export/format.js';
import { validateMegatronLayout } from '../src/export/layout.js';
import { vocabDivisor } from '../src/export/model-args.js';
import { checkModuleFqns } from '../src/export/torchtitan.js';
import { layerToNodePartition } from '../src/model/layer-rounding.js';
import { formatCsv } from '../src/report/csv.js';
import type { PlanRecord } from '../src/search/record.js';
import { REF_OUTPUTS, REF_PROFILES, runCli, tmp } from './helpers/cli.js';

const catalog = loadCatalog();
const llama70b = { ...getModel(catalog, 'llama70b'), seq_length: 4096 };

/** A plan of `layers` per stage on 8-GPU H100 nodes (tp 4, dp 2, gbs 64 unless given). */
function plan(over: Partial<ExportablePlan> & { layers?: number[] } = {}): ExportablePlan {
  const { layers = [20, 20, 20, 20], ...rest } = over;
  const p = { gbs: 64, mbs: 1, tp: 4, dp: 2, pp: layers.length, partition: layerToNodePartition(layers), gpu_cluster_str: 'H100:8', step_time: 1, is_oom: false, placement: [] as string[], ...rest };
  const world = p.tp * (p.cp ?? 1) * p.dp * p.pp;
  return { ...p, placement: rest.placement ?? Array(world / 8).fill('H100') };
}

const run = (p: ExportablePlan, opts: { recipe?: string; torchtitanDp?: 'replicate' | 'shard'; model?: typeof llama70b } = {}) =>
  exportPlan(p, { model: opts.model ?? llama70b, gpusPerNode: 8, recipe: opts.recipe ?? 'megatron-mixed', torchtitanDp: opts.torchtitanDp });

/** The values after `flag` in an argv (up to the next flag); undefined when the flag is absent. */
function values(args: readonly string[], flag: string): string[] | undefined {
  const i = args.indexOf(flag);
  if (i < 0) return undefined;
  const j = args.findIndex((a, k) => k > i && a.startsWith('--'));
  return args.slice(i + 1, j < 0 ? args.length : j);
}
const one = (args: readonly string[], flag: string) => values(args, flag)?.[0];
const mgArgs = (r: ExportResult) => r.megatron!.args;

// ---------- the model's own arguments ----------

test('megatron: LLaMA-70B model arguments (GQA, RoPE, RMSNorm, SwiGLU, untied, no biases or dropout, NullTokenizer vocab)', async () => {
  const a = mgArgs(await run(plan()));
  assert.deepEqual([one(a, '--num-layers'), one(a, '--hidden-size'), one(a, '--ffn-hidden-size'), one(a, '--num-attention-heads'), one(a, '--num-query-groups')], ['80', '8192', '28672', '64', '8']);
  assert.deepEqual(values(a, '--group-query-attention'), []);
  assert.deepEqual([one(a, '--seq-length'), one(a, '--max-position-embeddings')], ['4096', '131072']);
  assert.deepEqual([one(a, '--position-embedding-type'), one(a, '--normalization')], ['rope', 'RMSNorm']);
  for (const f of ['--swiglu', '--disable-bias-linear', '--untie-embeddings-and-output-weights']) assert.deepEqual(values(a, f), [], f);
  assert.deepEqual([one(a, '--attention-dropout'), one(a, '--hidden-dropout')], ['0', '0']);
  // NullTokenizer adds one end-of-document token: V − 1 gives the model's 128256 rows
  assert.deepEqual([one(a, '--tokenizer-type'), one(a, '--vocab-size')], ['NullTokenizer', '128255']);
  // Megatron pads to a multiple of divisor × tp; 64 × 4 = 256 divides 128256, so nothing is padded
  assert.equal(one(a, '--make-vocab-size-divisible-by'), '64');
  assert.equal(128256 % (64 * 4), 0);
  assert.deepEqual(values(a, '--bf16'), []);
});

test('megatron: tied LLaMA-1B has no --untie flag; GPT-2 XL is learned-absolute, LayerNorm, GeLU with biases; vocab padding is stated', async () => {
  const llama1b = getModel(catalog, 'llama1b');
  const a = mgArgs(await run(plan({ layers: [8, 8], tp: 1, dp: 4 }), { model: llama1b }));
  assert.equal(values(a, '--untie-embeddings-and-output-weights'), undefined);
  assert.equal(one(a, '--num-query-groups'), '8');
  assert.equal(values(a, '--make-vocab-size-divisible-by'), undefined, '128 · tp 1 divides 128256: the default');

  const gpt2 = getModel(catalog, 'gpt2XL');
  const r = await run(plan({ layers: [24, 24], tp: 2, dp: 4 }), { model: gpt2 });
  const g = mgArgs(r);
  assert.deepEqual([one(g, '--position-embedding-type'), one(g, '--normalization'), one(g, '--ffn-hidden-size')], ['learned_absolute', 'LayerNorm', '6400']);
  for (const f of ['--swiglu', '--disable-bias-linear', '--group-query-attention', '--untie-embeddings-and-output-weights']) assert.equal(values(g, f), undefined, f);
  assert.equal(vocabDivisor(50257, 2), null);
  assert.ok(r.megatron!.notes.some((n) => /tp 2 does not divide 50257; Megatron-LM pads it to 50432 rows/.test(n)));
});

test('megatron: a sequence longer than the model\'s positions is refused (Megatron asserts max_position_embeddings >= seq_length)', async () => {
  const gpt2 = { ...getModel(catalog, 'gpt2XL'), seq_length: 2048 };
  const r = await run(plan({ layers: [24, 24], tp: 2, dp: 4 }), { model: gpt2 });
  assert.equal(r.megatron, null);
  assert.match(r.refused.megatron!.message, /covers 1024 positions but the plan's sequence is 2048/);
  assert.throws(() => formatExport(r, 'megatron'), /covers 1024 positions/);
});

// ---------- recompute ----------

test('recompute: none, selective, full (uniform 1), full N layers per stage (block N, per model chunk with virtual stages)', async () => {
  const plain = await run(plan());
  assert.equal(values(mgArgs(plain), '--recompute-granularity'), undefined);
  assert.deepEqual(plain.torchtitan!.activation_checkpoint, { mode: 'none' }, 'torchtitan defaults to selective: none is written');

  const sel = await run(plan({ recompute: 'selective' }));
  assert.equal(one(mgArgs(sel), '--recompute-granularity'), 'selective');
  assert.equal(values(mgArgs(sel), '--recompute-method'), undefined, 'Megatron refuses a method with selective');
  assert.deepEqual(sel.torchtitan!.activation_checkpoint, { mode: 'selective', selective_ac_option: 'op' });
  assert.ok(sel.torchtitan!.notes.some((n) => /recomputes the attention core instead/.test(n)));
  assert.deepEqual(values(sel.validation.args, '--recompute'), ['selective'], 'the harness runs it');
  assert.deepEqual(sel.validation.unsupported, []);

  const full = await run(plan({ recompute: 'full' }));
  assert.deepEqual([one(mgArgs(full), '--recompute-granularity'), one(mgArgs(full), '--recompute-method'), one(mgArgs(full), '--recompute-num-layers')], ['full', 'uniform', '1']);
  assert.deepEqual(full.torchtitan!.activation_checkpoint, { mode: 'full' });

  const block = await run(plan({ recompute: 'full', recompute_layers: 10 }));
  assert.deepEqual([one(mgArgs(block), '--recompute-method'), one(mgArgs(block), '--recompute-num-layers')], ['block', '10']);
  assert.equal(values(block.validation.args, '--recompute'), undefined);
  assert.match(block.validation.unsupported.join(), /full recompute of 10 layers per stage/);
  // 10 of each rank's 20 layers: every 2nd block
  assert.deepEqual(block.torchtitan!.activation_checkpoint, { mode: 'selective', selective_ac_option: '2' });

  const inter = await run(plan({ recompute: 'full', recompute_layers: 10, virtual_stages: 2 }));
  assert.equal(one(mgArgs(inter), '--recompute-num-layers'), '5', '10 per stage = 5 in each of the 2 model chunks');
  assert.deepEqual(inter.torchtitan!.activation_checkpoint, { mode: 'selective', selective_ac_option: '2' });

  // neither launcher: Megatron's per-chunk count and torchtitan's every-k-th pattern both fail
  await assert.rejects(run(plan({ recompute: 'full', recompute_layers: 5, virtual_stages: 2 })), (err: Error & { hint: string }) => {
    assert.match(err.message, /neither launcher can run the plan: Megatron-LM: .*5 layers per stage do not split over 2 virtual stages.*torchtitan: /);
    // each launcher's fix, without the other launcher's --format (which refuses the plan too)
    assert.equal(err.hint, 'for Megatron-LM: use a plan whose recompute_layers is a multiple of 2, or full recompute of every layer; for torchtitan: use a plan with full recompute of every layer');
    return true;
  });

  // uneven stages: no single "every k-th block" pattern gives 10 per stage
  const uneven = await run(plan({ layers: [22, 18, 20, 20], recompute: 'full', recompute_layers: 10 }));
  assert.equal(uneven.torchtitan, null);
  assert.match(uneven.refused.torchtitan!.message, /10 recomputed layers per stage of \[22, 18, 20, 20\]/);
  assert.deepEqual(one(mgArgs(uneven), '--recompute-num-layers'), '10');
});

// ---------- data-parallel sharding ----------

test('dp sharding: distributed optimizer, Megatron-FSDP for gradients and parameters; torchtitan FSDP2 / HSDP degrees, ZeRO-1/2 refused', async () => {
  const opt = await run(plan({ dp_sharding: 'optimizer' }));
  assert.deepEqual(values(mgArgs(opt), '--use-distributed-optimizer'), []);
  assert.equal(values(mgArgs(opt), '--use-megatron-fsdp'), undefined);
  assert.equal(opt.torchtitan, null);
  assert.match(opt.refused.torchtitan!.message, /torchtitan has no ZeRO-1/);
  assert.match(opt.refused.torchtitan!.hint, /--torchtitan-dp shard/);
  assert.throws(() => formatExport(opt, 'torchtitan'), /no ZeRO-1/);
  const forced = await run(plan({ dp_sharding: 'optimizer' }), { torchtitanDp: 'shard' });
  assert.deepEqual([forced.torchtitan!.parallelism.data_parallel_replicate_degree, forced.torchtitan!.parallelism.data_parallel_shard_degree], [1, 2]);
  assert.ok(forced.torchtitan!.notes.some((n) => /shards parameters, gradients and optimizer states over 2 ranks; the plan priced dp_sharding 'optimizer'/.test(n)));

  const grads = await run(plan({ layers: [80], dp_sharding: 'gradients' }));
  assert.equal(one(mgArgs(grads), '--data-parallel-sharding-strategy'), 'optim_grads');
  assert.match(grads.refused.torchtitan!.message, /no ZeRO-2/);

  const params = await run(plan({ layers: [80], dp: 4, dp_sharding: 'parameters' }));
  const a = mgArgs(params);
  assert.equal(one(a, '--data-parallel-sharding-strategy'), 'optim_grads_params');
  for (const f of ['--use-megatron-fsdp', '--use-distributed-optimizer', '--no-gradient-accumulation-fusion']) assert.deepEqual(values(a, f), [], f);
  assert.equal(one(a, '--ckpt-format'), 'fsdp_dtensor');
  assert.deepEqual(params.megatron!.env, {}, 'Megatron-FSDP refuses CUDA_DEVICE_MAX_CONNECTIONS=1');
  assert.deepEqual([params.torchtitan!.parallelism.data_parallel_replicate_degree, params.torchtitan!.parallelism.data_parallel_shard_degree], [1, 4]);

  const hybrid = await run(plan({ layers: [80], dp: 4, dp_sharding: 'parameters', shard_group: 2 }));
  assert.deepEqual([hybrid.torchtitan!.parallelism.data_parallel_replicate_degree, hybrid.torchtitan!.parallelism.data_parallel_shard_degree], [2, 2]);
  assert.equal(hybrid.megatron, null);
  assert.match(hybrid.refused.megatron!.message, /hybrid sharding/);
  assert.match(hybrid.refused.megatron!.hint, /--format torchtitan/);

  // Megatron-FSDP with pipeline parallelism is not offered; torchtitan runs FSDP2 with PP
  const piped = await run(plan({ dp: 4, dp_sharding: 'parameters' }));
  assert.equal(piped.megatron, null);
  assert.match(piped.refused.megatron!.message, /dp sharding 'parameters' with pipeline parallelism 4/);
  assert.match(piped.refused.megatron!.hint, /--format torchtitan/);
  assert.deepEqual([piped.torchtitan!.parallelism.data_parallel_shard_degree, piped.torchtitan!.parallelism.pipeline_parallel_degree], [4, 4]);
  assert.throws(() => formatExport(piped, 'megatron'), /Megatron-FSDP's guide lists TP, EP and CP/);

  const conflict = await run(plan({ layers: [80], dp_sharding: 'parameters' }), { torchtitanDp: 'replicate' });
  assert.match(conflict.refused.torchtitan!.message, /--torchtitan-dp replicate keeps a full copy/);

  await assert.rejects(run(plan({ dp: 1, gbs: 32, placement: Array(2).fill('H100'), dp_sharding: 'optimizer' })), /dp sharding 'optimizer' needs dp > 1/);
});

// ---------- sequence parallelism ----------

test('sequence parallelism: --sequence-parallel with CUDA_DEVICE_MAX_CONNECTIONS=1; refused with tp 1; torchtitan always runs SP with TP', async () => {
  const sp = await run(plan({ sequence_parallel: true }));
  assert.deepEqual(values(mgArgs(sp), '--sequence-parallel'), []);
  assert.deepEqual(sp.megatron!.env, { CUDA_DEVICE_MAX_CONNECTIONS: '1' });
  assert.match(sp.megatron!.launch, /^CUDA_DEVICE_MAX_CONNECTIONS=1 torchrun /);
  assert.equal(sp.torchtitan!.notes.some((n) => /always runs with sequence parallelism/.test(n)), false);
  const noSp = await run(plan());
  assert.equal(values(mgArgs(noSp), '--sequence-parallel'), undefined);
  assert.ok(noSp.torchtitan!.notes.some((n) => /always runs with sequence parallelism/.test(n)));
  await assert.rejects(run(plan({ tp: 1, dp: 8, sequence_parallel: true })), /sequence parallelism needs tp > 1/);
});

// ---------- interleaved pipeline ----------

test('interleaving: a layout of pp·v stages (stage i on rank i mod pp) and Interleaved1F1B parts r, r + pp, … keep each rank\'s layers', async () => {
  const layers = [22, 18, 20, 20];
  const r = await run(plan({ layers, virtual_stages: 2 }));
  assert.deepEqual(r.layerPartition.chunkLayers, [11, 9, 10, 10, 11, 9, 10, 10]);
  const st = validateMegatronLayout(r.megatron!.layout!, 4, 80);
  assert.equal(st.length, 8);
  assert.deepEqual(st.map((s) => [s.ppRank, s.vppRank]), [[0, 0], [1, 0], [2, 0], [3, 0], [0, 1], [1, 1], [2, 1], [3, 1]]);
  for (let rank = 0; rank < 4; rank++) assert.equal(st.filter((s) => s.ppRank === rank).reduce((a, s) => a + s.decoder, 0), layers[rank]);
  assert.deepEqual([st[0]!.embedding, st[7]!.loss], [1, 1]);
  assert.equal(values(mgArgs(r), '--num-virtual-stages-per-pipeline-rank'), undefined, 'the layout carries the virtual stages');
  const tt = r.torchtitan!.parallelism;
  assert.equal(tt.pipeline_parallel_schedule, 'Interleaved1F1B');
  assert.equal(tt.module_fqns_per_model_part!.length, 8);
  assert.deepEqual(checkModuleFqns(tt.module_fqns_per_model_part, 80), r.layerPartition.chunkLayers);
  assert.equal((await run(plan())).torchtitan!.parallelism.pipeline_parallel_schedule, '1F1B');

  const oddStage = await run(plan({ layers: [21, 19, 20, 20], virtual_stages: 2 })).catch((e: Error) => e);
  assert.match(String(oddStage), /stage 0 has 21/);
  await assert.rejects(run(plan({ layers: [27, 27, 26], virtual_stages: 2, dp: 2, tp: 4, placement: Array(3).fill('H100'), gbs: 60 })), /layers \(80\) divisible by pp·v = 6/);
  await assert.rejects(run(plan({ virtual_stages: 2, gbs: 20 })), /micro-batches \(10\) divisible by pp 4/);
});

// ---------- context parallelism ----------

test('context parallelism: --context-parallel-size and context_parallel_degree; world = tp·cp·dp·pp; rank order tp, cp, dp, pp; sequence checks', async () => {
  const r = await run(plan({ cp: 2 }));
  assert.equal(one(mgArgs(r), '--context-parallel-size'), '2');
  assert.equal(r.torchtitan!.parallelism.context_parallel_degree, 2);
  assert.equal(r.plan.worldSize, 64);
  assert.equal(r.megatron!.worldSize, 64);
  // stage p holds ranks tp·cp·dp·p …: 16 per stage, two nodes each
  assert.deepEqual(r.placement.stages.map((s) => [s.firstRank, s.lastRank]), [[0, 15], [16, 31], [32, 47], [48, 63]]);
  assert.ok(r.torchtitan!.notes.some((n) => /shards over dp_shard·cp = 1·2 = 2 ranks although the plan keeps full copies/.test(n)));
  assert.ok(r.validation.unsupported.includes('context parallelism 2'));
  assert.match(r.validation.command, /^torchrun --nnodes 4 --nproc_per_node 8 /, 'the harness runs tp·dp·pp = 32 ranks');
  await assert.rejects(run(plan({ cp: 2 }), { model: { ...llama70b, seq_length: 4098 } }), /divisible by 2·cp = 4/);
  // torchtitan's seq_len_divisor is tp·2·cp
  const tt = await run(plan({ cp: 2 }), { model: { ...llama70b, seq_length: 4100 } });
  assert.match(tt.refused.torchtitan!.message, /divisible by tp·2·cp = 16/);
  assert.equal(one(mgArgs(tt), '--seq-length'), '4100');
  await assert.rejects(run({ ...plan(), cp: 2 }), /tp·cp·dp·pp = 64 GPUs but the placement has 4 nodes/);
});

// ---------- precision ----------

test('precision: megatron-mixed is plain --bf16 (Megatron keeps fp32 main params and Adam states); bf16-adamw takes the precision-aware optimizer, and the kept fp32 master copy is stated', async () => {
  const mixed = mgArgs(await run(plan()));
  assert.deepEqual(values(mixed, '--bf16'), []);
  assert.equal(values(mixed, '--use-precision-aware-optimizer'), undefined);
  const r = await run(plan(), { recipe: 'bf16-adamw' });
  const a = mgArgs(r);
  assert.deepEqual([one(a, '--main-grads-dtype'), one(a, '--exp-avg-dtype'), one(a, '--exp-avg-sq-dtype')], ['bf16', 'bf16', 'bf16']);
  assert.deepEqual(values(a, '--use-precision-aware-optimizer'), []);
  assert.equal(values(a, '--main-params-dtype'), undefined);
  assert.ok(r.megatron!.notes.some((n) => /always keeps fp32 \(or fp16\) main params: 4 B per parameter more/.test(n)));
  assert.ok(r.torchtitan!.notes.some((n) => /keeps fp32 parameters and AdamW states/.test(n)));
  assert.equal(r.torchtitan!.training.mixed_precision_param, 'bfloat16');
});

// ---------- from a results CSV ----------

const S1 = join(REF_OUTPUTS, 's1_A40x8_gbs32_squad_minmax.csv');

test('csv: the execution columns survive the writer and the reader', () => {
  const rec = readPlanCsvFile(S1).find((r) => r.rank === 22)!.record;
  const withExec: PlanRecord = { ...rec, recompute: 'full', recompute_layers: 4, dp_sharding: 'parameters', shard_group: 2, sequence_parallel: true, virtual_stages: 2, cp: 1 };
  const back = readPlanCsv(formatCsv([withExec, rec]), 't.csv');
  const got = back.find((r) => r.record.recompute === 'full')!.record;
  assert.deepEqual([got.recompute, got.recompute_layers, got.dp_sharding, got.shard_group, got.sequence_parallel, got.virtual_stages, got.cp], ['full', 4, 'parameters', 2, true, 2, 1]);
  const plainBack = back.find((r) => r.record.recompute === 'none')!.record;
  assert.deepEqual([plainBack.recompute_layers, plainBack.shard_group, plainBack.sequence_parallel, plainBack.virtual_stages], [null, null, false, 1]);
});

test('export --csv: a row with execution columns exports its techniques; a launcher that cannot run it exits 2 with the fix', async () => {
  const rows = readPlanCsvFile(S1);
  const base = rows.find((r) => r.rank === 22)!.record; // tp 4, dp 2, pp 4, mbs 1: 16 micro-batches
  const even = { partition: layerToNodePartition([20, 20, 20, 20]), partition_layers: [20, 20, 20, 20] };
  const techniques: PlanRecord = { ...base, ...even, recompute: 'selective', dp_sharding: 'optimizer', sequence_parallel: true, virtual_stages: 2, step_time: 1, total_time_seconds: 1 };
  const cpPlan: PlanRecord = { ...base, ...even, dp: 1, cp: 2, step_time: 2, total_time_seconds: 2 };
  const dir = tmp();
  const csv = join(dir, 'llama70b_techniques.csv');
  writeFileSync(csv, formatCsv([techniques, cpPlan]));

  const mg = await runCli(['export', '--csv', csv, '--rank', '1', '--format', 'megatron', '--profile-dir', REF_PROFILES]);
  assert.equal(mg.code, 0, mg.err);
  assert.match(mg.out, /# execution: rc=selective sh=optimizer sp v=2/);
  assert.match(mg.out, /^--recompute-granularity selective \\$/m);
  assert.match(mg.out, /^--use-distributed-optimizer \\$/m);
  assert.match(mg.out, /^--sequence-parallel \\$/m);
  assert.match(mg.out, /^--pipeline-model-parallel-layout 'Et\*10\|t\*10\|t\*10\|t\*10\|t\*10\|t\*10\|t\*10\|t\*10,L' \\$/m);
  assert.match(mg.out, /^--hidden-size 8192 \\$/m);
  assert.match(mg.out, /^--bf16$/m, 'the last argument, without a continuation');

  const tt = await runCli(['export', '--csv', csv, '--rank', '1', '--format', 'torchtitan', '--profile-dir', REF_PROFILES]);
  assert.equal(tt.code, 2);
  assert.match(tt.err, /torchtitan has no ZeRO-1 .* — fix: export with --torchtitan-dp shard/);
  assert.equal(tt.out, '');
  const shard = await runCli(['export', '--csv', csv, '--rank', '1', '--format', 'torchtitan', '--torchtitan-dp', 'shard', '--profile-dir', REF_PROFILES]);
  assert.equal(shard.code, 0, shard.err);
  assert.match(shard.out, /^data_parallel_shard_degree = 2$/m);
  assert.match(shard.out, /^pipeline_parallel_schedule = "Interleaved1F1B"$/m);
  assert.match(shard.out, /^\[activation_checkpoint\]\nmode = "selective"\nselective_ac_option = "op"$/m);

  const js = await runCli(['export', '--csv', csv, '--rank', '2', '--format', 'json', '--profile-dir', REF_PROFILES]);
  assert.equal(js.code, 0, js.err);
  const j = JSON.parse(js.out);
  assert.deepEqual([j.plan.cp, j.plan.dp, j.plan.worldSize, j.plan.execution.label], [2, 1, 32, 'cp=2']);
  assert.equal(j.torchtitan.parallelism.context_parallel_degree, 2);
  assert.deepEqual(j.megatron.args.slice(j.megatron.args.indexOf('--context-parallel-size'), j.megatron.args.indexOf('--context-parallel-size') + 2), ['--context-parallel-size', '2']);
  assert.deepEqual(j.refused, {});

  const bad = join(dir, 'llama70b_bad.csv');
  writeFileSync(bad, formatCsv([{ ...base, ...even, tp: 1, dp: 8, sequence_parallel: true }]));
  const refused = await runCli(['export', '--csv', bad, '--rank', '1', '--profile-dir', REF_PROFILES]);
  assert.equal(refused.code, 2);
  assert.match(refused.err, /the plan cannot launch: sequence parallelism needs tp > 1/);
});

test('recompute op: torchtitan\'s selective_ac_option "op" with no note; Megatron-LM refuses it; the harness runs it', async () => {
  const r = await run(plan({ recompute: 'op' }), { recipe: 'fp32-master-adamw' });
  assert.equal(r.megatron, null);
  assert.match(r.refused.megatron!.message, /Megatron-LM has no such checkpointing/);
  assert.deepEqual(r.torchtitan!.activation_checkpoint, { mode: 'selective', selective_ac_option: 'op' });
  assert.ok(!r.torchtitan!.notes.some((x) => /selective_ac_option "op"/.test(x)));
  assert.deepEqual(values(r.validation.args, '--recompute'), ['op']);
});
