import { FasopError } from '../errors.js';

/**
 * torchtitan's `[parallelism] module_fqns_per_model_part` (torchtitan/config/job_config.py;
 * split by torchtitan/distributed/pipeline_parallel.py `pipeline_module_split`): one list of
 * module FQNs per model part (pipeline stage). LLaMA names: `tok_embeddings`, `layers.{i}`,
 * `norm`, `output`. With a single-stage schedule such as 1F1B there is one part per pp rank.
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
    pipeline_parallel_degree: number;
    pipeline_parallel_schedule?: string;
    pipeline_parallel_microbatch_size?: number;
    module_fqns_per_model_part?: string[][];
  };
  training: { local_batch_size: number; global_batch_size: number };
}

/**
 * torchtitan settings for a plan. DP: fasop prices data parallelism as one gradient all-reduce
 * per step, which is torchtitan's DDP (`data_parallel_replicate_degree`); `shard` gives FSDP
 * instead. Batches: with pp > 1, local_batch_size = gbs/dp and n_microbatches =
 * local_batch_size / pipeline_parallel_microbatch_size = fasop's micro-batches; with pp = 1 the
 * micro-batches are gradient-accumulation steps: local_batch_size = mbs, global_batch_size = gbs.
 */
export function torchtitanConfig(p: { tp: number; dp: number; pp: number; mbs: number; gbs: number }, layersPerStage: readonly number[], dpMode: TorchtitanDpMode = 'replicate'): TorchtitanConfig {
  const parallelism: TorchtitanConfig['parallelism'] = {
    data_parallel_replicate_degree: dpMode === 'replicate' ? p.dp : 1,
    data_parallel_shard_degree: dpMode === 'shard' ? p.dp : 1,
    tensor_parallel_degree: p.tp,
    pipeline_parallel_degree: p.pp,
  };
  if (p.pp > 1) {
    parallelism.pipeline_parallel_schedule = '1F1B';
    parallelism.pipeline_parallel_microbatch_size = p.mbs;
    parallelism.module_fqns_per_model_part = moduleFqnsPerModelPart(layersPerStage);
  }
  return { parallelism, training: { local_batch_size: p.pp > 1 ? p.gbs / p.dp : p.mbs, global_batch_size: p.gbs } };
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
  lines.push('', '[training]');
  for (const [k, v] of Object.entries(cfg.training)) lines.push(`${k} = ${JSON.stringify(v)}`);
  return lines.join('\n');
}
