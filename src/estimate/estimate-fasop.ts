/**
 * The corrected estimator (`--estimator fasop`). It shares the plan, the search, the 1F1B simulator
 * and the partitioners with the reference; each difference from the original is one named policy
 * (docs/estimator.md):
 *
 *  measured-backward   forward and backward per node from the profile (not 3 × forward)
 *  extra-operators     attention core, norms, RoPE, residual adds, loss folded into their nodes
 *  mbs-interpolation   micro-batches between/beyond profiled rows interpolated/extrapolated, flagged
 *  tp-allreduce        the tensor-parallel all-reduces (2 forward + 2 backward per layer) priced
 *  every-boundary      every pipeline boundary priced, forward and backward, with the volume of the
 *                      last node before the cut, on an α–β link
 *  per-stage-dp        each stage all-reduces its own gradients over its own slowest ring
 *  tied-embedding-sync the embedding/LM-head sync only for tied embeddings
 *  real-ffn-gqa        the model's intermediate size and KV heads
 *  memory-in-bytes     state from the recipe, activations in bytes, per-stage in-flight counts, logits
 *  hosting-node-limit  a stage's memory limit from the GPUs that host it
 *  optimizer-step      the optimizer's pass over HBM is part of the step
 *  host-issue-floor    a micro-batch's forward + backward take at least the CPU's time to issue them (measured), flagged
 *  tp-runtime          PyTorch DTensor TP (recipe bf16-adamw-graph-dtensor): 5 input-gradient all-reduces per layer, loss_parallel's extra passes
 */
import type { GpuSpec } from '../catalog/schema.js';
import { FasopError } from '../errors.js';
import { columnOfNode, layerSharesPerStage, layersPerStage, nodeCount, outputVolumeByColumn } from '../model/graph.js';
import { minmaxPartition } from '../partition/minmax.js';
import { optimusEvenPartition } from '../partition/even.js';
import type { PartitionProblem, PartitionResult } from '../partition/types.js';
import { simulate1F1B } from '../pipeline/onef1b.js';
import { columnTimes } from './compute-fasop.js';
import { checkedFixedPartition } from './estimate-reference.js';
import { boundaryStreams, nodeOfRank, rankOf } from './links.js';
import { allreduceTime_s, interNode, intraAllreduce, intraP2p, linkTime_s, type Launch, type Link } from './links-fasop.js';
import { stageMemory } from './memory-fasop.js';
import type { Estimate, ResolvedPlan, StageBreakdown } from './plan.js';
import { RECIPES, type TrainingRecipe } from './recipe.js';
import { stageGpuType, stageNodeIndices } from './reference.js';
import { tpRuntimeTerms } from './tp-runtime.js';

/** An exact partitioner on the shared objective (dp, ilp, bruteforce). */
export type Solver = (p: PartitionProblem) => PartitionResult | Promise<PartitionResult>;

export interface FasopContext {
  plan: ResolvedPlan;
  recipe: TrainingRecipe;
  n: number;
  m: number;
  stageTypes: string[];
  /** forward / backward seconds of every node, per stage (its GPU type) */
  forward_s: Float64Array[];
  backward_s: Float64Array[];
  /** boundary[j][column]: seconds to send a node of that column's output across boundary j */
  boundary_s: number[][];
  /** per stage (its GPU type): seconds the TP runtime adds once per step, per layer and once per model (policy tp-runtime) */
  tpRuntimeStep: { perLayer_s: number; fixed_s: number }[];
  sources: string[];
}

/** The runtime's launch mode (the plan's recipe; eager when it names none). */
function launchOf(plan: ResolvedPlan): Launch {
  return plan.recipe?.launch ?? 'eager';
}

function bytesOfTp(plan: ResolvedPlan): number {
  return plan.mbs * plan.model.seq_length * plan.model.hidden_size * 2;
}

/** Seconds of one TP all-reduce of the b·s·h activation among tp GPUs of one node. */
function tpAllreduce_s(plan: ResolvedPlan, gpu: string): number {
  if (plan.tp === 1) return 0;
  const node = plan.nodes.find((x) => x.gpu.name === gpu)!;
  return allreduceTime_s(intraAllreduce(node.gpu, node.intraNode_bps, plan.tp, launchOf(plan)), bytesOfTp(plan), plan.tp);
}

/** Seconds of one small TP all-reduce of b·s fp32 values (the vocab-parallel loss's statistics). */
function tpSmallAllreduce_s(plan: ResolvedPlan, gpu: string): number {
  const node = plan.nodes.find((x) => x.gpu.name === gpu)!;
  return allreduceTime_s(intraAllreduce(node.gpu, node.intraNode_bps, plan.tp, launchOf(plan)), plan.mbs * plan.model.seq_length * 4, plan.tp);
}

/** The link a pipeline boundary j uses: the slowest of its tp·dp parallel streams. */
function boundaryLink(plan: ResolvedPlan, j: number): Link {
  let worst: Link | undefined;
  let worstTime = -1;
  const probe = 64 * 2 ** 20; // compare links at a typical activation size
  for (const { ra, rb, na, nb } of boundaryStreams(plan, j)) {
    const link = na === nb ? intraP2p(plan.nodes[na]!, ra, rb, launchOf(plan)) : interNode(plan.nodes[na]!, plan.nodes[nb]!, Math.min(plan.tp * plan.dp, plan.gpusPerNode));
    const time = linkTime_s(link, probe);
    if (time > worstTime) { worstTime = time; worst = link; }
  }
  return worst!;
}

export function fasopContext(plan: ResolvedPlan, recipe: TrainingRecipe): FasopContext {
  const n = nodeCount(plan.model);
  const m = plan.gbs / (plan.dp * plan.mbs);
  if (!Number.isInteger(m) || m < 1) throw new FasopError(`gbs ${plan.gbs} is not a multiple of dp·mbs = ${plan.dp * plan.mbs}`, 'choose gbs, dp and mbs so that gbs/(dp·mbs) is whole');
  const perType = new Map<string, { f: Float64Array; b: Float64Array; layer: number; step: { perLayer_s: number; fixed_s: number }; source: string }>();
  for (const [gpu, profile] of Object.entries(plan.profiles)) {
    const t = columnTimes(profile, plan.mbs, gpu);
    // Our profiler measures a TP shard on one GPU: its all-reduces are added here. The original's
    // files were measured on real TP groups, so theirs are already inside the operator times.
    const ar = profile.backward_ms ? tpAllreduce_s(plan, gpu) : 0;
    // policy tp-runtime: what the TP runtime adds beside Megatron-style TP (tp-runtime.ts)
    const rt = tpRuntimeTerms(plan, recipe, gpu, ar);
    t.forward_s[4]! += ar; // after the row-parallel o_proj
    t.forward_s[8]! += ar; // after the row-parallel down_proj
    t.backward_s[1]! += rt.qkvGrads * ar + rt.perLayer_s; // input gradient of the column-parallel q/k/v
    t.backward_s[5]! += rt.gateUpGrads * ar; // input gradient of the column-parallel gate/up
    t.forward_s[0]! += ar; // vocab-parallel embedding: partial lookups summed
    t.backward_s[9]! += ar; // input gradient of the column-parallel lm_head
    // vocab-parallel loss: max, sum-exp, target logit; and what the runtime adds once per model
    if (ar > 0) t.forward_s[9]! += 3 * tpSmallAllreduce_s(plan, gpu) + rt.fixed_s;
    const f = new Float64Array(n);
    const b = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      f[k] = t.forward_s[columnOfNode(k, n)]!;
      b[k] = t.backward_s[columnOfNode(k, n)]!;
    }
    let layer = 0;
    for (let c = 1; c <= 8; c++) layer += t.forward_s[c]! + t.backward_s[c]!;
    const arNote = ar > 0 ? `, +TP all-reduce ${(ar * 1e3).toFixed(3)} ms x${2 + rt.qkvGrads + rt.gateUpGrads}/layer (+embedding, lm_head, loss)` : '';
    perType.set(gpu, { f, b, layer, step: rt.step, source: t.source + arNote + rt.note });
  }
  const layerCost = (gpu: string) => {
    const x = perType.get(gpu);
    if (!x) throw new FasopError(`no ${plan.model.name} profile for GPU ${gpu} at TP ${plan.tp}`, 'add the profile file or remove the GPU type from --gpus');
    return x.layer;
  };
  const stageTypes = Array.from({ length: plan.pp }, (_, s) => stageGpuType(plan, s, layerCost));
  const vols = outputVolumeByColumn(plan.model, plan.mbs, plan.tp, { ffn: plan.model.intermediate_size, gqa: true });
  // Between stages the full hidden state travels (each TP rank holds it after the all-reduce);
  // a cut inside a layer sends that node's own output.
  const boundary_s: number[][] = [];
  for (let j = 0; j < plan.pp - 1; j++) {
    const link = boundaryLink(plan, j);
    boundary_s.push(vols.map((v) => linkTime_s(link, v * recipe.activationBytes)));
  }
  return {
    plan, recipe, n, m, stageTypes,
    forward_s: stageTypes.map((t) => perType.get(t)!.f),
    backward_s: stageTypes.map((t) => perType.get(t)!.b),
    boundary_s,
    tpRuntimeStep: stageTypes.map((t) => perType.get(t)!.step),
    sources: [...perType.values()].map((x) => x.source),
  };
}

/** The shared partition objective's problem for this plan (sound boundary pricing). */
export function partitionProblem(ctx: FasopContext): PartitionProblem {
  const nodeCost_s = ctx.forward_s.map((f, s) => Array.from(f, (x, k) => x + ctx.backward_s[s]![k]!));
  return {
    nodeCost_s,
    boundaryCost_s: (k, j) => ctx.boundary_s[j]![columnOfNode(k, ctx.n)]!,
    microBatches: ctx.m,
  };
}

/** Stage compute and sends of a partition (every boundary: forward send of j = backward send of j+1). */
export function stageTimes(ctx: FasopContext, sizes: readonly number[]) {
  const pp = sizes.length;
  const forward_s: number[] = [];
  const backward_s: number[] = [];
  const forwardSend_s = new Array<number>(pp).fill(0);
  const backwardSend_s = new Array<number>(pp).fill(0);
  let a = 0;
  for (let s = 0; s < pp; s++) {
    let f = 0;
    let b = 0;
    for (let k = a; k < a + sizes[s]!; k++) {
      f += ctx.forward_s[s]![k]!;
      b += ctx.backward_s[s]![k]!;
    }
    forward_s.push(f);
    backward_s.push(b);
    const last = a + sizes[s]! - 1;
    if (s < pp - 1) {
      const c = ctx.boundary_s[s]![columnOfNode(last, ctx.n)]!;
      forwardSend_s[s] = c;
      backwardSend_s[s + 1] = c;
    }
    a += sizes[s]!;
  }
  return { forward_s, backward_s, forwardSend_s, backwardSend_s };
}

/**
 * DP gradient all-reduce of each stage's own parameters over its own slowest ring: the time it adds to
 * the step. Policy dp-overlap (recipes whose DP runtime overlaps, e.g. PyTorch DDP's buckets): the
 * buckets all-reduce while the last micro-batch's backward still runs, except the last one (the
 * gradients produced last: the embedding's on stage 0, one bucket elsewhere); of the overlapped part
 * the GPU's measured exposed fraction still shows (profiler/overlap.py; 1 = no overlap where not
 * measured), and whatever outlasts the backward shows in full.
 */
function dpCosts(ctx: FasopContext, sizes: readonly number[], stageParams: number[], lastBackward_s: readonly number[]): number[] {
  const { plan } = ctx;
  if (plan.dp === 1) return sizes.map(() => 0);
  return sizes.map((_, s) => {
    const { link, gpu } = dpLink(ctx, s);
    const bytes = stageParams[s]! * ctx.recipe.gradBytes;
    const total = allreduceTime_s(link, bytes, plan.dp);
    const bucket = ctx.recipe.dpOverlapBucketBytes;
    if (!bucket) return total;
    const lastBytes = Math.min(bytes, s === 0 ? Math.max(embeddingGradBytes(ctx), bucket) : bucket);
    const last = allreduceTime_s(link, lastBytes, plan.dp);
    const rest = Math.max(0, total - last);
    const exposed = gpu.measured?.allreduceExposedFraction ?? 1;
    const window = lastBackward_s[s]!;
    return last + exposed * Math.min(rest, window) + Math.max(0, rest - window);
  });
}

/** Bytes of the embedding's gradient on one rank (vocab-parallel over tp). */
function embeddingGradBytes(ctx: FasopContext): number {
  const { model, tp } = ctx.plan;
  return ((model.vocab_size * model.hidden_size) / tp) * ctx.recipe.gradBytes;
}

/** The slowest ring of stage s's data-parallel groups, and the GPU type of the stage. */
function dpLink(ctx: FasopContext, s: number): { link: Link; gpu: GpuSpec } {
  const { plan } = ctx;
  let worst: Link | undefined;
  let worstTime = -1;
  for (let t = 0; t < plan.tp; t++) {
    for (let d = 0; d < plan.dp; d++) {
      const ra = rankOf(plan, s, d, t);
      const rb = rankOf(plan, s, (d + 1) % plan.dp, t);
      const na = nodeOfRank(plan, ra);
      const nb = nodeOfRank(plan, rb);
      const node = plan.nodes[na]!;
      const link = na === nb ? intraAllreduce(node.gpu, node.intraNode_bps, plan.dp, ctx.recipe.launch) : interNode(node, plan.nodes[nb]!, plan.tp);
      const time = allreduceTime_s(link, 64 * 2 ** 20, plan.dp);
      if (time > worstTime) { worstTime = time; worst = link; }
    }
  }
  return { link: worst!, gpu: stageGpu(ctx, s) };
}


/** Embedding/LM-head gradient sync: only when the embeddings are tied and live on two stages. */
function embeddingSync_s(ctx: FasopContext): number {
  const { plan } = ctx;
  if (!plan.model.tie_word_embeddings || plan.pp === 1) return 0;
  const ra = rankOf(plan, 0, 0, 0);
  const rb = rankOf(plan, plan.pp - 1, 0, 0);
  const na = nodeOfRank(plan, ra);
  const nb = nodeOfRank(plan, rb);
  const node = plan.nodes[na]!;
  const link = na === nb ? intraAllreduce(node.gpu, node.intraNode_bps, 2, ctx.recipe.launch) : interNode(node, plan.nodes[nb]!, plan.tp * plan.dp);
  const bytes = ((plan.model.hidden_size * plan.model.vocab_size) / plan.tp) * ctx.recipe.gradBytes;
  return allreduceTime_s(link, bytes, 2);
}

function minmaxSizes(ctx: FasopContext): number[] {
  // the original's greedy, on this model's stage times (compute + both sends)
  return minmaxPartition(ctx.n, ctx.plan.pp, (sz) => {
    const t = stageTimes(ctx, sz);
    return t.forward_s.map((f, s) => f + t.backward_s[s]! + t.forwardSend_s[s]! + t.backwardSend_s[s]!);
  });
}

/**
 * Candidate partitions. The exact methods optimise the 1F1B approximation (m−1)·max + Σ, which
 * ignores the per-stage gradient all-reduce and, at m = 1, the balance of stages; so the balanced
 * (minmax) partition is simulated beside it and the faster of the two is kept (policy
 * `simulated-candidates`, docs/estimator.md).
 */
async function candidatePartitions(ctx: FasopContext, solver: Solver | undefined): Promise<number[][]> {
  const { plan, n } = ctx;
  if (plan.fixedPartition) return [checkedFixedPartition(plan.fixedPartition, plan.pp, n).sizes];
  if (plan.partitionMethod === 'even') return [optimusEvenPartition(n, plan.model.num_layers, plan.pp, plan.tp).sizes];
  if (plan.partitionMethod === 'minmax') return [minmaxSizes(ctx)];
  if (!solver) throw new FasopError(`partition method '${plan.partitionMethod}' is not available`, 'use minmax, even or dp');
  const r = await solver(partitionProblem(ctx));
  return plan.pp > 1 ? [r.sizes, minmaxSizes(ctx)] : [r.sizes];
}

/** Bytes per second a memory-bound pass reaches on stage s's GPU (measured copy rate, else datasheet). */
function hbmBytesPerSecond(ctx: FasopContext, s: number): number {
  const gpu = stageGpu(ctx, s);
  const GBps = gpu.hbmMeasured_GBps ?? gpu.hbm_GBps;
  if (!GBps) throw new FasopError(`GPU ${gpu.name} has no hbm_GBps in the catalog`, 'add hbm_GBps (memory bandwidth, GB/s) to its catalog entry');
  return GBps * 1e9;
}

function stageGpu(ctx: FasopContext, s: number) {
  return ctx.plan.nodes.find((x) => x.gpu.name === ctx.stageTypes[s])!.gpu;
}

/**
 * Seconds of the optimizer step of a stage's parameters: measured per parameter for this recipe on
 * this GPU when the catalog has it (profiler/optimizer.py), else its HBM traffic counted per pass.
 */
function optimizerStep_s(ctx: FasopContext, s: number, params: number): number {
  const measured = stageGpu(ctx, s).measured?.optimizerStep_msPerGparam?.[ctx.recipe.optimizerMeasuredAs ?? ctx.recipe.name];
  if (measured !== undefined) return (params / 1e9) * measured * 1e-3;
  return (params * ctx.recipe.optimizerTrafficBytesPerParam) / hbmBytesPerSecond(ctx, s);
}

/** Seconds to add one micro-batch's weight gradients into the accumulated ones (measured, else 3 passes). */
function gradAccumulate_s(ctx: FasopContext, s: number, params: number): number {
  const measured = stageGpu(ctx, s).measured?.gradAccumulate_msPerGparam;
  if (measured !== undefined) return (params / 1e9) * measured * 1e-3;
  return (3 * ctx.recipe.gradBytes * params) / hbmBytesPerSecond(ctx, s);
}

interface Evaluation {
  sizes: number[];
  times: ReturnType<typeof stageTimes>;
  ends: number[];
  memory: ReturnType<typeof stageMemory>;
  dp: number[];
  opt: number[];
  emb: number;
  stepTime: number;
  /** per stage, when the recipe has host figures: CPU issue and GPU seconds of a micro-batch, floored or not */
  host?: { issue_s: number; gpu_s: number; bound: boolean; sensitive: boolean }[];
}

/** Simulate one partition: 1F1B, per-stage DP all-reduce and optimizer, embedding sync, memory. */
function evaluate(ctx: FasopContext, sizes: number[]): Evaluation {
  const { plan, recipe } = ctx;
  const times = stageTimes(ctx, sizes);
  const memory = stageMemory(plan.model, sizes, ctx.n, plan.mbs, plan.tp, plan.dp, ctx.m, recipe);
  const params = memory.map((x) => x.params);
  // gradient accumulation: every micro-batch after the first adds its weight gradients into the
  // accumulated ones (read, read, write: 3 × gradBytes per parameter, memory-bound)
  params.forEach((p, s) => {
    times.backward_s[s]! += ((ctx.m - 1) / ctx.m) * gradAccumulate_s(ctx, s, p);
  });
  // policy host-issue-floor: a stage cannot run micro-batches faster than its CPU issues them. The
  // CPU runs ahead of the GPU (no synchronisation inside a step), so the floor applies to a
  // micro-batch's forward and backward together: when issuing both takes longer than running both,
  // both stretch by the same factor
  const shares = layerSharesPerStage(sizes);
  const last = sizes.length - 1;
  const issue = hostIssuePerMicroBatch_s(ctx, shares);
  const host = issue && sizes.map((_, s) => {
    const gpu_s = times.forward_s[s]! + times.backward_s[s]!;
    const issue_s = issue.forward[s]! + issue.backward[s]!;
    const bound = issue_s > gpu_s;
    const sensitive = issue_s * ctx.recipe.hostIssue!.hostSpreadFactor > gpu_s;
    if (bound && gpu_s > 0) {
      times.forward_s[s] = times.forward_s[s]! * (issue_s / gpu_s);
      times.backward_s[s] = times.backward_s[s]! * (issue_s / gpu_s);
    }
    return { issue_s, gpu_s, bound, sensitive };
  });
  const ends = sizes.length === 1
    ? [ctx.m * (times.forward_s[0]! + times.backward_s[0]!)]
    : simulate1F1B(times, ctx.m, { stage0SkipsOwnSend: false });
  const dp = dpCosts(ctx, sizes, params, times.backward_s);
  const opt = params.map((p, s) => optimizerStep_s(ctx, s, p)
    + ctx.tpRuntimeStep[s]!.perLayer_s * shares[s]! + (s === last ? ctx.tpRuntimeStep[s]!.fixed_s : 0));
  const emb = embeddingSync_s(ctx);
  const stepTime = Math.max(...ends.map((e, s) => e + dp[s]! + opt[s]!)) + emb;
  return { sizes, times, ends, memory, dp, opt, emb, stepTime, host };
}

/**
 * CPU seconds to issue one micro-batch's forward and its backward on each stage, when the recipe
 * has measured host figures (policy `host-issue-floor`): its layers (a cut layer by its share),
 * plus the fixed model-level work on the last stage (its final norm, lm_head and loss are most of it).
 */
function hostIssuePerMicroBatch_s(ctx: FasopContext, layers: readonly number[]): { forward: number[]; backward: number[] } | undefined {
  const h = ctx.recipe.hostIssue;
  if (!h) return undefined;
  const f = ctx.plan.tp > 1 ? h.tpN : ctx.plan.dp > 1 && h.tp1Ddp ? h.tp1Ddp : h.tp1;
  const fixed = (s: number, ms: number) => (s === layers.length - 1 ? ms : 0);
  return {
    forward: layers.map((l, s) => (l * f.forwardPerLayer_ms + fixed(s, f.forwardFixed_ms)) * 1e-3),
    backward: layers.map((l, s) => (l * f.backwardPerLayer_ms + fixed(s, f.backwardFixed_ms)) * 1e-3),
  };
}

export async function estimateFasop(plan: ResolvedPlan, opts: { recipe?: TrainingRecipe; solver?: Solver } = {}): Promise<Estimate> {
  const recipe = opts.recipe ?? plan.recipe ?? RECIPES['megatron-mixed']!;
  const ctx = fasopContext(plan, recipe);
  const candidates = (await candidatePartitions(ctx, opts.solver)).map((sz) => evaluate(ctx, sz));
  const best = candidates.reduce((a, b) => (b.stepTime < a.stepTime ? b : a));
  const { sizes, times, ends, memory, dp, opt, emb, stepTime, host } = best;
  const partitionLayers = layersPerStage(sizes);

  const limits = sizes.map((_, s) => Math.min(...stageNodeIndices(plan, s).map((i) => plan.nodes[i]!.gpu.memoryLimit_GiB)));
  const mem = memory.map((x) => x.total_GiB);
  const isOom = mem.some((x, s) => x > limits[s]!);
  const stages: StageBreakdown[] = sizes.map((size, s) => ({
    gpu: ctx.stageTypes[s]!,
    nodes: size,
    compute_s: times.forward_s[s]! + times.backward_s[s]!,
    forwardSend_s: times.forwardSend_s[s]!,
    backwardSend_s: times.backwardSend_s[s]!,
    stageTime_s: times.forward_s[s]! + times.backward_s[s]! + times.forwardSend_s[s]! + times.backwardSend_s[s]!,
    end_s: ends[s]!,
    dpAllreduce_s: dp[s]!,
    optimizerStep_s: opt[s]!,
    memory_GiB: mem[s]!,
    memoryLimit_GiB: limits[s]!,
  }));
  host?.forEach((x, s) => { stages[s]!.hostIssue_s = x.issue_s; });
  const hostBound = host?.some((x) => x.bound);
  const hostSensitive = host?.some((x) => x.sensitive);
  const worst = host?.reduce((a, x) => (x.issue_s / x.gpu_s > a.issue_s / a.gpu_s ? x : a));
  const spread = recipe.hostIssue?.hostSpreadFactor ?? 1;
  const hostNote = !worst || !hostSensitive ? ''
    : `; HOST-${hostBound ? 'BOUND' : 'SENSITIVE'}: issuing a micro-batch takes the CPU ${(worst.issue_s * 1e3).toFixed(1)} ms, its GPU work ${(worst.gpu_s * 1e3).toFixed(1)} ms (stage ${host!.indexOf(worst)}); ${hostBound
      ? `the step time uses the CPU's, and hosts of this kind were seen up to ${spread}x slower`
      : `on a host up to ${spread}x slower (seen on hosts of this kind) the CPU would set the pace`} (CPU issue figures: ${recipe.hostIssue!.source})`;
  const pricePerStep = plan.pricePerSecond_usd * stepTime;
  return {
    partition: sizes,
    partitionLayers,
    stepTime_s: stepTime,
    throughput: stepTime > 0 ? plan.gbs / stepTime : 0,
    pricePerStep_usd: pricePerStep,
    isOom,
    oomGpumem_GiB: Math.max(...mem),
    iterations: plan.iterations,
    totalTime_s: stepTime * plan.iterations,
    totalTime_h: (stepTime * plan.iterations) / 3600,
    cost_usd: pricePerStep * plan.iterations,
    breakdown: { microBatches: ctx.m, stages, pipeline_s: Math.max(...ends), embeddingSync_s: emb, costSource: `${ctx.sources.join('; ')}; recipe ${recipe.name}${hostNote}`, hostBound, hostSensitive },
  };
}
