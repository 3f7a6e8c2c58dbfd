import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { modelFromHfConfig } from '../src/catalog/hf-config.js';
import { megatronModelArgs } from '../src/export/model-args.js';
import { paramsPerColumn } from '../src/estimate/memory-bytes.js';
import { COL } from '../src/model/graph.js';
import { decoderShapes } from '../src/model/shapes.js';
import { runCli, tmp } from './helpers/cli.js';

const LLAMA = { model_type: 'llama', hidden_size: 2048, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 8192, vocab_size: 128256, max_position_embeddings: 8192 };
const QWEN3_LIKE = { ...LLAMA, model_type: 'mistral', hidden_size: 1024, num_attention_heads: 16, num_key_value_heads: 8, head_dim: 128, sliding_window: null };
const QWEN2 = { model_type: 'qwen2', hidden_size: 3584, num_hidden_layers: 28, vocab_size: 152064, num_attention_heads: 28, num_key_value_heads: 4, intermediate_size: 18944, max_position_embeddings: 32768, sliding_window: 131072, use_sliding_window: false };
const flagNames = (m: Parameters<typeof megatronModelArgs>[0]) => megatronModelArgs(m, 1).flags.map((f) => f[0]);

test('head_dim: equal to hidden / heads is accepted; a different attention width is refused, not priced as hidden / heads', () => {
  assert.equal(modelFromHfConfig({ ...QWEN3_LIKE, head_dim: 64 }, 'c.json').hidden_size, 1024);
  assert.equal(modelFromHfConfig({ ...LLAMA, head_dim: null }, 'c.json').num_attention_heads, 32);
  assert.throws(() => modelFromHfConfig(QWEN3_LIKE, 'c.json'),
    /^FasopError: model config c\.json: head_dim 128 × 16 heads = 2048 is not hidden_size 1024: the model's attention width differs from its hidden size, which fasop does not price yet$/);
  assert.throws(() => modelFromHfConfig({ ...QWEN3_LIKE, head_dim: 128 }, 'c.json'), (e: Error & { hint?: string }) => /\(64\)$/.test(e.hint ?? ''));
  assert.throws(() => modelFromHfConfig({ ...QWEN3_LIKE, head_dim: '64' }, 'c.json'), /field 'head_dim' is missing or not a positive integer/);
});

test('the CLI refuses a head_dim it cannot price with one line and exit 2', async () => {
  const path = join(tmp(), 'cfg.json');
  writeFileSync(path, JSON.stringify(QWEN3_LIKE));
  const r = await runCli(['--gpus', 'H100', '1', '--model-config', path]);
  assert.equal(r.code, 2);
  const lines = r.err.trim().split('\n');
  assert.equal(lines.length, 1, r.err);
  assert.match(lines[0]!, /head_dim 128 × 16 heads = 2048 is not hidden_size 1024.*use a model whose head_dim is hidden_size \/ num_attention_heads \(64\)/);
  assert.doesNotMatch(r.err, /\n\s+at /);
});

test('model_type: Gemma and Qwen3 are refused naming what is not priced and the supported types; the accepted families keep their Hugging Face tie defaults', () => {
  for (const type of ['gemma', 'gemma2', 'gemma3', 'gemma3_text']) {
    assert.throws(() => modelFromHfConfig({ ...LLAMA, model_type: type, head_dim: 64 }, 'g.json'),
      (e: Error & { hint?: string }) => new RegExp(`^model config g\\.json: unsupported model_type '${type}' \\(Gemma's GeGLU MLP`).test(e.message)
        && e.hint === 'use a config whose model_type is one of: llama, mistral, qwen2, phi3, gpt2');
  }
  assert.throws(() => modelFromHfConfig({ ...LLAMA, model_type: 'qwen3', head_dim: 64 }, 'q.json'), /unsupported model_type 'qwen3' \(Qwen3's RMSNorm on queries and keys/);
  for (const type of ['llama', 'mistral', 'qwen2', 'phi3']) {
    assert.equal(modelFromHfConfig({ ...LLAMA, model_type: type }, 'c.json').tie_word_embeddings, false, type);
    assert.equal(modelFromHfConfig({ ...LLAMA, model_type: type, tie_word_embeddings: true }, 'c.json').tie_word_embeddings, true, type);
  }
  assert.equal(modelFromHfConfig({ model_type: 'gpt2', n_embd: 768, n_layer: 12, n_head: 12, vocab_size: 50257 }, 'g.json').tie_word_embeddings, true);
});

test('LLaMA-family fields fasop does not price are refused: non-SiLU MLP, linear biases, partial RoPE', () => {
  assert.equal(modelFromHfConfig({ ...LLAMA, hidden_act: 'silu' }, 'c.json').architecture, 'llama');
  assert.throws(() => modelFromHfConfig({ ...LLAMA, hidden_act: 'gelu_pytorch_tanh' }, 'c.json'), /hidden_act "gelu_pytorch_tanh" is not SiLU/);
  assert.throws(() => modelFromHfConfig({ ...LLAMA, attention_bias: true }, 'c.json'), /attention_bias is true, but fasop prices llama models without linear biases/);
  assert.throws(() => modelFromHfConfig({ ...LLAMA, mlp_bias: true }, 'c.json'), /mlp_bias is true/);
  assert.equal(modelFromHfConfig({ ...LLAMA, attention_bias: false, partial_rotary_factor: 1 }, 'c.json').num_layers, 16);
  assert.throws(() => modelFromHfConfig({ ...LLAMA, model_type: 'phi3', partial_rotary_factor: 0.75 }, 'c.json'), /partial_rotary_factor 0.75/);
});

test('sliding_window shorter than the sequence is refused (fasop prices full causal attention); off, null or covering the sequence it is accepted', () => {
  const mistral = { ...LLAMA, model_type: 'mistral', sliding_window: 4096 };
  assert.equal(modelFromHfConfig(mistral, 'm.json', 4096).seq_length, 4096);
  assert.throws(() => modelFromHfConfig(mistral, 'm.json', 8192),
    (e: Error & { hint?: string }) => e.message === "model config m.json: sliding_window 4096 is shorter than the sequence length 8192: the model attends over a 4096-token window, but fasop prices full causal attention"
      && e.hint === 'use --seq-length 4096 or less, or set "sliding_window": null in the config to price full attention');
  assert.equal(modelFromHfConfig({ ...mistral, sliding_window: null }, 'm.json', 8192).seq_length, 8192);
  // Mistral's config class defaults an absent sliding_window to 4096
  const { sliding_window: _, ...noWindow } = mistral;
  assert.throws(() => modelFromHfConfig(noWindow, 'm.json', 8192), /sliding_window \(absent: Mistral's default 4096\) is shorter than the sequence length 8192/);
  assert.throws(() => modelFromHfConfig({ ...LLAMA, model_type: 'phi3', sliding_window: 2047 }, 'p.json', 4096), /sliding_window 2047 is shorter/);
  // Qwen2 uses its window only with use_sliding_window
  assert.equal(modelFromHfConfig({ ...QWEN2, sliding_window: 4096 }, 'q.json', 8192).seq_length, 8192);
  assert.throws(() => modelFromHfConfig({ ...QWEN2, sliding_window: 4096, use_sliding_window: true }, 'q.json', 8192),
    (e: Error & { hint?: string }) => /^model config q\.json: sliding_window 4096 is shorter/.test(e.message) && e.hint === 'use --seq-length 4096 or less, or set "use_sliding_window": false in the config to price full attention');
  // LLaMA has no sliding window
  assert.equal(modelFromHfConfig({ ...LLAMA, sliding_window: 16 }, 'l.json', 8192).seq_length, 8192);
});

test('Qwen2 configs export --add-qkv-bias to Megatron-LM; LLaMA and Mistral do not', () => {
  const qwen = modelFromHfConfig(QWEN2, 'q.json', 4096);
  assert.equal(qwen.qkv_bias, true);
  assert.ok(flagNames(qwen).includes('--add-qkv-bias'));
  assert.ok(flagNames(qwen).includes('--disable-bias-linear'));
  for (const type of ['llama', 'mistral']) {
    const m = modelFromHfConfig({ ...LLAMA, model_type: type, sliding_window: null }, 'c.json');
    assert.equal(m.qkv_bias, undefined);
    assert.ok(!flagNames(m).includes('--add-qkv-bias'), type);
  }
  // a Qwen2 config with a catalog model's dimensions is not that (bias-free) catalog model
  const known = [{ ...modelFromHfConfig(LLAMA, 'l.json'), name: 'llama1b' }];
  assert.equal(modelFromHfConfig(LLAMA, 'l.json', undefined, known).name, 'llama1b');
  assert.equal(modelFromHfConfig({ ...LLAMA, model_type: 'qwen2' }, 'q.json', undefined, known).name, 'qwen2-16L-2048h');
});

test('Qwen2\'s q/k/v biases are priced: their gradient sums in the layer, their parameters in memory, a slower step than the bias-free model of the same dimensions', async () => {
  const qwen = modelFromHfConfig(QWEN2, 'q.json', 4096);
  const plain = { ...qwen, qkv_bias: undefined };
  const q = decoderShapes(qwen, { tp: 2, mbs: 1, seq: 4096 });
  const p = decoderShapes(plain, { tp: 2, mbs: 1, seq: 4096 });
  const biases = q.layer.filter((o) => o.table === 'bias_grad').map((o) => [o.name, o.dims['width']]);
  assert.deepEqual(biases, [['attn_q_bias', 1792], ['attn_k_bias', 256], ['attn_v_bias', 256]]);
  assert.ok(!p.layer.some((o) => o.table === 'bias_grad'));
  assert.equal(q.parameters.perLayer - p.parameters.perLayer, 3584 + 2 * 512);
  const diff = paramsPerColumn(qwen, 2).map((x, i) => x - paramsPerColumn(plain, 2)[i]!);
  assert.deepEqual(diff.slice(COL.attn_q, COL.attn_v + 1), [1792, 256, 256]);
  assert.equal(diff.reduce((a, b) => a + b, 0), 2304);
  // the CLI: the Qwen2 config against the same dimensions as a LLaMA config, one plan
  const dir = tmp('qkv-bias-');
  const step = async (cfg: object) => {
    writeFileSync(join(dir, 'c.json'), JSON.stringify(cfg));
    const r = await runCli(['--gpus', 'H100', '1', '--model-config', join(dir, 'c.json'), '--seq-length', '4096', '--exhaustive', '--mbs', '1', '--tp', '2', '--dp', '1', '--pp', '4', '--gbs', '8', '--recompute', 'none', '--dp-sharding', 'none', '--virtual-stages', '1'], dir);
    assert.equal(r.code, 0, r.err);
    const hit = /step time: ([0-9.]+) s/.exec(r.out);
    assert.ok(hit, r.out);
    return Number(hit[1]);
  };
  const withBias = await step(QWEN2);
  const without = await step({ ...QWEN2, model_type: 'llama', sliding_window: undefined, use_sliding_window: undefined });
  assert.ok(withBias > without && withBias < without * 1.01, `${withBias} vs ${without}`);
});

test('a config without max_position_embeddings / n_positions does not cap the sequence length', () => {
  const { max_position_embeddings: _, ...llama } = LLAMA;
  const m = modelFromHfConfig(llama, 'l.json', 2048);
  assert.equal(m.seq_length, 2048);
  assert.equal(m.max_position_embeddings, undefined);
  assert.equal(modelFromHfConfig(llama, 'l.json').seq_length, 1024);
  const flags = megatronModelArgs(m, 1).flags;
  assert.deepEqual(flags.find((f) => f[0] === '--max-position-embeddings'), ['--max-position-embeddings', '2048']);
  const gpt2 = modelFromHfConfig({ model_type: 'gpt2', n_embd: 768, n_layer: 12, n_head: 12, vocab_size: 50257 }, 'g.json', 2048);
  assert.equal(gpt2.seq_length, 2048);
  // a recorded limit still applies
  assert.throws(() => modelFromHfConfig({ ...LLAMA, max_position_embeddings: 1024 }, 'l.json', 2048), /sequence length 2048 is beyond the model's 1024 positions/);
  assert.throws(() => modelFromHfConfig({ model_type: 'gpt2', n_embd: 768, n_layer: 12, n_head: 12, vocab_size: 50257, n_positions: 1024 }, 'g.json', 2048), /beyond the model's 1024 positions/);
});
