import { z } from 'zod';
import { FasopError } from '../errors.js';
import { PARTITION_METHODS, type RawSearchOptions } from './options.js';
import { RECIPES } from '../estimate/recipe.js';

/**
 * The JSON body of `POST /api/search`: the page's form, nothing else. Unknown keys are refused, no
 * field names a file (the profile folder and catalogs are the server's, fixed at `fasop serve`),
 * and every value is then checked by the request resolver (`resolveSearchOptions`) — the same
 * messages as `fasop search`. Nothing here ever reaches a shell.
 */
const name = z.string().trim().min(1).max(64).regex(/^[A-Za-z0-9_.+-]+$/, 'letters, digits and _ . + - only');
/** A whole number, or the text of one (the CLI resolver checks the range and says which flag). */
const intLike = z.union([z.number().finite(), z.string().trim().max(12)]);
const optionalInt = intLike.nullish().transform((v) => (v === '' ? undefined : v ?? undefined));

const list = z.string().trim().max(64).nullish().transform((v) => (v ? v : undefined));

export const searchBodySchema = z.strictObject({
  gpus: z.array(z.strictObject({ type: name, nodes: intLike })).min(1, 'add at least one GPU type').max(16),
  model: name.default('llama70b'),
  dataset: name.default('squad'),
  gbs: intLike.default(32),
  paretoGbsMax: optionalInt,
  gpuPerNode: optionalInt,
  precision: intLike.default(16),
  partitionMethod: z.enum(PARTITION_METHODS).default('minmax'),
  estimator: z.enum(['reference', 'fasop']).default('fasop'),
  pareto: z.boolean().default(false),
  recipe: z.enum(Object.keys(RECIPES) as [string, ...string[]]).default('megatron-mixed'),
  /** a Hugging Face config.json the page read from a file the user chose (its content, never a path) */
  modelConfig: z.record(z.string(), z.unknown()).nullish(),
  seqLength: optionalInt,
  /** training budget in tokens, e.g. "2T" (checked by the CLI's resolver) */
  trainTokens: z.string().trim().max(24).nullish().transform((v) => (v ? v : undefined)),
  epochs: z.union([z.number().finite(), z.string().trim().max(12)]).nullish().transform((v) => (v === '' || v === null || v === undefined ? undefined : String(v))),
  /** technique lists as the CLI takes them (e.g. "none,full"; checked by the CLI's resolver) */
  recompute: list,
  dpSharding: list,
  shardGroup: list,
  virtualStages: list,
  cp: list,
  /** true or false fixes it; absent: the search's default (on wherever tp > 1 under the corrected estimator) */
  sequenceParallel: z.boolean().optional(),
});

export type SearchBody = z.infer<typeof searchBodySchema>;

/** Parse an untrusted body into the CLI's raw options (+ `--gpus` tokens); FasopError if it is not one. */
export function bodyToRawOptions(body: unknown, profileDir: string, catalogFiles: readonly string[]): { raw: RawSearchOptions; gpuTokens: string[]; body: SearchBody } {
  const parsed = searchBodySchema.safeParse(body);
  if (!parsed.success) {
    throw new FasopError(`invalid search request: ${z.prettifyError(parsed.error).replace(/\s*\n\s*/g, '; ')}`,
      'send {"gpus": [{"type": "A40", "nodes": 4}], "model": "llama70b", "dataset": "squad", "gbs": 32, ...} (see docs/web.md)');
  }
  const b = parsed.data;
  const str = (v: number | string | undefined) => (v === undefined ? undefined : String(v));
  const raw: RawSearchOptions = {
    modelType: b.model,
    dataset: b.dataset,
    gbs: String(b.gbs),
    gpuPerNode: str(b.gpuPerNode),
    precision: String(b.precision),
    ppPartitionMethod: b.partitionMethod,
    estimator: b.estimator,
    recipe: b.recipe,
    substituteProfile: [],
    pareto: b.pareto,
    paretoGbsMax: str(b.paretoGbsMax),
    ...(b.modelConfig ? { modelConfigJson: b.modelConfig } : {}),
    ...(b.seqLength !== undefined ? { seqLength: String(b.seqLength) } : {}),
    ...(b.trainTokens !== undefined ? { trainTokens: b.trainTokens } : {}),
    ...(b.epochs !== undefined ? { epochs: b.epochs } : {}),
    ...(b.recompute !== undefined ? { recompute: b.recompute } : {}),
    ...(b.dpSharding !== undefined ? { dpSharding: b.dpSharding } : {}),
    ...(b.shardGroup !== undefined ? { shardGroup: b.shardGroup } : {}),
    ...(b.virtualStages !== undefined ? { virtualStages: b.virtualStages } : {}),
    ...(b.cp !== undefined ? { cp: b.cp } : {}),
    ...(b.sequenceParallel !== undefined ? { sequenceParallel: b.sequenceParallel } : {}),
    addExpName: '',
    saveCsv: false,
    profileDir,
    catalog: [...catalogFiles],
  };
  return { raw, gpuTokens: b.gpus.flatMap((g) => [g.type, String(g.nodes)]), body: b };
}
