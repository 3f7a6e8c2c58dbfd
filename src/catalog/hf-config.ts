import { FasopError } from '../errors.js';
import { ownGet, ownHas } from '../guard/lookup.js';
import { readJsonFile } from './catalog.js';
import { modelSpecSchema, type ModelSpec } from './schema.js';

/**
 * model_types priced as LLaMA (RMSNorm, RoPE, GQA, SwiGLU, no biases but Qwen2's q/k/v). Their
 * Hugging Face config classes all default tie_word_embeddings to false.
 */
const LLAMA_LIKE = new Set(['llama', 'mistral', 'qwen2', 'phi3']);
/** LLaMA-like families whose differences fasop does not price: refused, with the reason. */
const UNPRICED: Record<string, string> = {
  gemma: "Gemma's GeGLU MLP, scaled embeddings and 256-wide heads are not priced",
  qwen3: "Qwen3's RMSNorm on queries and keys (QK-norm) is not priced",
};
const unpricedReason = (type: string): string | undefined =>
  /^gemma\d*(_text)?$/.test(type) ? ownGet(UNPRICED, 'gemma') : /^qwen3$/.test(type) ? ownGet(UNPRICED, 'qwen3') : undefined;
const SUPPORTED = [...LLAMA_LIKE, 'gpt2'].join(', ');
/** Mistral's config class defaults sliding_window to 4096 (transformers MistralConfig) when the key is absent. */
const MISTRAL_DEFAULT_WINDOW = 4096;

const MOE_HINTS = ['num_local_experts', 'num_experts', 'n_routed_experts', 'moe_intermediate_size'];

function int(cfg: Record<string, unknown>, key: string, origin: string, fallback?: number): number {
  const v = ownGet(cfg, key) ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new FasopError(`model config ${origin}: field '${key}' is missing or not a positive integer`,
      'pass a Hugging Face config.json of a LLaMA/Mistral/Qwen2-style or GPT-2-style model');
  }
  return v;
}

/** An optional positive integer field: undefined when absent or null. */
function optInt(cfg: Record<string, unknown>, key: string, origin: string): number | undefined {
  const v = ownGet(cfg, key);
  return v === undefined || v === null ? undefined : int(cfg, key, origin);
}

function bool(cfg: Record<string, unknown>, key: string, origin: string, fallback: boolean): boolean {
  const v = ownGet(cfg, key);
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') {
    throw new FasopError(`model config ${origin}: field '${key}' must be true or false, got ${JSON.stringify(v)}`,
      `write "${key}": ${v === 'true' || v === 'True' ? 'true' : v === 'false' || v === 'False' ? 'false' : 'true or false'} (a JSON boolean, no quotes)`);
  }
  return v;
}

const DIM_KEYS = ['architecture', 'hidden_size', 'num_layers', 'vocab_size', 'num_attention_heads', 'num_key_value_heads', 'intermediate_size', 'tie_word_embeddings'] as const;

/**
 * The model's name, from the config's contents: the catalog model with the same dimensions, else
 * model type, layers and hidden size (e.g. qwen2-28L-3584h). The file's name plays no part.
 */
export function nameOfConfig(spec: Omit<ModelSpec, 'name'>, type: string, known: readonly ModelSpec[]): string {
  const same = known.find((m) => DIM_KEYS.every((k) => m[k] === spec[k]) && (m.qkv_bias ?? false) === (spec.qkv_bias ?? false));
  return same ? same.name : `${type || spec.architecture}-${spec.num_layers}L-${spec.hidden_size}h`;
}

/**
 * Turn a Hugging Face `config.json` (already parsed) into a model spec. Dense LLaMA-style
 * (llama, mistral, qwen2, …) and GPT-2-style configs are understood; anything else, MoE in
 * particular, is an error.
 */
export function modelFromHfConfig(cfg: unknown, origin: string, seqLength?: number, known: readonly ModelSpec[] = []): ModelSpec {
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) {
    throw new FasopError(`model config ${origin} is not a JSON object`, 'pass a Hugging Face config.json');
  }
  const c = cfg as Record<string, unknown>;
  const rawType = ownGet(c, 'model_type');
  if (rawType !== undefined && typeof rawType !== 'string') {
    throw new FasopError(`model config ${origin}: field 'model_type' must be a string, got ${JSON.stringify(rawType).slice(0, 60)}`, 'pass a Hugging Face config.json (model_type is e.g. "llama")');
  }
  const type = rawType ?? '';
  const moe = MOE_HINTS.find((k) => ownHas(c, k) && c[k] !== null && c[k] !== 0);
  if (moe || /moe|mixtral|deepseek/i.test(type)) {
    throw new FasopError(`model config ${origin}: mixture-of-experts models ('${type}'${moe ? `, ${moe}` : ''}) are not supported`,
      'use a dense LLaMA/Mistral/Qwen2-style or GPT-2-style model');
  }
  const unpriced = unpricedReason(type);
  if (unpriced) {
    throw new FasopError(`model config ${origin}: unsupported model_type '${type}' (${unpriced})`,
      `use a config whose model_type is one of: ${SUPPORTED}`);
  }
  let spec: Omit<ModelSpec, 'name'>;
  if (LLAMA_LIKE.has(type)) {
    const hidden = int(c, 'hidden_size', origin);
    const heads = int(c, 'num_attention_heads', origin);
    const headDim = optInt(c, 'head_dim', origin);
    if (headDim !== undefined && headDim * heads !== hidden) {
      throw new FasopError(`model config ${origin}: head_dim ${headDim} × ${heads} heads = ${headDim * heads} is not hidden_size ${hidden}: the model's attention width differs from its hidden size, which fasop does not price yet`,
        `use a model whose head_dim is hidden_size / num_attention_heads${hidden % heads === 0 ? ` (${hidden / heads})` : ''}`);
    }
    const act = ownGet(c, 'hidden_act');
    if (act !== undefined && act !== null && act !== 'silu' && act !== 'swish') {
      throw new FasopError(`model config ${origin}: hidden_act ${JSON.stringify(act).slice(0, 40)} is not SiLU: fasop prices LLaMA-style models with a SwiGLU (SiLU-gated) MLP`,
        'use a model whose hidden_act is "silu"');
    }
    for (const key of ['attention_bias', 'mlp_bias']) {
      if (type !== 'qwen2' && bool(c, key, origin, false)) {
        throw new FasopError(`model config ${origin}: ${key} is true, but fasop prices ${type} models without linear biases`,
          `use a model with "${key}": false`);
      }
    }
    const rotary = ownGet(c, 'partial_rotary_factor');
    if (rotary !== undefined && rotary !== null && rotary !== 1) {
      throw new FasopError(`model config ${origin}: partial_rotary_factor ${JSON.stringify(rotary).slice(0, 40)}: fasop prices RoPE over the whole head`,
        'use a model that rotates the whole head (partial_rotary_factor 1)');
    }
    const maxPos = optInt(c, 'max_position_embeddings', origin);
    const seq = seqLength ?? Math.min(1024, maxPos ?? 1024);
    checkSlidingWindow(c, type, origin, seq);
    spec = {
      architecture: 'llama',
      hidden_size: hidden,
      seq_length: seq,
      num_layers: int(c, 'num_hidden_layers', origin),
      vocab_size: int(c, 'vocab_size', origin),
      num_attention_heads: heads,
      num_key_value_heads: int(c, 'num_key_value_heads', origin, heads),
      intermediate_size: int(c, 'intermediate_size', origin),
      tie_word_embeddings: bool(c, 'tie_word_embeddings', origin, false),
      ...(maxPos === undefined ? {} : { max_position_embeddings: maxPos }),
      source: `Hugging Face config ${origin}`,
    };
  } else if (type === 'gpt2') {
    const hidden = int(c, 'n_embd', origin);
    const heads = int(c, 'n_head', origin);
    const maxPos = optInt(c, 'n_positions', origin);
    spec = {
      architecture: 'gpt2',
      hidden_size: hidden,
      seq_length: seqLength ?? Math.min(1024, maxPos ?? 1024),
      num_layers: int(c, 'n_layer', origin),
      vocab_size: int(c, 'vocab_size', origin),
      num_attention_heads: heads,
      num_key_value_heads: heads,
      intermediate_size: ownGet(c, 'n_inner') == null ? 4 * hidden : int(c, 'n_inner', origin),
      tie_word_embeddings: bool(c, 'tie_word_embeddings', origin, true),
      ...(maxPos === undefined ? {} : { max_position_embeddings: maxPos }),
      source: `Hugging Face config ${origin}`,
    };
  } else {
    throw new FasopError(`model config ${origin}: unsupported model_type '${type || '(missing)'}'`,
      `use a config whose model_type is one of: ${SUPPORTED}`);
  }
  const checked = modelSpecSchema.safeParse(spec);
  if (!checked.success) {
    throw new FasopError(`model config ${origin}: ${checked.error.issues.map((i) => i.message).join('; ')}`,
      'check the head counts and sizes in the config');
  }
  // Qwen2's q, k and v projections have biases (transformers Qwen2Attention: bias=True)
  const data: Omit<ModelSpec, 'name'> = type === 'qwen2' ? { ...checked.data, qkv_bias: true } : checked.data;
  const model: ModelSpec = { ...data, name: nameOfConfig(data, type, known) };
  checkSeqLength(model, `model config ${origin}`);
  return model;
}

/**
 * A sliding attention window shorter than the sequence is refused: fasop prices full causal
 * attention. Mistral and Phi-3 attend over `sliding_window` tokens when it is not null (Mistral's
 * default, the key absent, is 4096); Qwen2 only with `use_sliding_window` true.
 */
function checkSlidingWindow(c: Record<string, unknown>, type: string, origin: string, seq: number): void {
  let window: number | undefined;
  let off: string;
  if (type === 'qwen2') {
    if (!bool(c, 'use_sliding_window', origin, false)) return;
    window = optInt(c, 'sliding_window', origin) ?? MISTRAL_DEFAULT_WINDOW;
    off = '"use_sliding_window": false';
  } else if (type === 'mistral' || type === 'phi3') {
    window = ownHas(c, 'sliding_window') ? optInt(c, 'sliding_window', origin) : type === 'mistral' ? MISTRAL_DEFAULT_WINDOW : undefined;
    off = '"sliding_window": null';
  } else {
    return;
  }
  if (window === undefined || window >= seq) return;
  const given = ownHas(c, 'sliding_window') ? `sliding_window ${window}` : `sliding_window (absent: Mistral's default ${window})`;
  throw new FasopError(`model config ${origin}: ${given} is shorter than the sequence length ${seq}: the model attends over a ${window}-token window, but fasop prices full causal attention`,
    `use --seq-length ${window} or less, or set ${off} in the config to price full attention`);
}

/** A sequence length beyond the model's positions is an error. */
export function checkSeqLength(model: ModelSpec, what: string): void {
  const max = model.max_position_embeddings;
  if (max !== undefined && model.seq_length > max) {
    throw new FasopError(`${what}: sequence length ${model.seq_length} is beyond the model's ${max} positions (max_position_embeddings)`,
      `use --seq-length ${max} or less`);
  }
}

export function loadHfModelConfig(path: string, seqLength?: number, known: readonly ModelSpec[] = []): ModelSpec {
  return modelFromHfConfig(readJsonFile(path, 'model config'), path, seqLength, known);
}
