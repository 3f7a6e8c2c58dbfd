/**
 * The corrected memory model, in bytes: model state per parameter from the training recipe,
 * activations saved for backward per node (GQA, the real FFN width, SDPA/flash attention), the
 * logits on the last stage, and 1F1B's in-flight micro-batches per stage (min(pp − s, m)).
 */
import type { ModelSpec } from '../catalog/schema.js';
import { COL, FIRST_LAYER_COL, columnOfNode, headDim, layerSharesPerStage, paramsByColumn } from '../model/graph.js';
import { PLAIN_EXECUTION, shardDegree, type DpSharding, type Execution } from './execution.js';
import { opKeptBytesPerColumn } from './op-checkpoint.js';
import type { TrainingRecipe } from './recipe.js';
import { idOf, TupleCache } from './keyed-cache.js';

/**
 * Parameters per node column on one TP rank (GQA and the real FFN width); GPT-2's MLP has two
 * matrices (no up projection) and its learned positions sit with the token embedding, replicated.
 */
export function paramsPerColumn(model: ModelSpec, tp: number): number[] {
  const p = paramsByColumn(model, tp, model.intermediate_size, false);
  if (model.qkv_bias) {
    p[COL.attn_q] += model.hidden_size / tp;
    p[COL.attn_k] += (model.num_key_value_heads * headDim(model)) / tp;
    p[COL.attn_v] += (model.num_key_value_heads * headDim(model)) / tp;
  }
  if (model.architecture === 'gpt2') {
    p[COL.mlp_up] = 0;
    p[COL.embed] += (model.max_position_embeddings ?? model.seq_length) * model.hidden_size;
  }
  return p;
}

/**
 * Bytes of activations one micro-batch of b sequences leaves saved for backward, per node column
 * (what autograd keeps, counted tensor by tensor in the harness's allocator traces):
 * embed 0 (indices only); q: the first RMSNorm's saved tensors (recipe.normSavedBytes per element)
 * and output, and the roped q; k, v: roped k and v (kv heads); o: the attention output
 * (recipe.attentionOutputCopies) and the softmax log-sum-exp (fp32); gate: the second RMSNorm's
 * saved tensors and output, and the gate output; act: SiLU output; up: up output; down: the product
 * fed to down (GPT-2: gate holds the first MLP matrix's output, act the GELU's, up and down none);
 * lm_head: the final norm's saved tensors and output, and the logits at the loss's
 * peak (recipe.lossPeakBytesPerLogit, or the vocab-parallel figure when tp > 1).
 */
export function activationBytesPerColumn(model: ModelSpec, b: number, tp: number, recipe: TrainingRecipe, sequenceParallel = false): number[] {
  const { hidden_size: h, seq_length: s, intermediate_size: f } = model;
  const e = recipe.activationBytes;
  const tokens = b * s;
  const kvd = model.num_key_value_heads * headDim(model);
  const heads = model.num_attention_heads / tp;
  const gpt2 = model.architecture === 'gpt2';
  // LayerNorm (GPT-2) saves its bf16 input only; sequence parallelism splits the norms' tensors over
  // the TP ranks (Korthikanti et al. 2022, §4.2.2)
  const norm = (tokens * h * ((gpt2 ? e : recipe.normSavedBytes) + e)) / (sequenceParallel ? tp : 1);
  return [
    0,
    norm + (tokens * e * h) / tp,
    (tokens * e * kvd) / tp,
    (tokens * e * kvd) / tp,
    (tokens * e * recipe.attentionOutputCopies * h) / tp + attentionSavedBytes(b, heads, s, recipe),
    norm + (tokens * e * f) / tp,
    (tokens * e * f) / tp,
    // GPT-2's MLP keeps two FFN-wide tensors (the first matrix's output, the GELU's), SwiGLU four
    gpt2 ? 0 : (tokens * e * f) / tp,
    gpt2 ? 0 : (tokens * e * f) / tp,
    norm + lossPeakLogitBytes(model, b, tp, recipe),
  ];
}

/** What the attention core keeps for backward beyond its output: flash's fp32 log-sum-exp per query, or an unfused attention's scores. */
function attentionSavedBytes(b: number, heads: number, s: number, recipe: TrainingRecipe): number {
  return recipe.unfusedAttention ? recipe.unfusedAttention.savedBytesPerScore * b * heads * s * s : 4 * b * heads * s;
}

/** Bytes of the one score-sized buffer an unfused attention writes QKᵀ into, per GPU (0 with flash). */
export function attentionBufferBytes(model: ModelSpec, b: number, tp: number, recipe: TrainingRecipe): number {
  const u = recipe.unfusedAttention;
  return u ? (u.bufferBytesPerScore * b * model.num_attention_heads * model.seq_length * model.seq_length) / tp : 0;
}

/**
 * Bytes of one micro-batch's logits at the loss's peak (its backward), per TP rank: b·s·vocab/tp
 * logits × recipe.lossPeakBytesPerLogit (tp = 1) or the vocab-parallel figure (tp > 1).
 */
export function lossPeakLogitBytes(model: ModelSpec, b: number, tp: number, recipe: TrainingRecipe): number {
  const lossPerLogit = tp > 1 ? recipe.vocabParallelLossPeakBytesPerLogit : recipe.lossPeakBytesPerLogit;
  return (b * model.seq_length * model.vocab_size * lossPerLogit) / tp;
}

/**
 * One stage's memory per GPU by part, in bytes. At the stage's peak the GPU holds the state (weights,
 * grads, master, optimizer, buffers, gradBuckets) plus the larger of two moments: the in-flight peak
 * (activations, recomputeBuffer, ringBuffers, logits, gradsNotYetAllocated) or the optimizer step
 * (transient); `peakMoment` says which (in-flight when they tie).
 */
export interface MemoryParts {
  weights: number;
  /** gradients (with a TP runtime's extra gradient-sized vocab table) */
  grads: number;
  master: number;
  optimizer: number;
  /** all-gather buffers of sharded parameters (FSDP: the layer in use and the one prefetched) */
  buffers: number;
  /** DDP's gradient buckets, held beside the accumulated gradients when it accumulates over micro-batches */
  gradBuckets: number;
  /** saved for backward by the micro-batches in flight (decoder layers, embedding, final norm; not the logits) */
  activations: number;
  /** full recompute: one layer's activations while it is recomputed */
  recomputeBuffer: number;
  /** context parallelism: one layer's ring buffers (ringBufferBytes); an unfused attention's score buffer (attentionBufferBytes) */
  ringBuffers: number;
  /** last stage: the logits at the loss's peak for the micro-batches in flight, and the pipeline's retained outputs */
  logits: number;
  /** ≤ 0: gradients the first backward allocates, not yet held when the in-flight peak comes first */
  gradsNotYetAllocated: number;
  /** the optimizer step's temporaries (they peak apart from activations) */
  transient: number;
}

/** The parts held at every moment (the model state and its communication buffers). */
export const STATE_PARTS = ['weights', 'grads', 'master', 'optimizer', 'buffers', 'gradBuckets'] as const;
/** The parts of the in-flight peak (the forwards before the first backward, or the pipeline's end). */
export const IN_FLIGHT_PARTS = ['activations', 'recomputeBuffer', 'ringBuffers', 'logits', 'gradsNotYetAllocated'] as const;

/** Which moment sets a stage's peak: the in-flight activations, or the optimizer step's temporaries. */
export function peakMoment(p: Readonly<MemoryParts>): 'in-flight' | 'optimizer-step' {
  return p.transient > IN_FLIGHT_PARTS.reduce((a, k) => a + p[k], 0) ? 'optimizer-step' : 'in-flight';
}

/** The peak the parts add up to: state + the larger of the in-flight peak and the optimizer step. */
export function partsTotal(p: Readonly<MemoryParts>): number {
  const state = STATE_PARTS.reduce((a, k) => a + p[k], 0);
  return state + Math.max(IN_FLIGHT_PARTS.reduce((a, k) => a + p[k], 0), p.transient);
}

/**
 * Micro-batches whose activations stage s of pp holds at its peak, in whole-stage units: 1F1B runs
 * pp − s forwards before its first backward, then keeps that many in flight (at most m); interleaved
 * (v > 1), Megatron's warm-up count of chunk-micro-batches, 2(pp − s − 1) + (v − 1)·pp + 1 (at most
 * m·v), each 1/v of the stage.
 */
export function inFlightMicroBatches(pp: number, s: number, m: number, v: number): number {
  return v > 1 ? Math.min(m * v, 2 * (pp - s - 1) + (v - 1) * pp + 1) / v : Math.min(pp - s, m);
}

export interface StageMemory {
  params: number;
  stateBytes: number;
  activationBytes: number;
  transientBytes: number;
  total_GiB: number;
  parts: MemoryParts;
}

/**
 * Bytes a context-parallel rank's ring attention holds beside the saved activations while one layer's
 * attention runs (Transformer Engine's P2P ring): forward, the cp − 1 K/V chunks received and each
 * step's output and log-sum-exp (fp32) until they are combined; backward, two buffers of K, V, dK, dV
 * (one in use, one in flight). The larger of the two; 0 without context parallelism.
 */
export function ringBufferBytes(model: ModelSpec, b: number, tp: number, cp: number, recipe: TrainingRecipe): number {
  if (cp <= 1) return 0;
  const local = model.seq_length / cp;
  const kvChunk = 2 * b * local * Math.max(1, model.num_key_value_heads / tp) * headDim(model) * recipe.activationBytes;
  const heads = model.num_attention_heads / tp;
  const stepOutput = b * local * heads * headDim(model) * recipe.activationBytes + 4 * b * heads * local;
  return Math.max((cp - 1) * kvChunk + cp * stepOutput, 4 * kvChunk);
}

/**
 * Peak bytes per stage: state + in-flight activations (+ the optimizer's transient buffers), under
 * the plan's execution. Sharding divides the state by the shard degree (ZeRO, Rajbhandari et al.
 * 2020: optimizer states and master weights; then gradients; then weights, which FSDP gathers a layer
 * at a time; over dp·cp ranks with context parallelism); context parallelism divides the sequence of
 * every saved tensor (the logits too: each rank takes the loss of its own tokens) and adds the ring's
 * buffers of one layer (ringBufferBytes); full recompute keeps each recomputed layer's
 * input only, plus one layer's activations while it is recomputed (on the last stage of a plain
 * 1F1B, in place of the loss's logits, which are freed by then); recompute 'op' keeps what its policy
 * keeps (op-checkpoint.ts), plus the rest of one block while it is recomputed; selective recompute keeps the same
 * bytes here, since the attention kernels (flash/SDPA) save no s×s scores to drop; interleaving holds
 * Megatron's warm-up count of model chunks, 2(pp−s−1) + (v−1)·pp + 1, each 1/v of the stage, but the
 * head (final norm, logits) of one micro-batch only: its chunk runs each backward right after its forward.
 */
export function stageMemory(model: ModelSpec, sizes: readonly number[], n: number, b: number, tp: number, dp: number, m: number, recipe: TrainingRecipe, exec: Execution = PLAIN_EXECUTION): StageMemory[] {
  return stageMemoryInto(model, sizes, n, b, tp, dp, m, recipe, exec, true, [], [])!;
}

/** stageMemory's peak GiB and parameters per stage only (no parts built): what timing a plan needs. */
export function stageTotals(model: ModelSpec, sizes: readonly number[], n: number, b: number, tp: number, dp: number, m: number, recipe: TrainingRecipe, exec: Execution = PLAIN_EXECUTION): { total_GiB: number[]; params: number[] } {
  const total_GiB: number[] = [];
  const params: number[] = [];
  stageMemoryInto(model, sizes, n, b, tp, dp, m, recipe, exec, false, total_GiB, params);
  return { total_GiB, params };
}

interface Columns {
  params: readonly number[];
  cpModel: ModelSpec;
  acts: number[];
  /** recompute 'op': between a block's forward and backward only what the policy keeps */
  kept: number[] | undefined;
  layerInput: number;
  layerActs: number;
  layerKept: number;
  layerParams: number;
  /** what a stage keeps of each column per micro-batch */
  savedPerColumn: number[];
  /** whole numbers sum exactly in any order: then each column's count times its value */
  byCount: boolean;
}

const columnsCache = new TupleCache<ModelSpec, Columns>();

/** The per-column parameters and activation bytes stageMemory sums, once per (model, micro-batch, tp, recipe, SP, cp, op). Shared. */
function columnsOf(model: ModelSpec, b: number, tp: number, recipe: TrainingRecipe, exec: Execution): Columns {
  const op = exec.recompute === 'op';
  const key = [b, tp, idOf(recipe), exec.sequenceParallel ? 1 : 0, exec.cp, op ? 1 : 0];
  const hit = columnsCache.get(model, key);
  if (hit) return hit;
  const params = sharedParamsPerColumn(model, tp);
  const cpModel = exec.cp > 1 ? { ...model, seq_length: model.seq_length / exec.cp } : model;
  const acts = activationBytesPerColumn(cpModel, b, tp, recipe, exec.sequenceParallel);
  const kept = op ? opKeptBytesPerColumn(cpModel, b, tp, recipe, exec.sequenceParallel) : undefined;
  const layerInput = (b * cpModel.seq_length * model.hidden_size * recipe.activationBytes) / (exec.sequenceParallel ? tp : 1);
  let layerActs = 0;
  let layerKept = 0;
  let layerParams = 0;
  for (let c = 1; c <= 8; c++) { layerActs += acts[c]!; layerKept += kept ? kept[c]! : 0; layerParams += params[c]!; }
  const savedPerColumn = kept ? acts.map((x, c) => (c === COL.embed || c === COL.lm_head ? x : kept[c]!)) : acts;
  const byCount = params.every(Number.isInteger) && savedPerColumn.every(Number.isInteger);
  return columnsCache.set(model, key, { params, cpModel, acts, kept, layerInput, layerActs, layerKept, layerParams, savedPerColumn, byCount });
}

/** The state per parameter by part under an execution's sharding (FSDP's own where the recipe has one). */
export function stateSplitOf(recipe: TrainingRecipe, exec: Execution, Z: number): TrainingRecipe['stateSplit'] {
  return exec.dpSharding === 'parameters' && Z > 1 && recipe.fsdpStateSplit ? recipe.fsdpStateSplit : recipe.stateSplit;
}

/** What each sharding level divides by the shard degree Z: each part's divisor (the master weights and optimizer states share one). */
export function stateDivisors(sharded: DpSharding, Z: number): TrainingRecipe['stateSplit'] {
  return {
    weights: sharded === 'parameters' ? Z : 1,
    grads: sharded === 'gradients' || sharded === 'parameters' ? Z : 1,
    master: sharded === 'none' ? 1 : Z,
    optimizer: sharded === 'none' ? 1 : Z,
  };
}

/** Bytes per parameter of DDP's gradient buckets beside the accumulated gradients (unsharded gradients, several micro-batches). */
export function extraGradBytesPerParam(recipe: TrainingRecipe, exec: Execution, reduceGroup: number, m: number): number {
  const unsharded = exec.dpSharding === 'none' || exec.dpSharding === 'optimizer';
  return unsharded && reduceGroup > 1 && m > 1 ? recipe.gradBytes * recipe.dpExtraGradCopiesWhenAccumulating : 0;
}

/**
 * Peak GiB of each stage s of pp holding operators [starts[s], starts[s] + sizes[s]), the stages
 * apart: a stage's memory depends on its own operators and its position only, so the ranges need
 * not tile the graph (memory-caps.ts sizes every stage at once this way).
 */
export function stageTotalsOfRanges(model: ModelSpec, starts: readonly number[], sizes: readonly number[], n: number, b: number, tp: number, dp: number, m: number, recipe: TrainingRecipe, exec: Execution = PLAIN_EXECUTION): number[] {
  const total_GiB: number[] = [];
  stageMemoryInto(model, sizes, n, b, tp, dp, m, recipe, exec, false, total_GiB, [], starts);
  return total_GiB;
}

function stageMemoryInto(model: ModelSpec, sizes: readonly number[], n: number, b: number, tp: number, dp: number, m: number, recipe: TrainingRecipe, exec: Execution,
  withParts: boolean, totals: number[], stageParams: number[], rangeStarts?: readonly number[]): StageMemory[] | undefined {
  const { params, cpModel, acts, kept, layerInput, layerActs, layerKept, layerParams, savedPerColumn, byCount } = columnsOf(model, b, tp, recipe, exec);
  const Z = shardDegree(exec, dp);
  // the gradients are reduced over the data-parallel and context-parallel ranks together
  const reduceGroup = dp * exec.cp;
  const ringBuffer = ringBufferBytes(model, b, tp, exec.cp, recipe) + attentionBufferBytes(cpModel, b, tp, recipe);
  const split = stateSplitOf(recipe, exec, Z);
  const divisor = stateDivisors(exec.dpSharding, Z);
  const pp = sizes.length;
  const v = exec.virtualStages;
  const layers = layerSharesPerStage(sizes);
  const out: StageMemory[] | undefined = withParts ? [] : undefined;
  let a = 0;
  // a plain loop: this runs for every stage of every plan timed
  for (let s = 0; s < pp; s++) {
    const size = sizes[s]!;
    if (rangeStarts) a = rangeStarts[s]!;
    let P = 0;
    let A = 0;
    if (byCount) {
      P = rangeSum(params, a, size, n);
      A = rangeSum(savedPerColumn, a, size, n);
    } else {
      for (let k = a; k < a + size; k++) {
        const c = columnOfNode(k, n);
        P += params[c]!;
        A += savedPerColumn[c]!;
      }
    }
    // the last stage's head (final norm, logits at the loss's peak): the lm_head column's activations
    const headBytes = a + size === n ? acts[COL.lm_head]! : 0;
    const logitsPerMicroBatch = a + size === n ? lossPeakLogitBytes(cpModel, b, tp, recipe) : 0;
    // embeddings tied to the lm_head hold one copy when both sit on the same stage
    P -= tiedHeadCopy(model, params, a, size, n);
    let recomputeBuffer = 0;
    if (exec.recompute === 'full') {
      const recomputed = Math.min(layers[s]!, exec.recomputeLayers ?? layers[s]!);
      A -= recomputed * (layerActs - layerInput);
      recomputeBuffer = recomputed > 0 ? layerActs : 0;
    } else if (kept && layers[s]! > 0) recomputeBuffer = layerActs - layerKept; // the block being recomputed: what it did not keep
    // plain 1F1B runs the last stage's backward right after its forward: the loss's logits are freed
    // before the first layer is recomputed, so the peak holds the larger of the two, not both
    if (recomputeBuffer > 0 && logitsPerMicroBatch > 0 && v === 1) recomputeBuffer = Math.max(0, recomputeBuffer - logitsPerMicroBatch);
    const inFlight = inFlightMicroBatches(pp, s, m, v);
    // the head sits in the last model chunk, whose micro-batch runs its backward right after its
    // forward on the last stage (interleaved too): one micro-batch's head at a time
    // the TP runtime's own gradient-sized copy of a local vocab table (DTensor), from the first backward on
    const runtimeGradBytes = tp > 1 && a === 0 ? ((recipe.tpVocabGradExtraCopies ?? 0) * model.vocab_size * model.hidden_size * recipe.gradBytes) / tp : 0;
    const gradBytes = P * recipe.gradBytes + runtimeGradBytes;
    const sharded = exec.dpSharding;
    const extraGrads = P * extraGradBytesPerParam(recipe, exec, reduceGroup, m);
    // the in-flight peak comes before any backward (no gradients yet) unless a later forward
    // reaches it again; DDP keeps its gradient buckets for the whole run
    const gradsAtActivationPeak = !recipe.gradsAllocatedByFirstBackward || reduceGroup > 1 || m > pp - s;
    const logitsBytes = (b * cpModel.seq_length * model.vocab_size * recipe.retainedOutputBytes) / tp;
    const layerBuffer = layers[s]! > 0 ? ringBuffer : 0;
    const weights = (P * split.weights) / divisor.weights;
    const grads = (P * split.grads) / divisor.grads + runtimeGradBytes;
    const master = (P * split.master) / divisor.master;
    const optimizer = (P * split.optimizer) / divisor.optimizer;
    // two units' gathered parameters in the compute precision (the recipe's weights)
    const buffers = sharded === 'parameters' && Z > 1 ? 2 * layerParams * recipe.stateSplit.weights : 0;
    const transientBytes = (P * recipe.optimizerTransientBytesPerParam) / (sharded === 'none' ? 1 : Z);
    // unsharded: the recipe's total per parameter, summed as one product
    const stateBytes = sharded === 'none' ? P * recipe.stateBytesPerParam + runtimeGradBytes + extraGrads
      : weights + (grads + extraGrads) + master + optimizer + buffers;
    let activationBytes = A * inFlight + headBytes * (1 - inFlight) + recomputeBuffer + layerBuffer - (gradsAtActivationPeak ? 0 : gradBytes);
    const parts: MemoryParts | undefined = withParts ? {
      weights, grads, master, optimizer, buffers,
      gradBuckets: extraGrads,
      activations: (A - headBytes) * inFlight + (headBytes - logitsPerMicroBatch),
      recomputeBuffer,
      ringBuffers: layerBuffer,
      logits: logitsPerMicroBatch,
      gradsNotYetAllocated: gradsAtActivationPeak ? 0 : -gradBytes,
      transient: transientBytes,
    } : undefined;
    if (pp > 1 && s === pp - 1 && recipe.pipelineRetainsOutputs) {
      // the outputs of the micro-batches already done while the last one runs, and at the step's
      // end all m outputs plus their concatenation (activations freed by then)
      const whileLastRuns = activationBytes + (m - 1) * logitsBytes;
      const atEnd = 2 * m * logitsBytes;
      activationBytes = Math.max(whileLastRuns, atEnd);
      if (parts && whileLastRuns >= atEnd) parts.logits += (m - 1) * logitsBytes;
      else if (parts) Object.assign(parts, { activations: 0, recomputeBuffer: 0, ringBuffers: 0, logits: atEnd, gradsNotYetAllocated: 0 });
    }
    const total_GiB = (stateBytes + Math.max(activationBytes, transientBytes)) / 2 ** 30;
    stageParams[s] = P;
    totals[s] = total_GiB;
    if (out) out.push({ params: P, stateBytes, activationBytes, transientBytes, total_GiB, parts: parts! });
    a += size;
  }
  return out;
}

/** Σ of a per-column vector over nodes [a, a + size) of an n-node graph: each column's count times its value. */
function rangeSum(byColumn: readonly number[], a: number, size: number, n: number): number {
  if (size <= 0) return 0;
  const end = a + size;
  let acc = 0;
  if (a === 0) acc += byColumn[COL.embed]!;
  if (end === n) acc += byColumn[COL.lm_head]!;
  // decoder nodes k in [lo, hi): node k is column FIRST_LAYER_COL + (k − 1) mod 8
  const lo = Math.max(a, 1) - 1;
  const hi = Math.min(end, n - 1) - 1;
  if (hi <= lo) return acc;
  for (let j = 0; j < 8; j++) {
    const count = Math.floor((hi - 1 - j) / 8) - Math.floor((lo - 1 - j) / 8);
    if (count > 0) acc += count * byColumn[FIRST_LAYER_COL + j]!;
  }
  return acc;
}

/** Parameters on one GPU of the stage of operators [a, a + size) (one copy of tied embeddings when it holds both ends), as stageMemory counts them. */
export function stageParamCount(model: ModelSpec, tp: number, a: number, size: number, n: number): number {
  const params = sharedParamsPerColumn(model, tp);
  return rangeSum(params, a, size, n) - tiedHeadCopy(model, params, a, size, n);
}

/** Embeddings tied to the lm_head hold one copy when both sit on the stage of operators [a, a + size): the head's parameters to leave out. */
function tiedHeadCopy(model: ModelSpec, params: readonly number[], a: number, size: number, n: number): number {
  return model.tie_word_embeddings && a === 0 && a + size === n ? params[COL.lm_head]! : 0;
}

const paramsCache = new TupleCache<ModelSpec, readonly number[]>();

/** paramsPerColumn once per (model, tp). Shared: callers must not change it. */
export function sharedParamsPerColumn(model: ModelSpec, tp: number): readonly number[] {
  const key = [tp];
  return paramsCache.get(model, key) ?? paramsCache.set(model, key, paramsPerColumn(model, tp));
}
