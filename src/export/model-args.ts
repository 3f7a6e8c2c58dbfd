import type { ModelSpec } from '../catalog/schema.js';
import { FasopError } from '../errors.js';

/** One Megatron-LM flag with its values (none for a store_true flag). */
export type Flag = [string, ...string[]];

/**
 * `--make-vocab-size-divisible-by`: Megatron pads the vocabulary to a multiple of this × tp
 * (megatron/training/tokenizer: _vocab_size_with_padding); the largest power of two up to its
 * default 128 that keeps the model's own vocabulary unpadded, or null when tp does not divide it.
 */
export function vocabDivisor(vocab: number, tp: number): number | null {
  for (let d = 128; d >= 1; d /= 2) if (vocab % (d * tp) === 0) return d;
  return null;
}

/**
 * The model's own Megatron-LM arguments (megatron/training/arguments.py, _add_network_size_args,
 * _add_regularization_args, _add_tokenizer_args, _add_data_args). LLaMA: RoPE, RMSNorm, SwiGLU, no
 * linear biases (but q/k/v biases for a Qwen2 config: `--add-qkv-bias`), no dropout, grouped-query attention; GPT-2: learned absolute positions, LayerNorm,
 * GeLU with biases (Megatron's defaults). The vocabulary comes from a NullTokenizer (vocab_size + 1
 * with its end-of-document token, so `--vocab-size V−1` gives the model's V rows).
 */
export function megatronModelArgs(model: ModelSpec, tp: number): { flags: Flag[]; notes: string[] } {
  const notes: string[] = [];
  const seq = model.seq_length;
  const maxPos = model.max_position_embeddings ?? seq;
  if (maxPos < seq) {
    throw new FasopError(`${model.name} covers ${maxPos} positions but the plan's sequence is ${seq}; Megatron-LM asserts max_position_embeddings >= seq_length`,
      `search with --seq-length ${maxPos} or less, or a model whose max_position_embeddings covers ${seq}`);
  }
  const flags: Flag[] = [
    ['--hidden-size', String(model.hidden_size)],
    ['--ffn-hidden-size', String(model.intermediate_size)],
    ['--num-attention-heads', String(model.num_attention_heads)],
  ];
  if (model.num_key_value_heads !== model.num_attention_heads) flags.push(['--group-query-attention'], ['--num-query-groups', String(model.num_key_value_heads)]);
  flags.push(['--seq-length', String(seq)], ['--max-position-embeddings', String(maxPos)]);
  if (model.architecture === 'llama') {
    flags.push(['--position-embedding-type', 'rope'], ['--normalization', 'RMSNorm'], ['--swiglu'], ['--disable-bias-linear'], ['--attention-dropout', '0'], ['--hidden-dropout', '0']);
    if (model.qkv_bias) flags.push(['--add-qkv-bias']);
    notes.push(`rotary base: the catalog does not record ${model.name}'s rope_theta; Megatron-LM's --rotary-base defaults to 10000: add --rotary-base <rope_theta> (and --use-rope-scaling for Llama-3.1 style scaling) from the model's config.json`);
  } else {
    flags.push(['--position-embedding-type', 'learned_absolute'], ['--normalization', 'LayerNorm']);
  }
  if (!model.tie_word_embeddings) flags.push(['--untie-embeddings-and-output-weights']);
  flags.push(['--tokenizer-type', 'NullTokenizer'], ['--vocab-size', String(model.vocab_size - 1)]);
  const d = vocabDivisor(model.vocab_size, tp);
  if (d !== null) {
    if (d !== 128) flags.push(['--make-vocab-size-divisible-by', String(d)]);
  } else {
    const multiple = 128 * tp;
    notes.push(`vocabulary: tp ${tp} does not divide ${model.vocab_size}; Megatron-LM pads it to ${Math.ceil(model.vocab_size / multiple) * multiple} rows (a multiple of 128·tp)`);
  }
  notes.push(`tokenizer: NullTokenizer with --vocab-size ${model.vocab_size - 1} (+1 end-of-document token = ${model.vocab_size}) runs on mock or pre-tokenized data; for real text use --tokenizer-type HuggingFaceTokenizer --tokenizer-model <the model's tokenizer> and drop --vocab-size`);
  return { flags, notes };
}
