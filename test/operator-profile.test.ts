/** Operator profiles by shape: reading, interpolation, model shapes, and the per-layer check against the per-model profiles. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { getModel, loadCatalog } from '../src/catalog/catalog.js';
import { modelFromHfConfig } from '../src/catalog/hf-config.js';
import { FasopError } from '../src/errors.js';
import { costOf, lookup, operatorCost } from '../src/estimate/operator-costs.js';
import { decoderShapes } from '../src/model/shapes.js';
import { MAX_OPERATOR_PROFILE_BYTES, parseOperatorProfile, readOperatorProfile, type OperatorTable } from '../src/profiles/operators.js';
import { layerRows, pctErr, summarize } from '../validation/checks/operator_layers.js';

const PROFILES = join(import.meta.dirname, '..', 'profiles');
const H200 = join(PROFILES, 'ops_H200.json');
const catalog = loadCatalog();

function dir(): string {
  const d = join(tmpdir(), `fasop-ops-${process.pid}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(d, { recursive: true });
  return d;
}

function doc(tables: Record<string, unknown>): string {
  return JSON.stringify({
    format: 'fasop-operator-profile', version: 1, gpu: 'X1', gpu_name: 'Test X1', driver_version: '1', cuda_version: '1',
    torch_version: '1', date: '2026-01-01', dtype: 'bf16', tables,
  });
}

const SYN: OperatorTable = {
  axes: ['width', 'tokens'],
  fields: ['forward_ms', 'backward_ms'],
  points: [
    [1024, 512, 0.01, 0.02], [1024, 1024, 0.012, 0.025], [1024, 4096, 0.04, 0.09],
    [4096, 512, 0.02, 0.04], [4096, 1024, 0.035, 0.07], [4096, 2048, 0.07, 0.13],
  ],
};

test('operator profile: the shipped H200 file parses with every table, from a regular file', () => {
  const p = readOperatorProfile(H200);
  assert.equal(p.gpu, 'H200');
  assert.match(p.gpuName, /H200/);
  for (const t of ['linear', 'attention', 'rmsnorm', 'layernorm', 'rope', 'silu', 'gelu', 'mul', 'add', 'embedding',
    'cross_entropy', 'vocab_parallel_cross_entropy', 'adamw_bf16_states', 'adamw_fp32_master'] as const) {
    assert.ok((p.tables[t]?.points.length ?? 0) > 0, `table ${t}`);
  }
  assert.ok(p.driverVersion.length > 0 && p.cudaVersion.length > 0 && p.torchVersion.length > 0);
});

test('operator profile: bad files are one FasopError naming the problem', () => {
  const d = dir();
  const cases: [string, string | undefined, RegExp][] = [
    ['notjson.json', '{oops', /not valid JSON/],
    ['format.json', JSON.stringify({ format: 'other' }), /format/],
    ['axes.json', doc({ rmsnorm: { ...SYN, axes: ['tokens', 'width'] } }), /axes \[tokens, width\]/],
    ['arity.json', doc({ rmsnorm: { ...SYN, points: [[1024, 512, 0.01]] } }), /3 numbers, expected 4/],
    ['unknown.json', doc({ softmax: SYN }), /unknown table 'softmax'/],
    ['zero.json', doc({ rmsnorm: { ...SYN, points: [[1024, 512, 0, 0.01]] } }), /time <= 0/],
    ['quick.json', doc({ rmsnorm: SYN }).replace('"dtype":"bf16"', '"dtype":"bf16","quick":true'), /--quick/],
    ['empty.json', '', /empty/],
  ];
  for (const [name, text, re] of cases) {
    writeFileSync(join(d, name), text ?? '');
    assert.throws(() => readOperatorProfile(join(d, name)), (e: unknown) => e instanceof FasopError && re.test(e.message), name);
  }
  assert.throws(() => readOperatorProfile(d), (e: unknown) => e instanceof FasopError && /not a regular file/.test(e.message));
  assert.throws(() => readOperatorProfile(join(d, 'missing.json')), (e: unknown) => e instanceof FasopError && /ENOENT/.test(e.message));
  const big = join(d, 'big.json');
  writeFileSync(big, Buffer.alloc(MAX_OPERATOR_PROFILE_BYTES + 1, 32));
  assert.throws(() => readOperatorProfile(big), (e: unknown) => e instanceof FasopError && /more than the/.test(e.message));
  assert.throws(() => parseOperatorProfile(doc({ rmsnorm: { ...SYN, points: [...SYN.points, [1024, 512, 0.3, 0.3]] } }), 'dup'), FasopError);
  const ok = parseOperatorProfile(doc({ rmsnorm: SYN }), 'x');
  assert.throws(() => lookup(ok.tables.rmsnorm!, [1024, 1024, 1], 'forward_ms'), FasopError);
});

test('interpolation: exact at every grid point of the shipped file, for every field', () => {
  const p = readOperatorProfile(H200);
  for (const [name, t] of Object.entries(p.tables)) {
    const step = Math.max(1, Math.floor(t.points.length / 300));
    for (let i = 0; i < t.points.length; i += step) {
      const pt = t.points[i]!;
      const q = pt.slice(0, t.axes.length);
      t.fields.forEach((f, j) => {
        const r = lookup(t, q, f);
        assert.ok(Math.abs(r.ms - pt[t.axes.length + j]!) <= 1e-9 * pt[t.axes.length + j]!, `${name} ${q.join('x')} ${f}: ${r.ms} vs ${pt[t.axes.length + j]}`);
        assert.deepEqual(r.outside, [], `${name} ${q.join('x')} flagged`);
      });
    }
  }
});

test('interpolation: log-log between points, monotone, extrapolation flagged and proportional above the size axis', () => {
  const t = SYN;
  // halfway in log between tokens 1024 and 4096 at width 1024: the geometric mean
  const mid = lookup(t, [1024, 2048], 'forward_ms');
  assert.ok(Math.abs(mid.ms - Math.sqrt(0.012 * 0.04)) < 1e-12);
  assert.deepEqual(mid.outside, []);
  // between widths: geometric mean of the two widths' values at tokens 1024
  assert.ok(Math.abs(lookup(t, [2048, 1024], 'forward_ms').ms - Math.sqrt(0.012 * 0.035)) < 1e-12);
  let prev = 0;
  for (let m = 512; m <= 4096; m += 64) {
    const v = lookup(t, [1024, m], 'backward_ms').ms;
    assert.ok(v >= prev, `monotone at ${m}`);
    prev = v;
  }
  const above = lookup(t, [4096, 8192], 'forward_ms');
  assert.ok(Math.abs(above.ms - 0.07 * 4) < 1e-12, 'time ∝ tokens beyond the largest point');
  assert.deepEqual(above.outside, ['tokens 8192 > 2048']);
  const wide = lookup(t, [16384, 512], 'forward_ms');
  assert.deepEqual(wide.outside, ['width 16384 > 4096']);
  assert.ok(wide.ms > 0.02);
  const below = lookup(t, [1024, 256], 'forward_ms');
  assert.deepEqual(below.outside, ['tokens 256 < 512']);
  assert.ok(below.ms <= 0.01 && below.ms >= 0.005);
});

test('interpolation: the GEMM grid interpolates an ideal M·N·K scaling exactly', () => {
  const pts: number[][] = [];
  for (const k of [1024, 4096]) for (const n of [1024, 8192]) for (const m of [512, 4096]) pts.push([k, n, m, 2e-12 * k * n * m, 1, 1]);
  const t: OperatorTable = { axes: ['in_features', 'out_features', 'tokens'], fields: ['forward_ms', 'input_grad_ms', 'weight_grad_ms'], points: pts };
  const r = lookup(t, [3000, 5000, 1500], 'forward_ms');
  assert.ok(Math.abs(r.ms / (2e-12 * 3000 * 5000 * 1500) - 1) < 1e-9);
});

test('shapes: LLaMA-8B at TP 2 has the hand-computed per-GPU dimensions', () => {
  const s = decoderShapes(getModel(catalog, 'llama8b'), { tp: 2, mbs: 4, seq: 1024 });
  const by = Object.fromEntries(s.layer.map((o) => [o.name, o]));
  const M = 4096;
  assert.deepEqual(by['attn_q']!.dims, { in_features: 4096, out_features: 2048, tokens: M }); // 16 heads × 128
  assert.deepEqual(by['attn_k']!.dims, { in_features: 4096, out_features: 512, tokens: M }); // 4 KV heads × 128
  assert.deepEqual(by['attn_v']!.dims, by['attn_k']!.dims);
  assert.deepEqual(by['attn_o']!.dims, { in_features: 2048, out_features: 4096, tokens: M });
  assert.deepEqual(by['mlp_gate']!.dims, { in_features: 4096, out_features: 7168, tokens: M });
  assert.deepEqual(by['mlp_down']!.dims, { in_features: 7168, out_features: 4096, tokens: M });
  assert.deepEqual(by['attn_core']!.dims, { head_dim: 128, gqa_ratio: 4, seq: 1024, query_heads: 64 });
  assert.deepEqual(by['rope_k']!.dims, { head_dim: 128, width: 512, tokens: M });
  assert.equal(by['residual_add']!.count, 2);
  assert.equal(by['mlp_act_fn']!.table, 'silu');
  const last = Object.fromEntries(s.last.map((o) => [o.name, o]));
  assert.deepEqual(last['lm_head']!.dims, { in_features: 4096, out_features: 64128, tokens: M });
  assert.equal(last['loss']!.table, 'vocab_parallel_cross_entropy');
  assert.equal(s.parameters.total, 8_030_261_248); // Llama-3.1-8B
  assert.equal(decoderShapes(getModel(catalog, 'llama1b'), { tp: 1, mbs: 1, seq: 1024 }).parameters.total, 1_235_814_400); // tied
  assert.equal(decoderShapes(getModel(catalog, 'llama8b'), { tp: 1, mbs: 1, seq: 1024 }).last[2]!.table, 'cross_entropy');
  // KV heads replicated beyond their count: tp 16 keeps one KV head per GPU
  const t16 = decoderShapes(getModel(catalog, 'llama70b'), { tp: 16, mbs: 1, seq: 2048 });
  assert.equal(t16.dims.kv_heads, 1);
  assert.equal(t16.layer.find((o) => o.name === 'attn_core')!.dims['gqa_ratio'], 4);
});

test('shapes: GPT-2 uses LayerNorm, GELU, fused qkv and learned positions; bad splits are FasopErrors', () => {
  const gpt2 = getModel(catalog, 'gpt2XL');
  const s = decoderShapes(gpt2, { tp: 1, mbs: 2, seq: 1024 });
  const names = s.layer.map((o) => `${o.name}:${o.table}`);
  assert.deepEqual(names, ['input_norm:layernorm', 'attn_qkv:linear', 'attn_qkv_bias:bias_grad', 'qkv_grad_stack:qkv_grad_stack',
    'attn_core:attention', 'attn_out_merge:head_merge', 'attn_o:linear', 'attn_o_bias:bias_grad', 'residual_add:add', 'residual_grad_sum:add', 'post_attn_norm:layernorm',
    'mlp_fc:linear', 'mlp_fc_bias:bias_grad', 'mlp_act_fn:gelu', 'mlp_proj:linear', 'mlp_proj_bias:bias_grad']);
  // bias gradients are the backward's sums over tokens, one per biased projection, at its output width
  assert.deepEqual(s.layer.filter((o) => o.table === 'bias_grad').map((o) => [o.dims['width'], o.pass]), [[4800, 'backward'], [1600, 'backward'], [6400, 'backward'], [1600, 'backward']]);
  assert.deepEqual(s.layer[1]!.dims, { in_features: 1600, out_features: 4800, tokens: 2048 });
  // the vocabulary padded as Megatron pads it (multiple of 128 × tp), or kept as it is
  assert.equal(s.last.find((o) => o.name === 'lm_head')!.dims['out_features'], 50304);
  assert.equal(decoderShapes(gpt2, { tp: 1, mbs: 2, seq: 1024, vocabMultiple: 1 }).dims.vocab, 50257);
  assert.equal(decoderShapes(getModel(catalog, 'llama70b'), { tp: 8, mbs: 1, seq: 1024 }).dims.vocab, 16128); // 128256 → 129024 = 126 × 1024
  assert.equal(decoderShapes(getModel(catalog, 'llama70b'), { tp: 8, mbs: 1, seq: 1024, vocabMultiple: 1 }).dims.vocab, 16032);
  assert.equal(s.first.find((o) => o.name === 'position_embed')!.dims['vocab'], 1024);
  assert.equal(s.parameters.total, 1_557_611_200); // gpt2-xl (HF, tied)
  assert.throws(() => decoderShapes(gpt2, { tp: 2, mbs: 1, seq: 1024 }), (e: unknown) => e instanceof FasopError && /25 attention heads do not split over TP 2/.test(e.message));
  assert.throws(() => decoderShapes(getModel(catalog, 'llama8b'), { tp: 1, mbs: 0, seq: 1024 }), FasopError);
  const qwen = modelFromHfConfig({ model_type: 'qwen2', hidden_size: 3584, num_hidden_layers: 28, vocab_size: 152064, num_attention_heads: 28,
    num_key_value_heads: 4, intermediate_size: 18944, max_position_embeddings: 32768, tie_word_embeddings: false }, 'qwen2-7b.json', 4096);
  const q = decoderShapes(qwen, { tp: 4, mbs: 1, seq: 4096 });
  assert.deepEqual(q.dims, { head_dim: 128, q_heads: 7, kv_heads: 1, ffn: 4736, vocab: 38016, tokens: 4096 });
  assert.throws(() => decoderShapes(qwen, { tp: 8, mbs: 1, seq: 4096 }), (e: unknown) => e instanceof FasopError && /28 attention heads/.test(e.message));
});

test('costs: a backward-only operator adds to the backward alone; a profile without its table prices it at 0 and says so', () => {
  const p = readOperatorProfile(H200);
  const gpt2 = getModel(catalog, 'gpt2XL');
  const layer = decoderShapes(gpt2, { tp: 1, mbs: 2, seq: 1024 }).layer;
  const bias = operatorCost(p, layer.find((o) => o.name === 'mlp_fc_bias')!);
  assert.equal(bias.forward_ms, 0);
  assert.ok(bias.backward_ms > 0.005 && bias.backward_ms < 0.1, String(bias.backward_ms)); // 2048 × 6400 bf16 read once
  assert.deepEqual(bias.outside, []);
  const stack = operatorCost(p, layer.find((o) => o.name === 'qkv_grad_stack')!);
  assert.equal(stack.forward_ms, 0);
  assert.ok(stack.backward_ms > bias.backward_ms, `${stack.backward_ms} vs ${bias.backward_ms}`); // writes 3× the bytes the bias reads
  const { bias_grad: _b, qkv_grad_stack: _q, head_merge: _h, ...older } = p.tables;
  const old = { ...p, tables: older };
  const unpriced = operatorCost(old, layer.find((o) => o.name === 'mlp_fc_bias')!);
  assert.deepEqual([unpriced.forward_ms, unpriced.backward_ms], [0, 0]);
  assert.match(unpriced.outside[0]!, /mlp_fc_bias: not priced \(the profile has no bias_grad table\)/);
  // autograd's two gradient sums per layer (LLaMA's and GPT-2's): an add's time, in the backward only
  for (const m of [gpt2, getModel(catalog, 'llama8b')]) {
    const l = decoderShapes(m, { tp: 1, mbs: 2, seq: 1024 }).layer;
    const sum = l.find((o) => o.name === 'residual_grad_sum')!;
    const add = operatorCost(p, l.find((o) => o.name === 'residual_add')!);
    const c = operatorCost(p, sum);
    assert.deepEqual([sum.count, c.forward_ms, c.backward_ms], [2, 0, add.forward_ms]);
  }
});

test('costs: a Qwen2-7B-like layer at sequence 8192 is priced inside the grid; a 131k sequence is flagged', () => {
  const p = readOperatorProfile(H200);
  const qwen = modelFromHfConfig({ model_type: 'qwen2', hidden_size: 3584, num_hidden_layers: 28, vocab_size: 152064, num_attention_heads: 28,
    num_key_value_heads: 4, intermediate_size: 18944, max_position_embeddings: 131072 }, 'q.json', 8192);
  const c = costOf(p, decoderShapes(qwen, { tp: 2, mbs: 1, seq: 8192 }).layer);
  assert.deepEqual(c.outside, []);
  assert.ok(c.backward_ms > 1.5 * c.forward_ms && c.backward_ms < 3 * c.forward_ms, `bwd/fwd ${c.backward_ms / c.forward_ms}`);
  const long = costOf(p, decoderShapes(qwen, { tp: 2, mbs: 1, seq: 131072 }).layer);
  assert.ok(long.outside.some((o) => /attn_core: seq 131072 > 32768/.test(o)), long.outside.join('; '));
  // attention grows faster than linearly in sequence, so per token the long layer costs more
  assert.ok(long.forward_ms / 131072 > c.forward_ms / 8192);
  const one = operatorCost(p, decoderShapes(qwen, { tp: 2, mbs: 1, seq: 8192 }).layer[1]!);
  assert.equal(one.shape.name, 'attn_q');
});

test('per-layer check: LLaMA 1B/8B/70B layers on H200 predicted from the operator file within the measured bounds', () => {
  const rows = layerRows(PROFILES, 'H200');
  assert.equal(rows.length, 72); // 3 models × 4 TP × 6 micro-batch sizes
  const fwd = summarize(rows, (r) => [r.predictedForward_ms, r.measuredForward_ms]);
  const bwd = summarize(rows, (r) => [r.predictedBackward_ms, r.measuredBackward_ms]);
  // bounds measured (docs/operator-profiles.md, 'How well it predicts'); a worse profile or shape mapping fails here
  assert.ok(fwd.meanAbs_pct <= 3.0 && fwd.max_pct <= 12.0, JSON.stringify(fwd));
  assert.ok(bwd.meanAbs_pct <= 2.5 && bwd.max_pct <= 11.0, JSON.stringify(bwd));
  const big = rows.filter((r) => r.mbs >= 4);
  const bigMax = Math.max(...big.map((r) => Math.abs(pctErr(r.predictedForward_ms + r.predictedBackward_ms, r.measuredForward_ms + r.measuredBackward_ms))));
  assert.ok(bigMax <= 6.0, `mbs >= 4 fwd+bwd max ${bigMax}`);
});
