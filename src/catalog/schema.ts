import { z } from 'zod';

const positive = (what: string) => z.number({ error: `${what} must be a number` }).positive({ error: `${what} must be > 0` });

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
  latency_us: z.number().nonnegative(),
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
    pricePerNodeHour_usd: z.number().nonnegative(),
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
});
export type GpuSpec = z.infer<typeof gpuSpecSchema> & { name: string };

export const modelSpecSchema = z
  .object({
    architecture: z.enum(['llama', 'gpt2']),
    hidden_size: z.number().int().positive(),
    seq_length: z.number().int().positive(),
    num_layers: z.number().int().positive(),
    vocab_size: z.number().int().positive(),
    num_attention_heads: z.number().int().positive(),
    num_key_value_heads: z.number().int().positive(),
    intermediate_size: z.number().int().positive(),
    tie_word_embeddings: z.boolean(),
    /** the longest sequence the model's positions cover (config max_position_embeddings / n_positions) */
    max_position_embeddings: z.number().int().positive().optional(),
    source: z.string().optional(),
  })
  .refine((m) => m.hidden_size % m.num_attention_heads === 0, {
    message: 'hidden_size must be a multiple of num_attention_heads',
  })
  .refine((m) => m.num_attention_heads % m.num_key_value_heads === 0, {
    message: 'num_attention_heads must be a multiple of num_key_value_heads',
  });
export type ModelSpec = z.infer<typeof modelSpecSchema> & { name: string };

export const datasetSpecSchema = z.object({
  samples: z.number().int().positive(),
  description: z.string().default(''),
});
export type DatasetSpec = z.infer<typeof datasetSpecSchema> & { name: string };

/** A catalog file: any subset of the sections; user files merge over the shipped ones. */
export const catalogFileSchema = z
  .object({
    _comment: z.string().optional(),
    gpus: z.record(z.string().min(1), gpuSpecSchema).optional(),
    models: z.record(z.string().min(1), modelSpecSchema).optional(),
    datasets: z.record(z.string().min(1), datasetSpecSchema).optional(),
    aliases: z.record(z.string(), z.string()).optional(),
  })
  .strict();
export type CatalogFile = z.infer<typeof catalogFileSchema>;
