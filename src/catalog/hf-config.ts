import { basename } from 'node:path';
import { FasopError } from '../errors.js';
import { ownGet, ownHas } from '../guard/lookup.js';
import { readJsonFile } from './catalog.js';
import { modelSpecSchema, type ModelSpec } from './schema.js';

const LLAMA_LIKE = new Set(['llama', 'mistral', 'qwen2', 'qwen3', 'gemma', 'phi3']);
const MOE_HINTS = ['num_local_experts', 'num_experts', 'n_routed_experts', 'moe_intermediate_size'];

function int(cfg: Record<string, unknown>, key: string, origin: string, fallback?: number): number {
  const v = ownGet(cfg, key) ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new FasopError(`model config ${origin}: field '${key}' is missing or not a positive integer`,
      'pass a Hugging Face config.json of a LLaMA/Mistral/Qwen2-style or GPT-2-style model');
  }
  return v;
}

/**
 * Turn a Hugging Face `config.json` (already parsed) into a model spec. Dense LLaMA-style
 * (llama, mistral, qwen2, …) and GPT-2-style configs are understood; anything else, MoE in
 * particular, is an error.
 */
export function modelFromHfConfig(cfg: unknown, origin: string, seqLength?: number): ModelSpec {
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) {
    throw new FasopError(`model config ${origin} is not a JSON object`, 'pass a Hugging Face config.json');
  }
  const c = cfg as Record<string, unknown>;
  const rawType = ownGet(c, 'model_type');
  if (rawType !== undefined && typeof rawType !== 'string') {
    throw new FasopError(`model config ${origin}: field 'model_type' must be a string, got ${JSON.stringify(rawType).slice(0, 60)}`, 'pass a Hugging Face config.json (model_type is e.g. "llama")');
  }
  const type = rawType ?? '';
  const tie = ownGet(c, 'tie_word_embeddings');
  if (tie !== undefined && tie !== null && typeof tie !== 'boolean') {
    throw new FasopError(`model config ${origin}: field 'tie_word_embeddings' must be true or false, got ${JSON.stringify(tie).slice(0, 60)}`, 'write it as a JSON boolean (true or false, without quotes)');
  }
  const moe = MOE_HINTS.find((k) => ownHas(c, k) && c[k] !== null && c[k] !== 0);
  if (moe || /moe|mixtral|deepseek/i.test(type)) {
    throw new FasopError(`model config ${origin}: mixture-of-experts models ('${type}'${moe ? `, ${moe}` : ''}) are not supported`,
      'use a dense LLaMA/Mistral/Qwen2-style or GPT-2-style model');
  }
  const name = basename(origin).replace(/\.json$/i, '').replace(/^config$/, type || 'custom');
  let spec: Omit<ModelSpec, 'name'>;
  if (LLAMA_LIKE.has(type)) {
    const heads = int(c, 'num_attention_heads', origin);
    const maxPos = int(c, 'max_position_embeddings', origin, 1024);
    spec = {
      architecture: 'llama',
      hidden_size: int(c, 'hidden_size', origin),
      seq_length: seqLength ?? Math.min(1024, maxPos),
      num_layers: int(c, 'num_hidden_layers', origin),
      vocab_size: int(c, 'vocab_size', origin),
      num_attention_heads: heads,
      num_key_value_heads: int(c, 'num_key_value_heads', origin, heads),
      intermediate_size: int(c, 'intermediate_size', origin),
      tie_word_embeddings: tie === true,
      source: `Hugging Face config ${origin}`,
    };
  } else if (type === 'gpt2') {
    const hidden = int(c, 'n_embd', origin);
    const heads = int(c, 'n_head', origin);
    spec = {
      architecture: 'gpt2',
      hidden_size: hidden,
      seq_length: seqLength ?? Math.min(1024, int(c, 'n_positions', origin, 1024)),
      num_layers: int(c, 'n_layer', origin),
      vocab_size: int(c, 'vocab_size', origin),
      num_attention_heads: heads,
      num_key_value_heads: heads,
      intermediate_size: ownGet(c, 'n_inner') == null ? 4 * hidden : int(c, 'n_inner', origin),
      tie_word_embeddings: tie !== false,
      source: `Hugging Face config ${origin}`,
    };
  } else {
    throw new FasopError(`model config ${origin}: unsupported model_type '${type || '(missing)'}'`,
      `use a config whose model_type is one of: ${[...LLAMA_LIKE, 'gpt2'].join(', ')}`);
  }
  const checked = modelSpecSchema.safeParse(spec);
  if (!checked.success) {
    throw new FasopError(`model config ${origin}: ${checked.error.issues.map((i) => i.message).join('; ')}`,
      'check the head counts and sizes in the config');
  }
  return { ...checked.data, name };
}

export function loadHfModelConfig(path: string, seqLength?: number): ModelSpec {
  return modelFromHfConfig(readJsonFile(path, 'model config'), path, seqLength);
}
