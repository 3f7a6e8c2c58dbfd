import assert from 'node:assert/strict';
import { test } from 'node:test';
import { modelFromHfConfig } from '../src/catalog/hf-config.js';

test('Hugging Face config import: LLaMA, GPT-2; MoE and unknown types refused', () => {
  const llama = modelFromHfConfig({ model_type: 'llama', hidden_size: 4096, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 14336, vocab_size: 128256, max_position_embeddings: 131072, tie_word_embeddings: false }, 'cfg.json');
  assert.equal(llama.intermediate_size, 14336);
  assert.equal(llama.seq_length, 1024);
  const gpt2 = modelFromHfConfig({ model_type: 'gpt2', n_embd: 1600, n_layer: 48, n_head: 25, vocab_size: 50257, n_positions: 1024 }, 'gpt2.json');
  assert.equal(gpt2.intermediate_size, 6400);
  assert.equal(gpt2.tie_word_embeddings, true);
  assert.throws(() => modelFromHfConfig({ model_type: 'mixtral', num_local_experts: 8 }, 'm.json'), /mixture-of-experts/);
  assert.throws(() => modelFromHfConfig({ model_type: 't5' }, 't5.json'), /unsupported model_type 't5'/);
  assert.throws(() => modelFromHfConfig({ model_type: 'llama', hidden_size: 64 }, 'x.json'), /x\.json: field '\w+' is missing/);
});
