/**
 * How the model is trained, as far as time and memory are concerned. The estimator takes it as an
 * input (no defaults hidden in the math).
 */
export interface TrainingRecipe {
  name: string;
  /** bytes of model state per parameter on a GPU: weights + gradients + optimizer states */
  stateBytesPerParam: number;
  /** bytes per gradient element in the data-parallel all-reduce */
  gradBytes: number;
  /** bytes per activation element (bf16: 2) */
  activationBytes: number;
  /** bytes the optimizer step reads and writes per parameter (a memory-bound pass over HBM) */
  optimizerTrafficBytesPerParam: number;
  /** extra bytes per parameter allocated while the optimizer step runs (multi-tensor temporaries) */
  optimizerTransientBytesPerParam: number;
  /**
   * The pipeline runtime keeps every micro-batch's last-stage output until the step ends
   * (torch.distributed.pipelining's schedules do, for merging outputs): fp32 logits × m on the
   * last stage.
   */
  pipelineRetainsOutputs: boolean;
  /** bytes kept per logit element of each finished micro-batch when pipelineRetainsOutputs */
  retainedOutputBytes: number;
  /**
   * Extra gradient-sized buffers when data parallelism accumulates over several micro-batches
   * (PyTorch DDP under no_sync: its buckets are separate from the accumulated .grad tensors).
   */
  dpExtraGradCopiesWhenAccumulating: number;
}

export const RECIPES: Record<string, TrainingRecipe> = {
  /** Megatron-style mixed precision: bf16 weights, fp32 main grads, fp32 master weights, fp32 Adam m and v. */
  'megatron-mixed': {
    name: 'megatron-mixed',
    stateBytesPerParam: 18,
    gradBytes: 2,
    activationBytes: 2,
    optimizerTrafficBytesPerParam: 32,
    optimizerTransientBytesPerParam: 0,
    pipelineRetainsOutputs: false,
    retainedOutputBytes: 0,
    dpExtraGradCopiesWhenAccumulating: 0,
  },
  /**
   * What validation/train_step.py runs: bf16 weights and grads, torch.optim.AdamW(foreach) on the
   * bf16 weights (states in bf16), no master copy, DDP and torch.distributed.pipelining. Traffic,
   * counted pass by pass in torch's multi-tensor AdamW (2 B per element per read or write):
   * weight decay p·=c (r p, w p: 4), m.lerp_(g) (r m g, w m: 6), v·=β2 (4), v.addcmul_(g, g)
   * (r v g g, w v: 8), d = sqrt(v) (r v, w d: 4), d /= c (4), d += ε (4), p.addcdiv_(m, d)
   * (r p m d, w p: 8) = 42 B; transient: d, one param-sized bf16 buffer.
   */
  'bf16-adamw': {
    name: 'bf16-adamw',
    stateBytesPerParam: 8,
    gradBytes: 2,
    activationBytes: 2,
    optimizerTrafficBytesPerParam: 42,
    optimizerTransientBytesPerParam: 2,
    pipelineRetainsOutputs: true,
    retainedOutputBytes: 4,
    dpExtraGradCopiesWhenAccumulating: 2,
  },
};
