/** Interpolation over profiled micro-batch rows. */

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
