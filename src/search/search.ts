import type { Catalog } from '../catalog/catalog.js';
import { FasopError } from '../errors.js';
import type { Estimator } from '../estimate/index.js';
import { PLAIN_EXECUTION, type Execution } from '../estimate/execution.js';
import type { ClusterNode, Estimate, ResolvedPlan } from '../estimate/plan.js';
import { checkPartitionReach } from '../estimate/partition-choice.js';
import { POLICIES } from '../estimate/policy.js';
import { costLookupOf, planExecution, planExecutionProblems, placementOf, resolvePlan } from '../plan/resolve.js';
import type { ProfileDb } from '../profiles/db.js';
import { clusterObject, clusterString, placements, subClusters, type NodeGroup } from '../request/cluster.js';
import { costingFor, profileTypeFor, validateRequest, type SearchRequest } from '../request/request.js';
import { enumerateStrategies, tpCandidates, type Strategy } from './enumerate.js';
import { PlacementMemo, withExecutions } from './choose.js';
import type { PlanRecord } from './record.js';
import { compactRecord } from './intern.js';

export type { EstimatorName, SearchRequest } from '../request/request.js';
export { profileTypeFor, validateRequest } from '../request/request.js';
export type { Estimator } from '../estimate/index.js';

export type SearchEvent =
  | { type: 'pareto_meta'; pareto_total_count: number; gbs_values: number[]; model_type: string; gpu_cluster: Record<string, number> }
  | { type: 'meta'; total_count: number; gbs: number; cluster: Record<string, number>; placements: string[][]; tpCandidates: number[]; strategies: Strategy[] }
  | { type: 'placement'; nodes: string[]; index: number; count: number }
  | { type: 'result'; index: number; record: PlanRecord; estimate: Estimate }
  /** a strategy on a placement none of whose executions fits (one result index, no record) */
  | { type: 'oom'; index: number; oom: OomRecord };

import type { OomRecord } from './record.js';

export type { OomRecord };

interface ClusterJob {
  gbs: number;
  groups: NodeGroup[];
  tps: number[];
  /** the (tp, dp, pp, mbs) strategies of each context-parallel degree, before their executions */
  base: Array<{ cp: number; strategies: Strategy[] }>;
  /** results per placement (jobChoices(…).length, counted without keeping them) */
  count: number;
  /** what the job's choices depend on: jobs of one key (sub-clusters of as many GPUs) share them */
  key: string;
  placements: string[][];
}

/**
 * What each result of a job holds: a strategy's executions as it runs them (one per result with
 * eachExecution). Built when the job runs and dropped after it: a sweep has many jobs.
 */
export function jobChoices(req: SearchRequest, job: Pick<ClusterJob, 'base' | 'gbs'>): Strategy[][] {
  const flat = job.base.flatMap(({ cp, strategies }) => withExecutions(req, strategies, job.gbs, executionsOfCp(req, cp)));
  return choicesOf(flat, perStrategy(req));
}

const executionsOfCp = (req: SearchRequest, cp: number) => req.executions?.filter((e) => e.cp === cp);

/** jobChoices(…).length; per strategy it stops at the first execution that runs. */
function countChoices(req: SearchRequest, job: Pick<ClusterJob, 'base' | 'gbs'>): number {
  if (!perStrategy(req)) return jobChoices(req, job).length;
  let n = 0;
  for (const { cp, strategies } of job.base) {
    const list = executionsOfCp(req, cp);
    for (const st of strategies) {
      if (!list || list.length === 0 || list.some((e) => planExecutionProblems(req, { ...st, gbs: job.gbs, execution: planExecution(e, st)! }).length === 0)) n += 1;
    }
  }
  return n;
}

/**
 * Whether results are one per strategy (its fastest execution that fits; plans that cannot fit are
 * not timed): the corrected estimator unless eachExecution asks for every execution.
 */
export function perStrategy(req: Pick<SearchRequest, 'estimator' | 'eachExecution'>): boolean {
  return req.estimator === 'fasop' && !req.eachExecution;
}

/** Consecutive strategies of the same degrees and batch, as one choice each (or each alone). */
function choicesOf(strategies: readonly Strategy[], grouped: boolean): Strategy[][] {
  if (!grouped) return strategies.map((st) => [st]);
  const out: Strategy[][] = [];
  for (const st of strategies) {
    const last = out[out.length - 1]?.[0];
    if (last && last.tp === st.tp && last.dp === st.dp && last.pp === st.pp && last.mbs === st.mbs && (last.execution?.cp ?? 1) === (st.execution?.cp ?? 1)) out[out.length - 1]!.push(st);
    else out.push([st]);
  }
  return out;
}

/** Resolve every (gbs, sub-cluster) job up front: counts for progress and errors before any work. */
export function planJobs(req: SearchRequest, profiles: ProfileDb, catalog: Catalog): ClusterJob[] {
  const lookup = costLookupOf(catalog, req.recipe);
  const clusters = req.pareto ? subClusters(req.gpus) : [req.gpus];
  const jobs: ClusterJob[] = [];
  const cost = (type: string) => costingFor(req, type);
  for (const type of req.gpus.map((g) => g.type)) {
    const p = profileTypeFor(req, type);
    const c = cost(type);
    // a DTensor TP profile of this GPU, when there is one, is read (and refused if broken) before any work
    if (req.recipe?.tpRuntime === 'dtensor') profiles.dtensorTpEntries(p);
    if (!profiles.canCost(req.model.name, c.gpu, c.from)) {
      throw new FasopError(`no profile for model ${req.model.name} on GPU ${p}${p === type ? '' : ` (substitute for ${type})`} in ${profiles.dir} (looked for ${req.model.name}_${p}_{tp}.npz); no operator profile (${p === type ? 'ops_<GPU>.json' : `ops_${p}.json`}) there either`,
        `measure one with the profiler (docs/operator-profiles.md), pass --profile-dir with a folder that has one, drop ${type} from --gpus` +
          (p === type ? `, or derive it from another type's measured files: --substitute-profile ${type}=OTHER (marked in cost_source)` : ''));
    }
  }
  for (const gbs of req.gbsValues) {
    for (const groups of clusters) {
      const tps = tpCandidates(groups.map((g) => profiles.tpsForModel(req.model, cost(g.type).gpu, cost(g.type).from)), req.gpusPerNode);
      const gpus = groups.reduce((a, g) => a + g.nodes, 0) * req.gpusPerNode;
      // a context-parallel degree cp takes its strategies from tp·dp·pp = GPUs / cp; each strategy's
      // executions (less those a launcher refuses) are listed when the job runs (jobChoices)
      const base = cpDegrees(req).filter((cp) => gpus % cp === 0).map((cp) => ({ cp, strategies: enumerateStrategies(gpus / cp, tps, gbs, req.model.num_layers) }));
      // Load (and validate) every profile the job will use now, and cost every shape once, so that a
      // corrupt file or an unpriceable shape is an error before any output is written.
      const seen = new Set<string>();
      for (const { cp, strategies } of base) {
        for (const st of strategies) {
          if (seen.has(`${st.tp} ${st.mbs} ${cp}`)) continue;
          seen.add(`${st.tp} ${st.mbs} ${cp}`);
          for (const g of groups) profiles.costTable(req.model, cost(g.type).gpu, st.tp, st.mbs, lookup, cp, cost(g.type).from);
        }
      }
      const job = { gbs, base };
      checkPartitionsReach(req, job);
      jobs.push({ gbs, groups, tps, base, count: countChoices(req, job), placements: placements(groups), key: `${gbs} ${gpus} ${tps.join(',')}` });
    }
  }
  return jobs;
}

/** Refuse, before any output, a job with a plan whose partition method could not finish (bruteforce, dp-original). */
function checkPartitionsReach(req: SearchRequest, job: Pick<ClusterJob, 'base' | 'gbs'>): void {
  const policy = POLICIES.get(req.estimator);
  if (!policy || (req.partitionMethod !== 'bruteforce' && req.partitionMethod !== 'dp-original')) return;
  const seen = new Set<string>();
  for (const st of jobChoices(req, job).flat()) {
    const v = st.execution?.virtualStages ?? 1;
    if (seen.has(`${st.pp} ${v}`)) continue;
    seen.add(`${st.pp} ${v}`);
    checkPartitionReach(req.partitionMethod, policy, req.model.num_layers, st.pp, v);
  }
}

/** Strategies (with their executions) kept at most by sharedChoices before it forgets them all. */
const CHOICES_KEPT = 1 << 18;

/**
 * jobChoices, listed once per job key: the sub-clusters of a Pareto sweep with as many GPUs (and
 * the same TPs and gbs) have the same strategies and executions. Choices are read, never changed.
 */
function sharedChoices(req: SearchRequest): (job: ClusterJob) => Strategy[][] {
  const kept = new Map<string, Strategy[][]>();
  let size = 0;
  let gbs = NaN;
  return (job) => {
    let c = kept.get(job.key);
    if (c) return c;
    c = jobChoices(req, job);
    const n = c.reduce((a, x) => a + x.length, 0);
    // jobs run gbs by gbs: a key of an earlier gbs does not come again
    if (size + n > CHOICES_KEPT || job.gbs !== gbs) {
      gbs = job.gbs;
      kept.clear();
      size = 0;
    }
    kept.set(job.key, c);
    size += n;
    return c;
  };
}

/** The context-parallel degrees of the request's executions, ascending (1 without any). */
function cpDegrees(req: SearchRequest): number[] {
  return req.executions?.length ? [...new Set(req.executions.map((e) => e.cp))].sort((a, b) => a - b) : [1];
}

/** Number of results a request will give (every placement counted): plans, or strategies when perStrategy. */
export function countPlans(jobs: readonly ClusterJob[]): number {
  return jobs.reduce((a, j) => a + j.count * j.placements.length, 0);
}

/**
 * The search: for each gbs, (sub-)cluster, placement and strategy, resolve the plan and estimate
 * it, yielding events in the original's order. Pure apart from reading profiles through `profiles`.
 */
export async function* searchEvents(
  req: SearchRequest,
  ctx: { catalog: Catalog; profiles: ProfileDb; estimator: Estimator; signal?: AbortSignal; only?: (index: number, slot: number, slots: number) => boolean },
): AsyncGenerator<SearchEvent> {
  validateRequest(req);
  const jobs = planJobs(req, ctx.profiles, ctx.catalog);
  const total = countPlans(jobs);
  if (total === 0) {
    throw new FasopError(
      `no plan fits: ${clusterString(req.gpus)} × ${req.gpusPerNode} GPUs per node with gbs ${req.gbsValues.join('/')} and the profiled TPs ` +
        `(${[...new Set(req.gpus.flatMap((g) => ctx.profiles.tpsForModel(req.model, costingFor(req, g.type).gpu, costingFor(req, g.type).from)))].join(', ')})`,
      'use a gbs divisible by the data-parallel degrees, a --gpu-per-node that the profiled TPs divide, or more layers than pipeline stages',
    );
  }
  if (req.pareto) {
    yield { type: 'pareto_meta', pareto_total_count: total, gbs_values: req.gbsValues, model_type: req.model.name, gpu_cluster: clusterObject(req.gpus) };
  }
  let index = 0;
  const grouped = perStrategy(req);
  const choicesOfJob = sharedChoices(req);
  for (const job of jobs) {
    const choices = choicesOfJob(job);
    yield { type: 'meta', total_count: choices.length, gbs: job.gbs, cluster: clusterObject(job.groups), placements: job.placements, tpCandidates: job.tps, strategies: job.base.flatMap((b) => b.strategies) };
    const clusterStr = clusterString(job.groups);
    // strategies' choices on this job's earlier placements, reused where a placement reads the same
    const memo = new PlacementMemo(job.placements.length * choices.length);
    for (const [pi, nodeTypes] of job.placements.entries()) {
      yield { type: 'placement', nodes: nodeTypes, index: pi, count: job.placements.length };
      const place = placementOf(req, ctx.catalog, job.groups, nodeTypes);
      for (const [slot, choice] of choices.entries()) {
        if (ctx.signal?.aborted) return;
        index += 1;
        // a thread of the parallel search (parallel.ts) estimates only its share: by the strategy's slot in the job
        if (ctx.only && !ctx.only(index, slot, choices.length)) continue;
        if (!grouped) {
          const plan = resolvePlan(req, ctx.profiles, place, { ...choice[0]!, gbs: job.gbs });
          const est = await ctx.estimator(plan);
          yield { type: 'result', index, estimate: est, record: toRecord(plan, est, nodeTypes, clusterStr, req) };
          continue;
        }
        // a result's estimate carries each stage's memory, not its parts (estimate() of the plan gives them)
        const c = await memo.choose(req, ctx.profiles, ctx.estimator, place, choice, job.gbs, false);
        if (c.fit) yield { type: 'result', index, estimate: c.fit.estimate, record: toRecord(c.fit.plan, c.fit.estimate, nodeTypes, clusterStr, req) };
        else yield { type: 'oom', index, oom: { ...c.oom!, placement: nodeTypes, gpu_cluster_str: clusterStr } };
      }
    }
  }
}

const namesByNodes = new WeakMap<readonly ClusterNode[], string[]>();

/** The instance name of each node, once per nodes array (records share it: they never change it). */
function instanceNames(nodes: readonly ClusterNode[]): string[] {
  let out = namesByNodes.get(nodes);
  if (!out) namesByNodes.set(nodes, (out = nodes.map((n) => n.gpu.instance.name)));
  return out;
}

export function toRecord(plan: ResolvedPlan, est: Estimate, nodeTypes: string[], clusterStr: string, req: SearchRequest): PlanRecord {
  return compactRecord({
    gbs: plan.gbs,
    mbs: plan.mbs,
    tp: plan.tp,
    dp: plan.dp,
    pp: plan.pp,
    node_type: instanceNames(plan.nodes),
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
    ...executionColumns(plan.execution ?? PLAIN_EXECUTION),
    mfu: est.mfu,
    tokens_per_s_per_gpu: est.tokensPerSecondPerGpu,
    seq_length: plan.model.seq_length,
  });
}

/** The record's execution columns. */
export function executionColumns(e: Execution): Pick<PlanRecord, 'cp' | 'recompute' | 'recompute_layers' | 'dp_sharding' | 'shard_group' | 'sequence_parallel' | 'virtual_stages'> {
  return {
    cp: e.cp,
    recompute: e.recompute,
    recompute_layers: e.recomputeLayers ?? null,
    dp_sharding: e.dpSharding,
    shard_group: e.shardGroup ?? null,
    sequence_parallel: e.sequenceParallel,
    virtual_stages: e.virtualStages,
  };
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
