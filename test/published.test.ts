/** Published measurements (validation/published): the files, their conversions, the loader's errors, the scorer end to end and `fasop validate --published`. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCatalog } from '../src/catalog/catalog.js';
import { FasopError } from '../src/errors.js';
import { trainingFlopsPerToken } from '../src/model/flops.js';
import { defaultProfileDir } from '../src/paths.js';
import { ProfileDb } from '../src/profiles/db.js';
import {
  executionOf, outOfScope, publishedPeak_GiB, publishedStepTime, readPublishedSets, type PublishedRecord,
} from '../src/validate/published-records.js';
import { getEstimator } from '../src/estimate/index.js';
import { planOfPublished, scorePublished } from '../src/validate/published.js';
import { runCli } from './helpers/cli.js';

const DIR = join(import.meta.dirname, '..', 'validation', 'published');
const all = () => readPublishedSets(DIR).flatMap((s) => s.records);

test('the published files parse: at least 10 records from at least 3 sources, each with its source and the figures as quoted', () => {
  const sets = readPublishedSets(DIR);
  assert.ok(sets.length >= 3, String(sets.length));
  const recs = sets.flatMap((s) => s.records);
  assert.ok(recs.length >= 10 && recs.length <= 400, String(recs.length));
  assert.ok(new Set(recs.map((r) => r.source.repo ?? r.source.url)).size >= 3, 'three distinct sources');
  for (const r of recs) {
    assert.ok(r.source.url !== undefined || (r.source.repo !== undefined && r.source.path !== undefined), r.id);
    assert.ok(r.source.commit !== undefined || r.source.version !== undefined, r.id);
    assert.ok(r.published.quoted.length > 0 && r.notes.length > 0, r.id);
    assert.equal(r.nodes * r.gpusPerNode, r.tp * r.cp * r.dp * r.pp, r.id);
  }
});

test('held-out flags: about half of the in-scope records, spread over the sources', () => {
  const inScope = all().filter((r) => outOfScope(r) === undefined);
  const held = inScope.filter((r) => r.heldOut);
  assert.ok(held.length >= 0.3 * inScope.length && held.length <= 0.7 * inScope.length, `${held.length} of ${inScope.length}`);
  assert.ok(new Set(held.map((r) => r.file)).size >= 3, 'held-out records in at least three files');
  assert.ok(inScope.some((r) => !r.heldOut), 'some records are not held out');
});

/** A record with only the fields the conversions read (MPT-7B at 2048 on 8 H100, llm-foundry's row). */
function mpt7b(published: PublishedRecord['published']): PublishedRecord {
  const rec = all().find((r) => r.id === 'mpt-7b-s2048-8xh100')!;
  return { ...rec, published };
}

test('conversions: tokens/s, tokens/s/GPU and TFLOP/s/GPU to a step time on a worked example; the median of a series; bytes to GiB', () => {
  // 48 sequences of 2048 tokens = 98304 tokens per step; the row publishes 85144 T/s and 10643 T/s/GPU on 8 GPUs
  assert.ok(Math.abs(publishedStepTime(mpt7b({ quoted: 'x', tokens_per_s: 85144 })).step_s - 98304 / 85144) < 1e-12);
  assert.ok(Math.abs(publishedStepTime(mpt7b({ quoted: 'x', tokens_per_s_per_gpu: 10643 })).step_s - 1.1545617) < 1e-6, '98304 / 85144');
  assert.equal(publishedStepTime(mpt7b({ quoted: 'x', tokens_per_s_per_gpu: 10643 })).from, 'gbs·seq / (tokens/s/GPU · GPUs)');
  // TFLOP/s/GPU at PaLM's FLOPs per token gives the same step as the tokens/s/GPU it came from
  const rec = mpt7b({ quoted: 'x', tokens_per_s_per_gpu: 10643 });
  const tflops = (10643 * trainingFlopsPerToken(rec.model)) / 1e12;
  const viaFlops = publishedStepTime(mpt7b({ quoted: 'x', model_tflops_per_gpu: tflops, flops_formula: 'palm' })).step_s;
  assert.ok(Math.abs(viaFlops - 1.1545617) < 1e-6, String(viaFlops));
  // a published step time wins over throughput; a series gives its median
  assert.equal(publishedStepTime(mpt7b({ quoted: 'x', step_time_s: 2, tokens_per_s: 1 })).step_s, 2);
  assert.equal(publishedStepTime(mpt7b({ quoted: 'x', step_time_s_series: [0.3, 0.1, 0.2] })).step_s, 0.2);
  assert.equal(publishedStepTime(mpt7b({ quoted: 'x', step_time_s_series: [0.4, 0.1, 0.2, 0.3] })).step_s, 0.25);
  assert.equal(publishedPeak_GiB(mpt7b({ quoted: 'x', tokens_per_s: 1, peak_memory_bytes: 3 * 2 ** 30, memory_metric: 'max_allocated', memory_ranks: 'last_rank' })), 3);
  assert.ok(Number.isNaN(publishedPeak_GiB(mpt7b({ quoted: 'x', tokens_per_s: 1 }))));
});

/** A folder holding one copy of a shipped file, changed by `edit`. */
function folderWith(edit: (doc: { records: Record<string, unknown>[] }) => void, file = 'megatron-lm-functional-tests.json'): string {
  const dir = mkdtempSync(join(tmpdir(), 'fasop-published-'));
  const doc = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as { records: Record<string, unknown>[] };
  edit(doc);
  writeFileSync(join(dir, file), JSON.stringify(doc));
  return dir;
}

const refused = (dir: string, what: RegExp) => assert.throws(() => readPublishedSets(dir), (e: unknown) => e instanceof FasopError && what.test(e.message) && !e.message.includes('\n'));

test('bad files are refused naming the file and the problem', () => {
  refused(folderWith((d) => { d.records[0]!['dp'] = 3; }), /megatron-lm-functional-tests\.json.*nodes · gpusPerNode must equal tp · cp · dp · pp/);
  refused(folderWith((d) => { delete (d.records[0]!['source'] as Record<string, unknown>)['commit']; }), /a source needs a commit or a version/);
  refused(folderWith((d) => { d.records[0]!['source'] = { version: 'v1' }; }), /a source needs a url, or a repo and a path/);
  refused(folderWith((d) => { delete d.records[0]!['recompute']; }), /16-bit record needs recompute/);
  refused(folderWith((d) => { d.records[0]!['sequenceParallel'] = true; }), /execution cannot run: sequence parallelism needs tp > 1/);
  refused(folderWith((d) => { (d.records[0]!['model'] as Record<string, unknown>)['num_attention_heads'] = 7; }), /model is malformed/);
  refused(folderWith((d) => { d.records[1]!['id'] = d.records[0]!['id']; }), /appears in/);
  refused(folderWith((d) => { (d.records[0]!['published'] as Record<string, unknown>)['memory_ranks'] = undefined; }), /memory_metric and memory_ranks/);
  refused(folderWith((d) => { (d as Record<string, unknown>)['recipe'] = 'torchtitan'; }), /recipe must be one of megatron-mixed/);
  refused(folderWith((d) => { d.records[0]!['cp'] = 2; d.records[0]!['dp'] = 2; }), /an unfused attention runs without context parallelism/);
  refused(folderWith((d) => { d.records[0]!['attention'] = 'sdpa'; }), /attention/);
  refused(folderWith((d) => { d.records[0]!['recipe'] = 'pure-bf16'; }), /recipe must be one of megatron-mixed/);
  refused(folderWith((d) => { (d.records[0]!['gpu'] as Record<string, unknown>)['interNode_Gbps'] = -1; }), /interNode_Gbps/);
  refused(mkdtempSync(join(tmpdir(), 'fasop-published-')), /no \*\.json published measurements/);
});

test('the scorer runs on the whole set: a finite prediction for every in-scope record, the execution passed through, the others listed with their reason', async () => {
  const catalog = loadCatalog();
  const profiles = ProfileDb.open(defaultProfileDir());
  const sets = readPublishedSets(DIR);
  const recs = sets.flatMap((s) => s.records);
  const s = await scorePublished(sets, catalog, profiles);
  const inScope = recs.filter((r) => outOfScope(r) === undefined);
  assert.equal(s.scores.length, inScope.length);
  assert.equal(s.scores.length + s.unscored.length, recs.length);
  for (const p of s.scores) {
    assert.ok(Number.isFinite(p.predictedStep_s) && p.predictedStep_s > 0, p.id);
    assert.ok(Number.isFinite(p.predictedPeak_GiB) && p.predictedPeak_GiB > 0, p.id);
    assert.ok(Number.isFinite(p.stepError), p.id);
  }
  assert.ok(s.unscored.every((u) => /fp8|context parallel/.test(u.reason)), JSON.stringify(s.unscored));
  assert.equal(s.heldOut.records + s.rest.records, s.scores.length);
  // every run a source published ran, so none may be predicted over its GPU's memory
  assert.deepEqual(s.scores.filter((p) => p.oom).map((p) => p.id), []);
  // H100 records are priced from H100's own operator profile; A100-80G and H100-96G (torchtitan's 2.4 TB/s part) ones derived from the nearest measured GPU, the H100
  const byShape = (gpu: string) => s.scores.filter((p) => p.gpu === gpu && /operator profile/.test(p.costSource));
  assert.ok(byShape('H100').length > 0 && byShape('H100').every((p) => /operator profile H100/.test(p.costSource) && !/derived/.test(p.costSource)));
  assert.ok(byShape('A100-80G').length > 0 && byShape('A100-80G').every((p) => /derived from H100/.test(p.costSource)));
  assert.ok(byShape('H100-96G').length > 0 && byShape('H100-96G').every((p) => /derived from H100 \(compute x1\.000: 989\/989 TFLOP\/s, memory x1\.396/.test(p.costSource)));
  // the plan carries the record's execution
  const fsdp = recs.find((r) => r.id === 'tt-llama3.1-8b-fsdp8-h100')!;
  const plan = planOfPublished(fsdp, catalog, profiles);
  assert.deepEqual(plan.execution, executionOf(fsdp));
  assert.equal(plan.execution!.dpSharding, 'parameters');
  assert.equal(plan.execution!.recompute, 'op');
  assert.equal(plan.model.seq_length, 8192);
  // under its file's recipe (torchtitan runs PyTorch), the Megatron-LM records under the default
  assert.equal(plan.recipe!.name, 'fp32-master-adamw');
  const mlm = recs.find((r) => r.file === 'megatron-lm-functional-tests.json')!;
  // with the attention its runs used (--transformer-impl local: unfused)
  assert.equal(mlm.attention, 'unfused');
  assert.equal(planOfPublished(mlm, catalog, profiles).recipe!.name, 'megatron-mixed+unfused-attention');
});

test('a record\'s own recipe wins over its file\'s; a stated network replaces the catalog type\'s between nodes only', async () => {
  const catalog = loadCatalog();
  const profiles = ProfileDb.open(defaultProfileDir());
  const file = 'llm-foundry-a100-40g.json';
  // the file's recipe (bf16-adamw) unless a record names another
  const dir = folderWith((d) => { d.records[1]!['recipe'] = 'fp32-master-adamw'; }, file);
  const [r0, r1] = readPublishedSets(dir)[0]!.records;
  assert.equal(planOfPublished(r0!, catalog, profiles).recipe!.name, 'bf16-adamw+fused-cross-entropy');
  assert.equal(planOfPublished(r1!, catalog, profiles).recipe!.name, 'fp32-master-adamw+fused-cross-entropy');
  // 16 nodes of A100 at the table's 1600 Gb/s, against the catalog A100's 40 Gb/s
  const multi = readPublishedSets(DIR).flatMap((s) => s.records).find((r) => r.id === 'mpt-70b-s2048-128xa100-40g')!;
  assert.equal(multi.gpu.interNode_Gbps, 1600);
  const stated = planOfPublished(multi, catalog, profiles);
  const { interNode_Gbps: _, ...gpu } = multi.gpu;
  const plain = planOfPublished({ ...multi, gpu }, catalog, profiles);
  assert.ok(stated.nodes.every((n) => n.interNode_bps === 1.6e12) && plain.nodes.every((n) => n.interNode_bps === 4e10));
  const estimator = getEstimator('fasop');
  const [fast, slow] = [await estimator(stated), await estimator(plain)];
  assert.ok(fast.stepTime_s < slow.stepTime_s, `${fast.stepTime_s} < ${slow.stepTime_s}`);
  // on one node the network between nodes is not used
  const one = readPublishedSets(DIR).flatMap((s) => s.records).find((r) => r.id === 'mpt-7b-s2048-8xa100-40g')!;
  const onePlan = planOfPublished({ ...one, gpu: { ...one.gpu, interNode_Gbps: 1600 } }, catalog, profiles);
  assert.equal((await estimator(onePlan)).stepTime_s, (await estimator(planOfPublished(one, catalog, profiles))).stepTime_s);
});

test('a record with a fused loss holds its logits and their gradient at the loss\'s peak: 4 B a logit in bf16, not the plain loss\'s 14', async () => {
  const catalog = loadCatalog();
  const profiles = ProfileDb.open(defaultProfileDir());
  // MPT-7B at 2,048 on 8 H100, micro-batch 6, no recompute: llm-foundry's loss
  const rec = all().find((r) => r.id === 'mpt-7b-s2048-8xh100')!;
  assert.equal(rec.loss, 'fused');
  const plain = { ...rec, loss: 'plain' as const };
  const fusedPlan = planOfPublished(rec, catalog, profiles);
  assert.equal(fusedPlan.recipe!.name, 'fp32-master-adamw+fused-cross-entropy');
  assert.equal(fusedPlan.recipe!.lossPeakBytesPerLogit, 4);
  const estimator = getEstimator('fasop');
  const [fused, unfused] = [await estimator(fusedPlan), await estimator(planOfPublished(plain, catalog, profiles))];
  const logits = rec.mbs * rec.model.seq_length * rec.model.vocab_size;
  const saved_GiB = unfused.breakdown.stages[0]!.memory_GiB - fused.breakdown.stages[0]!.memory_GiB;
  assert.ok(Math.abs(saved_GiB - ((14 - 4) * logits) / 2 ** 30) < 1e-9, String(saved_GiB));
  // memory only: the step is the same
  assert.equal(fused.stepTime_s, unfused.stepTime_s);
  refused(folderWith((d) => { d.records[0]!['loss'] = 'liger'; }), /loss/);
});

test('a published pipeline plan takes the launcher\'s even layer split, not a partition fasop would choose', async () => {
  const catalog = loadCatalog();
  const profiles = ProfileDb.open(defaultProfileDir());
  for (const [id, layers] of [['mlm-gpt12l-h512-tp1-pp2-dp4', [6, 6]], ['mlm-gpt12l-h512-tp1-pp4-dp2', [3, 3, 3, 3]]] as const) {
    const rec = all().find((r) => r.id === id)!;
    const plan = planOfPublished(rec, catalog, profiles);
    assert.equal(plan.partitionMethod, 'even');
    const est = await getEstimator('fasop')(plan);
    assert.deepEqual(est.partitionLayers, layers, id);
  }
});

test('fasop validate --published prints every in-scope record; run-only flags are refused with it; a folder is still needed without it', async () => {
  const r = await runCli(['validate', '--published']);
  assert.equal(r.code, 0, r.err);
  for (const rec of all()) assert.ok(r.out.includes(`| ${rec.id} |`), rec.id);
  assert.match(r.out, /held-out records: step time MAPE [\d.]+ %, max \|error\| [\d.]+ %, mean signed -?[\d.]+ %/);
  // the scores by sequence length, overall and for each source with records on both sides
  assert.match(r.out, /^by sequence ≤ 4096: step time MAPE [\d.]+ %.* over \d+ records/m);
  assert.match(r.out, /^by sequence > 4096: step time MAPE [\d.]+ %.* over \d+ records/m);
  assert.match(r.out, /^— llm-foundry-h100\.json, sequence > 4096: step time MAPE/m);
  // runs the sources ran that the estimate finds over memory, counted as the table flags them
  const flagged = r.out.split('\n').filter((l) => l.startsWith('| ') && l.includes('[OOM]')).length;
  assert.match(r.out, new RegExp(`^predicted not to fit, though the source ran them: ${flagged} of \\d+ records`, 'm'));
  const bad = await runCli(['validate', '--published', '--estimator', 'reference']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--estimator does nothing with --published/);
  assert.equal(bad.err.trim().split('\n').length, 1);
  const folder = await runCli(['validate', DIR]);
  assert.equal(folder.code, 2);
  assert.match(folder.err, /holds published measurements, not validation results — fix: score them with fasop validate --published/);
  const none = await runCli(['validate']);
  assert.equal(none.code, 2);
  assert.match(none.err, /needs a folder of validation results/);
});
