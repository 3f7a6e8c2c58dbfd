/**
 * Per-operator compute costs for the corrected estimator: measured forward and backward per node,
 * the operators the original's format omits folded into the node they belong to, and micro-batch
 * sizes between or beyond the profiled rows interpolated / extrapolated (and flagged).
 */
import type { ProfileTable } from '../profiles/profile.js';

/** Which node column absorbs each extra operator of the profiler (per layer unless noted). */
export const EXTRA_TO_COLUMN: Record<string, { column: number; times: number }> = {
  input_norm: { column: 1, times: 1 }, // before q/k/v
  rope: { column: 2, times: 1 }, // applied to q and k
  attn_core: { column: 4, times: 1 }, // softmax(QKᵀ)V: between v and o
  residual_add: { column: 4, times: 2 }, // two per layer: after o and after down (kept together)
  post_attn_norm: { column: 5, times: 1 }, // before gate/up
  mlp_mul: { column: 6, times: 1 }, // SiLU(gate) · up
  final_norm: { column: 9, times: 1 }, // once per model, before lm_head
  loss: { column: 9, times: 1 }, // once per model, after lm_head
};

export interface ColumnTimes {
  /** forward seconds per column (10) for one micro-batch */
  forward_s: number[];
  /** backward seconds per column (10) for one micro-batch */
  backward_s: number[];
  /** how they were obtained, for the cost_source column */
  source: string;
}

/** Value at micro-batch b from rows at `mbs`: exact, linear between rows, or linear beyond. */
export function interpolateRow(mbs: readonly number[], values: readonly number[], b: number): { value: number; how: 'exact' | 'interpolated' | 'extrapolated' } {
  const i = mbs.indexOf(b);
  if (i >= 0) return { value: values[i]!, how: 'exact' };
  if (mbs.length === 1) return { value: (values[0]! * b) / mbs[0]!, how: b > mbs[0]! ? 'extrapolated' : 'interpolated' };
  let lo: number;
  if (b < mbs[0]!) lo = 0;
  else if (b > mbs[mbs.length - 1]!) lo = mbs.length - 2;
  else lo = mbs.findIndex((x, k) => x < b && mbs[k + 1]! > b);
  const x0 = mbs[lo]!;
  const x1 = mbs[lo + 1]!;
  const y0 = values[lo]!;
  const y1 = values[lo + 1]!;
  const value = Math.max(0, y0 + ((y1 - y0) * (b - x0)) / (x1 - x0));
  return { value, how: b > x1 || b < x0 ? 'extrapolated' : 'interpolated' };
}

/**
 * Forward/backward seconds per node column for micro-batch b. Profiles without a measured backward
 * (the original's files) use backward = 2 × forward and say so.
 */
export function columnTimes(profile: ProfileTable, b: number, gpu: string = profile.gpu): ColumnTimes {
  const hows = new Set<string>();
  const at = (matrix: number[][], col: number) => {
    const r = interpolateRow(profile.mbs, matrix.map((row) => row[col]!), b);
    hows.add(r.how);
    return r.value / 1000;
  };
  const forward_s = Array.from({ length: 10 }, (_, c) => at(profile.forward_ms, c));
  const backward_s = profile.backward_ms
    ? Array.from({ length: 10 }, (_, c) => at(profile.backward_ms!, c))
    : forward_s.map((f) => 2 * f);
  const extrasUsed: string[] = [];
  const unknown: string[] = [];
  profile.extraNames.forEach((name, j) => {
    const target = EXTRA_TO_COLUMN[name];
    if (!target) {
      unknown.push(name);
      return;
    }
    const f = profile.extraForward_ms ? at(profile.extraForward_ms, j) : 0;
    const bw = profile.extraBackward_ms ? at(profile.extraBackward_ms, j) : 2 * f;
    forward_s[target.column]! += target.times * f;
    backward_s[target.column]! += target.times * bw;
    extrasUsed.push(name);
  });
  const rowInfo = hows.has('extrapolated') ? `EXTRAPOLATED beyond mbs ${profile.mbs[profile.mbs.length - 1]}` : hows.has('interpolated') ? 'interpolated between rows' : 'exact row';
  const parts = [
    `${gpu}${profile.gpu.toUpperCase() === gpu.toUpperCase() ? '' : ` SUBSTITUTED with the ${profile.gpu} profile (--substitute-profile ${gpu}=${profile.gpu})`} tp${profile.tp} mbs${b}: ${rowInfo}`,
    profile.backward_ms ? 'measured fwd+bwd' : 'bwd assumed 2x fwd',
    extrasUsed.length ? `+${extrasUsed.length} extra ops` : 'no extra ops',
  ];
  if (unknown.length) parts.push(`ignored unknown extras ${unknown.join('/')}`);
  return { forward_s, backward_s, source: parts.join(', ') };
}
