import { z } from 'zod';

/** A positive catalog figure; bounded so that no time, cost or memory term can overflow to infinity. */
const positive = (what: string) => z.number({ error: `${what} must be a number` }).min(1e-9, { error: `${what} must be > 0 (at least 1e-9)` }).max(1e18, { error: `${what} must be at most 1e18` });

const tiersSchema = z.object({
  nvlinkPair: positive('nvlinkPair'),
  pcieSwitch: positive('pcieSwitch'),
  crossSwitch: positive('crossSwitch'),
});

/**
 * A link measured with the profiler: time(bytes) = latency + bytes / bandwidth, and optionally the
 * measured medians themselves, [bytes, µs] ascending (on `gpuCount` GPUs): between the smallest and
 * the largest size the time is interpolated between neighbouring samples, which follows NCCL's
 * protocol changes that a straight line misses; outside them the latency–bandwidth line is used.
 */
export const measuredLinkSchema = z.object({
  latency_us: z.number().nonnegative().max(1e12, { error: "latency_us must be at most 1e12" }),
  bandwidth_GBps: positive('bandwidth_GBps'),
  samples_us: z
    .array(z.tuple([positive('sample bytes'), positive('sample time_us')]))
    .min(2)
    .refine((xs) => xs.every((x, i) => i === 0 || x[0] > xs[i - 1]![0]), { error: 'samples_us must be sorted by bytes, without repeats' })
    .optional(),
});

export const gpuSpecSchema = z.object({
  description: z.string().optional(),
  memory_GB: positive('memory_GB'),
  memoryLimit_GiB: positive('memoryLimit_GiB'),
  bf16Dense_TFLOPS: positive('bf16Dense_TFLOPS').optional(),
  hbm_GBps: positive('hbm_GBps').optional(),
  /** HBM bandwidth a streaming kernel reaches (measured: bytes read + written per second) */
  hbmMeasured_GBps: positive('hbmMeasured_GBps').optional(),
  gpusPerNode: z.number().int().positive(),
  interNode_bps: positive('interNode_bps'),
  intraNode_bps: positive('intraNode_bps'),
  nvlinkPerGpu_GBps: positive('nvlinkPerGpu_GBps').optional(),
  nicPerNode_Gbps: positive('nicPerNode_Gbps').optional(),
  intraNodeTiers: z
    .object({ _comment: z.string().optional(), sendrecv_bps: tiersSchema, allreduce_bps: tiersSchema })
    .optional(),
  pareto: z
    .object({
      interNode_bps: positive('pareto.interNode_bps'),
      intraNode_bps: positive('pareto.intraNode_bps'),
      pricePerNodeHour_usd: positive('pareto.pricePerNodeHour_usd').optional(),
    })
    .optional(),
  instance: z.object({
    name: z.string().min(1),
    pricePerNodeHour_usd: z.number().nonnegative().max(1e9, { error: "pricePerNodeHour_usd must be at most 1e9" }),
    source: z.string().min(1),
    date: z.string().min(1),
  }),
  measured: z
    .object({
      p2p: measuredLinkSchema,
      allreduce: measuredLinkSchema.extend({ busBandwidth_GBps: positive('busBandwidth_GBps').optional() }),
      /** the same links timed as captured CUDA-graph replays (profiler/comm.py --graph): for recipes with launch 'cuda-graph' */
      captured: z
        .object({
          p2p: measuredLinkSchema,
          allreduce: measuredLinkSchema.extend({ busBandwidth_GBps: positive('busBandwidth_GBps').optional() }),
          source: z.string(),
        })
        .optional(),
      /** share of an all-reduce's own time that still shows when it runs beside compute (profiler/overlap.py; 0..1) */
      allreduceExposedFraction: z.number().min(0).max(1).optional(),
      /** measured optimizer step per recipe, ms per 1e9 parameters (profiler/optimizer.py) */
      optimizerStep_msPerGparam: z.record(z.string(), positive('optimizerStep_msPerGparam')).optional(),
      /** DTensor loss_parallel's cross-entropy beyond Megatron's, forward + backward captured, ms per 1e9 local logits (profiler/loss_parallel.py) */
      dtensorLossExtra_msPerGlogit: positive('dtensorLossExtra_msPerGlogit').optional(),
      /** measured p.grad += g over every parameter, ms per 1e9 parameters */
      gradAccumulate_msPerGparam: positive('gradAccumulate_msPerGparam').optional(),
      gpuCount: z.number().int().positive(),
      date: z.string(),
      source: z.string(),
    })
    .optional(),
  source: z.string().optional(),
}).refine((g) => g.memoryLimit_GiB <= g.memory_GB, {
  // HBM sizes are binary: an "80 GB" H100 holds 80 GiB, of which CUDA can use 79.1
  error: 'memoryLimit_GiB (what a process can allocate) must be at most the GPU\'s memory_GB',
  path: ['memoryLimit_GiB'],
});
export type GpuSpec = z.infer<typeof gpuSpecSchema> & { name: string };

/** Largest model dimensions fasop plans for (docs/errors.md, Limits: the search's time and memory grow with them). */
export const MODEL_LIMITS = {
  num_layers: 1024,
  hidden_size: 131072,
  seq_length: 1048576,
  vocab_size: 4194304,
  num_attention_heads: 4096,
  intermediate_size: 1048576,
} as const;

const dim = (field: keyof typeof MODEL_LIMITS | 'num_key_value_heads', max: number) =>
  z.number({ error: `${field} must be a number` }).int({ error: `${field} must be a whole number` }).positive({ error: `${field} must be >= 1` })
    .max(max, { error: `${field} must be at most ${max}` });

export const modelSpecSchema = z
  .object({
    architecture: z.enum(['llama', 'gpt2']),
    hidden_size: dim('hidden_size', MODEL_LIMITS.hidden_size),
    seq_length: dim('seq_length', MODEL_LIMITS.seq_length),
    num_layers: dim('num_layers', MODEL_LIMITS.num_layers),
    vocab_size: dim('vocab_size', MODEL_LIMITS.vocab_size),
    num_attention_heads: dim('num_attention_heads', MODEL_LIMITS.num_attention_heads),
    num_key_value_heads: dim('num_key_value_heads', MODEL_LIMITS.num_attention_heads),
    intermediate_size: dim('intermediate_size', MODEL_LIMITS.intermediate_size),
    tie_word_embeddings: z.boolean(),
    /** the q, k and v projections carry biases (Qwen2); GPT-2's always do */
    qkv_bias: z.boolean().optional(),
    /** the longest sequence the model's positions cover (config max_position_embeddings / n_positions) */
    max_position_embeddings: z.number().int().positive().optional(),
    source: z.string().optional(),
  })
  .refine((m) => m.num_attention_heads % m.num_key_value_heads === 0, {
    message: 'num_attention_heads must be a multiple of num_key_value_heads',
  })
  .refine((m) => !m.qkv_bias || m.architecture === 'llama', {
    message: 'qkv_bias is a llama-architecture field (GPT-2 has every bias already)',
  })
  .refine((m) => m.hidden_size % m.num_attention_heads === 0, {
    message: 'hidden_size must be a multiple of num_attention_heads (each head gets hidden_size / heads dimensions)',
  });
export type ModelSpec = z.infer<typeof modelSpecSchema> & { name: string };

export const datasetSpecSchema = z
  .object({
    /** the original's count: one sample = one sequence; --estimator reference trains one epoch of these */
    samples: z.number().int().positive(),
    description: z.string().default(''),
    /** size of the dataset in tokens: the default training budget of --estimator fasop */
    tokens: z.number().int().positive().optional(),
    /** where the token count comes from (paper, dataset card) and with which tokenizer */
    tokensSource: z.string().min(1).optional(),
  })
  .refine((d) => d.tokens === undefined || d.tokensSource !== undefined, { message: 'a dataset with tokens needs tokensSource (where the count comes from)' });
export type DatasetSpec = z.infer<typeof datasetSpecSchema> & { name: string };

/**
 * Names of catalog entries: they become file names ({model}_{gpu}_{tp}.npz), CSV cells and flag
 * values, so letters and digits first, then letters, digits and . + - (and _ outside GPU names).
 */
export const GPU_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9.+-]{0,63}$/;
export const ENTRY_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$/;

/** The first catalog entry name that breaks the rule above, with the rule; undefined when all are fine. */
export function badCatalogName(json: unknown): string | undefined {
  const file = (json !== null && typeof json === 'object' ? json : {}) as Record<string, unknown>;
  const section = (key: string): Record<string, unknown> => {
    const v = Object.hasOwn(file, key) ? file[key] : undefined;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  };
  for (const name of Object.keys(section('gpus'))) {
    if (!GPU_NAME_RE.test(name)) return `GPU type name ${JSON.stringify(name.slice(0, 60))}: GPU type names must start with a letter or digit and hold only letters, digits and . + - (at most 64)`;
  }
  for (const key of ['models', 'datasets', 'aliases'] as const) {
    const entries = Object.entries(section(key)).flatMap(([k, v]) => (key === 'aliases' && typeof v === 'string' ? [k, v] : [k]));
    for (const name of entries) {
      if (!ENTRY_NAME_RE.test(name)) return `${key} name ${JSON.stringify(name.slice(0, 60))}: names must start with a letter or digit and hold only letters, digits and _ . + - (at most 64)`;
    }
  }
  return undefined;
}

/** A catalog file: any subset of the sections; user files merge over the shipped ones. */
export const catalogFileSchema = z
  .object({
    _comment: z.string().optional(),
    gpus: z.record(z.string(), gpuSpecSchema).optional(),
    models: z.record(z.string(), modelSpecSchema).optional(),
    datasets: z.record(z.string(), datasetSpecSchema).optional(),
    aliases: z.record(z.string(), z.string()).optional(),
  })
  .strict();
export type CatalogFile = z.infer<typeof catalogFileSchema>;
