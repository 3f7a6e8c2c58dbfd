/**
 * Operator times of a GPU that has no operator profile of its own, from a measured GPU's: each
 * operator's measured time is scaled by the ratio of its roofline times on the two GPUs — its FLOPs
 * over the catalog's dense BF16 peak or its bytes over the HBM bandwidth, whichever bounds it — so
 * a compute-bound operator scales with the peak and a memory-bound one with the bandwidth (less
 * its fixed launch and latency part, derivedTime_ms).
 */
import { FasopError } from '../errors.js';
import type { GpuSpec } from '../catalog/schema.js';
import type { OperatorShape } from '../model/shapes.js';

/** The catalog figures a derivation reads, per GPU. */
export interface Roofline { gpu: string; bf16Dense_TFLOPS: number; hbm_GBps: number }

/** A GPU's roofline figures, or a FasopError naming the missing catalog field. */
export function rooflineOf(gpu: GpuSpec): Roofline {
  const missing = (['bf16Dense_TFLOPS', 'hbm_GBps'] as const).filter((k) => gpu[k] === undefined);
  if (missing.length) {
    throw new FasopError(`GPU ${gpu.name} has no ${missing.join(' or ')} in the catalog, so its operator times cannot be derived from another GPU's`,
      `add ${missing.join(' and ')} (datasheet figures, with their source) to the GPU in a --catalog file, or measure ops_${gpu.name}.json with profiler/operators.py`);
  }
  return { gpu: gpu.name, bf16Dense_TFLOPS: gpu.bf16Dense_TFLOPS!, hbm_GBps: gpu.hbm_GBps! };
}

/** FLOPs and HBM bytes of one call of an operator, forward and backward (bf16 operands). */
export function workOf(shape: OperatorShape): { forward: { flops: number; bytes: number }; backward: { flops: number; bytes: number } } {
  const d = shape.dims;
  if (shape.table === 'linear' || shape.table === 'linear_unaligned') {
    const { in_features: K, out_features: N, tokens: M } = d as { in_features: number; out_features: number; tokens: number };
    const one = { flops: 2 * M * N * K, bytes: 2 * (M * K + K * N + M * N) };
    return { forward: one, backward: { flops: 2 * one.flops, bytes: 2 * one.bytes } }; // input gradient + weight gradient
  }
  if (shape.table === 'attention' || shape.table === 'attention_flash') {
    const { head_dim: hd, gqa_ratio: g, seq: s, query_heads: h } = d as { head_dim: number; gqa_ratio: number; seq: number; query_heads: number };
    const flops = 2 * h * s * s * hd; // QKᵀ and PV, 2·s²·d each, halved by the causal mask
    const bytes = 2 * (2 * h * s * hd + (2 * h * s * hd) / g); // q and out; k and v of h/g heads
    return { forward: { flops, bytes }, backward: { flops: 2.5 * flops, bytes: 2 * bytes } }; // five products instead of two
  }
  // element-wise operators, gathers, losses and optimizer steps: bandwidth-bound
  return { forward: { flops: 0, bytes: 1 }, backward: { flops: 0, bytes: 1 } };
}

/**
 * Factor from the source GPU's time of a piece of work to the target's: the ratio of their roofline
 * times, max(FLOPs / peak, bytes / bandwidth) — the bound that limits the work on each GPU scales,
 * the other overlaps with it.
 */
export function timeFactor(work: { flops: number; bytes: number }, from: Roofline, to: Roofline): number {
  const t = (r: Roofline) => Math.max(work.flops / (r.bf16Dense_TFLOPS * 1e12), work.bytes / (r.hbm_GBps * 1e9));
  return t(to) / t(from);
}

/** Whether the work is bound by memory bandwidth on this GPU (its bytes take at least as long as its FLOPs). */
export function memoryBound(work: { flops: number; bytes: number }, r: Roofline): boolean {
  return work.bytes / (r.hbm_GBps * 1e9) >= work.flops / (r.bf16Dense_TFLOPS * 1e12);
}

/**
 * A measured time on the source GPU derived for the target. A memory-bound operator's time holds a
 * fixed part — launch and latency, measured on the source at its smallest sizes (at most the whole
 * time) — that no bandwidth shortens; it stays as it is and the rest scales by the roofline factor.
 * A compute-bound operator's time scales whole.
 */
export function derivedTime_ms(t_ms: number, fixed_ms: number, work: { flops: number; bytes: number }, from: Roofline, to: Roofline): number {
  const fixed = memoryBound(work, from) ? Math.min(Math.max(0, fixed_ms), t_ms) : 0;
  return fixed + (t_ms - fixed) * timeFactor(work, from, to);
}

/** The cost_source words of a derivation. */
export function derivationNote(from: Roofline, to: Roofline): string {
  return `derived from ${from.gpu} (compute x${(from.bf16Dense_TFLOPS / to.bf16Dense_TFLOPS).toFixed(3)}: ${from.bf16Dense_TFLOPS}/${to.bf16Dense_TFLOPS} TFLOP/s, ` +
    `memory x${(from.hbm_GBps / to.hbm_GBps).toFixed(3)}: ${from.hbm_GBps}/${to.hbm_GBps} GB/s)`;
}
