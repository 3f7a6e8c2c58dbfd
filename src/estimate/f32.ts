/** Round to the nearest IEEE binary32 (the original mixes float32 torch tensors into its math). */
export const f32 = Math.fround;

/** The rounding a policy applies at the original's float32 points: f32, or none. */
export function roundingOf(policy: { rounding: 'float32' | 'float64' }): (x: number) => number {
  return policy.rounding === 'float32' ? f32 : identity;
}

function identity(x: number): number {
  return x;
}
