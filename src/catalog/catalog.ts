import { join } from 'node:path';
import { z } from 'zod';
import { FasopError } from '../errors.js';
import { catalogDataDir } from '../paths.js';
import { nullRecord, ownGet } from '../guard/lookup.js';
import { MAX_JSON_BYTES, readFileCapped, ReadFailure } from '../guard/read.js';
import {
  badCatalogName,
  catalogFileSchema,
  type CatalogFile,
  type DatasetSpec,
  type GpuSpec,
  type ModelSpec,
} from './schema.js';

/** GPU types, models and datasets, keyed by name. Pure data; look-ups by name live here only. */
export interface Catalog {
  gpus: Record<string, GpuSpec>;
  models: Record<string, ModelSpec>;
  datasets: Record<string, DatasetSpec>;
  aliases: Record<string, string>;
}

/** Validate parsed JSON as a catalog file; `origin` names it in error messages. */
export function parseCatalogFile(json: unknown, origin: string): CatalogFile {
  const badName = badCatalogName(json);
  if (badName) throw new FasopError(`catalog file ${origin} is invalid: ${badName}`, 'rename the entry (names become file names, CSV cells and flag values)');
  const parsed = catalogFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new FasopError(
      `catalog file ${origin} is invalid: ${z.prettifyError(parsed.error).replace(/\n/g, ' ')}`,
      'correct the fields named above (see src/catalog/data/*.json for the format)',
    );
  }
  return parsed.data;
}

export function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileCapped(path, MAX_JSON_BYTES).toString('utf8');
  } catch (err) {
    if (!(err instanceof ReadFailure)) throw err;
    throw new FasopError(`cannot read ${what} ${path}: ${err.code}${err.detail === err.code ? '' : ` (${err.detail})`}`,
      'check the path and that it is a readable regular file');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FasopError(`${what} ${path} is not valid JSON: ${(err as Error).message}`, 'fix the JSON syntax');
  }
}

function mergeInto(catalog: Catalog, file: CatalogFile): void {
  for (const [name, spec] of Object.entries(file.gpus ?? {})) catalog.gpus[name] = { ...spec, name };
  for (const [name, spec] of Object.entries(file.models ?? {})) catalog.models[name] = { ...spec, name };
  for (const [name, spec] of Object.entries(file.datasets ?? {})) catalog.datasets[name] = { ...spec, name };
  for (const [alias, target] of Object.entries(file.aliases ?? {})) catalog.aliases[alias] = target;
}

/** The shipped catalogs, with each user file (`--catalog FILE`) merged over them in order. */
export function loadCatalog(userFiles: readonly string[] = []): Catalog {
  const catalog: Catalog = { gpus: nullRecord(), models: nullRecord(), datasets: nullRecord(), aliases: nullRecord() };
  for (const name of ['gpus.json', 'models.json', 'datasets.json']) {
    const path = join(catalogDataDir(), name);
    mergeInto(catalog, parseCatalogFile(readJsonFile(path, 'catalog file'), path));
  }
  for (const path of userFiles) mergeInto(catalog, parseCatalogFile(readJsonFile(path, 'catalog file'), path));
  return catalog;
}

function known(names: Iterable<string>): string {
  return [...names].sort().join(', ');
}

/** Case-insensitive GPU look-up (the original upper-cases types). */
export function getGpu(catalog: Catalog, name: string): GpuSpec {
  const direct = ownGet(catalog.gpus, name);
  if (direct) return direct;
  const hit = Object.keys(catalog.gpus).find((k) => k.toUpperCase() === name.toUpperCase());
  if (hit) return ownGet(catalog.gpus, hit)!;
  throw new FasopError(`unknown GPU type '${name}'`, `use one of: ${known(Object.keys(catalog.gpus))}, or add it with --catalog FILE`);
}

export function getModel(catalog: Catalog, name: string): ModelSpec {
  const key = ownGet(catalog.aliases, name) ?? name;
  const model = ownGet(catalog.models, key);
  if (!model) {
    throw new FasopError(`unknown model '${name}'`,
      `use one of: ${known(Object.keys(catalog.models))}, or import a Hugging Face config with --model-config FILE`);
  }
  return model;
}

export function getDataset(catalog: Catalog, name: string): DatasetSpec {
  const ds = ownGet(catalog.datasets, name);
  if (!ds) throw new FasopError(`unknown dataset '${name}'`, `use one of: ${known(Object.keys(catalog.datasets))}`);
  return ds;
}

/** Training iterations for one epoch of a dataset: ⌊samples / gbs⌋. */
export function iterationsFor(dataset: DatasetSpec, gbs: number): number {
  return Math.floor(dataset.samples / gbs);
}

/** How much a search trains for: a number of tokens (fasop) or one epoch of samples (the original). */
export interface TrainingBudget {
  /** sequences trained: what `iterationsFor` divides by gbs */
  samples: number;
  /** tokens trained (samples × seq_length), when the budget is counted in tokens */
  tokens?: number;
  epochs: number;
  /** `--train-tokens`, `dataset` (its token count from the catalog) or `samples` (the original's count) */
  from: 'train-tokens' | 'dataset-tokens' | 'samples';
  /** where the dataset's token count comes from, when it is used */
  source?: string;
}

/**
 * The training budget: `trainTokens` when given, else `epochs` × the dataset's token count when the
 * catalog has one (and `countTokens`), else `epochs` × its samples. Samples = ⌊tokens / seqLength⌋.
 */
export function trainingBudget(dataset: DatasetSpec, seqLength: number, opts: { trainTokens?: number; epochs?: number; countTokens: boolean }): TrainingBudget {
  const epochs = opts.epochs ?? 1;
  if (opts.trainTokens !== undefined) return { samples: Math.floor(opts.trainTokens / seqLength), tokens: opts.trainTokens, epochs: 1, from: 'train-tokens' };
  if (opts.countTokens && dataset.tokens !== undefined) {
    const tokens = dataset.tokens * epochs;
    return { samples: Math.floor(tokens / seqLength), tokens, epochs, from: 'dataset-tokens', ...(dataset.tokensSource ? { source: dataset.tokensSource } : {}) };
  }
  return { samples: Math.floor(dataset.samples * epochs), epochs, from: 'samples' };
}

/** `2T`, `300B`, `1.5e12`, `500M`, `64k`: a token count (K/M/B/T = 10^3/10^6/10^9/10^12); NaN when not one. */
export function parseTokenCount(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmbt]?)\s*$/i.exec(text);
  if (!m) return NaN;
  const scale = { '': 1, k: 1e3, m: 1e6, b: 1e9, t: 1e12 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'b' | 't'];
  const v = Math.round(Number(m[1]) * scale);
  return Number.isSafeInteger(v) && v > 0 ? v : NaN;
}
