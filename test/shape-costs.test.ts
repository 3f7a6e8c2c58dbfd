/**
 * Costs by shape in the one estimator path: ProfileDb.costTable's rule (per-model file only when its
 * records match, else the GPU's operator profile, else another GPU's derived), its cache, TP
 * degrees by shape, sequence lengths for catalog models and validation records, and the original's
 * README commands on GPUs nobody profiled here.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { getGpu, getModel, loadCatalog } from '../src/catalog/catalog.js';
import { modelFromHfConfig } from '../src/catalog/hf-config.js';
import { COL, LAYER_COLUMNS, NODE_COLUMNS } from '../src/model/graph.js';
import { decoderShapes } from '../src/model/shapes.js';
import { costLookupOf } from '../src/plan/resolve.js';
import { RECIPES } from '../src/estimate/recipe.js';
import { ProfileDb } from '../src/profiles/db.js';
import { costOf } from '../src/profiles/operator-costs.js';
import { readOperatorProfile } from '../src/profiles/operators.js';
import { planOfRecord } from '../src/validate/compare.js';
import { readValidationRecords } from '../src/validate/records.js';
import { readCsvFile } from './helpers/csv.js';
import { REF_PROFILES, runCli } from './helpers/cli.js';

const PROFILES = resolve(import.meta.dirname, '../profiles');
const catalog = loadCatalog();
const lookup = costLookupOf(catalog);
const QWEN = { model_type: 'qwen2', hidden_size: 3584, num_hidden_layers: 28, vocab_size: 152064, num_attention_heads: 28, num_key_value_heads: 4, intermediate_size: 18944, max_position_embeddings: 32768, tie_word_embeddings: false };
const layerCols = LAYER_COLUMNS.map((c) => NODE_COLUMNS.indexOf(c));
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

test('a model without per-model profiles is priced from the operator profile: its columns and extras add up to the layer\'s operators', () => {
  const db = ProfileDb.open(PROFILES);
  const qwen = modelFromHfConfig(QWEN, 'cfg.json', 4096, Object.values(catalog.models));
  assert.equal(qwen.name, 'qwen2-28L-3584h');
  const t = db.costTable(qwen, 'H200', 2, 2, lookup);
  assert.equal(t.format, 'operators');
  assert.deepEqual(t.mbs, [2]);
  const c = costOf(readOperatorProfile(join(PROFILES, 'ops_H200.json')), decoderShapes(qwen, { tp: 2, mbs: 2, seq: 4096 }).layer);
  const LAYER_EXTRAS: Record<string, number> = { attn_core: 1, rope: 1, input_norm: 1, post_attn_norm: 1, residual_add: 2, mlp_mul: 1 };
  const extras = (m: number[][]) => sum(t.extraNames.map((n, j) => (LAYER_EXTRAS[n] ?? 0) * m[0]![j]!));
  const fwd = sum(layerCols.map((k) => t.forward_ms[0]![k]!)) + extras(t.extraForward_ms!);
  const bwd = sum(layerCols.map((k) => t.backward_ms![0]![k]!)) + extras(t.extraBackward_ms!);
  assert.ok(Math.abs(fwd - c.forward_ms) < 1e-9 * c.forward_ms, `${fwd} vs ${c.forward_ms}`);
  assert.ok(Math.abs(bwd - c.backward_ms) < 1e-9 * c.backward_ms, `${bwd} vs ${c.backward_ms}`);
  assert.match(t.shapeSource!.words, /^operator profile H200 \(/);
  // costed once per (model, GPU, tp, mbs, seq): the same table comes back
  assert.equal(db.costTable(qwen, 'H200', 2, 2, lookup), t);
  assert.notEqual(db.costTable({ ...qwen, seq_length: 2048 }, 'H200', 2, 2, lookup), t);
});

test('a per-model profile is used only when its recorded sequence length matches; otherwise the operator profile prices it, said why', () => {
  const db = ProfileDb.open(PROFILES);
  const llama8b = getModel(catalog, 'llama8b');
  assert.equal(db.costTable(llama8b, 'H200', 1, 4, lookup).format, 'npz');
  const at4096 = db.costTable({ ...llama8b, seq_length: 4096 }, 'H200', 1, 4, lookup);
  assert.equal(at4096.format, 'operators');
  assert.equal(at4096.shapeSource!.note, 'llama8b_H200_1.npz is at seq 1024');
  // a longer sequence costs more than 4x the per-model row of 1024 tokens would (attention grows as s²)
  const per1024 = db.costTable(llama8b, 'H200', 1, 4, lookup);
  assert.ok(sum(at4096.forward_ms[0]!) > 3.5 * sum(per1024.forward_ms[per1024.mbs.indexOf(4)]!));
});

test('a per-model file whose recorded GPU contradicts its name is an error, never used', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fasop-shape-'));
  copyFileSync(join(PROFILES, 'llama8b_H200_1.npz'), join(dir, 'llama8b_H100_1.npz'));
  copyFileSync(join(PROFILES, 'ops_H200.json'), join(dir, 'ops_H200.json'));
  const db = ProfileDb.open(dir);
  assert.throws(() => db.costTable(getModel(catalog, 'llama8b'), 'H100', 1, 1, lookup), /llama8b_H100_1\.npz: the file name says gpu H100 but its 'gpu' array says "H200"/);
});

test('a GPU without an operator profile is derived from the measured one by its roofline: GEMMs by peak, element-wise operators by bandwidth past their fixed part', () => {
  const db = ProfileDb.open(PROFILES);
  const llama70b = getModel(catalog, 'llama70b');
  const h100 = db.costTable({ ...llama70b, seq_length: 2048 }, 'H100', 1, 8, lookup);
  const a100 = db.costTable({ ...llama70b, seq_length: 2048 }, 'A100', 1, 8, lookup);
  const peak = getGpu(catalog, 'H100').bf16Dense_TFLOPS! / getGpu(catalog, 'A100').bf16Dense_TFLOPS!;
  const bw = getGpu(catalog, 'H100').hbm_GBps! / getGpu(catalog, 'A100').hbm_GBps!;
  // the measured GPU nearest an A100 in peak and bandwidth is the H100
  assert.equal(a100.shapeSource!.derivedFrom, 'H100');
  assert.match(a100.shapeSource!.words, /derived from H100 \(compute x3\.170: 989\/312 TFLOP\/s, memory x2\.154: 3350\/1555 GB\/s\)/);
  // a 16384-token GEMM 8192 x 28672 is compute-bound on both; each carries the H100's load slowdown at its own GEMM share
  const unloaded = (t: typeof h100) => t.forward_ms[0]![COL.mlp_gate]! / t.shapeSource!.load!.slowdown;
  const ratio = unloaded(a100) / unloaded(h100);
  assert.ok(Math.abs(ratio - peak) < 1e-9, `${ratio} vs ${peak}`);
  // a norm is bandwidth-bound: its fixed part (the smallest RMSNorm time measured on the H100) stays, the rest scales with the bandwidth
  const j = a100.extraNames.indexOf('input_norm');
  const fixed = Math.min(...readOperatorProfile(join(PROFILES, 'ops_H100.json')).tables.rmsnorm!.points.map((p) => p[2]!));
  const t = h100.extraForward_ms![0]![j]!;
  assert.ok(fixed > 0 && fixed < t / 10, `${fixed} of ${t}`);
  assert.ok(Math.abs(a100.extraForward_ms![0]![j]! - (fixed + (t - fixed) * bw)) < 1e-9 * t, `${a100.extraForward_ms![0]![j]!} vs ${fixed + (t - fixed) * bw}`);
});

test('sustained load: a measured GPU\'s GEMMs are priced at the load family\'s slowdown for the layer\'s GEMM share, every other operator as measured', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fasop-load-'));
  const doc = JSON.parse(readFileSync(join(PROFILES, 'ops_H100.json'), 'utf8'));
  const rows = doc.sustained_load.rows as { gemm_share: number; gemm_slowdown: number | null }[];
  delete doc.sustained_load;
  writeFileSync(join(dir, 'ops_H100.json'), JSON.stringify(doc));
  const model = { ...getModel(catalog, 'llama8b'), seq_length: 4096 };
  const loaded = ProfileDb.open(PROFILES).costTable(model, 'H100', 1, 2, lookup);
  const plain = ProfileDb.open(dir).costTable(model, 'H100', 1, 2, lookup);
  const load = loaded.shapeSource!.load!;
  assert.equal(plain.shapeSource!.load, undefined);
  assert.match(loaded.shapeSource!.words, new RegExp(`GEMMs x${load.slowdown.toFixed(3)} under sustained load \\(${(100 * load.gemmShare).toFixed(0)} % of the layer's time\\)`));
  // the slowdown is the measured rows' line at that share: between the two rows around it
  const pts = rows.filter((r) => r.gemm_slowdown !== null).sort((a, b) => a.gemm_share - b.gemm_share);
  const hi = pts.findIndex((r) => r.gemm_share >= load.gemmShare);
  assert.ok(hi > 0 && load.gemmShare > 0.3 && load.gemmShare < 0.9, `share ${load.gemmShare}`);
  const [a, b] = [pts[hi - 1]!, pts[hi]!];
  assert.ok(Math.abs(load.slowdown - (a.gemm_slowdown! + ((load.gemmShare - a.gemm_share) / (b.gemm_share - a.gemm_share)) * (b.gemm_slowdown! - a.gemm_slowdown!))) < 1e-12);
  assert.ok(load.slowdown > 1.02);
  for (const c of [COL.attn_q, COL.mlp_gate, COL.mlp_down, COL.lm_head]) {
    assert.ok(Math.abs(loaded.forward_ms[0]![c]! - load.slowdown * plain.forward_ms[0]![c]!) < 1e-12, `column ${c}`);
    assert.ok(Math.abs(loaded.backward_ms[0]![c]! - load.slowdown * plain.backward_ms[0]![c]!) < 1e-12, `column ${c}`);
  }
  assert.deepEqual(loaded.extraForward_ms, plain.extraForward_ms); // attention, norms, RoPE, adds, loss
  assert.equal(loaded.forward_ms[0]![COL.mlp_act_fn], plain.forward_ms[0]![COL.mlp_act_fn]);
});

test('TP degrees by shape where an operator profile prices the model; the files\' TPs where none does', () => {
  const qwen = modelFromHfConfig(QWEN, 'cfg.json', 4096);
  assert.deepEqual(ProfileDb.open(PROFILES).tpsForModel(qwen, 'A100'), [1, 2, 4]); // 28 heads, 4 KV heads
  assert.deepEqual(ProfileDb.open(REF_PROFILES).tpsForModel(getModel(catalog, 'llama70b'), 'A40'), [1, 2, 4, 8]);
});

test('model names come from the config\'s contents: a Qwen2 config saved as llama8b.json is not LLaMA-8B; a LLaMA-8B config is', () => {
  const known = Object.values(catalog.models);
  assert.equal(modelFromHfConfig(QWEN, 'llama8b.json', undefined, known).name, 'qwen2-28L-3584h');
  const l8 = { model_type: 'llama', hidden_size: 4096, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 14336, vocab_size: 128256, max_position_embeddings: 131072, tie_word_embeddings: false };
  assert.equal(modelFromHfConfig(l8, 'whatever.json', undefined, known).name, 'llama8b');
});

test('--seq-length prices a catalog model at that length (and the per-model file at its own)', async () => {
  const args = ['--gpus', 'H200', '1', '--gpu-per-node', '1', '--model-type', 'llama8b', '--gbs', '8', '--exhaustive', '--mbs', '1', '--tp', '1', '--dp', '1', '--pp', '1'];
  const a = await runCli(args);
  const b = await runCli([...args, '--seq-length', '4096']);
  assert.equal(a.code, 0, a.err);
  assert.equal(b.code, 0, b.err);
  const step = (t: string) => Number(/step time: ([\d.]+) s/.exec(t)![1]);
  // eight micro-batches of 4x the tokens (attention growing faster), one optimizer step
  assert.ok(step(b.out) > 3 * step(a.out), `${step(b.out)} vs ${step(a.out)}`);
  assert.match(a.out, /compute costs: H200 tp1 mbs1: exact row/);
  assert.match(b.out, /operator profile H200 .*\(llama8b_H200_1\.npz is at seq 1024\)/);
});

test('fasop validate prices a record at its own sequence length and dimensions', () => {
  const recs = readValidationRecords(resolve(import.meta.dirname, '../validation/results/shapes'));
  const r = recs.find((x) => x.file.includes('llama8b32L_s4096'))!;
  const plan = planOfRecord(r, catalog, ProfileDb.open(PROFILES));
  assert.equal(plan.model.seq_length, 4096);
  assert.equal(plan.profiles['H200']!.format, 'operators');
  const g = recs.find((x) => x.file.includes('gpt2'))!;
  const gp = planOfRecord(g, catalog, ProfileDb.open(PROFILES));
  assert.equal(gp.model.architecture, 'gpt2');
  assert.equal(gp.profiles['H200']!.meta['seq_length'], 2048);
});

test('the original\'s README commands run on GPUs without profiles here, derived from H100 and said so', async () => {
  // with the techniques of the default space (recompute, the distributed optimizer) some plans fit 4 nodes of 40 GB A100s
  const a = await runCli(['--gpus', 'A100', '4', '--gbs', '128', '--dataset', 'pile', '--original-names']);
  assert.equal(a.code, 0, a.err);
  const rows = readCsvFile(join(a.cwd, 'main_logs', 'llama70b.csv'));
  assert.ok(rows.length > 0);
  for (const r of rows) assert.match(r['cost_source']!, /^A100 tp\d mbs\d+: operator profile H100 .*derived from H100/);
  assert.match(a.out, /^ {2}Priced by: A100 tp\d mbs\d+: operator profile H100 .*derived from H100/m);
  // exit 0 or 3 (the CSV is written either way): whether a whole-layer partition fits the 40 GB A100 and the A40s is the search's answer
  const b = await runCli(['--gpus', 'A40', '8', 'A100', '1', '--model-type', 'llama70b', '--dataset', 'c4', '--original-names']);
  assert.ok(b.code === 0 || b.code === 3, b.err);
  const het = readCsvFile(join(b.cwd, 'main_logs', 'llama70b_heterogeneous.csv'));
  assert.ok(het.length > 0 || b.code === 3);
  for (const r of het) {
    assert.match(r['cost_source']!, /A40 tp\d mbs\d+: operator profile H100 .*derived from H100/);
    assert.match(r['cost_source']!, /A100 tp\d mbs\d+: operator profile H100 .*derived from H100/);
  }
  assert.match(b.out, /Priced by: .*derived from H100/);
});

test('the reference profiles folder (no operator profile) keeps refusing GPUs it has no file for', async () => {
  const r = await runCli(['--gpus', 'A100', '2', '--profile-dir', REF_PROFILES, '--estimator', 'reference']);
  assert.equal(r.code, 2);
  assert.match(r.err, /no profile for model llama70b on GPU A100 .*no operator profile/);
});

test('an output width that is not a multiple of 8 (an unpadded vocabulary) is priced from the unaligned GEMM table; Megatron pads, PyTorch recipes do not', () => {
  const ops = readOperatorProfile(join(PROFILES, 'ops_H200.json'));
  const gpt2 = { ...getModel(catalog, 'llama1b'), architecture: 'gpt2' as const, name: 'gpt2-like', hidden_size: 1600, num_attention_heads: 25, num_key_value_heads: 25, intermediate_size: 6400, vocab_size: 50257, seq_length: 2048, tie_word_embeddings: true };
  const lmOf = (vocabMultiple: number) => decoderShapes(gpt2, { tp: 1, mbs: 2, seq: 2048, vocabMultiple }).last.find((s) => s.name === 'lm_head')!;
  const padded = lmOf(128);
  const raw = lmOf(1);
  assert.equal(padded.table, 'linear');
  assert.equal(padded.dims['out_features'], 50304);
  assert.equal(raw.table, 'linear_unaligned');
  assert.equal(raw.dims['out_features'], 50257);
  const fast = costOf(ops, [padded]);
  const slow = costOf(ops, [raw]);
  // the measured unaligned kernels run several times slower than the aligned ones at the same size
  assert.ok(slow.forward_ms > 3 * fast.forward_ms && slow.backward_ms > 3 * fast.backward_ms, `${slow.forward_ms} vs ${fast.forward_ms}`);
  // a profile measured without the table prices it as aligned and says so
  const older = { ...ops, tables: { ...ops.tables, linear_unaligned: undefined } };
  const asAligned = costOf(older, [raw]);
  assert.ok(Math.abs(asAligned.forward_ms - costOf(ops, [{ ...raw, table: 'linear' }]).forward_ms) < 1e-12);
  assert.match(asAligned.outside.join(' '), /lm_head: out_features 50257 not a multiple of 8, priced as aligned/);
  // the recipe decides the padding: megatron-mixed's cost table keys on 128, bf16-adamw's on 1
  const db = ProfileDb.open(PROFILES);
  const meg = db.costTable(gpt2, 'H200', 1, 2, costLookupOf(catalog, RECIPES['megatron-mixed']));
  const pt = db.costTable(gpt2, 'H200', 1, 2, costLookupOf(catalog, RECIPES['bf16-adamw']));
  const lm = NODE_COLUMNS.indexOf('lm_head');
  assert.ok(pt.forward_ms[0]![lm]! > 3 * meg.forward_ms[0]![lm]!);
});

test('the harness\'s runs with torchtitan\'s per-operator recompute (op): LLaMA-like shapes within 5 % step time and 1 % peak memory', async () => {
  const { compareRecords } = await import('../src/validate/compare.js');
  const recs = readValidationRecords(resolve(import.meta.dirname, '../validation/results/recompute-op'));
  const s = await compareRecords(recs, catalog, ProfileDb.open(PROFILES), 'fasop');
  const llama = s.plans.filter((p) => !/gpt2/.test(p.scenario));
  assert.equal(llama.length, 3);
  for (const p of llama) {
    assert.ok(Math.abs(p.stepError) < 0.05, `${p.scenario}: step ${p.stepError}`);
    assert.ok(Math.abs(p.memoryError) < 0.01, `${p.scenario}: memory ${p.memoryError}`);
  }
});

/**
 * One validation set scored with the fasop estimator: the run count, every run's step and memory error
 * within its bound, MAPE within 5 %, and each run that ran out of memory predicted not to fit.
 */
async function scoreSet(dir: string, o: { runs: number; step: number; memory: number; ooms: number }) {
  const { compareRecords, formatComparison } = await import('../src/validate/compare.js');
  const recs = readValidationRecords(resolve(import.meta.dirname, '../validation/results', dir));
  const s = await compareRecords(recs, catalog, ProfileDb.open(PROFILES), 'fasop');
  assert.equal(s.plans.length, o.runs, dir);
  for (const p of s.plans) {
    assert.ok(Math.abs(p.stepError) < o.step, `${dir} ${p.scenario}: step ${p.stepError}`);
    assert.ok(Math.abs(p.memoryError) < o.memory, `${dir} ${p.scenario}: memory ${p.memoryError}`);
  }
  assert.ok(s.overall.stepMape < 0.05, `${dir} MAPE ${s.overall.stepMape}`);
  assert.equal(s.outOfMemory.length, o.ooms, dir);
  for (const x of s.outOfMemory) assert.ok(x.predictedOom && x.predictedPeak_GiB > x.limit_GiB, JSON.stringify(x));
  return { recs, text: formatComparison(s) };
}

test('the H100 shapes set, priced from ops_H100.json: within 10 % step time and 2 % peak memory each, and the run that ran out of memory is predicted not to fit', async () => {
  const { text } = await scoreSet('shapes_h100', { runs: 14, step: 0.1, memory: 0.02, ooms: 1 });
  assert.match(text, /runs that ran out of GPU memory: 1, predicted not to fit: 1 \(.*32L.*GiB predicted, limit 79\.\d\d GiB\)/);
});

test('the whole-models sets: each run within 10 % step time and 1 % peak memory, MAPE within 5 %, and on the H100 both runs that ran out of memory are predicted not to fit', async () => {
  for (const [dir, runs, ooms] of [['whole', 6, 0], ['whole_h100', 4, 2]] as const) {
    const { text } = await scoreSet(dir, { runs, step: 0.1, memory: 0.01, ooms });
    if (ooms) assert.match(text, new RegExp(`runs that ran out of GPU memory: ${ooms}, predicted not to fit: ${ooms} `));
  }
});

test('the long-sequence set (16384-65536) on the H100: each run within 6 % step time and 1 % peak memory, MAPE within 5 %, the 65536 run flagged as extrapolated, and the run that ran out of memory predicted not to fit', async () => {
  const { recs } = await scoreSet('long_h100', { runs: 6, step: 0.06, memory: 0.01, ooms: 1 });
  for (const r of recs.filter((x) => !x.measured.oom)) {
    const src = planOfRecord(r, catalog, ProfileDb.open(PROFILES)).profiles['H100']!.shapeSource!;
    if (r.file.includes('s65536')) assert.ok(src.outside.some((o) => /attn_core: seq 65536 > 32768/.test(o)), src.outside.join('; '));
    else assert.ok(!src.outside.some((o) => o.startsWith('attn_core')), `${r.file}: ${src.outside.join('; ')}`);
  }
});
