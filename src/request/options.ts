/**
 * Search options → SearchRequest: the one place where what a user typed (CLI flags, or the web
 * form's fields mapped onto the same options) is checked and resolved. Nothing is written here.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { getDataset, getGpu, getModel, loadCatalog, parseTokenCount, trainingBudget, type Catalog, type TrainingBudget } from '../catalog/catalog.js';
import { checkSeqLength, loadHfModelConfig, modelFromHfConfig } from '../catalog/hf-config.js';
import type { ModelSpec } from '../catalog/schema.js';
import { FasopError } from '../errors.js';
import { DEFAULT_DP_SHARDING, DEFAULT_RECOMPUTE, defaultCpDegrees, DP_SHARDING, RECOMPUTE, virtualStageCounts, type RequestExecution, type ShardGroupChoice } from '../estimate/execution.js';
import { ownGet } from '../guard/lookup.js';
import type { PartitionMethod } from '../estimate/plan.js';
import { LAUNCHES, OPTIMIZER_RECIPES, RECIPE_AXES, RECIPES, TP_RUNTIMES, recipeName, type RecipeAxes, type TrainingRecipe } from '../estimate/recipe.js';
import { readHostIssueProfile } from '../profiles/host-issue.js';
import { recipeAtHostSpeed, recipeWithHostProfile } from '../estimate/host-speed.js';
import { defaultProfileDir } from '../paths.js';
import { gbsSweep, parseGpuTokens, type NodeGroup } from './cluster.js';
import type { EstimatorName, SearchRequest } from './request.js';

/**
 * The profile folder for a recipe: one whose runtime replays a captured CUDA graph is costed with
 * operators timed that way, `<dir>/graph` when that folder exists (the shipped layout), else `<dir>`.
 */
export function profileDirFor(recipe: string | TrainingRecipe, dir: string): string {
  const graphDir = join(dir, 'graph');
  const launch = typeof recipe === 'string' ? ownGet(RECIPES, recipe)?.launch : recipe.launch;
  return launch === 'cuda-graph' && existsSync(graphDir) ? graphDir : dir;
}

/** A catalog model at the requested sequence length (its own when none is given), checked against its positions. */
export function withSeqLength(model: ModelSpec, seqLength: number | undefined): ModelSpec {
  if (seqLength === undefined) return model;
  const m = { ...model, seq_length: seqLength };
  checkSeqLength(m, `model ${model.name}`);
  return m;
}

/** Raw commander options of `fasop search` (strings, as typed). */
export interface RawSearchOptions {
  modelType: string;
  modelConfig?: string;
  /** a Hugging Face config.json already parsed (the web form's upload); never a path */
  modelConfigJson?: unknown;
  trainTokens?: string;
  epochs?: string;
  /** the original's result names (main_logs/{model}.csv, replaced on every run); default with --estimator reference */
  originalNames?: boolean;
  seqLength?: string;
  dataset: string;
  gbs: string;
  gpuPerNode?: string;
  precision: string;
  ppPartitionMethod: string;
  estimator: string;
  recipe: string;
  /** one axis of the recipe changed: precision and optimizer, launch, TP runtime */
  optimizer?: string;
  launch?: string;
  tpRuntime?: string;
  hostProfile?: string;
  hostLaunchUs?: string;
  pareto?: boolean;
  paretoGbsMax?: string;
  makePareto?: boolean;
  onlyMakePareto?: string;
  paretoTitle?: string;
  verbose?: boolean;
  logFile?: string;
  addExpName: string;
  parsing?: boolean;
  parsingFile?: string;
  saveCsv: boolean;
  exhaustive?: boolean;
  mbs?: string;
  tp?: string;
  dp?: string;
  pp?: string;
  profileDir?: string;
  outputDir?: string;
  catalog: string[];
  substituteProfile: string[];
  /** threads of the search (default: all cores) */
  workers?: string;
  recompute?: string;
  recomputeLayers?: string;
  dpSharding?: string;
  /** shard groups of dp sharding 'parameters', comma-separated: full, node, or rank counts */
  shardGroup?: string;
  sequenceParallel?: boolean;
  virtualStages?: string;
  /** context-parallel degrees, comma-separated */
  cp?: string;
  /** the plain DP × TP × PP space only (no techniques) */
  plain?: boolean;
  /** one result per execution rather than per strategy */
  eachExecution?: boolean;
  /** also list the plans that do not fit (an _oom.csv beside the results) */
  listOom?: boolean;
}

/** Comma-separated values of a flag, each one of `allowed`. */
function listFlag<T extends string>(value: string, flag: string, allowed: readonly T[], example: string): T[] {
  const items = value.split(',').map((x) => x.trim());
  const bad = items.find((x) => !(allowed as readonly string[]).includes(x));
  if (bad !== undefined) throw new FasopError(`${flag} takes ${allowed.join(', ')} (or several, comma-separated), got '${bad}'`, `pass e.g. ${flag} ${example}`);
  return [...new Set(items)] as T[];
}

/** `--shard-group` values: full (the whole dp group, undefined), node, or rank counts >= 2. */
function shardGroupFlag(value: string, gpusPerNode: number): Array<ShardGroupChoice | undefined> {
  const out = new Map<string, ShardGroupChoice | undefined>();
  for (const item of value.split(',').map((x) => x.trim())) {
    if (item === 'full') out.set(item, undefined);
    else if (item === 'node') out.set(item, { gpusPerNode });
    else if (/^\d+$/.test(item) && Number(item) >= 2 && Number(item) <= 65536) out.set(String(Number(item)), Number(item));
    else throw new FasopError(`--shard-group takes full, node or a whole number >= 2 (or several, comma-separated), got '${item}'`, 'pass e.g. --shard-group full,node or --shard-group 8');
  }
  return [...out.values()];
}

/** What the execution space depends on beyond the flags: the node size and the recipe's launcher. */
export interface ExecutionContext {
  gpusPerNode: number;
  launcher: TrainingRecipe['launcher'];
  /** the model's sequence length and the cluster's GPUs: the default context-parallel degrees (without them, cp 1) */
  seqLength?: number;
  gpus?: number;
}

/**
 * The executions to search. With --estimator fasop, the default space is what Megatron-LM and
 * torchtitan users turn on: recompute none/selective/full (torchtitan's per-op 'op' when asked for), DP sharding none/optimizer/parameters,
 * sequence parallelism wherever tp > 1, and every virtual-stage count a launcher accepts; parameters
 * sharded over the whole dp group and, under a PyTorch recipe, also over each node's dp ranks
 * (torchtitan's HSDP), and from sequence 16384 context parallelism (defaultCpDegrees). Each flag fixes or restricts its own dimension, `--plain` gives the original's
 * plain DP × TP × PP. The reference estimator prices plain plans only (undefined: plain).
 */
export function executionsOfOptions(raw: Pick<RawSearchOptions, 'recompute' | 'recomputeLayers' | 'dpSharding' | 'shardGroup' | 'sequenceParallel' | 'virtualStages' | 'cp' | 'estimator' | 'plain'>, numLayers: number,
  ctx: ExecutionContext = { gpusPerNode: 8, launcher: 'megatron-lm' } /* the default recipe's: no hybrid sharding */): RequestExecution[] | undefined {
  const given = [raw.recompute !== undefined && '--recompute', raw.recomputeLayers !== undefined && '--recompute-layers', raw.dpSharding !== undefined && '--dp-sharding', raw.shardGroup !== undefined && '--shard-group',
    raw.sequenceParallel === true && '--sequence-parallel', raw.sequenceParallel === false && '--no-sequence-parallel', raw.virtualStages !== undefined && '--virtual-stages', raw.cp !== undefined && '--cp'].filter((x): x is string => Boolean(x));
  if (raw.estimator !== 'fasop') {
    if (given.length === 0) return undefined;
    throw new FasopError(`${given.join(', ')} ${given.length === 1 ? 'needs' : 'need'} --estimator fasop (the reference prices plain plans only)`, `drop ${given.length === 1 ? 'it' : 'them'}, or use --estimator fasop`);
  }
  const plain = Boolean(raw.plain);
  if (plain && given.length > 0) throw new FasopError(`--plain searches the plain DP × TP × PP space; it cannot be combined with ${given.join(', ')}`, 'drop --plain to search those techniques, or drop the technique flags');
  const recomputes = raw.recompute === undefined ? (plain ? ['none' as const] : [...DEFAULT_RECOMPUTE]) : listFlag(raw.recompute, '--recompute', RECOMPUTE, 'none,full');
  const shardings = raw.dpSharding === undefined ? (plain ? ['none' as const] : [...DEFAULT_DP_SHARDING]) : listFlag(raw.dpSharding, '--dp-sharding', DP_SHARDING, 'optimizer');
  const vs = raw.virtualStages === undefined ? (plain ? [1] : virtualStageCounts(numLayers)) : [...new Set(raw.virtualStages.split(',').map((x) => intFlag(x.trim(), '--virtual-stages', { max: 64 })))];
  // v virtual stages need layers divisible by pp·v (execution.ts): a v that divides no layer count leaves no plan
  const stray = raw.virtualStages === undefined ? [] : vs.filter((v) => numLayers % v !== 0);
  if (stray.length) throw new FasopError(`--virtual-stages ${stray.join(',')}: interleaving v virtual stages needs the model's ${numLayers} layers divisible by pp·v, which no pipeline degree gives`, `use a v that divides ${numLayers} (${virtualStageCounts(numLayers).join(', ')} are searched by default)`);
  const cps = raw.cp === undefined ? (plain || ctx.seqLength === undefined || ctx.gpus === undefined ? [1] : defaultCpDegrees(ctx.seqLength, ctx.gpus)) : [...new Set(raw.cp.split(',').map((x) => intFlag(x.trim(), '--cp', { max: 1024 })))];
  const sequenceParallel = raw.sequenceParallel ?? !plain;
  let recomputeLayers: number | undefined;
  if (raw.recomputeLayers !== undefined) {
    if (!recomputes.includes('full')) throw new FasopError('--recompute-layers applies only to --recompute full', 'add --recompute full, or drop --recompute-layers');
    recomputeLayers = intFlag(raw.recomputeLayers, '--recompute-layers', { max: 1024 });
    if (recomputeLayers > numLayers) throw new FasopError(`--recompute-layers ${recomputeLayers} is more than the model's ${numLayers} decoder layers`, `pass at most ${numLayers} (layers per stage recomputed; a stage recomputes at most its own)`);
  }
  if (raw.shardGroup !== undefined && !shardings.includes('parameters')) {
    throw new FasopError('--shard-group applies only to dp sharding parameters (FSDP), which --dp-sharding leaves out', 'add parameters to --dp-sharding, or drop --shard-group');
  }
  const megatron = ctx.launcher === 'megatron-lm';
  const groups = raw.shardGroup !== undefined ? shardGroupFlag(raw.shardGroup, ctx.gpusPerNode) : megatron || plain ? [undefined] : [undefined, { gpusPerNode: ctx.gpusPerNode }];
  if (megatron && groups.some((g) => g !== undefined)) {
    throw new FasopError(`--shard-group ${raw.shardGroup}: hybrid sharding runs under torchtitan's FSDP2; the Megatron-LM recipe's HSDP flags are not checked against its sources`, 'use a PyTorch recipe (e.g. --optimizer fp32-master-adamw), or --shard-group full');
  }
  return cps.flatMap((cp) => recomputes.flatMap((recompute) => shardings.flatMap((dpSharding) => (dpSharding === 'parameters' ? groups : [undefined]).flatMap((shardGroup) => vs.map((virtualStages): RequestExecution => ({
    recompute, dpSharding, ...(shardGroup !== undefined ? { shardGroup } : {}), sequenceParallel, virtualStages, cp,
    ...(recompute === 'full' && recomputeLayers !== undefined ? { recomputeLayers } : {}),
  }))))));
}

/** Every `--cp` degree must split the model's sequence into 2·cp chunks and divide the cluster's GPUs. */
function checkCpDegrees(executions: readonly RequestExecution[] | undefined, model: ModelSpec, gpus: number): void {
  for (const cp of new Set((executions ?? []).map((e) => e.cp))) {
    if (cp > 1 && model.seq_length % (2 * cp) !== 0) {
      throw new FasopError(`--cp ${cp}: the sequence (${model.seq_length}) does not split into 2·cp = ${2 * cp} equal chunks (Megatron's load-balanced causal split)`, `use degrees whose 2·cp divides ${model.seq_length}, or another --seq-length`);
    }
    if (gpus % cp !== 0) throw new FasopError(`--cp ${cp} does not divide the cluster's ${gpus} GPUs (world = tp·cp·dp·pp)`, `use degrees that divide ${gpus}`);
  }
}

export const PARTITION_METHODS = ['minmax', 'even', 'optimus-even', 'dp', 'ilp', 'bruteforce', 'dp-original'] as const;

/** The value a whole-number flag's error suggests (32 where none is listed: a batch size). */
const FLAG_EXAMPLES: Readonly<Record<string, number>> = {
  '--cp': 2, '--tp': 2, '--dp': 2, '--pp': 2, '--mbs': 1, '--virtual-stages': 2, '--recompute-layers': 4,
  '--seq-length': 4096, '--gpu-per-node': 8, '--precision': 16, '--workers': 2, '--rank': 1, '--port': 8080,
};

/** A positive whole number from a flag, or a FasopError naming the flag. */
export function intFlag(value: string | undefined, flag: string, opts: { min?: number; max?: number } = {}): number {
  const min = opts.min ?? 1;
  const v = value === undefined ? NaN : Number(value);
  if (value === undefined || !/^\s*[+-]?\d+\s*$/.test(value) || !Number.isSafeInteger(v) || v < min || (opts.max !== undefined && v > opts.max)) {
    throw new FasopError(`${flag} must be a whole number${opts.max !== undefined ? ` from ${min} to ${opts.max}` : ` >= ${min}`}, got '${value ?? ''}'`, `pass e.g. ${flag} ${FLAG_EXAMPLES[flag] ?? (Math.max(min, 1) === 1 ? 32 : min)}`);
  }
  return v;
}

/** Largest global batch size: the 1F1B simulation holds O(stages × micro-batches) numbers per plan. */
export const MAX_GBS = 65536;
/** Most nodes in one cluster. */
export const MAX_NODES = 100_000;
/** Most (gbs × sub-cluster × placement × node) cells a search may enumerate (memory bound). */
export const MAX_PLACEMENT_CELLS = 2 ** 25;

/**
 * Refuse, before any work, a search whose enumeration would not fit in memory or time: a huge
 * cluster, a heterogeneous cluster with many nodes (one placement per node, each listing every
 * node), or `--pareto` over many sub-clusters.
 */
export function checkSearchSize(gpus: readonly NodeGroup[], pareto: boolean, gbsCount: number): void {
  const nodes = gpus.reduce((a, g) => a + g.nodes, 0);
  if (nodes > MAX_NODES) {
    throw new FasopError(`--gpus asks for ${nodes} nodes; fasop searches at most ${MAX_NODES}`, 'give fewer nodes (NODES counts whole nodes, not GPUs)');
  }
  let subClusters = 1;
  if (pareto) {
    subClusters = 1;
    for (const g of gpus) subClusters = Math.min(subClusters * (g.nodes + 1), Number.MAX_SAFE_INTEGER);
    subClusters -= 1;
  }
  const perCluster = gpus.length > 1 ? nodes * nodes : nodes;
  const cells = gbsCount * subClusters * perCluster;
  if (cells > MAX_PLACEMENT_CELLS) {
    throw new FasopError(
      `the search is too large: ${gbsCount > 1 ? `${gbsCount} batch sizes × ` : ''}${pareto ? `${subClusters} sub-clusters × ` : ''}` +
        `${gpus.length > 1 ? `up to ${nodes} placements × ` : ''}${nodes} nodes exceeds ${MAX_PLACEMENT_CELLS} placement cells`,
      `use fewer nodes${gpus.length > 1 ? ' or GPU types' : ''}${pareto ? ', drop --pareto' : ''}${gbsCount > 1 ? ', or a smaller --pareto-gbs-max' : ''}`,
    );
  }
}

/**
 * `--substitute-profile GPU=OTHER` values: GPU types of the cluster derived from another type's
 * measured files (the reference estimator: costed with them unscaled), only because the user asked;
 * the output marks such plans.
 */
export function parseSubstitutes(values: readonly string[], gpus: readonly NodeGroup[], catalog: Catalog): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const m = /^\s*([^=\s]+)\s*=\s*([^=\s]+)\s*$/.exec(v);
    if (!m) throw new FasopError(`--substitute-profile must be GPU=OTHER, got '${v}'`, 'write e.g. --substitute-profile A100=A40 (derive A100 nodes from the A40 profiles)');
    const gpu = getGpu(catalog, m[1]!).name;
    const other = getGpu(catalog, m[2]!).name;
    if (gpu === other) throw new FasopError(`--substitute-profile ${v}: a GPU type cannot substitute itself`, 'name two different GPU types, e.g. A100=A40');
    if (!gpus.some((g) => g.type === gpu)) throw new FasopError(`--substitute-profile ${v}: ${gpu} is not in --gpus`, `drop it, or add ${gpu} nodes to --gpus`);
    if (out[gpu] !== undefined && out[gpu] !== other) throw new FasopError(`--substitute-profile: ${gpu} is given two substitutes (${out[gpu]} and ${other})`, 'give one substitute per GPU type');
    out[gpu] = other;
  }
  for (const [gpu, other] of Object.entries(out)) {
    if (out[other] !== undefined) throw new FasopError(`--substitute-profile: ${gpu}=${other} and ${other}=${out[other]} chain`, `substitute ${gpu} directly with a type that has its own profiles`);
  }
  return out;
}

/**
 * GPUs per node when `--gpu-per-node` is not given: 8 in pareto mode (the original's rule); else the
 * node size of the GPU types in the catalog when they agree (A40: 4, H100: 8), else the original's 4.
 */
export function defaultGpusPerNode(nodeSizes: readonly number[], pareto: boolean): number {
  if (pareto) return 8;
  return nodeSizes.length > 0 && nodeSizes.every((x) => x === nodeSizes[0]) ? nodeSizes[0]! : 4;
}

export interface ResolvedSearchOptions {
  request: SearchRequest;
  catalog: Catalog;
  profileDir: string;
  gpuPerNodeDefaulted: boolean;
  /** what the search trains for (tokens or samples) */
  budget: TrainingBudget;
  /** the dataset as named in the catalog (the request's carries the budget's sample count) */
  catalogDataset: import('../catalog/schema.js').DatasetSpec;
  /** lines to print before the search: settings that differ from the catalog */
  notices: string[];
}

/** Validate and resolve every search flag into a typed request; nothing is written yet. */
export function resolveSearchOptions(raw: RawSearchOptions, gpuTokens: string[] | undefined): ResolvedSearchOptions {
  const catalog = loadCatalog(raw.catalog);
  if (!gpuTokens) throw new FasopError('--gpus is required', 'write --gpus TYPE NODES [TYPE NODES ...], e.g. --gpus A40 8');
  const gpus = parseGpuTokens(gpuTokens, catalog);
  const seqLength = raw.seqLength === undefined ? undefined : intFlag(raw.seqLength, '--seq-length');
  const model = raw.modelConfigJson !== undefined
    ? modelFromHfConfig(raw.modelConfigJson, 'the uploaded config.json', seqLength, Object.values(catalog.models))
    : raw.modelConfig
      ? loadHfModelConfig(raw.modelConfig, seqLength, Object.values(catalog.models))
      : withSeqLength(getModel(catalog, raw.modelType), seqLength);
  const catalogDataset = getDataset(catalog, raw.dataset);
  const budget = resolveBudget(raw, catalogDataset, model.seq_length);
  const dataset = { ...catalogDataset, samples: budget.samples };
  const gbs = intFlag(raw.gbs, '--gbs', { max: MAX_GBS });
  const pareto = Boolean(raw.pareto);
  const gpuPerNodeDefaulted = raw.gpuPerNode === undefined;
  const gpusPerNode = gpuPerNodeDefaulted ? defaultGpusPerNode(gpus.map((g) => getGpu(catalog, g.type).gpusPerNode), pareto) : intFlag(raw.gpuPerNode, '--gpu-per-node', { max: 64 });
  const precision = intFlag(raw.precision, '--precision');
  if (precision !== 16 && precision !== 32) throw new FasopError(`--precision must be 16 or 32, got ${precision}`, 'pass --precision 16 or --precision 32');
  const gbsValues = raw.paretoGbsMax === undefined ? [gbs] : gbsSweep(intFlag(raw.paretoGbsMax, '--pareto-gbs-max', { max: MAX_GBS }));
  const tooBig = gbsValues.filter((g) => g > dataset.samples);
  if (tooBig.length > 0) {
    const part = budget.epochs !== 1 ? ` × --epochs ${raw.epochs}` : '';
    const what = budget.tokens !== undefined ? `the training budget (${budget.tokens} tokens${budget.from === 'dataset-tokens' ? ` of dataset ${dataset.name}${part}` : ''} = ${dataset.samples} sequences of ${model.seq_length})` : part ? `the training budget (dataset ${dataset.name}'s ${catalogDataset.samples} samples${part} = ${dataset.samples})` : `dataset ${dataset.name} (${dataset.samples} samples)`;
    throw new FasopError(`${raw.paretoGbsMax === undefined ? '--gbs' : '--pareto-gbs-max'} ${tooBig.at(-1)} is larger than ${what}: training would have 0 iterations`,
      `use a global batch size <= ${dataset.samples}, ${budget.from === 'train-tokens' ? 'or a larger --train-tokens' : budget.epochs !== 1 ? 'or more --epochs' : 'or a larger --dataset'}`);
  }
  const notices: string[] = [];
  for (const g of gpus) {
    const spec = getGpu(catalog, g.type);
    if (spec.gpusPerNode !== gpusPerNode) {
      // without --gpu-per-node, the original's default for a mixed cluster (4) or a Pareto sweep (8) decides
      const why = gpuPerNodeDefaulted ? `--gpu-per-node not given, so the original's default for ${pareto ? 'a Pareto sweep' : 'GPU types of different node sizes'}, ${gpusPerNode}` : `--gpu-per-node ${gpusPerNode}`;
      notices.push(`[NOTICE] ${why}: the catalog's ${spec.name} node (${spec.instance.name}) has ${spec.gpusPerNode} GPUs; plans use ${gpusPerNode} per node, each node still priced as a whole ${spec.instance.name}`);
    }
  }
  if (raw.parsingFile !== undefined && !raw.parsing) throw new FasopError('--parsing-file requires --parsing', 'add --parsing, or drop --parsing-file');
  const method = (raw.ppPartitionMethod === 'optimus-even' ? 'even' : raw.ppPartitionMethod) as PartitionMethod;
  checkSearchSize(gpus, pareto, gbsValues.length);
  const profileSubstitutes = parseSubstitutes(raw.substituteProfile ?? [], gpus, catalog);
  let recipe = recipeOfOptions(raw);
  if (raw.hostProfile !== undefined) {
    if (raw.estimator !== 'fasop') throw new FasopError('--host-profile needs --estimator fasop', 'drop --host-profile, or use --estimator fasop');
    recipe = recipeWithHostProfile(recipe, readHostIssueProfile(raw.hostProfile), { model: model.name, processesPerHost: gpusPerNode });
  }
  if (raw.hostLaunchUs !== undefined) {
    if (raw.estimator !== 'fasop') throw new FasopError('--host-launch-us needs --estimator fasop', 'drop --host-launch-us, or use --estimator fasop');
    const us = Number(raw.hostLaunchUs);
    if (!/^\s*\d+(\.\d+)?\s*$/.test(raw.hostLaunchUs) || !(us > 0)) {
      throw new FasopError(`--host-launch-us must be a positive number of microseconds, got '${raw.hostLaunchUs}'`, 'pass what python3 profiler/host_speed.py prints on the training host, e.g. --host-launch-us 6.2');
    }
    recipe = recipeAtHostSpeed(recipe, us);
  }
  const clusterGpus = gpus.reduce((a, g) => a + g.nodes, 0) * gpusPerNode;
  const executions = executionsOfOptions(raw, model.num_layers, { gpusPerNode, launcher: recipe.launcher, seqLength: model.seq_length, gpus: clusterGpus });
  if (recipe.launcher === 'megatron-lm' && executions?.some((e) => e.recompute === 'op')) {
    throw new FasopError(`--recompute op is torchtitan's per-operator checkpointing; the recipe '${recipe.name}' runs Megatron-LM, which has none`, 'use a PyTorch recipe (e.g. --optimizer fp32-master-adamw), or --recompute selective|full');
  }
  checkCpDegrees(executions, model, clusterGpus);
  return {
    request: { gpus, model, dataset, gbsValues, gpusPerNode, precision, partitionMethod: method, estimator: raw.estimator as EstimatorName, pareto, recipe, profileSubstitutes, ...(executions ? { executions } : {}), ...(raw.eachExecution ? { eachExecution: true } : {}), ...(executions?.some((e) => e.recompute === 'full') && raw.recomputeLayers === undefined && recipe.launcher === 'megatron-lm' ? { fewestRecomputeLayers: true } : {}) },
    catalog,
    profileDir: profileDirFor(recipe, raw.profileDir ?? defaultProfileDir()),
    gpuPerNodeDefaulted,
    budget,
    catalogDataset,
    notices,
  };
}

/** `--train-tokens` / `--epochs` checked and turned into the training budget of the search. */
export function resolveBudget(raw: Pick<RawSearchOptions, 'trainTokens' | 'epochs' | 'estimator'>, dataset: import('../catalog/schema.js').DatasetSpec, seqLength: number): TrainingBudget {
  const reference = raw.estimator === 'reference';
  if (reference && (raw.trainTokens !== undefined || raw.epochs !== undefined)) {
    throw new FasopError(`${raw.trainTokens !== undefined ? '--train-tokens' : '--epochs'} needs --estimator fasop: the reference trains one epoch of the dataset's samples, like the original`,
      'drop the flag, or use --estimator fasop');
  }
  if (raw.trainTokens !== undefined && raw.epochs !== undefined) {
    throw new FasopError('--train-tokens and --epochs both set the training budget', 'give one: --train-tokens N (tokens in all), or --epochs N (passes over --dataset)');
  }
  let trainTokens: number | undefined;
  if (raw.trainTokens !== undefined) {
    trainTokens = parseTokenCount(raw.trainTokens);
    if (!Number.isFinite(trainTokens)) throw new FasopError(`--train-tokens must be a positive token count, got '${raw.trainTokens}'`, 'write e.g. --train-tokens 2T, 300B, 500M or 1.5e12');
    if (trainTokens < seqLength) throw new FasopError(`--train-tokens ${raw.trainTokens} is less than one sequence (${seqLength} tokens)`, `pass at least ${seqLength} tokens`);
  }
  let epochs: number | undefined;
  if (raw.epochs !== undefined) {
    epochs = Number(raw.epochs);
    if (!/^\s*(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(raw.epochs) || !(epochs > 0) || epochs > 1e6) throw new FasopError(`--epochs must be a number above 0 and at most 1000000 (passes over --dataset), got '${raw.epochs}'`, 'pass e.g. --epochs 1, 2.5 or 0.5');
  }
  return trainingBudget(dataset, seqLength, { ...(trainTokens !== undefined ? { trainTokens } : {}), ...(epochs !== undefined ? { epochs } : {}), countTokens: !reference });
}

/** The recipe of `--recipe NAME` (an alias of three axes) with `--optimizer`, `--launch` and `--tp-runtime` changing one axis each. */
export function recipeOfOptions(raw: Pick<RawSearchOptions, 'recipe' | 'optimizer' | 'launch' | 'tpRuntime'>): TrainingRecipe {
  const named = RECIPE_AXES.get(raw.recipe);
  if (!named) throw new FasopError(`unknown recipe '${raw.recipe}'`, `use one of: ${[...RECIPE_AXES.keys()].join(', ')}`);
  const axis = <K extends keyof RecipeAxes>(flag: string, value: string | undefined, allowed: readonly RecipeAxes[K][], k: K): RecipeAxes[K] => {
    if (value === undefined) return named[k];
    if (!(allowed as readonly string[]).includes(value)) throw new FasopError(`${flag} must be one of ${allowed.join(', ')}, got '${value}'`, `pass e.g. ${flag} ${allowed[0]}`);
    return value as RecipeAxes[K];
  };
  const axes: RecipeAxes = {
    optimizer: axis('--optimizer', raw.optimizer, OPTIMIZER_RECIPES, 'optimizer'),
    launch: axis('--launch', raw.launch, LAUNCHES, 'launch'),
    tpRuntime: axis('--tp-runtime', raw.tpRuntime, TP_RUNTIMES, 'tpRuntime'),
  };
  return ownGet(RECIPES, recipeName(axes))!;
}
