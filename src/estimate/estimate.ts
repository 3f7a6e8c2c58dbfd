/**
 * The estimator: one pure function of a fully resolved plan and a policy record. Compute costs per
 * GPU type, boundary costs, the partitions to simulate, then for each: stage lists, 1F1B, the DP
 * all-reduce, the optimizer step, the embedding sync and memory; the fastest is reported.
 */
import { FasopError } from '../errors.js';
import { microBatchesOf, sharedPlanCosts } from './plan-costs.js';

export { microBatchesOf } from './plan-costs.js';
import { trainingFlopsPerToken } from '../model/flops.js';
import { layerSharesPerStage, layersPerStage } from '../model/graph.js';
import { simulate1F1BKept } from '../pipeline/memo.js';
import type { SimulationOptions } from '../pipeline/onef1b.js';
import { stageLists, stageTime_s, type StageLists } from './boundaries.js';
import { dpAllreduce_s, embeddingSync_s } from './data-parallel.js';
import { roundingOf } from './f32.js';
import { memoryOf, oomCheck, type MemoryOutcome } from './memory.js';
import type { MemoryParts } from './memory-bytes.js';
import { candidatePartitions, unitStarts, type Candidate, type PartitionInputs } from './partition-choice.js';
import { memoryCappedCandidate } from './memory-caps.js';
import type { Estimate, ResolvedPlan, StageBreakdown } from './plan.js';
import { FASOP, type EstimatorPolicy } from './policy.js';
import { RECIPES, type TrainingRecipe } from './recipe.js';
import { gradAccumulate_s, hostIssueFigures, optimizerStep_s, stageHostIssue_s } from './step-terms.js';
import { PLAIN_EXECUTION, RECOMPUTE, executionLabel, isPlain, shardDegree, type Execution } from './execution.js';
import { chainFloor_s, stage0AfterPipeline_s, stepTimeFloor_s } from './time-bound.js';
import { stageParamCount } from './memory-bytes.js';
import { contextParallelExtra_s, fsdpExposed_s, recomputeExtra_s } from './technique-terms.js';
import { dpGather_s, replicaAllreduce_s } from './data-parallel.js';
import { nodeOfType } from './node-of-type.js';

interface Context extends PartitionInputs {
  recipe: TrainingRecipe;
  stageTypes: readonly string[];
  sources: readonly string[];
}

/** Per stage, the CPU's and the GPU's seconds for one micro-batch (policy hostIssueFloor): bound where the CPU's is longer. */
interface HostTerms { issue_s: number[]; gpu_s: number[] }

interface Evaluation {
  candidate: Candidate;
  lists: StageLists;
  ends: number[];
  memory: MemoryOutcome;
  dp: number[];
  opt: number[];
  emb: number;
  stepTime: number;
  host?: HostTerms;
}

function gpuOfStage(ctx: Context, s: number) {
  return nodeOfType(ctx.plan.nodes, ctx.stageTypes[s]!)!.gpu;
}

/** Stretch or extend a stage's compute; under 'twice-forward' its stored total follows. */
function setStage(ctx: Context, l: StageLists, s: number, forward: number, backward: number): void {
  const delta = forward + backward - (l.forward_s[s]! + l.backward_s[s]!);
  l.forward_s[s] = forward;
  l.backward_s[s] = backward;
  l.compute_s[s] = ctx.policy.backward === 'twice-forward' ? l.compute_s[s]! + delta : forward + backward;
}

/** What the 1F1B simulation takes of a candidate: its stage lists with every technique's terms, its memory and host terms. */
interface Prepared { lists: StageLists; memory: MemoryOutcome; shares: number[]; host?: HostTerms }

function prepare(ctx: Context, candidate: Candidate, known?: MemoryOutcome, withParts = true): Prepared {
  const { plan, policy, recipe, m } = ctx;
  const { sizes } = candidate;
  const base = baseListsOf(ctx, candidate);
  // the shared lists stay as they are: the stages' times are copied before the terms below stretch them
  const lists: StageLists = { ...base, forward_s: base.forward_s.slice(), backward_s: base.backward_s.slice(), compute_s: base.compute_s.slice() };
  const memory = known ?? memoryOf(plan, policy, recipe, sizes, ctx.n, m, withParts);
  const shares = layerSharesPerStage(sizes);
  const exec = plan.execution ?? PLAIN_EXECUTION;
  const Z = shardDegree(exec, plan.dp);
  if (exec.recompute !== 'none') {
    const extra = recomputeExtraOf(ctx, candidate, exec);
    for (let s = 0; s < extra.length; s++) setStage(ctx, lists, s, lists.forward_s[s]!, lists.backward_s[s]! + extra[s]!);
  }
  if (exec.cp > 1) {
    const ring = contextParallelExtra_s(plan, policy, recipe, exec, ctx.stageTypes, sizes);
    for (let s = 0; s < sizes.length; s++) setStage(ctx, lists, s, lists.forward_s[s]! + ring.forward[s]!, lists.backward_s[s]! + ring.backward[s]!);
  }
  if (exec.dpSharding === 'parameters' && Z > 1) {
    for (let s = 0; s < memory.params.length; s++) {
      const x = fsdpExposed_s(lists.forward_s[s]!, lists.backward_s[s]!, dpGather_s(plan, policy, recipe, s, memory.params[s]! * recipe.stateSplit.weights, Z));
      setStage(ctx, lists, s, lists.forward_s[s]! + x.forward, lists.backward_s[s]! + x.backward);
    }
  }
  if (policy.optimizerStep) {
    // every micro-batch after the first adds its weight gradients into the accumulated ones
    for (let s = 0; s < memory.params.length; s++) {
      setStage(ctx, lists, s, lists.forward_s[s]!, lists.backward_s[s]! + ((m - 1) / m) * gradAccumulate_s(gpuOfStage(ctx, s), recipe, memory.params[s]!));
    }
  }
  // policy hostIssueFloor: a stage cannot run micro-batches faster than its CPU issues them; the CPU
  // runs ahead within a step, so the floor holds for a micro-batch's forward and backward together
  const figures = policy.hostIssueFloor ? hostIssueFigures(plan, recipe) : undefined;
  let host: HostTerms | undefined;
  if (figures) {
    host = { issue_s: new Array<number>(sizes.length), gpu_s: new Array<number>(sizes.length) };
    for (let s = 0; s < sizes.length; s++) {
      const gpu_s = lists.forward_s[s]! + lists.backward_s[s]!;
      const issue_s = stageHostIssue_s(figures, shares[s]!, s === sizes.length - 1);
      if (issue_s > gpu_s && gpu_s > 0) setStage(ctx, lists, s, lists.forward_s[s]! * (issue_s / gpu_s), lists.backward_s[s]! * (issue_s / gpu_s));
      host.issue_s[s] = issue_s;
      host.gpu_s[s] = gpu_s;
    }
  }
  return { lists, memory, shares, host };
}

/** What follows the pipeline on each stage: its DP all-reduce (or FSDP's replica all-reduce) and optimizer step; and the embedding sync. */
function afterPipeline(ctx: Context, sizes: readonly number[], p: Prepared): { dp: number[]; opt: number[]; emb: number } {
  const { plan, policy, recipe } = ctx;
  const { lists, memory, shares } = p;
  const exec = plan.execution ?? PLAIN_EXECUTION;
  const Z = shardDegree(exec, plan.dp);
  const dpFull = dpAllreduce_s({ plan, policy, recipe, stageTypes: ctx.stageTypes, sizes, stageParams: memory.params, lastBackward_s: lists.backward_s });
  // FSDP reduce-scatters per micro-batch (prepare); hybrid shards still all-reduce their 1/Z across replicas
  const dp = exec.dpSharding === 'parameters' && Z > 1 ? replicaAllreduce_s({ plan, policy, recipe, stageTypes: ctx.stageTypes, sizes, stageParams: memory.params, lastBackward_s: lists.backward_s }, Z) : dpFull;
  const last = sizes.length - 1;
  const opt = new Array<number>(memory.params.length);
  for (let s = 0; s < opt.length; s++) {
    const rt = ctx.stageCosts[s]!.step;
    // a sharded optimizer steps over its 1/Z of the parameters (ZeRO-1 and up; Megatron's distributed optimizer)
    opt[s] = (policy.optimizerStep ? optimizerStep_s(gpuOfStage(ctx, s), recipe, memory.params[s]! / Z) : 0) + rt.perLayer_s * shares[s]! + (s === last ? rt.fixed_s : 0);
  }
  return { dp, opt, emb: embeddingSync_s(plan, policy, recipe) };
}

/** The step time from each stage's pipeline end and what follows it (the slowest stage, then the embedding sync). */
function stepOf(round: (x: number) => number, ends: readonly number[], dp: readonly number[], opt: readonly number[], emb: number): number {
  // Math.max over the stages, pairwise in a plain loop (the same value)
  let slowest_s = -Infinity;
  for (let s = 0; s < ends.length; s++) slowest_s = Math.max(slowest_s, round(round(ends[s]!) + dp[s]! + opt[s]!));
  return round(slowest_s + round(emb));
}

function evaluate(ctx: Context, candidate: Candidate, known?: MemoryOutcome, withParts = true): Evaluation {
  const { plan, policy, m } = ctx;
  const round = roundingOf(policy);
  const { sizes } = candidate;
  const p = prepare(ctx, candidate, known, withParts);
  const { lists, memory, host } = p;
  const v = (plan.execution ?? PLAIN_EXECUTION).virtualStages;
  // interleaved 1F1B: each rank runs v chunks of 1/v of its stage, m·v chunk-micro-batches in all,
  // so the bubble is (pp − 1)/v of a stage's time (Narayanan et al. 2021) and every chunk boundary sends
  const ends = sizes.length === 1
    ? [round(m * round(lists.compute_s[0]!))]
    : v > 1
      ? simulate1F1BKept({ ...lists, forward_s: dividedBy(lists.forward_s, v), backward_s: dividedBy(lists.backward_s, v) }, m * v, simulationOf(policy))
      : simulate1F1BKept(lists, m, simulationOf(policy));
  const { dp, opt, emb } = afterPipeline(ctx, sizes, p);
  return { candidate, lists, ends, memory, dp, opt, emb, stepTime: stepOf(round, ends, dp, opt, emb), host };
}

/** Each of xs / v (a plain loop: no closure, so evaluate allocates no context per call). */
function dividedBy(xs: readonly number[], v: number): number[] {
  const out = new Array<number>(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = xs[i]! / v;
  return out;
}

const simulations = new WeakMap<EstimatorPolicy, SimulationOptions>();

/** The 1F1B simulation's options under a policy (once per policy). */
function simulationOf(policy: EstimatorPolicy): SimulationOptions {
  let o = simulations.get(policy);
  if (!o) simulations.set(policy, (o = { stage0SkipsOwnSend: policy.stage0SkipsOwnSend, extendSteadyState: policy.pipelineSteadyState === 'extended' }));
  return o;
}

/** Whether some stage's CPU issue is longer than its GPU work (bound), or would be on a host `spread` times slower (sensitive). */
function hostFlags(recipe: TrainingRecipe, host: HostTerms): { bound: boolean; sensitive: boolean } {
  let bound = false;
  let sensitive = false;
  for (let s = 0; s < host.issue_s.length; s++) {
    bound ||= host.issue_s[s]! > host.gpu_s[s]!;
    sensitive ||= host.issue_s[s]! * recipe.hostIssue!.hostSpreadFactor > host.gpu_s[s]!;
  }
  return { bound, sensitive };
}

function hostNote(recipe: TrainingRecipe, host: HostTerms | undefined, flags: { bound: boolean; sensitive: boolean } | undefined): string {
  if (!host || !flags?.sensitive) return '';
  const { bound } = flags;
  // the stage whose CPU issue is the largest share of its GPU work (the first of equals)
  let w = 0;
  for (let s = 1; s < host.issue_s.length; s++) if (host.issue_s[s]! / host.gpu_s[s]! > host.issue_s[w]! / host.gpu_s[w]!) w = s;
  const spread = recipe.hostIssue?.hostSpreadFactor ?? 1;
  return `; HOST-${bound ? 'BOUND' : 'SENSITIVE'}: issuing a micro-batch takes the CPU ${(host.issue_s[w]! * 1e3).toFixed(1)} ms, its GPU work ${(host.gpu_s[w]! * 1e3).toFixed(1)} ms (stage ${w}); ${bound
    ? `the step time uses the CPU's, and hosts of this kind were seen up to ${spread}x slower`
    : `on a host up to ${spread}x slower (seen on hosts of this kind) the CPU would set the pace`} (CPU issue figures: ${recipe.hostIssue!.source})`;
}

/** Each part of a stage's memory in GiB (a plain loop: this runs for every stage of every plan). */
function inGiB(parts: MemoryParts): NonNullable<StageBreakdown['memoryParts_GiB']> {
  const out = {} as Record<string, number>;
  for (const k in parts) out[k] = parts[k as keyof MemoryParts] / 2 ** 30;
  return out as NonNullable<StageBreakdown['memoryParts_GiB']>;
}

function result(ctx: Context, best: Evaluation, oom = oomCheck(ctx.plan, ctx.policy, best.memory.total_GiB)): Estimate {
  const { plan, policy, recipe } = ctx;
  const { candidate, lists, ends, memory, dp, opt, emb, stepTime, host } = best;
  const flags = host && hostFlags(recipe, host);
  const { sizes } = candidate;
  // a plain loop, the optional fields set after the others (the same fields, in the same order)
  const stages = new Array<StageBreakdown>(sizes.length);
  for (let s = 0; s < sizes.length; s++) {
    const stage: StageBreakdown = {
      gpu: ctx.stageTypes[s]!,
      nodes: sizes[s]!,
      compute_s: lists.compute_s[s]!,
      forwardSend_s: lists.forwardSend_s[s]!,
      backwardSend_s: lists.backwardSend_s[s]!,
      stageTime_s: stageTime_s(lists, s, policy),
      end_s: ends[s]!,
      dpAllreduce_s: dp[s]!,
      optimizerStep_s: opt[s]!,
      memory_GiB: memory.total_GiB[s]!,
      memoryLimit_GiB: oom.limits_GiB[s]!,
    };
    if (memory.parts) stage.memoryParts_GiB = inGiB(memory.parts[s]!.parts);
    if (host) stage.hostIssue_s = host.issue_s[s]!;
    stages[s] = stage;
  }
  const pricePerStep = plan.pricePerSecond_usd * stepTime;
  const usesRecipe = policy.memory === 'bytes' || policy.optimizerStep;
  return {
    partition: [...sizes],
    partitionLayers: policy.partitionLayers === 'method' ? candidate.partitionLayers && [...candidate.partitionLayers] : layersPerStage(sizes),
    stepTime_s: stepTime,
    throughput: stepTime > 0 ? plan.gbs / stepTime : 0,
    pricePerStep_usd: pricePerStep,
    isOom: oom.isOom,
    oomGpumem_GiB: oom.reported_GiB,
    iterations: plan.iterations,
    totalTime_s: stepTime * plan.iterations,
    totalTime_h: (stepTime * plan.iterations) / 3600,
    cost_usd: pricePerStep * plan.iterations,
    ...utilisation(plan, stepTime),
    breakdown: {
      microBatches: ctx.m,
      stages,
      pipeline_s: Math.max(...ends),
      embeddingSync_s: emb,
      costSource: ctx.sources.join('; ') + (usesRecipe ? `; recipe ${recipe.name}` : '') + (candidate.memoryCapped ? '; partition: minmax\'s overfilled a stage\'s memory, so the fastest whole-layer partition that fits' : '') + (plan.execution && !isPlain(plan.execution) ? `; execution ${executionLabel(plan.execution)}` : '') + hostNote(recipe, host, flags),
      ...(flags ? { hostBound: flags.bound, hostSensitive: flags.sensitive } : {}),
    },
  };
}

/** MFU and tokens/s per GPU of a plan at this step time (every GPU of its nodes takes part). */
export function utilisation(plan: ResolvedPlan, stepTime_s: number): { mfu: number; tokensPerSecondPerGpu: number } {
  const gpus = plan.nodes.length * plan.gpusPerNode;
  const tokens = plan.gbs * plan.model.seq_length;
  const peak_flops = plan.nodes.reduce((a, n) => a + (n.gpu.bf16Dense_TFLOPS ?? NaN) * 1e12 * plan.gpusPerNode, 0);
  if (!(stepTime_s > 0)) return { mfu: NaN, tokensPerSecondPerGpu: 0 };
  return { mfu: (tokens * trainingFlopsPerToken(plan.model)) / stepTime_s / peak_flops, tokensPerSecondPerGpu: tokens / stepTime_s / gpus };
}

/** The plan's costs, stage types and boundary costs (shared), its policy and recipe. */

function contextOf(plan: ResolvedPlan, policy: EstimatorPolicy): Context {
  const recipe = plan.recipe ?? RECIPES['megatron-mixed']!;
  const exec = plan.execution;
  if (exec && !isPlain(exec)) {
    if (policy.memory !== 'bytes') throw new FasopError(`execution ${executionLabel(exec)} is priced by the corrected estimator only`, 'use --estimator fasop, or the plain execution');
    if (exec.cp > 1 && policy.contextParallel !== 'ring-p2p') throw new FasopError(`context parallelism (cp ${exec.cp}) is not priced by this policy (contextParallel '${policy.contextParallel}')`, 'use --estimator fasop, or estimate the plan with cp 1');
  }
  const c = sharedPlanCosts(plan, policy, recipe);
  return { plan, policy, recipe, n: c.n, m: c.m, stageTypes: c.stageTypes, stageCosts: c.stageCosts, boundary: c.boundary, sources: c.sources };
}

const baseLists = new WeakMap<Candidate, StageLists>();

/**
 * A candidate's stage lists before any technique's terms, once per candidate (a shared minmax one is
 * shared by the plan's executions: the same costs, boundaries and partition). Callers must not change them.
 */
function baseListsOf(ctx: Context, c: Candidate): StageLists {
  let l = baseLists.get(c);
  if (!l) baseLists.set(c, (l = stageLists(ctx.stageCosts, ctx.boundary, c.listedSizes ?? c.sizes, ctx.n, ctx.policy)));
  return l;
}

const recomputeExtras = new WeakMap<Candidate, Map<number, number[]>>();

/** recomputeExtra_s of a candidate, once per (candidate, recompute mode, layer count). Shared: callers must not change it. */
function recomputeExtraOf(ctx: Context, c: Candidate, exec: Execution): readonly number[] {
  let byMode = recomputeExtras.get(c);
  if (!byMode) recomputeExtras.set(c, (byMode = new Map()));
  const key = RECOMPUTE.indexOf(exec.recompute) * 2 ** 20 + (exec.recomputeLayers ?? 0);
  let x = byMode.get(key);
  if (!x) byMode.set(key, (x = recomputeExtra_s(ctx.plan, exec, ctx.stageCosts, c.sizes, ctx.n)));
  return x;
}

/** Partition methods whose one candidate is found quickly (cached or closed-form): the step floor may use it. */
const QUICK_PARTITIONS: ReadonlySet<string> = new Set(['minmax', 'even']);

/**
 * A floor under the plan's step time (time-bound.ts): stepTimeFloor_s, and where the plan's one
 * partition is found quickly, the chain floor of that partition's stages with its recompute, then
 * stage 0's all-reduce and optimizer step at its own parameters and the embedding sync. Where
 * stepTimeFloor_s is already above `past_s`, it alone (the caller needs no tighter floor).
 */
export async function stepFloorOf(plan: ResolvedPlan, policy: EstimatorPolicy = FASOP, past_s = Infinity): Promise<number> {
  const generic = stepTimeFloor_s(plan, policy);
  if (generic > past_s) return generic;
  if (policy.stage0SkipsOwnSend || policy.backward !== 'measured' || (!plan.fixedPartition && !QUICK_PARTITIONS.has(plan.partitionMethod))) return generic;
  const ctx = contextOf(plan, policy);
  const { candidates } = await partitionsOf(ctx);
  if (candidates.length !== 1) return generic;
  const c = candidates[0]!;
  const exec = plan.execution ?? PLAIN_EXECUTION;
  const extra = exec.recompute === 'none' ? zerosOf(plan.pp) : recomputeExtraOf(ctx, c, exec);
  const chain = chainFloor_s(baseListsOf(ctx, c), extra, ctx.m, exec.virtualStages);
  const P0 = stageParamCount(plan.model, plan.tp, 0, c.sizes[0]!, ctx.n);
  return Math.max(generic, chain + stage0AfterPipeline_s(plan, policy, ctx.recipe, ctx.stageTypes, exec, P0) + embeddingSync_s(plan, policy, ctx.recipe));
}

/**
 * A floor under the plan's step time with more layers recomputed per stage: its own floor where its
 * partition is minmax's and fits (then every larger count keeps that partition, and recomputes more),
 * else the floor of any partition, since a count whose minmax partition does not fit takes another.
 */
export async function moreRecomputeFloorOf(plan: ResolvedPlan, policy: EstimatorPolicy = FASOP): Promise<number> {
  if (policy.minmaxMemory === 'within-memory' && plan.pp > 1) {
    const { candidates, known } = await partitionsOf(contextOf(plan, policy));
    const minmaxFits = candidates.length === 1 && !candidates[0]!.memoryCapped && known !== undefined && !oomCheck(plan, policy, known.total_GiB).isOom;
    if (!minmaxFits) return stepTimeFloor_s(plan, policy);
  }
  return stepFloorOf(plan, policy);
}

const zeros: number[][] = [];
/** A shared array of n zeros. */
function zerosOf(n: number): readonly number[] {
  return (zeros[n] ??= new Array<number>(n).fill(0));
}

/** The fastest of the evaluated partitions (the first of equals). */
function fastest(evaluations: readonly Evaluation[]): Evaluation {
  return evaluations.reduce((a, b) => (b.stepTime < a.stepTime ? b : a));
}

/**
 * The partitions the estimate simulates: the method's, except that under policy minmaxMemory
 * 'within-memory', where minmax's partition does not fit, the fastest that fits takes its place
 * (when one does). `known`: the one candidate's memory, where it was counted.
 */
async function partitionsOf(ctx: Context): Promise<{ candidates: Candidate[]; known?: MemoryOutcome }> {
  // a plan's step floor and then its timing ask for the same: counted once
  const kept = partitionsKept.get(ctx.plan);
  if (kept?.policy === ctx.policy) return kept.value;
  const value = partitionsOfNew(ctx);
  partitionsKept.set(ctx.plan, { policy: ctx.policy, value });
  return value;
}

const partitionsKept = new WeakMap<ResolvedPlan, { policy: EstimatorPolicy; value: Promise<{ candidates: Candidate[]; known?: MemoryOutcome }> }>();

async function partitionsOfNew(ctx: Context): Promise<{ candidates: Candidate[]; known?: MemoryOutcome }> {
  const candidates = await candidatePartitions(ctx);
  const { plan, policy } = ctx;
  if (candidates.length !== 1 || policy.minmaxMemory !== 'within-memory' || plan.partitionMethod !== 'minmax' || plan.fixedPartition || plan.pp < 2 ||
    policy.memory !== 'bytes' || policy.memoryLimit !== 'hosting-nodes') return { candidates };
  const known = memoryOf(plan, policy, ctx.recipe, candidates[0]!.sizes, ctx.n, ctx.m, false);
  const oom = oomCheck(plan, policy, known.total_GiB);
  if (!oom.isOom) return { candidates, known };
  const starts = unitStarts(ctx);
  const capped = starts ? memoryCappedCandidate(ctx, ctx.recipe, starts, oom.limits_GiB, candidates[0]!) : undefined;
  return capped ? { candidates: [capped] } : { candidates, known };
}

/** Estimate one fully resolved plan under a policy (default: the corrected model). */
export async function estimate(plan: ResolvedPlan, policy: EstimatorPolicy = FASOP): Promise<Estimate> {
  const ctx = contextOf(plan, policy);
  return result(ctx, fastest((await partitionsOf(ctx)).candidates.map((c) => evaluate(ctx, c))));
}

/**
 * What choosing among a strategy's executions needs of one: its step time, whether it fits, its
 * binding stage's memory, and the whole estimate on demand (the breakdown is built only for the one
 * kept). With one partition to simulate, an execution whose partition does not fit is not timed.
 */
export interface Timing {
  /** NaN when not timed */
  stepTime_s: number;
  isOom: boolean;
  /** the stage whose memory is the largest share of its limit (the first of equals) */
  tightMemory_GiB: number;
  tightLimit_GiB: number;
  /** whether the pipeline was simulated (else memory alone said it does not fit) */
  timed: boolean;
  /** minmax's partition did not fit: the fastest that fits was timed in its place (memory-caps.ts) */
  memoryCapped?: boolean;
  /**
   * the estimate estimate() gives, built from the same evaluation (timed plans); with `memoryParts`
   * false its stages carry no per-part memory breakdown (the same totals, nothing recounted)
   */
  estimate?: (memoryParts?: boolean) => Estimate;
  /** what the pipeline was given and gave (timed plans): dominanceFloorsOf compares another execution with it */
  pipeline?: PipelineRun;
}

/** A timed execution's pipeline: its micro-batches, virtual stages, sequence parallelism and cp, stage lists and each stage's end. */
export interface PipelineRun { m: number; v: number; sp: boolean; cp: number; lists: StageLists; ends: readonly number[] }

/** Whether every stage's times in `a` are at least those in `b` (the 1F1B simulation is monotone in each). */
function listsAtLeast(a: StageLists, b: StageLists): boolean {
  for (let s = 0; s < a.forward_s.length; s++) {
    if (!(a.forward_s[s]! >= b.forward_s[s]! && a.backward_s[s]! >= b.backward_s[s]! && a.compute_s[s]! >= b.compute_s[s]! &&
      a.forwardSend_s[s]! >= b.forwardSend_s[s]! && a.backwardSend_s[s]! >= b.backwardSend_s[s]!)) return false;
  }
  return true;
}

/**
 * Pipelines of fewer stage-micro-batches (pp·v·m) than this are timed rather than compared (timing them
 * costs about what the comparison does; docs/benchmarks.md). A setting, so that tests can compare small ones.
 */
export const dominance = { minCells: 1024 };

/**
 * Floors under the plan's step time from executions already timed with as many stages, micro-batches
 * and virtual stages, and the same sequence parallelism and cp (one per run): where this plan's stage
 * lists are at least a run's, stage by stage, each stage ends no earlier than there (the pipeline is a
 * chain of sums and maxima), and this plan's own all-reduce, optimizer step and embedding sync follow.
 * Undefined where the lists do not compare; all undefined where the plan has several partitions to simulate.
 */
export async function dominanceFloorsOf(plan: ResolvedPlan, runs: readonly PipelineRun[], policy: EstimatorPolicy = FASOP): Promise<Array<number | undefined>> {
  const out = new Array<number | undefined>(runs.length).fill(undefined);
  const e = plan.execution ?? PLAIN_EXECUTION;
  const v = e.virtualStages;
  const m = microBatchesOf(plan);
  // where the pipeline is short to simulate, timing costs about what the comparison does
  if (plan.pp * v * m < dominance.minCells) return out;
  // the runs worth comparing: the same pipeline shape, and the same sequence parallelism and cp (whose
  // collectives move some stages' times up and others down, so that their lists seldom compare)
  const comparable = (r: PipelineRun) => r.m === m && r.v === v && r.ends.length === plan.pp && r.sp === e.sequenceParallel && r.cp === e.cp;
  if (!runs.some(comparable)) return out;
  const ctx = contextOf(plan, policy);
  const { candidates, known } = await partitionsOf(ctx);
  if (candidates.length !== 1) return out;
  const c = candidates[0]!;
  const p = prepare(ctx, c, known, false);
  const round = roundingOf(policy);
  let after: ReturnType<typeof afterPipeline> | undefined;
  for (let i = 0; i < runs.length; i++) {
    const r = runs[i]!;
    if (!comparable(r) || !listsAtLeast(p.lists, r.lists)) continue;
    after ??= afterPipeline(ctx, c.sizes, p);
    out[i] = stepOf(round, r.ends, after.dp, after.opt, after.emb);
  }
  return out;
}

function tightest(total_GiB: readonly number[], limits_GiB: readonly number[]): { tightMemory_GiB: number; tightLimit_GiB: number } {
  let s = 0;
  for (let k = 1; k < total_GiB.length; k++) if (total_GiB[k]! / limits_GiB[k]! > total_GiB[s]! / limits_GiB[s]!) s = k;
  return { tightMemory_GiB: total_GiB[s]!, tightLimit_GiB: limits_GiB[s]! };
}

/** A plan's Timing under a policy: the same figures as estimate(), memory before time. */
export async function timeEstimate(plan: ResolvedPlan, policy: EstimatorPolicy = FASOP): Promise<Timing> {
  const ctx = contextOf(plan, policy);
  const { candidates, known: counted } = await partitionsOf(ctx);
  let known = counted;
  if (candidates.length === 1) {
    known ??= memoryOf(plan, policy, ctx.recipe, candidates[0]!.sizes, ctx.n, ctx.m, false);
    const oom = oomCheck(plan, policy, known.total_GiB);
    if (oom.isOom) return { stepTime_s: NaN, isOom: true, ...tightest(known.total_GiB, oom.limits_GiB), timed: false };
  }
  const best = fastest(candidates.map((c, i) => evaluate(ctx, c, i === 0 ? known : undefined, false)));
  const oom = oomCheck(plan, policy, best.memory.total_GiB);
  // the breakdown's memory parts: the same byte model, its parts kept this time
  const estimate = (memoryParts = true) => result(ctx, memoryParts ? { ...best, memory: memoryOf(plan, policy, ctx.recipe, best.candidate.sizes, ctx.n, ctx.m) } : best, oom);
  const e = plan.execution ?? PLAIN_EXECUTION;
  const pipeline: PipelineRun = { m: ctx.m, v: e.virtualStages, sp: e.sequenceParallel, cp: e.cp, lists: best.lists, ends: best.ends };
  return { stepTime_s: best.stepTime, isOom: oom.isOom, ...tightest(best.memory.total_GiB, oom.limits_GiB), timed: true, ...(best.candidate.memoryCapped ? { memoryCapped: true } : {}), estimate, pipeline };
}
