import { getGpu, iterationsFor, type Catalog } from '../catalog/catalog.js';
import type { DatasetSpec, ModelSpec } from '../catalog/schema.js';
import { FasopError } from '../errors.js';
import type { Estimate, PartitionMethod, ResolvedPlan } from '../estimate/plan.js';
import type { TrainingRecipe } from '../estimate/recipe.js';
import type { ProfileDb } from '../profiles/db.js';
import type { ProfileTable } from '../profiles/profile.js';
import { clusterObject, clusterString, placements, pricePerSecond_usd, subClusters, type NodeGroup } from './cluster.js';
import { enumerateStrategies, tpCandidates, type Strategy } from './enumerate.js';
import type { PlanRecord } from './record.js';

export type EstimatorName = 'reference' | 'fasop';

export interface SearchRequest {
  /** the cluster: node groups in CLI order */
  gpus: NodeGroup[];
  model: ModelSpec;
  dataset: DatasetSpec;
  /** global batch sizes to search (one, or the `--pareto-gbs-max` sweep) */
  gbsValues: number[];
  gpusPerNode: number;
  /** bits per element of the embedding sync */
  precision: number;
  partitionMethod: PartitionMethod;
  estimator: EstimatorName;
  /** search every sub-cluster with the `_pareto` catalog variants */
  pareto: boolean;
  /** how the model is trained (corrected estimator's memory and optimizer terms); default megatron-mixed */
  recipe?: TrainingRecipe;
  /**
   * GPU type → the type whose profiles cost it (`--substitute-profile A100=A40`). Only what the
   * user asks for: a type without profiles is otherwise an error. Such plans say so in cost_source.
   */
  profileSubstitutes?: Record<string, string>;
}

/** The GPU type whose profiles cost `type` in this request (itself unless substituted). */
export function profileTypeFor(req: SearchRequest, type: string): string {
  return req.profileSubstitutes?.[type] ?? type;
}

/** Estimates one resolved plan; the search is generic over it (reference or corrected model). */
export type Estimator = (plan: ResolvedPlan) => Estimate | Promise<Estimate>;

export type SearchEvent =
  | { type: 'pareto_meta'; pareto_total_count: number; gbs_values: number[]; model_type: string; gpu_cluster: Record<string, number> }
  | { type: 'meta'; total_count: number; gbs: number; cluster: Record<string, number>; placements: string[][]; tpCandidates: number[]; strategies: Strategy[] }
  | { type: 'placement'; nodes: string[]; index: number; count: number }
  | { type: 'result'; index: number; record: PlanRecord; estimate: Estimate };

interface ClusterJob {
  gbs: number;
  groups: NodeGroup[];
  tps: number[];
  strategies: Strategy[];
  placements: string[][];
}

/** Resolve every (gbs, sub-cluster) job up front: counts for progress and errors before any work. */
export function planJobs(req: SearchRequest, profiles: ProfileDb): ClusterJob[] {
  const clusters = req.pareto ? subClusters(req.gpus) : [req.gpus];
  const jobs: ClusterJob[] = [];
  const prof = (type: string) => profileTypeFor(req, type);
  for (const type of req.gpus.map((g) => g.type)) {
    const p = prof(type);
    // a DTensor TP profile of this GPU, when there is one, is read (and refused if broken) before any work
    if (req.recipe?.tpRuntime === 'dtensor') profiles.dtensorTpEntries(p);
    if (profiles.tpsFor(req.model.name, p).length === 0) {
      throw new FasopError(`no profile for model ${req.model.name} on GPU ${p}${p === type ? '' : ` (substitute for ${type})`} in ${profiles.dir} (looked for ${req.model.name}_${p}_{tp}.npz)`,
        `measure it with the profiler (docs/profiles.md), pass --profile-dir with a folder that has it, drop ${type} from --gpus` +
          (p === type ? `, or cost it with another type's profiles: --substitute-profile ${type}=OTHER (marked in cost_source)` : ''));
    }
  }
  for (const gbs of req.gbsValues) {
    for (const groups of clusters) {
      const tps = tpCandidates(groups.map((g) => profiles.tpsFor(req.model.name, prof(g.type))), req.gpusPerNode);
      const nodes = groups.reduce((a, g) => a + g.nodes, 0);
      const strategies = enumerateStrategies(nodes * req.gpusPerNode, tps, gbs, req.model.num_layers);
      // Load (and validate) every profile the job will use now, so that a corrupt file is an
      // error before any output is written rather than halfway through the search.
      for (const st of new Set(strategies.map((s) => s.tp))) for (const g of groups) profiles.get(req.model.name, prof(g.type), st);
      jobs.push({ gbs, groups, tps, strategies, placements: placements(groups) });
    }
  }
  return jobs;
}

/** Number of plans a request will estimate (every placement counted). */
export function countPlans(jobs: readonly ClusterJob[]): number {
  return jobs.reduce((a, j) => a + j.strategies.length * j.placements.length, 0);
}

/**
 * The search: for each gbs, (sub-)cluster, placement and strategy, resolve the plan and estimate
 * it, yielding events in the original's order. Pure apart from reading profiles through `profiles`.
 */
export async function* searchEvents(
  req: SearchRequest,
  ctx: { catalog: Catalog; profiles: ProfileDb; estimator: Estimator; signal?: AbortSignal },
): AsyncGenerator<SearchEvent> {
  validateRequest(req);
  const jobs = planJobs(req, ctx.profiles);
  const total = countPlans(jobs);
  if (total === 0) {
    throw new FasopError(
      `no plan fits: ${clusterString(req.gpus)} × ${req.gpusPerNode} GPUs per node with gbs ${req.gbsValues.join('/')} and the profiled TPs ` +
        `(${[...new Set(req.gpus.flatMap((g) => ctx.profiles.tpsFor(req.model.name, profileTypeFor(req, g.type))))].join(', ')})`,
      'use a gbs divisible by the data-parallel degrees, a --gpu-per-node that the profiled TPs divide, or more layers than pipeline stages',
    );
  }
  if (req.pareto) {
    yield { type: 'pareto_meta', pareto_total_count: total, gbs_values: req.gbsValues, model_type: req.model.name, gpu_cluster: clusterObject(req.gpus) };
  }
  const gpu = (t: string) => getGpu(ctx.catalog, t);
  let index = 0;
  for (const job of jobs) {
    yield { type: 'meta', total_count: job.strategies.length, gbs: job.gbs, cluster: clusterObject(job.groups), placements: job.placements, tpCandidates: job.tps, strategies: job.strategies };
    const price = pricePerSecond_usd(job.groups, gpu, req.pareto);
    const iterations = iterationsFor(req.dataset, job.gbs);
    const clusterStr = clusterString(job.groups);
    for (const [pi, nodeTypes] of job.placements.entries()) {
      yield { type: 'placement', nodes: nodeTypes, index: pi, count: job.placements.length };
      const nodes = nodeTypes.map((t) => {
        const spec = gpu(t);
        const variant = req.pareto ? spec.pareto : undefined;
        return { gpu: spec, interNode_bps: variant?.interNode_bps ?? spec.interNode_bps, intraNode_bps: variant?.intraNode_bps ?? spec.intraNode_bps };
      });
      const types = [...new Set(nodeTypes)];
      // policy tp-runtime: what DTensor TP adds on this placement's GPU types, looked up once per tp
      const typePairs = types.map((t) => [t, profileTypeFor(req, t)] as const);
      const dtensorByTp = new Map<number, ResolvedPlan['dtensorTp']>();
      const dtensorFor = (tp: number) => {
        if (!dtensorByTp.has(tp)) dtensorByTp.set(tp, ctx.profiles.dtensorTp(req.model.name, tp, typePairs));
        return dtensorByTp.get(tp);
      };
      for (const st of job.strategies) {
        if (ctx.signal?.aborted) return;
        const profiles: Record<string, ProfileTable> = {};
        for (const t of types) profiles[t] = ctx.profiles.get(req.model.name, profileTypeFor(req, t), st.tp);
        const dtensorTp = req.recipe?.tpRuntime === 'dtensor' && st.tp > 1 ? dtensorFor(st.tp) : undefined;
        const plan: ResolvedPlan = {
          model: req.model,
          nodes,
          gpusPerNode: req.gpusPerNode,
          tp: st.tp,
          dp: st.dp,
          pp: st.pp,
          mbs: st.mbs,
          gbs: job.gbs,
          profiles,
          partitionMethod: req.partitionMethod,
          precision: req.precision,
          pricePerSecond_usd: price,
          iterations,
          recipe: req.recipe,
          ...(dtensorTp ? { dtensorTp } : {}),
        };
        const est = await ctx.estimator(plan);
        index += 1;
        yield { type: 'result', index, estimate: est, record: toRecord(plan, est, nodeTypes, clusterStr, req) };
      }
    }
  }
}

function toRecord(plan: ResolvedPlan, est: Estimate, nodeTypes: string[], clusterStr: string, req: SearchRequest): PlanRecord {
  return {
    gbs: plan.gbs,
    mbs: plan.mbs,
    tp: plan.tp,
    dp: plan.dp,
    pp: plan.pp,
    node_type: plan.nodes.map((n) => n.gpu.instance.name),
    gpu_cluster_str: clusterStr,
    partition: est.partition,
    partition_layers: est.partitionLayers,
    step_time: est.stepTime_s,
    throughput: est.throughput,
    price_per_step: est.pricePerStep_usd,
    is_oom: est.isOom,
    oom_gpumem: est.oomGpumem_GiB,
    iterations: est.iterations,
    total_time_seconds: est.totalTime_s,
    total_time_hours: est.totalTime_h,
    cost: est.cost_usd,
    placement: nodeTypes,
    estimator: req.estimator,
    partition_method: req.partitionMethod,
    cost_source: est.breakdown.costSource,
  };
}

export function validateRequest(req: SearchRequest): void {
  const pos = (x: number) => Number.isSafeInteger(x) && x >= 1;
  if (!req.gbsValues.length || !req.gbsValues.every(pos)) {
    throw new FasopError(`global batch size must be a whole number >= 1, got ${req.gbsValues.join(', ')}`, 'pass e.g. --gbs 32');
  }
  if (!pos(req.gpusPerNode) || req.gpusPerNode > 64) {
    throw new FasopError(`--gpu-per-node must be a whole number from 1 to 64, got ${req.gpusPerNode}`, 'pass the GPUs of one node, e.g. --gpu-per-node 8');
  }
  if (req.precision !== 16 && req.precision !== 32) throw new FasopError(`--precision must be 16 or 32, got ${req.precision}`, 'pass --precision 16 or --precision 32');
}

/** Collect every result of a search (convenience for the library API and tests). */
export async function search(
  req: SearchRequest,
  ctx: { catalog: Catalog; profiles: ProfileDb; estimator: Estimator; signal?: AbortSignal },
): Promise<PlanRecord[]> {
  const out: PlanRecord[] = [];
  for await (const ev of searchEvents(req, ctx)) if (ev.type === 'result') out.push(ev.record);
  return out;
}
