import { FasopError } from '../errors.js';
import { PLAIN_EXECUTION, type Execution } from '../estimate/execution.js';

/**
 * torchtitan's `[parallelism] module_fqns_per_model_part` (torchtitan/config/job_config.py;
 * split by torchtitan/distributed/pipeline_parallel.py `pipeline_module_split`): one list of
 * module FQNs per model part (pipeline stage). LLaMA names: `tok_embeddings`, `layers.{i}`,
 * `norm`, `output`. With a single-stage schedule such as 1F1B there is one part per pp rank; with a
 * looped one (Interleaved1F1B) pp·v parts, part i on pp rank i mod pp.
 */
export function moduleFqnsPerModelPart(layersPerStage: readonly number[]): string[][] {
  const last = layersPerStage.length - 1;
  let next = 0;
  return layersPerStage.map((k, s) => {
    const part: string[] = [];
    if (s === 0) part.push('tok_embeddings');
    for (let i = 0; i < k; i++) part.push(`layers.${next++}`);
    if (s === last) part.push('norm', 'output');
    return part;
  });
}

/**
 * Check module lists for a `numLayers`-layer LLaMA: a list of lists of strings that names
 * tok_embeddings, layers.0 … layers.{L−1}, norm and output each exactly once, in model order.
 * Returns decoder layers per part.
 */
export function checkModuleFqns(value: unknown, numLayers: number): number[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((p) => Array.isArray(p) && p.every((x) => typeof x === 'string'))) {
    throw new FasopError('module_fqns_per_model_part must be a non-empty list of lists of strings', 'e.g. [["tok_embeddings","layers.0"],["layers.1","norm","output"]]');
  }
  const parts = value as string[][];
  const flat = parts.flat();
  const want = ['tok_embeddings', ...Array.from({ length: numLayers }, (_, i) => `layers.${i}`), 'norm', 'output'];
  if (flat.length !== want.length || flat.some((x, i) => x !== want[i])) {
    throw new FasopError(`module_fqns_per_model_part does not list the ${numLayers}-layer model's modules once each in order`, `expected ${want.slice(0, 3).join(', ')} … ${want.slice(-3).join(', ')}`);
  }
  return parts.map((p) => p.filter((x) => x.startsWith('layers.')).length);
}

export type TorchtitanDpMode = 'replicate' | 'shard';

export interface TorchtitanConfig {
  parallelism: {
    data_parallel_replicate_degree: number;
    data_parallel_shard_degree: number;
    tensor_parallel_degree: number;
    context_parallel_degree: number;
    pipeline_parallel_degree: number;
    pipeline_parallel_schedule?: string;
    pipeline_parallel_microbatch_size?: number;
    module_fqns_per_model_part?: string[][];
  };
  training: { local_batch_size: number; global_batch_size: number; seq_len?: number; mixed_precision_param?: string };
  activation_checkpoint: { mode: 'none' | 'selective' | 'full'; selective_ac_option?: string };
  /** what the settings assume or change against the plan (not part of the TOML) */
  notes: string[];
}

export interface TorchtitanOptions {
  execution?: Execution;
  /** the training sequence length ([training] seq_len), checked against torchtitan's divisor */
  seqLength?: number;
  /** training recipe name (estimate/recipe.ts) */
  recipe?: string;
}

/**
 * Data-parallel degrees (job_config.py Parallelism: replicate = DDP, shard = FSDP2, both = HSDP).
 * By default they follow the plan's dp sharding; `dpMode` forces one (shard: FSDP over the whole
 * dp, or the plan's shard group). torchtitan has no ZeRO-1/2.
 */
function dpDegrees(e: Execution, dp: number, dpMode: TorchtitanDpMode | undefined, notes: string[]): { replicate: number; shard: number } {
  if (dpMode === 'replicate') {
    if (e.dpSharding !== 'none') {
      throw new FasopError(`--torchtitan-dp replicate keeps a full copy on every rank, but the plan shards (dp_sharding '${e.dpSharding}')`, 'drop --torchtitan-dp to follow the plan, or pass --torchtitan-dp shard');
    }
    return { replicate: dp, shard: 1 };
  }
  if (dpMode === undefined && (e.dpSharding === 'optimizer' || e.dpSharding === 'gradients')) {
    const zero = e.dpSharding === 'optimizer' ? 'ZeRO-1 (sharded optimizer states)' : 'ZeRO-2 (sharded optimizer states and gradients)';
    throw new FasopError(`torchtitan has no ${zero}, the plan's dp_sharding '${e.dpSharding}': its data parallelism is DDP (data_parallel_replicate_degree) or FSDP2 (data_parallel_shard_degree, which shards parameters too)`,
      "export with --torchtitan-dp shard (FSDP2, sharding parameters as well), or --format megatron (--use-distributed-optimizer / Megatron-FSDP)");
  }
  if (dpMode === 'shard' || e.dpSharding === 'parameters') {
    const shard = e.dpSharding === 'parameters' ? (e.shardGroup ?? dp) : dp;
    if (e.dpSharding !== 'parameters') notes.push(`torchtitan: --torchtitan-dp shard runs FSDP2, which shards parameters, gradients and optimizer states over ${dp} ranks; the plan priced dp_sharding '${e.dpSharding}'`);
    return { replicate: dp / shard, shard };
  }
  return { replicate: dp, shard: 1 };
}

/**
 * [activation_checkpoint] (job_config.py ActivationCheckpoint, distributed/activation_checkpoint.py):
 * mode none/selective/full; the default is selective, so none is written out. Recompute 'op' is
 * selective_ac_option "op"; Megatron's selective recompute (the attention core) has no torchtitan
 * twin and is written as "op" with a note.
 * Full recompute of N of a stage's layers maps to selective_ac_option k (every k-th transformer
 * block, counted across a rank's model parts) only when every rank holds the same k·N layers and
 * each part a multiple of k.
 */
function acSettings(e: Execution, chunkLayers: readonly number[], pp: number, notes: string[]): TorchtitanConfig['activation_checkpoint'] {
  if (e.recompute === 'none') return { mode: 'none' };
  if (e.recompute === 'op') return { mode: 'selective', selective_ac_option: 'op' };
  if (e.recompute === 'selective') {
    notes.push('torchtitan: selective_ac_option "op" keeps every other matmul\'s and the attention\'s outputs and recomputes the rest of each block; Megatron-LM\'s selective recompute (what the plan prices) recomputes the attention core instead (plan with --recompute op to price torchtitan\'s)');
    return { mode: 'selective', selective_ac_option: 'op' };
  }
  const n = e.recomputeLayers;
  const rankLayers = Array.from({ length: pp }, (_, r) => chunkLayers.filter((_, i) => i % pp === r).reduce((a, b) => a + b, 0));
  if (n === undefined || rankLayers.every((k) => n >= k)) return { mode: 'full' };
  const k = rankLayers[0]! / n;
  if (!rankLayers.every((x) => x === rankLayers[0]) || !Number.isInteger(k) || !chunkLayers.every((c) => c % k === 0)) {
    throw new FasopError(`torchtitan recomputes every k-th transformer block (selective_ac_option k, one k for all ranks); ${n} recomputed layers per stage of [${rankLayers.join(', ')}] is not such a pattern`,
      'export with --format megatron (--recompute-method block), or use a plan with full recompute of every layer');
  }
  notes.push(`torchtitan: selective_ac_option "${k}" fully recomputes every ${k}-th transformer block: ${n} of each rank's ${rankLayers[0]} layers, as the plan's full recompute of ${n} layers per stage (Megatron's block method recomputes a stage's first ${n} instead)`);
  return { mode: 'selective', selective_ac_option: String(k) };
}

/**
 * torchtitan settings for a plan. `chunkLayers`: decoder layers of each model part in model order
 * (pp parts, or pp·v with v virtual stages: rank r builds parts r, r + pp, … as
 * pipeline_parallel.py's looped schedules do). Batches: with pp > 1, local_batch_size = gbs/dp and
 * n_microbatches = local_batch_size / pipeline_parallel_microbatch_size = fasop's micro-batches;
 * with pp = 1 the micro-batches are gradient-accumulation steps: local_batch_size = mbs,
 * global_batch_size = gbs. Tensor parallelism always comes with sequence parallelism (the llama3
 * apply_tp puts SequenceParallel on every norm; there is no option to turn it off).
 */
export function torchtitanConfig(p: { tp: number; dp: number; pp: number; mbs: number; gbs: number }, chunkLayers: readonly number[], dpMode?: TorchtitanDpMode, opts: TorchtitanOptions = {}): TorchtitanConfig {
  const e = opts.execution ?? PLAIN_EXECUTION;
  const notes: string[] = [];
  const v = chunkLayers.length / p.pp;
  if (opts.seqLength !== undefined && (p.tp > 1 || e.cp > 1) && opts.seqLength % (p.tp * 2 * e.cp) !== 0) {
    throw new FasopError(`torchtitan needs the sequence (${opts.seqLength}) divisible by tp·2·cp = ${p.tp * 2 * e.cp} (ParallelDims.seq_len_divisor)`, `use a sequence length that is a multiple of ${p.tp * 2 * e.cp}, or --format megatron`);
  }
  const { replicate, shard } = dpDegrees(e, p.dp, dpMode, notes);
  const parallelism: TorchtitanConfig['parallelism'] = {
    data_parallel_replicate_degree: replicate,
    data_parallel_shard_degree: shard,
    tensor_parallel_degree: p.tp,
    context_parallel_degree: e.cp,
    pipeline_parallel_degree: p.pp,
  };
  if (p.pp > 1) {
    parallelism.pipeline_parallel_schedule = v > 1 ? 'Interleaved1F1B' : '1F1B';
    parallelism.pipeline_parallel_microbatch_size = p.mbs;
    parallelism.module_fqns_per_model_part = moduleFqnsPerModelPart(chunkLayers);
  }
  if (p.tp > 1 && !e.sequenceParallel) notes.push('torchtitan: tensor parallelism always runs with sequence parallelism (apply_tp shards the norms over the sequence); the plan priced TP without it');
  // parallel_dims.py: fsdp_enabled = dp_shard_enabled or cp_enabled; the FSDP mesh is dp_shard × cp
  if (e.cp > 1) notes.push(`torchtitan: with context parallelism FSDP2 is on and shards over dp_shard·cp = ${shard}·${e.cp} = ${shard * e.cp} ranks${e.dpSharding === 'none' && dpMode !== 'shard' ? ' although the plan keeps full copies (dp_sharding none)' : ''}`);
  if (opts.recipe?.startsWith('megatron-mixed')) notes.push(`torchtitan: the plan was priced under ${opts.recipe} (Megatron-LM's optimizer and gradient buffers); torchtitan keeps fp32 parameters and AdamW states and FSDP2 reduces gradients in fp32: search with --recipe fp32-master-adamw to price it as torchtitan runs it`);
  if (opts.recipe?.startsWith('bf16-adamw')) notes.push(`torchtitan: the ${opts.recipe} recipe keeps no fp32 master weights; torchtitan keeps fp32 parameters and AdamW states (FSDP2 computes in mixed_precision_param = "bfloat16"; DDP and single-device runs use autocast)`);
  const training: TorchtitanConfig['training'] = { local_batch_size: p.pp > 1 ? p.gbs / p.dp : p.mbs, global_batch_size: p.gbs };
  if (opts.seqLength !== undefined) training.seq_len = opts.seqLength;
  training.mixed_precision_param = 'bfloat16';
  return { parallelism, training, activation_checkpoint: acSettings(e, chunkLayers, p.pp, notes), notes };
}

/** TOML text (JSON strings and arrays are valid TOML values); one model part per line. */
export function torchtitanToml(cfg: TorchtitanConfig): string {
  const lines = ['[parallelism]'];
  for (const [k, v] of Object.entries(cfg.parallelism)) {
    if (v === undefined) continue;
    if (k === 'module_fqns_per_model_part') {
      lines.push(`${k} = [`, ...(v as string[][]).map((part) => `  ${JSON.stringify(part).replace(/","/g, '", "')},`), ']');
    } else lines.push(`${k} = ${JSON.stringify(v)}`);
  }
  for (const table of ['training', 'activation_checkpoint'] as const) {
    lines.push('', `[${table}]`);
    for (const [k, v] of Object.entries(cfg[table])) if (v !== undefined) lines.push(`${k} = ${JSON.stringify(v)}`);
  }
  return lines.join('\n');
}
