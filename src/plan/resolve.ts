/**
 * The plan resolver: (request, settings, placement) → the fully resolved plan the estimator takes.
 * The search, the one-plan breakdown, `fasop export`, `fasop validate` and the web viewer all build
 * their plans here; none of them runs a search to find one plan.
 */
import { getGpu, iterationsFor, type Catalog } from '../catalog/catalog.js';
import { shapeTpDegrees } from '../model/shapes.js';
import type { CostLookup } from '../profiles/db.js';
import { FasopError } from '../errors.js';
import { executionLabel, executionProblems, shardGroupOf, type Execution, type RequestExecution } from '../estimate/execution.js';
import { idOf } from '../estimate/keyed-cache.js';
import type { ClusterNode, ResolvedPlan } from '../estimate/plan.js';
import type { ReadTape } from '../estimate/placement-reads.js';
import type { TrainingRecipe } from '../estimate/recipe.js';
import type { ProfileDb } from '../profiles/db.js';
import type { ProfileTable } from '../profiles/profile.js';
import { placements, pricePerSecond_usd, type NodeGroup } from '../request/cluster.js';
import { costingFor, profileTypeFor, type SearchRequest } from '../request/request.js';

/** The degrees and batch of one plan. */
export interface PlanSettings {
  tp: number;
  dp: number;
  pp: number;
  mbs: number;
  gbs: number;
  /** how the plan executes (search/: one of the request's executions as this plan runs it); undefined: the request's only one, else plain */
  execution?: Execution;
}

/** What every plan on one placement of one (sub-)cluster shares: its nodes, price and per-tp lookups. */
export interface Placement {
  /** GPU type of each node, in placement order */
  nodeTypes: readonly string[];
  nodes: ClusterNode[];
  pricePerSecond_usd: number;
  /** GPU types present, each with the type whose profiles cost it */
  typePairs: readonly (readonly [string, string])[];
  /** DTensor TP extras per tp, looked up once */
  dtensorByTp: Map<number, ResolvedPlan['dtensorTp']>;
  /** each GPU type's cost table per (model, tp, micro-batch, cp), looked up once: the plans that share them share one record */
  tablesBy: Map<string, Record<string, ProfileTable>>;
  /** the catalog's GPUs and models, for the cost tables (derivations, per-model dimension checks) */
  lookup: CostLookup;
  /** set by a search while it estimates a strategy here: the plans record what they read of the nodes */
  readTape?: ReadTape;
}

/** The catalog lookups a cost table needs. */
export function costLookupOf(catalog: Catalog, recipe?: TrainingRecipe): CostLookup {
  return {
    gpuSpec: (name) => getGpu(catalog, name),
    catalogModel: (name) => (Object.hasOwn(catalog.models, name) ? { ...catalog.models[name]!, name } : undefined),
    ...(recipe ? { vocabMultiple: recipe.vocabPadMultiple } : {}),
  };
}

/** A placement of `groups` (the request's cluster or one of its sub-clusters). */
export function placementOf(req: SearchRequest, catalog: Catalog, groups: readonly NodeGroup[], nodeTypes: readonly string[]): Placement {
  const gpu = (t: string) => getGpu(catalog, t);
  const nodes = nodeTypes.map((t) => {
    const spec = gpu(t);
    const variant = req.pareto ? spec.pareto : undefined;
    return { gpu: spec, interNode_bps: variant?.interNode_bps ?? spec.interNode_bps, intraNode_bps: variant?.intraNode_bps ?? spec.intraNode_bps };
  });
  const types = [...new Set(nodeTypes)];
  return {
    nodeTypes,
    nodes,
    pricePerSecond_usd: pricePerSecond_usd(groups, gpu, req.pareto),
    typePairs: types.map((t) => [t, profileTypeFor(req, t)] as const),
    dtensorByTp: new Map(),
    tablesBy: new Map(),
    lookup: costLookupOf(catalog, req.recipe),
  };
}

/**
 * The request's execution as one plan runs it: sequence parallelism needs tp > 1, sharding dp·cp > 1
 * (a no-op otherwise); its shard group resolved by the plan's degrees (shardGroupOf: none where it
 * spans the whole data-parallel group or sharding is a no-op).
 */
export function planExecution(e: RequestExecution | undefined, s: Pick<PlanSettings, 'tp' | 'dp'>): Execution | undefined {
  if (!e) return undefined;
  const { shardGroup: choice, ...rest } = e;
  const sharded = s.dp * e.cp > 1;
  // with another sharding level a shard group stays, for executionProblems to refuse
  const shardGroup = sharded ? shardGroupOf(choice, s.tp, e.cp, s.dp) : undefined;
  return { ...rest, sequenceParallel: e.sequenceParallel && s.tp > 1, dpSharding: sharded ? e.dpSharding : 'none', ...(shardGroup !== undefined ? { shardGroup } : {}) };
}

/** The execution of these settings: their own, else the request's only one (planExecution), else none. */
export function settingsExecution(req: SearchRequest, s: PlanSettings): Execution | undefined {
  if (s.execution) return s.execution;
  const list = req.executions ?? [];
  if (list.length > 1) {
    throw new FasopError(`one plan runs one execution; the request gives ${list.length} (${list.map(executionLabel).join(' | ')})`,
      'give one value to each of --recompute, --dp-sharding, --virtual-stages and --cp');
  }
  return planExecution(list[0], s);
}

/** Why the settings' execution cannot run with them (the launchers' constraints). */
export function planExecutionProblems(req: SearchRequest, s: PlanSettings): string[] {
  const e = settingsExecution(req, s);
  if (!e) return [];
  const why = executionProblems(e, { tp: s.tp, dp: s.dp, pp: s.pp, microBatches: s.gbs / (s.dp * s.mbs), numLayers: req.model.num_layers, seqLength: req.model.seq_length });
  const megatron = (req.recipe?.launcher ?? 'megatron-lm') === 'megatron-lm';
  if (megatron && e.shardGroup !== undefined) why.push(`hybrid sharding (shard group ${e.shardGroup} of dp ${s.dp}): Megatron-FSDP's HSDP flags are not checked against its sources (a PyTorch recipe, e.g. --optimizer fp32-master-adamw, runs torchtitan's HSDP)`);
  if (megatron && e.recompute === 'op') why.push('recompute \'op\' (torchtitan\'s per-operator checkpointing): Megatron-LM has none (a PyTorch recipe, e.g. --optimizer fp32-master-adamw, runs it)');
  // Megatron-FSDP (and --use-torch-fsdp2) run without pipeline parallelism; torchtitan's FSDP2 runs with it
  if (megatron && s.pp > 1 && (e.dpSharding === 'gradients' || e.dpSharding === 'parameters')) {
    why.push(`dp sharding '${e.dpSharding}' with pp ${s.pp}: Megatron-LM's FSDP runs without pipeline parallelism (a PyTorch recipe, e.g. --optimizer fp32-master-adamw, runs FSDP2 with it)`);
  }
  return why;
}

/** Resolve one plan: its placement's nodes, the profiles at its tp, its price and iteration count. */
export function resolvePlan(req: SearchRequest, profiles: ProfileDb, place: Placement, s: PlanSettings, fixedPartition?: number[]): ResolvedPlan {
  const execution = settingsExecution(req, s);
  const cp = execution?.cp ?? 1;
  const tablesKey = `${idOf(req.model)} ${s.tp} ${s.mbs} ${cp}`;
  let byType = place.tablesBy.get(tablesKey);
  if (!byType) {
    byType = {};
    for (const [t] of place.typePairs) {
      const c = costingFor(req, t);
      byType[t] = profiles.costTable(req.model, c.gpu, s.tp, s.mbs, place.lookup, cp, c.from);
    }
    place.tablesBy.set(tablesKey, byType);
  }
  let dtensorTp: ResolvedPlan['dtensorTp'];
  if (req.recipe?.tpRuntime === 'dtensor' && s.tp > 1) {
    // policy tp-runtime: what DTensor TP adds on this placement's GPU types, looked up once per tp
    if (!place.dtensorByTp.has(s.tp)) place.dtensorByTp.set(s.tp, profiles.dtensorTp(req.model.name, s.tp, place.typePairs));
    dtensorTp = place.dtensorByTp.get(s.tp);
  }
  return {
    model: req.model,
    nodes: place.nodes,
    gpusPerNode: req.gpusPerNode,
    tp: s.tp,
    dp: s.dp,
    pp: s.pp,
    mbs: s.mbs,
    gbs: s.gbs,
    profiles: byType,
    partitionMethod: req.partitionMethod,
    ...(fixedPartition ? { fixedPartition } : {}),
    precision: req.precision,
    pricePerSecond_usd: place.pricePerSecond_usd,
    iterations: iterationsFor(req.dataset, s.gbs),
    recipe: req.recipe,
    ...(execution ? { execution } : {}),
    ...(dtensorTp ? { dtensorTp } : {}),
    ...(place.readTape ? { readTape: place.readTape } : {}),
  };
}

/** Why the settings are not a plan of this request's cluster (empty when they are one). */
export function planProblems(req: SearchRequest, profiles: ProfileDb, s: PlanSettings): string[] {
  const gpusTotal = req.gpus.reduce((a, g) => a + g.nodes, 0) * req.gpusPerNode;
  const why: string[] = [];
  const cp = settingsExecution(req, s)?.cp ?? 1;
  const world = s.tp * cp * s.dp * s.pp;
  if (world !== gpusTotal) why.push(`${cp > 1 ? 'tp·cp·dp·pp' : 'tp·dp·pp'} = ${world} but the cluster has ${gpusTotal} GPUs`);
  if (req.gpusPerNode % s.tp !== 0) why.push(`tp ${s.tp} does not divide ${req.gpusPerNode} GPUs per node`);
  if (s.gbs % s.dp !== 0) why.push(`dp ${s.dp} does not divide gbs ${s.gbs}`);
  else if ((s.gbs / s.dp) % s.mbs !== 0) why.push(`mbs ${s.mbs} does not divide gbs/dp = ${s.gbs / s.dp}`);
  if (s.pp > req.model.num_layers) why.push(`pp ${s.pp} exceeds the model's ${req.model.num_layers} layers`);
  if (why.length === 0) why.push(...planExecutionProblems(req, s));
  for (const g of req.gpus) {
    const c = costingFor(req, g.type);
    const p = c.from ?? c.gpu;
    const byShape = (c.from ? profiles.operatorGpus().includes(c.from.toUpperCase()) : profiles.operatorGpus().length > 0) && shapeTpDegrees(req.model).includes(s.tp);
    if (!profiles.has(req.model.name, p, s.tp) && !byShape) why.push(`no profile ${req.model.name}_${p}_${s.tp}.npz${profiles.operatorGpus().length ? ` and tp ${s.tp} does not split the model's heads, KV heads and FFN` : ''}`);
  }
  return why;
}

const sameTypes = (nodes: readonly ClusterNode[], want: readonly string[]) =>
  nodes.length === want.length && nodes.every((n, i) => n.gpu.name === want[i] || n.gpu.instance.name === want[i]);

/**
 * The placements of the request's whole cluster a plan of these settings runs on (every one, or the
 * one given by GPU type or instance name per node), after the same checks the enumeration applies.
 */
export function checkedPlacements(req: SearchRequest, catalog: Catalog, profiles: ProfileDb, s: PlanSettings, placement?: readonly string[]): Placement[] {
  const why = planProblems(req, profiles, s);
  if (why.length) {
    const cp = settingsExecution(req, s)?.cp ?? 1;
    throw new FasopError(`plan tp=${s.tp}${cp > 1 ? ` cp=${cp}` : ''} dp=${s.dp} pp=${s.pp} mbs=${s.mbs} gbs=${s.gbs}${placement ? ` on [${placement.join(', ')}]` : ''} is not a plan of this cluster: ${why.join('; ')}`,
      'choose degrees with tp·cp·dp·pp = GPUs, tp | GPUs per node, dp | gbs, mbs | gbs/dp, pp <= layers, and profiles for this tp');
  }
  const out = placements(req.gpus)
    .map((types) => placementOf(req, catalog, req.gpus, types))
    .filter((p) => !placement || sameTypes(p.nodes, placement));
  if (out.length === 0) {
    throw new FasopError(`placement [${placement!.join(', ')}] is not a placement of ${req.gpus.map((g) => `${g.type} ${g.nodes}`).join(', ')}`, 'give one GPU type per node, in an order fasop enumerates (see the CSV placement column)');
  }
  return out;
}

/** One plan of the request's whole cluster on each placement checkedPlacements gives, resolved directly. */
export function resolvePlans(req: SearchRequest, catalog: Catalog, profiles: ProfileDb, s: PlanSettings, placement?: readonly string[]): ResolvedPlan[] {
  return checkedPlacements(req, catalog, profiles, s, placement).map((p) => resolvePlan(req, profiles, p, s));
}
