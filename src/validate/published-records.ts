/**
 * Published measurements of named training configurations (validation/published/*.json): each
 * record is one configuration as its source published it — cluster, model, degrees, execution and
 * the figure measured — read, checked and converted to a step time here.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { readJsonFile } from '../catalog/catalog.js';
import { modelSpecSchema, type ModelSpec } from '../catalog/schema.js';
import { FasopError } from '../errors.js';
import { DP_SHARDING, RECOMPUTE, executionProblems, type Execution } from '../estimate/execution.js';
import { RECIPE_AXES } from '../estimate/recipe.js';
import { trainingFlopsPerToken } from '../model/flops.js';

const count = z.number().int().positive();
const positive = z.number().positive().finite();

/** Where a record comes from: a repository file at a commit, or a page at a version. */
const sourceSchema = z.object({
  url: z.string().min(1).optional(),
  repo: z.string().min(1).optional(),
  path: z.string().min(1).optional(),
  commit: z.string().regex(/^[0-9a-f]{7,40}$/, { error: 'commit must be a git hash' }).optional(),
  version: z.string().min(1).optional(),
  /** the table or section of the source */
  table: z.string().optional(),
  /** where the training arguments were read, when another file than the figures */
  config: z.string().optional(),
}).strict()
  .refine((s) => s.url !== undefined || (s.repo !== undefined && s.path !== undefined), { error: 'a source needs a url, or a repo and a path' })
  .refine((s) => s.commit !== undefined || s.version !== undefined, { error: 'a source needs a commit or a version' });

/** The figures as published; at least one gives the step time. */
const publishedSchema = z.object({
  /** the row or values exactly as the source shows them */
  quoted: z.string().min(1),
  step_time_s: positive.optional(),
  /** per-step times as published (warm-up left out); the median is used */
  step_time_s_series: z.array(positive).min(1).optional(),
  tokens_per_s: positive.optional(),
  tokens_per_s_per_gpu: positive.optional(),
  model_tflops_per_gpu: positive.optional(),
  mfu_pct: positive.optional(),
  /** how the source counts FLOPs; 'palm' (6·N + 12·L·H·Dh·s per token, model/flops.ts) converts TFLOP/s to a step time */
  flops_formula: z.string().min(1).optional(),
  peak_memory_GiB: positive.optional(),
  peak_memory_bytes: positive.optional(),
  memory_metric: z.enum(['max_allocated', 'max_reserved']).optional(),
  /** which GPU's peak: the largest over the ranks, or the last rank's (Megatron's TensorBoard writer) */
  memory_ranks: z.enum(['max_over_ranks', 'last_rank']).optional(),
}).strict()
  .refine((p) => p.step_time_s !== undefined || p.step_time_s_series !== undefined || p.tokens_per_s !== undefined || p.tokens_per_s_per_gpu !== undefined || (p.model_tflops_per_gpu !== undefined && p.flops_formula === 'palm'),
    { error: 'published needs step_time_s, step_time_s_series, tokens_per_s, tokens_per_s_per_gpu, or model_tflops_per_gpu with flops_formula "palm"' })
  .refine((p) => (p.peak_memory_GiB === undefined && p.peak_memory_bytes === undefined) || (p.memory_metric !== undefined && p.memory_ranks !== undefined),
    { error: 'a published peak memory needs memory_metric and memory_ranks' });

const PRECISIONS = ['bf16', 'fp16', 'fp8'] as const;

const recipeName = z.string().refine((n) => RECIPE_AXES.has(n), { error: `recipe must be one of ${[...RECIPE_AXES.keys()].join(', ')}` });

const recordSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,95}$/, { error: 'id must be lower-case letters, digits and . _ -' }),
  /** never used to tune any estimator term */
  heldOut: z.boolean(),
  source: sourceSchema,
  gpu: z.object({
    type: z.string().min(1),
    description: z.string().min(1),
    /** the nodes' network as the source states it, where it is not the catalog type's (Gb/s per node) */
    interNode_Gbps: positive.optional(),
  }).strict(),
  nodes: count,
  gpusPerNode: count,
  model: z.record(z.string(), z.unknown()),
  tp: count, cp: count, dp: count, pp: count, virtualStages: count, mbs: count, gbs: count,
  recompute: z.enum(RECOMPUTE).optional(),
  recomputeLayers: count.optional(),
  dpSharding: z.enum(DP_SHARDING).optional(),
  shardGroup: count.optional(),
  sequenceParallel: z.boolean().optional(),
  /** training precision of the matmuls; fasop prices 16-bit (bf16, fp16) training, fp8 records are out of scope */
  precision: z.enum(PRECISIONS),
  runtime: z.string().optional(),
  /** the training recipe of this record where it is not its file's (--recipe name) */
  recipe: recipeName.optional(),
  /** the attention kernel the run used: flash (the default: what the operator profiles time) or an unfused one that materialises the scores */
  attention: z.enum(['flash', 'unfused']).optional(),
  /** the loss kernel: plain (PyTorch's cross-entropy over fp32-upcast logits, the default) or a fused one on the logits' own dtype (flash-attn's) */
  loss: z.enum(['plain', 'fused']).optional(),
  /** fields the source does not state that the record had to assume (named in notes) */
  assumed: z.array(z.string()).optional(),
  published: publishedSchema,
  notes: z.string().min(1),
}).strict()
  .refine((r) => r.nodes * r.gpusPerNode === r.tp * r.cp * r.dp * r.pp, { error: 'nodes · gpusPerNode must equal tp · cp · dp · pp' })
  .refine((r) => r.gbs % (r.dp * r.mbs) === 0, { error: 'gbs must be a multiple of dp · mbs' })
  .refine((r) => r.attention !== 'unfused' || r.cp === 1, { error: 'an unfused attention runs without context parallelism (cp 1)' })
  .refine((r) => r.precision === 'fp8' || (r.recompute !== undefined && r.dpSharding !== undefined && r.sequenceParallel !== undefined),
    { error: 'a 16-bit record needs recompute, dpSharding and sequenceParallel' });

const fileSchema = z.object({
  title: z.string().min(1),
  description: z.string().min(1),
  /** the training recipe (--recipe name) the source's framework runs; default: the default recipe (Megatron-LM's) */
  recipe: recipeName.optional(),
  records: z.array(recordSchema).min(1),
}).strict();

export type PublishedRecord = Omit<z.infer<typeof recordSchema>, 'model'> & { model: ModelSpec; file: string; recipe?: string };

/** One source's file of records. */
export interface PublishedSet {
  file: string;
  title: string;
  description: string;
  records: PublishedRecord[];
}

const HINT = 'fix the record (validation/published/README.md describes the fields)';

/** Read and check one file of published records. */
export function readPublishedFile(path: string, file: string): PublishedSet {
  const parsed = fileSchema.safeParse(readJsonFile(path, 'published measurements'));
  if (!parsed.success) throw new FasopError(`published measurements ${path} are malformed: ${z.prettifyError(parsed.error).replace(/\n/g, ' ')}`, HINT);
  const records = parsed.data.records.map((r) => {
    const m = modelSpecSchema.safeParse(r.model);
    if (!m.success) throw new FasopError(`published record ${r.id} in ${path}: model is malformed: ${z.prettifyError(m.error).replace(/\n/g, ' ')}`, HINT);
    const model: ModelSpec = { ...m.data, name: String(r.model['name'] ?? r.id), source: `published record ${r.id}` };
    // the record's own recipe, else its file's
    const recipe = r.recipe ?? parsed.data.recipe;
    const rec: PublishedRecord = { ...r, model, file, ...(recipe ? { recipe } : {}) };
    if (rec.precision !== 'fp8') {
      const why = executionProblems(executionOf(rec), { tp: rec.tp, dp: rec.dp, pp: rec.pp, microBatches: microBatchesOf(rec), numLayers: model.num_layers, seqLength: model.seq_length });
      if (why.length) throw new FasopError(`published record ${r.id} in ${path}: its execution cannot run: ${why.join('; ')}`, HINT);
    }
    return rec;
  });
  return { file, title: parsed.data.title, description: parsed.data.description, records };
}

/** Read every `*.json` of a folder of published records (sorted by name); ids are unique across files. */
export function readPublishedSets(dir: string): PublishedSet[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  } catch (err) {
    throw new FasopError(`published measurements folder ${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 'pass the folder that holds the published *.json files, e.g. validation/published');
  }
  if (names.length === 0) throw new FasopError(`no *.json published measurements in ${dir}`, 'pass the folder that holds them, e.g. validation/published');
  const sets = names.map((f) => readPublishedFile(join(dir, f), f));
  const seen = new Map<string, string>();
  for (const s of sets) {
    for (const r of s.records) {
      const other = seen.get(r.id);
      if (other) throw new FasopError(`published record id ${r.id} appears in ${other} and ${s.file}`, 'give every record its own id');
      seen.set(r.id, s.file);
    }
  }
  return sets;
}

/** Whether a folder's first `*.json` is a file of published records (to point `fasop validate DIR` at --published). */
export function holdsPublishedSets(dir: string): boolean {
  try {
    const first = readdirSync(dir).filter((f) => f.endsWith('.json')).sort()[0];
    if (first === undefined) return false;
    const doc = readJsonFile(join(dir, first), 'published measurements') as Record<string, unknown> | null;
    return doc !== null && typeof doc === 'object' && Array.isArray(doc['records']) && typeof doc['title'] === 'string';
  } catch {
    return false;
  }
}

/** Micro-batches per step on each data-parallel replica. */
export function microBatchesOf(r: Pick<PublishedRecord, 'gbs' | 'dp' | 'mbs'>): number {
  return r.gbs / (r.dp * r.mbs);
}

/** GPUs of the record's cluster. */
export function worldOf(r: Pick<PublishedRecord, 'nodes' | 'gpusPerNode'>): number {
  return r.nodes * r.gpusPerNode;
}

/** The execution a record ran (fp8 records may leave fields out: plain there). */
export function executionOf(r: PublishedRecord): Execution {
  return {
    recompute: r.recompute ?? 'none',
    ...(r.recomputeLayers !== undefined ? { recomputeLayers: r.recomputeLayers } : {}),
    dpSharding: r.dpSharding ?? 'none',
    ...(r.shardGroup !== undefined ? { shardGroup: r.shardGroup } : {}),
    sequenceParallel: r.sequenceParallel ?? false,
    virtualStages: r.virtualStages,
    cp: r.cp,
  };
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** A published step time and how it was obtained from what the source gives. */
export interface PublishedStep {
  step_s: number;
  from: string;
}

/**
 * The step time a record's figures imply: a published step time; the median of published per-step
 * times; gbs·seq tokens over the tokens per second (of the cluster, or per GPU times the GPUs); or
 * the step's model FLOPs (PaLM's formula) over TFLOP/s per GPU times the GPUs.
 */
export function publishedStepTime(r: PublishedRecord): PublishedStep {
  const p = r.published;
  const tokens = r.gbs * r.model.seq_length;
  const gpus = worldOf(r);
  if (p.step_time_s !== undefined) return { step_s: p.step_time_s, from: 'step time' };
  if (p.step_time_s_series !== undefined) return { step_s: median(p.step_time_s_series), from: `median of ${p.step_time_s_series.length} step times` };
  if (p.tokens_per_s !== undefined) return { step_s: tokens / p.tokens_per_s, from: 'gbs·seq / tokens/s' };
  if (p.tokens_per_s_per_gpu !== undefined) return { step_s: tokens / (p.tokens_per_s_per_gpu * gpus), from: 'gbs·seq / (tokens/s/GPU · GPUs)' };
  const flops = tokens * trainingFlopsPerToken(r.model);
  return { step_s: flops / (p.model_tflops_per_gpu! * 1e12 * gpus), from: 'model FLOPs (PaLM) / (TFLOP/s/GPU · GPUs)' };
}

/** The published peak memory per GPU in GiB (NaN when the source gives none). */
export function publishedPeak_GiB(r: PublishedRecord): number {
  const p = r.published;
  if (p.peak_memory_GiB !== undefined) return p.peak_memory_GiB;
  return p.peak_memory_bytes !== undefined ? p.peak_memory_bytes / 2 ** 30 : NaN;
}

/** Why fasop does not price a record (undefined when it does). */
export function outOfScope(r: PublishedRecord): string | undefined {
  if (r.precision === 'fp8') return 'fp8 training: fasop prices 16-bit training';
  return undefined;
}
