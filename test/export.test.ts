/** Launch export (docs/export.md): layout strings, rounding, torchtitan module lists, `fasop export`. */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { loadCatalog, getModel } from '../src/catalog/catalog.js';
import { readPlanCsv, readPlanCsvFile } from '../src/export/csv-row.js';
import { exportPlan } from '../src/export/export.js';
import { formatMegatronLayout, layoutLayersPerStage, parseMegatronLayout, validateMegatronLayout } from '../src/export/layout.js';
import { placementReport } from '../src/export/placement.js';
import { layerToNodePartition, roundToLayers } from '../src/model/layer-rounding.js';
import { checkModuleFqns, moduleFqnsPerModelPart, torchtitanConfig } from '../src/export/torchtitan.js';
import { REF_OUTPUTS, REF_PROFILES, runCli, savedCsvPath, tmp } from './helpers/cli.js';

const S1 = join(REF_OUTPUTS, 's1_A40x8_gbs32_squad_minmax.csv');
const llama70b = getModel(loadCatalog(), 'llama70b');

// ---------- Megatron layout ----------

test('layout: Megatron-LM documented examples parse as its parser reads them', () => {
  // docs: "Et*3|(tt|)*29,m|L" with PP16 (VPP 2) for DeepSeek-V3: 61 decoder layers + 1 MTP
  const st = validateMegatronLayout('Et*3|(tt|)*29,m|L', 16, 61);
  assert.equal(st.length, 32);
  assert.deepEqual([st[0]!.embedding, st[0]!.decoder], [1, 3]);
  assert.ok(st.slice(1, 30).every((s) => s.decoder === 2));
  assert.deepEqual([st[30]!.mtp, st[31]!.loss, st[31]!.ppRank, st[31]!.vppRank], [1, 1, 15, 1]);
  // docs: empty stages are legal ("E||t|L")
  assert.deepEqual(parseMegatronLayout('E||t|L'), [['E'], [], ['t'], ['L']]);
  // the example
  assert.deepEqual(layoutLayersPerStage('Et*6|t*9|t*9|t*8,L', 4, 32), [6, 9, 9, 8]);
  // *N takes all digits; commas anywhere are cosmetic
  assert.deepEqual(layoutLayersPerStage('Et*11,|t*1,1|t,*,1,0L', 3, 32), [11, 11, 10]);
});

test('layout: invalid strings are refused like Megatron refuses them', () => {
  assert.throws(() => parseMegatronLayout('Et*2 | t*2L'), /invalid layout character ' '/);
  assert.throws(() => parseMegatronLayout('Ex*2|L'), /invalid layout character 'x'/);
  assert.throws(() => validateMegatronLayout('t*2|EL', 2, 2), /first layer .* must be E/);
  assert.throws(() => validateMegatronLayout('Et|tL|L', 3, 2), /last layer|exactly one E and one L/);
  assert.throws(() => validateMegatronLayout('Et*3|t*2L', 2, 4), /5 decoder layers, the model has 4/);
  assert.throws(() => validateMegatronLayout('Et|t|tL', 2, 3), /not a multiple of pipeline size 2/);
  assert.throws(() => validateMegatronLayout('Etm|tL', 2, 2), /decoder layers must come before MTP/);
});

test('layout: format then parse gives back the layers per stage (property)', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 40 }), (layers) => {
    const total = layers.reduce((a, b) => a + b, 0);
    const s = formatMegatronLayout(layers);
    assert.ok(!/\s/.test(s));
    assert.deepEqual(layoutLayersPerStage(s, layers.length, total), layers);
  }), { numRuns: 300 });
  assert.equal(formatMegatronLayout([11, 11, 10, 5]), 'Et*11|t*11|t*10|t*5,L');
  assert.equal(formatMegatronLayout([0, 1, 0]), 'E|t|L');
});

// ---------- rounding ----------

test('rounding: exact node partitions are kept; boundaries inside layers go to the nearest layer boundary', () => {
  const exact = roundToLayers([89, 88, 80, 88, 88, 88, 80, 41], 80);
  assert.equal(exact.exact, true);
  assert.deepEqual(exact.layersPerStage, [11, 11, 10, 11, 11, 11, 10, 5]);
  // L = 4 → 34 nodes; cut before node 11 (layer 1's 3rd node: r = 2) rounds down to node 9
  let r = roundToLayers([11, 23], 4);
  assert.deepEqual([r.exact, r.layersPerStage, r.boundaries[0]!.how, r.boundaries[0]!.toNode], [false, [1, 3], 'nearest', 9]);
  // r = 5 rounds up
  r = roundToLayers([14, 20], 4);
  assert.deepEqual([r.layersPerStage, r.boundaries[0]!.how], [[2, 2], 'nearest']);
  // tie (r = 4: between o_proj and the MLP) rounds down: the split layer goes to the later stage
  r = roundToLayers([13, 21], 4);
  assert.deepEqual([r.layersPerStage, r.boundaries[0]!.how], [[1, 3], 'tie']);
  // clamp: every stage keeps a decoder layer
  r = roundToLayers([2, 16], 2);
  assert.deepEqual([r.layersPerStage, r.boundaries[0]!.how], [[1, 1], 'clamped']);
  r = roundToLayers([9, 1, 16], 3);
  assert.deepEqual([r.layersPerStage, r.boundaries.map((b) => b.how)], [[1, 1, 1], ['exact', 'clamped']]);
  assert.throws(() => roundToLayers([9, 1, 8], 2), /3 stages cannot each hold a layer/);
  // an embedding-only first stage that fasop chose exactly is kept (Megatron `E|…`, torchtitan ["tok_embeddings"])
  r = roundToLayers([1, 17], 2);
  assert.deepEqual([r.exact, r.layersPerStage], [true, [0, 2]]);
  assert.throws(() => roundToLayers([10, 10], 4), /summing to 34 nodes/);
});

test('rounding: always a valid layer partition, each cut moved at most half a layer unless clamped (property)', () => {
  const arb = fc.integer({ min: 1, max: 24 }).chain((L) => fc.integer({ min: 1, max: L }).chain((pp) =>
    fc.uniqueArray(fc.integer({ min: 1, max: 8 * L + 1 }), { minLength: pp - 1, maxLength: pp - 1 }).map((cuts) => {
      const c = [0, ...cuts.sort((a, b) => a - b), 8 * L + 2];
      return { L, sizes: c.slice(1).map((x, i) => x - c[i]!) };
    })));
  fc.assert(fc.property(arb, ({ L, sizes }) => {
    const r = roundToLayers(sizes, L);
    assert.equal(r.layersPerStage.length, sizes.length);
    assert.equal(r.layersPerStage.reduce((a, b) => a + b, 0), L);
    assert.deepEqual(r.nodePartition, layerToNodePartition(r.layersPerStage));
    r.layersPerStage.forEach((k, s) => {
      const exactEdge = (s === 0 && sizes[0] === 1) || (s === sizes.length - 1 && sizes[s] === 1);
      assert.ok(k >= 1 || exactEdge, `stage ${s} has ${k} layers`);
    });
    for (const b of r.boundaries) if (b.how !== 'clamped') assert.ok(Math.abs(b.toNode - b.fromNode) <= 4);
    if (r.exact) assert.deepEqual(r.nodePartition, sizes);
  }), { numRuns: 500 });
});

// ---------- torchtitan ----------

test('torchtitan: module lists name every module once, in order; settings follow the plan', () => {
  const fq = moduleFqnsPerModelPart([1, 2, 1]);
  assert.deepEqual(fq, [['tok_embeddings', 'layers.0'], ['layers.1', 'layers.2'], ['layers.3', 'norm', 'output']]);
  assert.deepEqual(checkModuleFqns(fq, 4), [1, 2, 1]);
  assert.throws(() => checkModuleFqns([['tok_embeddings', 'layers.1'], ['layers.0', 'norm', 'output']], 2), /in order/);
  assert.throws(() => checkModuleFqns([['tok_embeddings', 3]], 2), /list of lists of strings/);
  const cfg = torchtitanConfig({ tp: 4, dp: 2, pp: 8, mbs: 2, gbs: 64 }, [10, 10, 10, 10, 10, 10, 10, 10]);
  assert.deepEqual({ ...cfg.parallelism, module_fqns_per_model_part: undefined }, {
    data_parallel_replicate_degree: 2, data_parallel_shard_degree: 1, tensor_parallel_degree: 4, context_parallel_degree: 1, pipeline_parallel_degree: 8,
    pipeline_parallel_schedule: '1F1B', pipeline_parallel_microbatch_size: 2, module_fqns_per_model_part: undefined,
  });
  // n_microbatches = local_batch_size / microbatch = gbs / (dp · mbs)
  assert.equal(cfg.training.local_batch_size / cfg.parallelism.pipeline_parallel_microbatch_size!, 64 / (2 * 2));
  assert.equal(torchtitanConfig({ tp: 1, dp: 4, pp: 1, mbs: 2, gbs: 32 }, [80], 'shard').parallelism.data_parallel_shard_degree, 4);
});

// ---------- CSV reader ----------

test('csv reader: quoted fields and Python-list cells', () => {
  const header = 'index,gbs,mbs,tp,dp,pp,node_type,gpu_cluster,partition,partition_layers,step_time(s),throughput(samples/s),price_per_step($),is_oom,oom_gpumem(GB),iterations,total_time(s),total_time(h),cost($),rank,placement';
  const one = readPlanCsv(`${header}\n3,32,1,4,1,2,"['p4d.24xlarge', 'A40']","A40:1, A100:1","[321, 321]","[40, 40]",1.5,21.3,0.1,False,30.0,322,483.0,0.13,32.2,1,"['A100', 'A40']"\n`, 't.csv');
  assert.deepEqual(one[0]!.record.node_type, ['p4d.24xlarge', 'A40']);
  assert.deepEqual(one[0]!.record.placement, ['A100', 'A40']);
  assert.equal(one[0]!.record.gpu_cluster_str, 'A40:1, A100:1');
  assert.deepEqual(one[0]!.record.partition_layers, [40, 40]);
  assert.throws(() => readPlanCsv(`${header}\n3,32,1,4,1,2,"[1, 2",x,"[1]",,1,1,1,False,1,1,1,1,1,1,\n`, 't.csv'), /not a list/);
  assert.throws(() => readPlanCsv('index,gbs\n1,2\n', 't.csv'), /lacks the columns mbs, tp/);
  const rows = readPlanCsvFile(S1);
  assert.ok(rows.length > 50);
  const r1 = rows.find((r) => r.rank === 1)!;
  assert.deepEqual([r1.record.tp, r1.record.pp, r1.record.placement.length, r1.record.partition_layers], [1, 32, 8, null]);
});

// ---------- fasop export on the reference CSV ----------

const megatronLayoutOf = (text: string) => /--pipeline-model-parallel-layout '([^']+)'/.exec(text)?.[1];

test('export --rank (tp > 1, whole layers): layout parses back to the CSV partition_layers; no rounding', async () => {
  const rows = readPlanCsvFile(S1).filter((r) => r.record.partition_layers);
  assert.ok(rows.length > 5);
  for (const row of rows.slice(0, 6)) {
    const run = await runCli(['export', '--csv', S1, '--rank', String(row.rank), '--format', 'megatron', '--profile-dir', REF_PROFILES]);
    assert.equal(run.code, 0, run.err);
    const layout = megatronLayoutOf(run.out)!;
    assert.deepEqual(layoutLayersPerStage(layout, row.record.pp, 80), row.record.partition_layers);
    assert.match(run.out, /--tensor-model-parallel-size \d+ \\\n--pipeline-model-parallel-size \d+ \\\n--micro-batch-size \d+ \\\n--global-batch-size 32 \\\n--num-layers 80/);
    assert.match(run.out, new RegExp(`--tensor-model-parallel-size ${row.record.tp} `));
    assert.doesNotMatch(run.out, /rounding:/);
    // the exported partition is re-estimated: the reference estimator gives the CSV's step time back (or says why not)
    const again = /# re-estimated as exported: step time ([\d.]+) s/.exec(run.out);
    assert.ok(again, run.out);
    if (Math.abs(Number(again[1]) - row.record.step_time) > 1e-6 * row.record.step_time) assert.match(run.out, /# warning: re-estimating the exported partition gives/);
  }
});

test('export --rank (tp = 1, cuts inside layers): rounded, re-estimated, layout and module lists agree', async () => {
  const run = await runCli(['export', '--csv', S1, '--rank', '1', '--format', 'json', '--profile-dir', REF_PROFILES]);
  assert.equal(run.code, 0, run.err);
  const j = JSON.parse(run.out);
  assert.equal(j.layerPartition.exact, false);
  assert.equal(j.rounding.from.length, 32);
  // fasop's own partition re-estimated reproduces the CSV's step time
  assert.ok(Math.abs(j.rounding.stepTimeBefore_s - 6.819209575653076) < 1e-9, String(j.rounding.stepTimeBefore_s));
  assert.ok(j.rounding.stepTimeAfter_s > 0 && Number.isFinite(j.rounding.changePct));
  assert.equal(j.layerPartition.stepTime_s, j.rounding.stepTimeAfter_s, 'the step time of what is exported');
  assert.deepEqual(j.layerPartition.operatorPartition, j.rounding.to);
  assert.deepEqual(j.plan.operatorPartition, j.rounding.from);
  for (const b of j.rounding.boundaries) assert.equal(b.toOperator, 1 + 8 * b.layer);
  assert.ok(Math.abs(j.rounding.changePct - ((j.rounding.stepTimeAfter_s - j.rounding.stepTimeBefore_s) / j.rounding.stepTimeBefore_s) * 100) < 1e-9);
  assert.deepEqual(layoutLayersPerStage(j.megatron.layout, 32, 80), j.layerPartition.layersPerStage);
  // the torchtitan field the validation harness takes (--module-fqns): a list of lists of strings, every module once, in order
  const fq = j.torchtitan.module_fqns_per_model_part;
  assert.ok(Array.isArray(fq) && fq.every((p: unknown) => Array.isArray(p) && p.every((x) => typeof x === 'string')));
  assert.deepEqual(fq.flat(), ['tok_embeddings', ...Array.from({ length: 80 }, (_, i) => `layers.${i}`), 'norm', 'output']);
  assert.deepEqual(checkModuleFqns(fq, 80), j.layerPartition.layersPerStage);
  const vi = j.validation.args.indexOf('--module-fqns');
  assert.deepEqual(JSON.parse(j.validation.args[vi + 1]), fq);
  assert.deepEqual(j.torchtitan.parallelism.module_fqns_per_model_part, fq);
  // megatron text output states the rounding and its cost
  const mg = await runCli(['export', '--csv', S1, '--rank', '1', '--format', 'megatron', '--profile-dir', REF_PROFILES]);
  assert.match(mg.out, /# rounding: the plan's partition cuts inside layers \(graph operators per stage \[21, 20, 21/);
  assert.match(mg.out, /# {3}stage 0\|1: cut before operator 21 -> before operator 17 \(layer 2 starts stage 1; tie; 4 operators moved to stage 1\)/);
  // "node" means a machine in this output (the plan line, the launch line), never a graph operator
  for (const line of mg.out.split('\n').filter((l) => /\bnodes?\b/.test(l))) assert.match(line, /node\(s\) × \d+ GPUs|--nnodes|--node-rank|nodes × /, line);
  assert.match(mg.out, /# {3}cost: step time 6\.81921 s -> [\d.]+ s \([+-][\d.]+ %\)/);
  assert.equal(megatronLayoutOf(mg.out), j.megatron.layout);
});

test('export --format torchtitan: TOML with module_fqns_per_model_part that parses back to the layers', async () => {
  const run = await runCli(['export', '--csv', S1, '--rank', '3', '--format', 'torchtitan', '--profile-dir', REF_PROFILES]);
  assert.equal(run.code, 0, run.err);
  const lines = run.out.split('\n').filter((l) => !l.startsWith('#'));
  assert.equal(lines[0], '[parallelism]');
  const kv = Object.fromEntries(lines.filter((l) => / = [^[]/.test(l)).map((l) => l.split(' = ')).map(([k, v]) => [k, JSON.parse(v!)]));
  const start = lines.findIndex((l) => l === 'module_fqns_per_model_part = [');
  const end = lines.indexOf(']', start);
  const arr = JSON.parse(`[${lines.slice(start + 1, end).join('').replace(/,$/, '')}]`);
  const row = readPlanCsvFile(S1).find((r) => r.rank === 3)!.record;
  assert.equal(kv['pipeline_parallel_degree'], row.pp);
  assert.equal(kv['tensor_parallel_degree'], row.tp);
  assert.equal(kv['pipeline_parallel_microbatch_size'], row.mbs);
  assert.equal(kv['pipeline_parallel_schedule'], '1F1B');
  assert.equal(kv['local_batch_size'] / kv['pipeline_parallel_microbatch_size'], row.gbs / (row.dp * row.mbs));
  assert.equal(arr.length, row.pp);
  const layers = checkModuleFqns(arr, 80);
  assert.deepEqual(layers, roundToLayers(row.partition, 80).layersPerStage);
});

test('export on every s1 plan (library): launcher partitions are whole layers and agree with each other', async () => {
  for (const row of readPlanCsvFile(S1)) {
    const r = await exportPlan(row.record, { model: llama70b, gpusPerNode: 4 });
    assert.equal(r.layerPartition.exact, row.record.partition_layers !== null || roundToLayers(row.record.partition, 80).exact);
    if (r.megatron.layout) assert.deepEqual(layoutLayersPerStage(r.megatron.layout, row.record.pp, 80), r.layerPartition.layersPerStage);
    assert.deepEqual(checkModuleFqns(r.torchtitan.module_fqns_per_model_part, 80), r.layerPartition.layersPerStage);
    if (!r.layerPartition.exact) assert.match(r.rounding!.reestimateError!, /no resolved plan/);
  }
});

test('export --best and explicit degrees use the search flags; heterogeneous plans state what is lost', async () => {
  const best = await runCli(['export', '--best', '--gpus', 'A40', '8', '--allow-oom', '--format', 'json', '--profile-dir', REF_PROFILES, '--estimator', 'reference']);
  assert.equal(best.code, 0, best.err);
  const jb = JSON.parse(best.out);
  const s1best = readPlanCsvFile(S1).find((r) => r.rank === 1)!.record;
  assert.deepEqual([jb.plan.tp, jb.plan.dp, jb.plan.pp, jb.plan.mbs], [s1best.tp, s1best.dp, s1best.pp, s1best.mbs]);
  assert.equal(jb.plan.source.mode, 'best');

  // two GPU types from the A40 profiles under a second name (a temporary folder, not the repo)
  const dir = tmp('fasop-export-prof-');
  for (const t of [1, 2, 4]) for (const g of ['A40', 'A10']) copyFileSync(join(REF_PROFILES, `llama70b_A40_${t}.npz`), join(dir, `llama70b_${g}_${t}.npz`));
  const het = await runCli(['export', '--gpus', 'A40', '2', 'A10', '2', '--tp', '4', '--dp', '1', '--pp', '4', '--mbs', '1', '--format', 'json', '--profile-dir', dir]);
  assert.equal(het.code, 0, het.err);
  const jh = JSON.parse(het.out);
  assert.equal(jh.placement.heterogeneous, true);
  assert.ok(jh.placement.lost.some((l: string) => /--node-rank i/.test(l)));
  for (const s of jh.placement.stages) {
    // rank(p, d, t) = t + tp·d + tp·dp·p: stage p's ranks, on node ⌊rank / gpusPerNode⌋
    assert.equal(s.firstRank, 4 * s.stage);
    assert.deepEqual(s.gpus, [jh.plan.placement[Math.floor(s.firstRank / 4)]]);
  }
  const mg = await runCli(['export', '--gpus', 'A40', '2', 'A10', '2', '--tp', '4', '--dp', '1', '--pp', '4', '--mbs', '1', '--format', 'megatron', '--profile-dir', dir]);
  assert.match(mg.out, /# heterogeneous placement \(A40, A10\)/);
  assert.match(mg.out, /# {3}node rank 0: A\d+, ranks 0-3, stage\(s\) 0/);
});

test('placement report: a stage spanning two GPU types is named', () => {
  const r = placementReport({ tp: 4, dp: 2, pp: 2 }, ['A100', 'A40', 'A40', 'A40'], 4);
  assert.equal(r.heterogeneous, true);
  assert.deepEqual(r.stages.map((s) => s.gpus), [['A100', 'A40'], ['A40']]);
  assert.ok(r.lost.some((l) => /Stage 0 spans nodes of different GPU types \(A100, A40\)/.test(l)));
  assert.deepEqual(placementReport({ tp: 4, dp: 1, pp: 2 }, ['A40', 'A40'], 4).lost, []);
});

test('export --help: the degrees are one way to choose the plan (export has no --exhaustive)', async () => {
  const run = await runCli(['export', '--help']);
  assert.equal(run.code, 0, run.err);
  assert.doesNotMatch(run.out, /--exhaustive/);
  assert.match(run.out, /Plan by degrees \(instead of --csv or --best\):\n {2}--mbs <n>[^\n]*\n {2}--tp <n>[^\n]*\n {2}--dp <n>[^\n]*\n {2}--pp <n>/);
  const search = await runCli(['search', '--help']);
  assert.match(search.out, /One plan \(--exhaustive\):\n {2}--exhaustive/);
});

test('export: user errors exit 2 with a hint', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['export', '--rank', '1'], /--rank needs --csv/],
    [['export', '--csv', S1, '--rank', '100000'], /no row of rank 100000/],
    [['export', '--csv', S1, '--best'], /choose the plan one way/],
    [['export', '--csv', S1, '--rank', '1', '--model-type', 'llama8b'], /has 8·32\+2 = 258/],
    [['export', '--gpus', 'A40', '8', '--tp', '4', '--profile-dir', REF_PROFILES], /need --dp, --pp, --mbs/],
    [['export', '--gpus', 'A40', '8', '--tp', '3', '--dp', '1', '--pp', '8', '--mbs', '1', '--profile-dir', REF_PROFILES], /not a plan of this cluster/],
  ];
  for (const [argv, re] of cases) {
    const run = await runCli(argv);
    assert.equal(run.code, 2, `${argv.join(' ')}: ${run.out}`);
    assert.match(run.err, re);
  }
});

test('export: the CSV header of our own search (extra columns) is read too', async () => {
  const dir = tmp();
  const s = await runCli(['search', '--gpus', 'A40', '4', '--gbs', '32', '--profile-dir', REF_PROFILES, '--output-dir', dir, '--estimator', 'reference']);
  assert.equal(s.code, 0, s.err);
  const csv = join(dir, 'llama70b.csv');
  assert.match(readFileSync(csv, 'utf8').split('\n')[0]!, /placement/);
  const run = await runCli(['export', '--csv', csv, '--rank', '1', '--format', 'json', '--profile-dir', REF_PROFILES]);
  assert.equal(run.code, 0, run.err);
  const j = JSON.parse(run.out);
  assert.equal(j.plan.estimator, 'reference');
  assert.deepEqual(j.plan.placement, ['A40', 'A40', 'A40', 'A40']);
});

test('export warns when a pipeline plan has fewer micro-batches than stages (PyTorch\'s Schedule1F1B refuses it), and only then', async () => {
  const run = async (gbs: string) => {
    const r = await runCli(['export', '--gpus', 'H200', '1', '--gpu-per-node', '4', '--model-type', 'llama8b', '--gbs', gbs, '--tp', '1', '--dp', '1', '--pp', '4', '--mbs', '4', '--format', 'json']);
    assert.equal(r.code, 0, r.err);
    return (JSON.parse(r.out) as { warnings: string[] }).warnings;
  };
  assert.ok((await run('8')).some((w) => /2 micro-batches per step for 4 pipeline stages; PyTorch's Schedule1F1B refuses/.test(w)));
  assert.ok(!(await run('16')).some((w) => /Schedule1F1B/.test(w)), '4 micro-batches for 4 stages');
});

test('export --best --format torchtitan passes over plans torchtitan cannot express, says so, and exports the best it runs; megatron takes rank 1', async () => {
  const args = ['export', '--best', '--gpus', 'H100', '4', '--gbs', '64'];
  const json = await runCli([...args, '--format', 'json']);
  assert.equal(json.code, 0, json.err);
  const top = JSON.parse(json.out);
  // the default space's rank 1 here recomputes a layer count no every-k-th-block pattern gives
  assert.equal(top.plan.source.rank, 1);
  assert.ok(top.refused.torchtitan && /every k-th transformer block/.test(top.refused.torchtitan.message), JSON.stringify(top.refused));
  const mg = await runCli([...args, '--format', 'megatron']);
  assert.equal(mg.code, 0, mg.err);
  assert.doesNotMatch(mg.err, /NOTICE/);
  assert.match(mg.out, /--recompute-method block/);
  const tt = await runCli([...args, '--format', 'torchtitan']);
  assert.equal(tt.code, 0, tt.err);
  const notice = /\[NOTICE\] torchtitan cannot run the (?:plan|(\d+) plans) ranked above this one \(rank 1: torchtitan recomputes every k-th.*\); exporting rank (\d+), the best plan torchtitan runs/.exec(tt.err);
  assert.ok(notice, tt.err);
  assert.ok(Number(notice[2]) > 1);
  assert.match(tt.out, /\[parallelism\]/);
  // the default recipe is Megatron-LM's: the torchtitan export says how to price it as torchtitan runs
  assert.match(tt.out, /# note: torchtitan: the plan was priced under megatron-mixed .*--recipe fp32-master-adamw/);
  assert.match(tt.out, /estimated step time: ([\d.]+) s/);
  // slower than rank 1, as ranked
  assert.ok(Number(/estimated step time: ([\d.]+) s/.exec(tt.out)![1]) >= top.plan.stepTime_s);
});

// ---------- export --csv takes the search's model, recipe and cluster from the CSV ----------

/** A search in a fresh folder; its results CSV and the folder. */
async function searchCsv(argv: string[]): Promise<{ csv: string; cwd: string }> {
  const cwd = tmp();
  const s = await runCli(argv, cwd);
  assert.equal(s.code, 0, s.err);
  return { csv: savedCsvPath(s.out), cwd };
}
const exportIn = (cwd: string, argv: string[]) => runCli(['export', ...argv], cwd);
const oneError = (r: { code: number; out: string; err: string }, re: RegExp) => {
  assert.equal(r.code, 2, r.out + r.err);
  assert.equal(r.out, '', 'no partial output');
  assert.equal(r.err.trim().split('\n').length, 1, r.err);
  assert.match(r.err, /^fasop: error: .* — fix: /);
  assert.match(r.err, re);
};

const Q72 = JSON.stringify({ model_type: 'qwen2', hidden_size: 8192, intermediate_size: 29568, num_hidden_layers: 80, num_attention_heads: 64, num_key_value_heads: 8, max_position_embeddings: 32768, vocab_size: 152064 });

test('export --csv of a --model-config search: the model must be the CSV\'s (no silent llama70b), and the config file exports it', async () => {
  const cfg = join(tmp(), 'q72.json');
  writeFileSync(cfg, Q72);
  const { csv, cwd } = await searchCsv(['--gpus', 'H100', '4', '--model-config', cfg]);
  const bare = await exportIn(cwd, ['--csv', csv, '--format', 'megatron']);
  oneError(bare, /was searched with model qwen2-80L-8192h, which is not in the catalog .*export would use llama70b — fix: pass the search's --model-config FILE/);
  const wrong = await exportIn(cwd, ['--csv', csv, '--format', 'megatron', '--model-type', 'llama70b']);
  oneError(wrong, /--model-type llama70b is not the model of rank 1 of .*, which was searched with model qwen2-80L-8192h — fix: pass the search's --model-config FILE/);
  const right = await exportIn(cwd, ['--csv', csv, '--format', 'megatron', '--model-config', cfg]);
  assert.equal(right.code, 0, right.err);
  assert.match(right.out, /# plan: .*; qwen2-80L-8192h \(80 layers\)/);
  assert.match(right.out, /^--ffn-hidden-size 29568 \\$/m);
  assert.match(right.out, /^--vocab-size 152063 \\$/m);
  assert.doesNotMatch(right.out, /re-estimating the exported partition gives/, 'the same model re-estimates to the recorded step time');
});

test('export --csv of a catalog-model search takes the model from the CSV\'s model column, whatever the file is called', async () => {
  const { csv, cwd } = await searchCsv(['--gpus', 'H100', '1', '--model-type', 'llama8b', '--gbs', '16', '--plain']);
  const renamed = join(cwd, 'results.csv');
  copyFileSync(csv, renamed);
  const run = await exportIn(cwd, ['--csv', renamed, '--format', 'json']);
  assert.equal(run.code, 0, run.err);
  assert.equal(JSON.parse(run.out).plan.model, 'llama8b');
  oneError(await exportIn(cwd, ['--csv', renamed, '--model-type', 'llama70b']), /--model-type llama70b is not the model of rank 1 of .*searched with model llama8b — fix: pass --model-type llama8b, or drop the flag/);
});

test('export --csv: the recipe, cluster and estimator come from the CSV; search flags that do nothing there are refused; tied ranks are explained', async () => {
  const { csv, cwd } = await searchCsv(['--gpus', 'H100', '2', '--model-type', 'llama8b', '--gbs', '64', '--optimizer', 'fp32-master-adamw', '--recompute', 'none,selective,op,full', '--each-execution']);
  const rows = readPlanCsvFile(csv);
  assert.ok(rows.every((r) => /; recipe fp32-master-adamw\b/.test(r.record.cost_source)));

  // the recipe: taken from the CSV (and said so), re-estimated under it
  const taken = await exportIn(cwd, ['--csv', csv, '--rank', '1', '--format', 'json']);
  assert.equal(taken.code, 0, taken.err);
  assert.match(taken.err, /\[NOTICE\] rank 1 of .* was priced under recipe fp32-master-adamw \(its cost_source\): exporting under fp32-master-adamw, not the default megatron-mixed/);
  const j = JSON.parse(taken.out);
  assert.equal(j.plan.recipe, 'fp32-master-adamw');
  assert.deepEqual(j.warnings.filter((w: string) => /re-estimating/.test(w)), [], 'the re-estimate matches the recorded step time');
  const mg = await exportIn(cwd, ['--csv', csv, '--rank', '1', '--format', 'megatron']);
  assert.equal(mg.code, 0, mg.err);
  assert.match(mg.out, /# execution: .*; recipe fp32-master-adamw$/m);
  const same = await exportIn(cwd, ['--csv', csv, '--rank', '1', '--format', 'json', '--optimizer', 'fp32-master-adamw']);
  assert.equal(same.code, 0, same.err);
  assert.doesNotMatch(same.err, /NOTICE/);
  assert.equal(JSON.parse(same.out).plan.recipe, 'fp32-master-adamw');
  oneError(await exportIn(cwd, ['--csv', csv, '--recipe', 'megatron-mixed']), /--recipe megatron-mixed disagrees with rank 1 of .*, which was priced under recipe fp32-master-adamw — fix: drop --recipe \(export takes fp32-master-adamw from the CSV\)/);
  oneError(await exportIn(cwd, ['--csv', csv, '--launch', 'cuda-graph']), /--launch cuda-graph \(recipe fp32-master-adamw-graph\) disagrees with rank 1 of .*priced under recipe fp32-master-adamw/);

  // the cluster and estimator: the CSV's; another is one clear error naming both
  const sameCluster = await exportIn(cwd, ['--csv', csv, '--gpus', 'H100', '2', '--estimator', 'fasop', '--format', 'json']);
  assert.equal(sameCluster.code, 0, sameCluster.err);
  oneError(await exportIn(cwd, ['--csv', csv, '--gpus', 'H100', '4']), /--gpus H100 4 \(H100:4\) is not the cluster of rank 1 of .*, which runs on H100:2 — fix: drop --gpus/);
  const a40 = await exportIn(cwd, ['--csv', csv, '--gpus', 'A40', '4']);
  oneError(a40, /--gpus A40 4 \(A40:4\) is not the cluster of .*H100:2/);
  assert.doesNotMatch(a40.err, /gpu-per-node/);
  oneError(await exportIn(cwd, ['--csv', csv, '--estimator', 'reference']), /--estimator reference disagrees with rank 1 of .*, which the fasop estimator priced — fix: drop --estimator/);

  // flags that would shape another plan do nothing with --csv
  const idle: Array<[string[], string]> = [
    [['--gbs', '64'], '--gbs'], [['--recompute', 'none'], '--recompute'], [['--dataset', 'c4'], '--dataset'], [['--train-tokens', '1T'], '--train-tokens'],
    [['--pareto'], '--pareto'], [['--pp-partition-method', 'dp'], '--pp-partition-method'], [['--virtual-stages', '2'], '--virtual-stages'],
    [['--no-sequence-parallel'], '--no-sequence-parallel'], [['--dp-sharding', 'none'], '--dp-sharding'], [['--cp', '1'], '--cp'], [['--plain'], '--plain'],
  ];
  for (const [flag, name] of idle) {
    oneError(await exportIn(cwd, ['--csv', csv, ...flag]), new RegExp(`: error: ${name} does nothing with --csv: the plan comes from the CSV row \\(rank 1 of .*\\) — fix: drop it`));
  }
  oneError(await exportIn(cwd, ['--csv', csv, '--gbs', '8', '--recompute-layers', '2']), /--gbs, --recompute-layers do nothing with --csv: .* — fix: drop them/);

  // a rank that ties skip: the message names the ranks that exist around it
  const ranks = new Set(rows.map((r) => r.rank));
  const skipped = [...Array(Math.max(...ranks)).keys()].map((i) => i + 1).find((r) => !ranks.has(r));
  assert.ok(skipped !== undefined, 'the search has tied rows');
  const below = Math.max(...[...ranks].filter((r) => r < skipped));
  const above = Math.min(...[...ranks].filter((r) => r > skipped));
  const tied = rows.filter((r) => r.rank === below).length;
  assert.ok(tied >= 2);
  oneError(await exportIn(cwd, ['--csv', csv, '--rank', String(skipped)]),
    new RegExp(`no row of rank ${skipped} in .*: tied rows share the smallest rank, and ${tied} rows tie at rank ${below}, so the next rank is ${above} — fix: pass --rank ${below} \\(the first of the tied rows\\) or --rank ${above}$`, 'm'));
  oneError(await exportIn(cwd, ['--csv', csv, '--rank', String(rows.length + 1)]), new RegExp(`no row of rank ${rows.length + 1} .* — fix: pass a rank from 1 to ${Math.max(...ranks)}$`, 'm'));
  const first = await exportIn(cwd, ['--csv', csv, '--rank', String(below), '--format', 'json']);
  assert.equal(first.code, 0, first.err);
  assert.equal(JSON.parse(first.out).plan.source.tiedRows.length, tied);
});

test('export of a plan neither launcher runs: the fix does not suggest the --format already given', async () => {
  const run = await runCli(['export', '--gpus', 'H100', '2', '--best', '--virtual-stages', '5', '--recompute', 'full', '--recompute-layers', '2', '--format', 'megatron']);
  oneError(run, /Megatron-LM cannot run the one plan that fits \(rank 1: neither launcher can run the plan: .*\) — fix: for Megatron-LM: use a plan whose recompute_layers is a multiple of 5, or full recompute of every layer; for torchtitan: use a plan with full recompute of every layer$/m);
  assert.doesNotMatch(run.err, /--format/);
});
