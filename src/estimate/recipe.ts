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
  },
  /**
   * What validation/train_step.py runs: bf16 weights and grads, torch.optim.AdamW(foreach) on the
   * bf16 weights (states in bf16), no master copy. Traffic: read p, g, m, v and write p, m, v (14 B)
   * plus the foreach pass's temporaries; transient: one param-sized bf16 buffer (sqrt of v).
   */
  'bf16-adamw': {
    name: 'bf16-adamw',
    stateBytesPerParam: 8,
    gradBytes: 2,
    activationBytes: 2,
    optimizerTrafficBytesPerParam: 18,
    optimizerTransientBytesPerParam: 2,
  },
};
