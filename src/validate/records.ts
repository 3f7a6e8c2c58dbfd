import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { readJsonFile } from '../catalog/catalog.js';
import { FasopError } from '../errors.js';

/** One measured training run written by validation/train_step.py. */
export const validationRecordSchema = z.object({
  plan: z.object({
    tp: z.number().int().positive(),
    pp: z.number().int().positive(),
    dp: z.number().int().positive(),
    mbs: z.number().int().positive(),
    gbs: z.number().int().positive(),
    layers_per_stage: z.array(z.number().int().nonnegative()).optional().nullable(),
  }).passthrough(),
  model: z.object({
    name: z.string(),
    hidden_size: z.number().int().positive(),
    num_layers: z.number().int().positive(),
    num_attention_heads: z.number().int().positive(),
    num_key_value_heads: z.number().int().positive(),
    intermediate_size: z.number().int().positive(),
    vocab_size: z.number().int().positive(),
    seq_length: z.number().int().positive(),
    tie_word_embeddings: z.boolean().default(false),
  }).passthrough(),
  recipe: z.record(z.string(), z.unknown()).optional(),
  measured: z.object({
    oom: z.boolean().optional(),
    error: z.string().optional(),
    step_time_ms_median: z.number().positive().optional(),
    step_time_ms_p10: z.number().optional(),
    step_time_ms_p90: z.number().optional(),
    peak_allocated_GiB_per_rank: z.array(z.number()).optional(),
    peak_reserved_GiB_per_rank: z.array(z.number()).optional(),
    /** --cuda-graph runs: which steps peak_allocated_GiB_per_rank covers (absent: it also covers the capture) */
    peak_allocated_GiB_source: z.string().optional(),
  }).passthrough(),
  machine: z.object({ gpu_name: z.string(), gpu_count: z.number().optional(), host_processes: z.number().int().positive().optional() }).passthrough(),
  versions: z.record(z.string(), z.unknown()).optional(),
  date: z.string().optional(),
}).passthrough();
export type ValidationRecord = z.infer<typeof validationRecordSchema> & { file: string };

/** Read every `*.json` under a results folder (sorted by name); each is validated. */
export function readValidationRecords(dir: string): ValidationRecord[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  } catch (err) {
    throw new FasopError(`validation results folder ${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 'pass the folder that holds the *.json files of validation/train_step.py');
  }
  if (names.length === 0) throw new FasopError(`no *.json results in ${dir}`, 'run validation/run.sh sweep on a GPU machine first (validation/README.md)');
  return names.map((f) => {
    const path = join(dir, f);
    const parsed = validationRecordSchema.safeParse(readJsonFile(path, 'validation result'));
    if (!parsed.success) throw new FasopError(`validation result ${path} is malformed: ${z.prettifyError(parsed.error).replace(/\n/g, ' ')}`, 'regenerate it with validation/train_step.py');
    return { ...parsed.data, file: f } as ValidationRecord;
  });
}

/** `H100` from 'NVIDIA H100 80GB HBM3' etc. */
export function gpuTypeOf(gpuName: string): string | undefined {
  return /(H100|H200|B200|A100|A40|A10|L40S|MI300X)/.exec(gpuName)?.[1];
}
