/**
 * How the model is trained, as far as time and memory are concerned. The estimator takes it as an
 * input (no defaults hidden in the math).
 */
import type { HostIssueFigures } from '../profiles/host-issue.js';

export type { HostIssueFigures } from '../profiles/host-issue.js';

export interface TrainingRecipe {
  name: string;
  /**
   * How the runtime issues GPU work: 'eager' (PyTorch launches kernel by kernel; operator and link
   * figures measured that way, host-issue floor where measured) or 'cuda-graph' (a whole training step
   * captured and replayed: operator profiles and NCCL links measured as captured replays, no host floor).
   */
  launch: 'eager' | 'cuda-graph';
  /** bytes of model state per parameter on a GPU: weights + gradients + optimizer states */
  stateBytesPerParam: number;
  /** stateBytesPerParam by part (they sum to it): what each level of data-parallel sharding divides */
  stateSplit: { weights: number; grads: number; master: number; optimizer: number };
  /**
   * The state per parameter under sharded parameters (FSDP) where the runtime keeps other tensors
   * than stateSplit's (each divided by the shard degree); undefined: stateSplit's
   */
  fsdpStateSplit?: { weights: number; grads: number; master: number; optimizer: number };
  /** bytes per gradient element in the data-parallel all-reduce */
  gradBytes: number;
  /** bytes per activation element (bf16: 2) */
  activationBytes: number;
  /** the catalog's measured optimizer step to use (measured.optimizerStep_msPerGparam key), when not the recipe's own name */
  optimizerMeasuredAs?: string;
  /** bytes the optimizer step reads and writes per parameter (a memory-bound pass over HBM) */
  optimizerTrafficBytesPerParam: number;
  /** extra bytes per parameter allocated while the optimizer step runs (multi-tensor temporaries) */
  optimizerTransientBytesPerParam: number;
  /**
   * Bytes each RMSNorm keeps per hidden element for backward besides its output. HF's eager
   * LlamaRMSNorm upcasts: an fp32 copy of the input (4) and the normalised bf16 tensor (2) = 6; a
   * norm that keeps only its input keeps `activationBytes` (2).
   */
  normSavedBytes: number;
  /**
   * Copies of the attention output kept for backward: 1 when the projection reads the attention
   * kernel's output in place (flash/SDPA output layout makes HF's transpose+contiguous a no-op), 2
   * when a contiguous copy is made.
   */
  attentionOutputCopies: number;
  /**
   * Bytes per logit alive at the loss's peak (its backward), with the plain cross-entropy over
   * fp32-upcast logits (tp = 1 here): the bf16 logits, the fp32 log-softmax output, its gradient and
   * the input gradient (2 + 4 + 4 + 4 = 14).
   */
  lossPeakBytesPerLogit: number;
  /** the same with the vocab-parallel cross-entropy of tp > 1 (bf16 logits, fp32 copy, shifted fp32: 10) */
  vocabParallelLossPeakBytesPerLogit: number;
  /**
   * An unfused attention (scores materialised: Megatron-LM's `--transformer-impl local` without flash
   * attention) instead of the flash/SDPA kernel the operator profiles time; undefined: flash.
   */
  unfusedAttention?: UnfusedAttention;
  /**
   * Gradients are freed by zero_grad(set_to_none) and allocated again by the step's first backward
   * (no persistent gradient buffer): forwards that run before any backward see the state without them.
   */
  gradsAllocatedByFirstBackward: boolean;
  /**
   * The pipeline runtime keeps every micro-batch's last-stage output until the step ends and then
   * concatenates them (torch.distributed.pipelining's schedules with return_outputs=True).
   */
  pipelineRetainsOutputs: boolean;
  /** bytes kept per logit of each micro-batch when pipelineRetainsOutputs (the bf16 logits: 2) */
  retainedOutputBytes: number;
  /**
   * Extra gradient-sized buffers when data parallelism accumulates over several micro-batches
   * (PyTorch DDP under no_sync: its buckets are separate from the accumulated .grad tensors). Only
   * where gradients are not sharded: ZeRO-2 and FSDP reduce-scatter each micro-batch's gradients
   * into their shards, with no bucket of the whole stage's gradients.
   */
  dpExtraGradCopiesWhenAccumulating: number;
  /**
   * Policy dp-overlap: the data-parallel runtime all-reduces gradient buckets of about this many bytes
   * while the backward still runs (PyTorch DDP: 25 MiB); undefined: the all-reduce starts after it.
   */
  dpOverlapBucketBytes?: number;
  /**
   * Policy tp-runtime: how tensor parallelism runs. 'megatron-style' (undefined: the default): one
   * all-reduce of the input gradient per column-parallel block (q/k/v together, gate/up together) and
   * Megatron's vocab-parallel cross-entropy. 'dtensor': PyTorch DTensor `parallelize_module` with a
   * ColwiseParallel on each of q, k, v, gate and up, which all-reduces each one's input gradient on its
   * own (5 per layer in backward instead of 2; seen in the kernel traces), and `loss_parallel`, whose
   * cross-entropy makes more fp32 passes over the local logits (measured per GPU by
   * profiler/loss_parallel.py: catalog `measured.dtensorLossExtra_msPerGlogit`; where not measured,
   * `dtensorLossExtraTrafficBytesPerLogit` of HBM traffic per local logit).
   */
  tpRuntime?: 'megatron-style' | 'dtensor';
  /**
   * tpRuntime 'dtensor': gradient-sized copies of one local vocab table (vocab/tp × hidden) that the
   * runtime holds beside the gradients, from the first backward until zero_grad (allocator traces of
   * eager DTensor tp 2 against the Megatron-style TP: one bf16 table more after every backward;
   * docs/accuracy.md). Charged to the stage holding the embedding (the runs are pp = 1).
   */
  tpVocabGradExtraCopies?: number;
  /** tpRuntime 'dtensor': HBM bytes per local logit that loss_parallel moves beyond Megatron's cross-entropy, for GPUs without a measurement */
  dtensorLossExtraTrafficBytesPerLogit?: number;
  /**
   * The launcher pads the vocabulary to a multiple of this × tp (Megatron-LM's
   * --make-vocab-size-divisible-by, 128); 1: as the model's config says (Hugging Face models), so an
   * odd vocabulary runs its lm_head on cuBLAS's slower unaligned GEMMs
   */
  /** the launcher whose constraints the search applies (Megatron-LM: no FSDP with pipeline parallelism) */
  launcher: 'megatron-lm' | 'pytorch';
  vocabPadMultiple: number;
  /** CPU issue time of the runtime, when measured (policy host-issue-floor): tp = 1 and tp > 1 (the same launches at any degree) */
  hostIssue?: {
    tp1: HostIssueFigures;
    /** tp = 1 with data parallelism (the model in DDP), when measured apart; else tp1 */
    tp1Ddp?: HostIssueFigures;
    tpN: HostIssueFigures;
    /**
     * How much slower than these figures the CPU of a host of the same kind was seen to issue the same
     * work (the spread of host-bound step times between machines): plans whose issue time times this
     * factor exceeds their GPU time are flagged host-sensitive
     */
    hostSpreadFactor: number;
    /**
     * Policy host-speed: the host's speed when these figures were measured, as µs per CUDA launch of
     * a tiny PyTorch op (profiler/host_issue.py records it); figures can be scaled to another host's speed
     * (estimate/host-speed.ts). Undefined: measured without it, not scalable.
     */
    speedRef_launch_us?: number;
    source: string;
  };
}

/**
 * An attention that materialises its b·(a/tp)·s² scores, per score element. Saved for backward per
 * layer: the softmax output (2 B), the dropout mask (1 B) and output (2 B) (Korthikanti et al. 2022,
 * the 5as²b of their Table 2; Megatron-LM's DotProductAttention: a fused scale-mask-softmax, then
 * dropout, then bmm with V), plus one score-sized bf16 buffer per GPU that the QKᵀ product is written
 * into (Megatron's global memory buffer, shared by the layers). HBM traffic beyond flash's (a bf16
 * read or write 2 B, the mask 1 B): forward QKᵀ write, softmax read + write, dropout read + write +
 * mask, bmm read = 13 B; backward bmm's score gradient write and probability read, dropout's read +
 * mask + write, softmax's three passes, the two products' reads of the score gradient = 19 B. The
 * products' FLOPs are flash's (its measured time is kept).
 */
export interface UnfusedAttention {
  name: string;
  savedBytesPerScore: number;
  bufferBytesPerScore: number;
  forwardTrafficBytesPerScore: number;
  backwardTrafficBytesPerScore: number;
}

export const UNFUSED_ATTENTION: UnfusedAttention = {
  name: 'unfused-attention',
  savedBytesPerScore: 5,
  bufferBytesPerScore: 2,
  forwardTrafficBytesPerScore: 13,
  backwardTrafficBytesPerScore: 19,
};

/**
 * The PyTorch runtime that validation/train_step.py runs, eager or captured: bf16 weights and
 * grads, torch.optim.AdamW(foreach) on the bf16 weights (states in bf16), no master copy, DDP and
 * torch.distributed.pipelining. Traffic,
 * counted pass by pass in torch's multi-tensor AdamW (2 B per element per read or write):
 * weight decay p·=c (r p, w p: 4), m.lerp_(g) (r m g, w m: 6), v·=β2 (4), v.addcmul_(g, g)
 * (r v g g, w v: 8), d = sqrt(v) (r v, w d: 4), d /= c (4), d += ε (4), p.addcdiv_(m, d)
 * (r p m d, w p: 8) = 42 B; transient: d, one param-sized bf16 buffer. Activation layout, loss
 * peak and pipeline outputs as found in the allocator traces of the harness (docs/accuracy.md).
 */
const PYTORCH_BF16 = {
  stateBytesPerParam: 8,
  stateSplit: { weights: 2, grads: 2, master: 0, optimizer: 4 },
  gradBytes: 2,
  activationBytes: 2,
  optimizerTransientBytesPerParam: 2,
  normSavedBytes: 6,
  attentionOutputCopies: 1,
  lossPeakBytesPerLogit: 14,
  vocabParallelLossPeakBytesPerLogit: 10,
  gradsAllocatedByFirstBackward: true,
  pipelineRetainsOutputs: true,
  retainedOutputBytes: 2,
  dpExtraGradCopiesWhenAccumulating: 2,
  dpOverlapBucketBytes: 25 * 2 ** 20,
  vocabPadMultiple: 1,
  launcher: 'pytorch',
} satisfies Partial<TrainingRecipe>;

/**
 * PyTorch DTensor tensor parallelism, eager or captured (policy tp-runtime): its loss holds 8 B more per
 * local logit at its peak than Megatron's (16 against 8 above the bf16 logits, profiler/loss_parallel.py:
 * two more fp32 copies of the local logits from its log-softmax), so 18; where the extra loss time is
 * not measured, 24 B of HBM traffic per local logit (the H200 measurement, 5.6 ms per 10⁹ local logits,
 * at that GPU's measured HBM rate, 4.3 TB/s; the kernel trace shows one more fp32 exp, add and
 * elementwise pass over the logits); and one more bf16 copy of a local vocab table (allocator traces).
 */
const DTENSOR_TP = {
  tpRuntime: 'dtensor',
  vocabParallelLossPeakBytesPerLogit: 18,
  dtensorLossExtraTrafficBytesPerLogit: 24,
  tpVocabGradExtraCopies: 1,
} satisfies Partial<TrainingRecipe>;

/**
 * Megatron-style mixed precision: bf16 weights, fp32 main grads, fp32 master weights, fp32 Adam m and
 * v. Its cross-entropy (megatron/core/tensor_parallel/cross_entropy.py, the same at any tp) upcasts the
 * bf16 logits to an fp32 copy inside its autograd function, works on that copy in place and keeps it
 * (the softmax) for backward; the backward writes its gradient in place, which autograd casts to the
 * bf16 logits' dtype: 2 + 4 = 6 B per logit at both moments.
 */
const MEGATRON_MIXED = {
  stateBytesPerParam: 18,
  stateSplit: { weights: 2, grads: 4, master: 4, optimizer: 8 },
  gradBytes: 2,
  activationBytes: 2,
  optimizerTransientBytesPerParam: 0,
  normSavedBytes: 2,
  attentionOutputCopies: 2,
  lossPeakBytesPerLogit: 6,
  vocabParallelLossPeakBytesPerLogit: 6,
  gradsAllocatedByFirstBackward: false,
  pipelineRetainsOutputs: false,
  retainedOutputBytes: 0,
  dpExtraGradCopiesWhenAccumulating: 0,
  vocabPadMultiple: 128,
  launcher: 'megatron-lm',
} satisfies Partial<TrainingRecipe>;

/**
 * PyTorch mixed precision as validation/train_step.py --master-fp32 runs it: the model's bf16 weights
 * and bf16 .grad, fp32 gradient buffers and fp32 master weights, AdamW(fused) on them (fp32 m, v),
 * bf16 weights copied back after each step (allocator traces: 2 + 2 + 4 + 4 + 8 = 20 B per parameter);
 * the bf16 harness's activation layout. Traffic: the fused step reads p, g, m, v and writes p, m, v in
 * fp32 (28 B), the bf16 → fp32 gradient copy (6) and the copy back (6): 40 B.
 */
const PYTORCH_MASTER = {
  ...PYTORCH_BF16,
  stateBytesPerParam: 20,
  stateSplit: { weights: 2, grads: 6, master: 4, optimizer: 8 },
  // PyTorch FSDP's mixed precision (torchtitan's FSDP2, Composer's FSDP: bf16 compute, fp32 reduce)
  // shards the fp32 parameters themselves, gathers bf16 copies per unit (the buffers) and
  // reduce-scatters the bf16 gradients into fp32 shards: 4 + 4 + 8 = 16 B, no bf16 weights or .grad kept
  fsdpStateSplit: { weights: 0, grads: 4, master: 4, optimizer: 8 },
  optimizerTransientBytesPerParam: 0,
} satisfies Partial<TrainingRecipe>;

/** How a step is launched, which TP runtime runs, and the precision + optimizer: a recipe's three axes. */
export type Launch = TrainingRecipe['launch'];
export type TpRuntime = 'megatron-style' | 'dtensor';
export type OptimizerRecipe = 'megatron-mixed' | 'bf16-adamw' | 'fp32-master-adamw';
export interface RecipeAxes {
  optimizer: OptimizerRecipe;
  launch: Launch;
  tpRuntime: TpRuntime;
}

export const LAUNCHES: readonly Launch[] = ['eager', 'cuda-graph'];
export const TP_RUNTIMES: readonly TpRuntime[] = ['megatron-style', 'dtensor'];
export const OPTIMIZER_RECIPES: readonly OptimizerRecipe[] = ['megatron-mixed', 'bf16-adamw', 'fp32-master-adamw'];

const STATE: Record<OptimizerRecipe, Partial<TrainingRecipe>> = { 'megatron-mixed': MEGATRON_MIXED, 'bf16-adamw': PYTORCH_BF16, 'fp32-master-adamw': PYTORCH_MASTER };

/**
 * Optimizer traffic per parameter by launch. megatron-mixed: fused Adam over fp32 master weights and
 * states. bf16-adamw eager: see PYTORCH_BF16; captured (validation/train_step.py --cuda-graph, one
 * whole step replayed, AdamW(capturable=True)): one more pass over the denominator (division by the
 * on-GPU step size), 46 B; the catalog's measured figure for the recipe is used where present.
 */
const TRAFFIC: Record<OptimizerRecipe, Record<Launch, number>> = {
  'megatron-mixed': { eager: 32, 'cuda-graph': 32 },
  'bf16-adamw': { eager: 42, 'cuda-graph': 46 },
  'fp32-master-adamw': { eager: 40, 'cuda-graph': 40 },
};

/**
 * CPU issue figures of the eager PyTorch runtime (profiler/host_issue.py on a 2× H200 host, Intel
 * Xeon, 32 cores): the harness's model on short sequences, so the GPU keeps up and the wall time is
 * the CPU's; llama1b widths, tp 1 with one busy process on the host and tp 2 with two (tp 1 with two
 * busy processes: within 10 % of one; llama8b widths at tp 1: within 10 % per layer). Issue time
 * spreads ±20 % run to run. Captured steps issue no kernels; megatron-mixed borrows them (below).
 */
const HOST_ISSUE: Partial<Record<OptimizerRecipe, NonNullable<TrainingRecipe['hostIssue']>>> = {
  'bf16-adamw': {
    tp1: { forwardPerLayer_ms: 0.672, backwardPerLayer_ms: 1.338, forwardFixed_ms: 0.532, backwardFixed_ms: 0.700 },
    tpN: { forwardPerLayer_ms: 1.289, backwardPerLayer_ms: 1.829, forwardFixed_ms: 0.774, backwardFixed_ms: 0.736 },
    // the same eager plans, host-bound, on five 2× H200 hosts: up to 1.63× the fastest host's step
    // time (llama1b dp2 b1 gbs16: 146.5 ms on the figures' host, 238.9 on another; tp2 b1 gbs16: 411.3
    // and 641.4 on the main sweep's; tp1 b1 gbs16 alone: 262.6, and 426.9 on the main sweep's)
    hostSpreadFactor: 1.63,
    source: 'profiler/host_issue.py, validation/results/host_issue/host_issue_H200_figures_host.json',
  },
};
// the same model issues the same kernels per micro-batch whatever its optimizer; Megatron-LM runs
// eagerly too, with a comparable kernel sequence per layer (norm, QKV, core attention, projection,
// bias-dropout-add, MLP): the harness's figures are assumed for it (not measured on Megatron)
HOST_ISSUE['fp32-master-adamw'] = HOST_ISSUE['bf16-adamw'];
HOST_ISSUE['megatron-mixed'] = { ...HOST_ISSUE['bf16-adamw']!, source: `${HOST_ISSUE['bf16-adamw']!.source} (measured on the PyTorch harness, assumed for Megatron-LM's eager layers)` };

/**
 * DTensor's CPU issue time for tp > 1 run eagerly: profiler/host_issue.py --tp-impl dtensor on one 2×
 * H200 host, llama1b widths, two busy processes, as measured (not scaled): about 3.5× the
 * Megatron-style TP's per layer, since DTensor's dispatch (sharding propagation, redistribution) runs
 * in Python for every op. tp = 1 as without DTensor.
 */
const DTENSOR_HOST_ISSUE: Partial<Record<OptimizerRecipe, { tpN: HostIssueFigures; source: string }>> = {
  'bf16-adamw': {
    tpN: { forwardPerLayer_ms: 3.787, backwardPerLayer_ms: 6.492, forwardFixed_ms: 7.001, backwardFixed_ms: 5.916 },
    source: 'profiler/host_issue.py; tp 1: validation/results/host_issue/host_issue_H200_figures_host.json; DTensor tp > 1 (--tp-impl dtensor): host_issue_H200_dtensor.json',
  },
};
DTENSOR_HOST_ISSUE['fp32-master-adamw'] = DTENSOR_HOST_ISSUE['bf16-adamw'];
DTENSOR_HOST_ISSUE['megatron-mixed'] = DTENSOR_HOST_ISSUE['bf16-adamw'];

/** A recipe's name from its axes: the optimizer, then `-graph` when captured, then `-dtensor`. */
export function recipeName(a: RecipeAxes): string {
  return `${a.optimizer}${a.launch === 'cuda-graph' ? '-graph' : ''}${a.tpRuntime === 'dtensor' ? '-dtensor' : ''}`;
}

/** The recipe of three independent choices. */
export function recipeOf(a: RecipeAxes): TrainingRecipe {
  const r = { ...STATE[a.optimizer], name: recipeName(a), launch: a.launch, optimizerTrafficBytesPerParam: TRAFFIC[a.optimizer][a.launch] } as TrainingRecipe;
  const host = a.launch === 'eager' ? HOST_ISSUE[a.optimizer] : undefined;
  if (host) r.hostIssue = host;
  if (a.tpRuntime === 'dtensor') {
    Object.assign(r, DTENSOR_TP);
    // the same optimizer step as without DTensor; DTensor's own per-step extra is in its TP profile
    r.optimizerMeasuredAs = recipeName({ ...a, tpRuntime: 'megatron-style' });
    const dt = DTENSOR_HOST_ISSUE[a.optimizer];
    if (host && dt) r.hostIssue = { ...host, tpN: dt.tpN, source: dt.source };
  }
  return r;
}

/** Every recipe by name (each combination of the axes); the names are the CLI's `--recipe` aliases. */
export const RECIPE_AXES: ReadonlyMap<string, RecipeAxes> = new Map(
  OPTIMIZER_RECIPES.flatMap((optimizer) => LAUNCHES.flatMap((launch) => TP_RUNTIMES.map((tpRuntime) => {
    const a = { optimizer, launch, tpRuntime };
    return [recipeName(a), a] as const;
  }))),
);

export const RECIPES: Readonly<Record<string, TrainingRecipe>> = Object.freeze(Object.fromEntries([...RECIPE_AXES].map(([n, a]) => [n, recipeOf(a)])));

/** The default recipe: what Megatron-LM does (mixed precision, fused Adam, eager launch, its own TP). */
export const DEFAULT_RECIPE_AXES: RecipeAxes = { optimizer: 'megatron-mixed', launch: 'eager', tpRuntime: 'megatron-style' };

/**
 * The recipe with a fused cross-entropy (flash-attn's, llm-foundry's default loss) in place of the
 * plain one over fp32-upcast logits: it reads the logits in their own dtype and writes its gradient in
 * the same, so the loss's peak holds the logits and their gradient, 2 × activationBytes per logit
 * (4 in bf16), with TP's vocab-parallel split too. Memory only: its time is the profile's loss.
 */
export function withFusedCrossEntropy(r: TrainingRecipe): TrainingRecipe {
  const perLogit = 2 * r.activationBytes;
  return variantOf(r, 'fused-cross-entropy', { lossPeakBytesPerLogit: perLogit, vocabParallelLossPeakBytesPerLogit: perLogit });
}

/** The recipe with an unfused attention in place of flash (a recipe of its own name). */
export function withUnfusedAttention(r: TrainingRecipe): TrainingRecipe {
  return variantOf(r, UNFUSED_ATTENTION.name, { unfusedAttention: UNFUSED_ATTENTION });
}

/** A recipe of its own name (`NAME+tag`) with some fields changed; its optimizer step is still the measured one of the recipe it came from. */
function variantOf(r: TrainingRecipe, tag: string, changes: Partial<TrainingRecipe>): TrainingRecipe {
  return { ...r, ...changes, name: `${r.name}+${tag}`, optimizerMeasuredAs: r.optimizerMeasuredAs ?? r.name };
}
