/** An unfused attention (scores materialised) in place of flash, and Megatron-LM's cross-entropy peak. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { estimate } from '../src/estimate/estimate.js';
import { PLAIN_EXECUTION } from '../src/estimate/execution.js';
import { activationBytesPerColumn, attentionBufferBytes, lossPeakLogitBytes, stageMemory } from '../src/estimate/memory-bytes.js';
import { memoryFloor } from '../src/estimate/memory-bound.js';
import { RECIPES, UNFUSED_ATTENTION, withUnfusedAttention } from '../src/estimate/recipe.js';
import { COL, nodeCount } from '../src/model/graph.js';
import { h100, llama8b, llama8bPlan as plan } from './helpers/plans.js';

const mixed = RECIPES['megatron-mixed']!;
const unfused = withUnfusedAttention(mixed);

test('the unfused recipe is its own recipe of the same optimizer step', () => {
  assert.equal(unfused.name, 'megatron-mixed+unfused-attention');
  assert.equal(unfused.optimizerMeasuredAs, 'megatron-mixed');
  assert.equal(mixed.unfusedAttention, undefined, 'the shipped recipes run flash');
  assert.ok(Object.values(RECIPES).every((r) => r.unfusedAttention === undefined));
});

test('an unfused attention keeps 5 B per score per layer instead of flash\'s log-sum-exp, and one score buffer per GPU', () => {
  const s = llama8b.seq_length;
  for (const [b, tp] of [[1, 1], [2, 2], [4, 8]] as const) {
    const heads = llama8b.num_attention_heads / tp;
    const flash = activationBytesPerColumn(llama8b, b, tp, mixed);
    const u = activationBytesPerColumn(llama8b, b, tp, unfused);
    // only the attention column changes: + 5·b·heads·s² − flash's 4·b·heads·s
    flash.forEach((x, c) => { if (c !== COL.attn_o) assert.equal(u[c], x, `column ${c}`); });
    assert.equal(u[COL.attn_o]! - flash[COL.attn_o]!, 5 * b * heads * s * s - 4 * b * heads * s);
    assert.equal(attentionBufferBytes(llama8b, b, tp, unfused), 2 * b * heads * s * s);
    assert.equal(attentionBufferBytes(llama8b, b, tp, mixed), 0);
  }
  // the buffer is held once per stage, not per layer or micro-batch
  const n = nodeCount(llama8b);
  const sizes = [n];
  const a = stageMemory(llama8b, sizes, n, 1, 1, 1, 4, mixed, PLAIN_EXECUTION)[0]!;
  const u = stageMemory(llama8b, sizes, n, 1, 1, 1, 4, unfused, PLAIN_EXECUTION)[0]!;
  const perLayer = 5 * llama8b.num_attention_heads * s * s - 4 * llama8b.num_attention_heads * s;
  assert.equal(u.parts.activations - a.parts.activations, llama8b.num_layers * perLayer);
  assert.equal(u.parts.ringBuffers - a.parts.ringBuffers, attentionBufferBytes(llama8b, 1, 1, unfused));
  // the memory floor stays below the estimate
  const f = memoryFloor(llama8b, { tp: 1, dp: 1, pp: 1, mbs: 1, gbs: 4 }, unfused);
  assert.ok(f.first_GiB <= u.total_GiB * (1 + 1e-12), `${f.first_GiB} ${u.total_GiB}`);
});

test('its score passes are priced at the GPU\'s HBM rate, forward and backward, and named in cost_source', async () => {
  const a = await estimate(plan({}));
  const u = await estimate(plan({ recipe: unfused }));
  const GBps = h100.hbmMeasured_GBps ?? h100.hbm_GBps!;
  const scores = llama8b.num_attention_heads * llama8b.seq_length ** 2;
  const perLayer_s = (scores * (UNFUSED_ATTENTION.forwardTrafficBytesPerScore + UNFUSED_ATTENTION.backwardTrafficBytesPerScore)) / (GBps * 1e9);
  const extra = u.breakdown.stages[0]!.compute_s - a.breakdown.stages[0]!.compute_s;
  assert.ok(Math.abs(extra / (llama8b.num_layers * perLayer_s) - 1) < 1e-9, `${extra} against ${llama8b.num_layers * perLayer_s} per micro-batch`);
  assert.match(u.breakdown.costSource, /unfused attention's score passes/);
  assert.doesNotMatch(a.breakdown.costSource, /unfused/);
});

test('Megatron-LM\'s cross-entropy holds its fp32 softmax and the bf16 gradient: 6 B per local logit at any tp', () => {
  for (const tp of [1, 2, 8]) assert.equal(lossPeakLogitBytes(llama8b, 2, tp, mixed), (2 * llama8b.seq_length * llama8b.vocab_size * 6) / tp);
});
