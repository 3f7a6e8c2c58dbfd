/**
 * The sound partition objective (`--estimator fasop`), shared by `dp`, `ilp` and `bruteforce`.
 *
 *   F(P) = (m − 1) · max_s stage_s + Σ_s stage_s
 *   stage_s = comp_s + (s < pp−1 ? boundaryCost(last_s, s) : 0) + (s > 0 ? boundaryCost(last_{s−1}, s−1) : 0)
 *
 * comp_s is the left-to-right sum of nodeCost_s[s][k] over the stage's units, last_s the index of
 * stage s's last unit. Each boundary is paid by both its stages (forward send and backward send).
 *
 * Ties: a partition is optimal when F(P) ≤ F_min · (1 + TIE_REL); among the optimal partitions every
 * method returns the one with the lexicographically smallest `sizes` (equivalently, the smallest cut
 * vector, cut_j = last_j).
 */
import { FasopError } from '../errors.js';
import type { PartitionProblem } from './types.js';

/** Relative tolerance under which two objective values count as tied. */
export const TIE_REL = 1e-9;

export interface PartitionEvaluation {
  /** F(P) as defined above (seconds) */
  objective: number;
  /** stage_s of every stage (seconds) */
  stageTimes_s: number[];
}

/** Check a problem's shape and values; throws FasopError. Returns (pp, n). */
export function checkProblem(problem: PartitionProblem): { pp: number; n: number } {
  const rows = problem.nodeCost_s;
  const pp = rows.length;
  if (pp < 1) throw new FasopError('partition: no pipeline stages (nodeCost_s has no rows)', 'give at least one stage');
  const n = rows[0]!.length;
  for (let s = 0; s < pp; s++) {
    const row = rows[s]!;
    if (row.length !== n) {
      throw new FasopError(`partition: stage ${s} has ${row.length} unit costs, stage 0 has ${n}`, 'give every stage a cost for every unit');
    }
    for (let k = 0; k < n; k++) {
      const c = row[k]!;
      if (!(c >= 0) || !Number.isFinite(c)) {
        throw new FasopError(`partition: unit cost [${s}][${k}] = ${c} is not a finite non-negative number`, 'check the profile the costs came from');
      }
    }
  }
  if (pp > n) {
    throw new FasopError(`partition: ${pp} pipeline stages for only ${n} units`, 'use a pipeline degree no larger than the number of units (graph operators or decoder layers)');
  }
  const m = problem.microBatches;
  if (!Number.isFinite(m) || m < 1) {
    throw new FasopError(`partition: micro-batch count ${m} is not a finite number ≥ 1`, 'use a global batch at least dp × micro-batch size');
  }
  return { pp, n };
}

function checkBoundaryCost(v: number, k: number, j: number): number {
  if (!(v >= 0) || !Number.isFinite(v)) {
    throw new FasopError(`partition: boundary cost (${k}, ${j}) = ${v} is not a finite non-negative number`, 'check the link bandwidths and activation volumes');
  }
  return v;
}

/**
 * Boundary costs as a dense table: bm[j][k] = boundaryCost_s(k, j) for every k that can be the last
 * unit of stage j, i.e. j ≤ k ≤ n − pp + j; other entries are NaN. The callback is called once per entry.
 */
export function boundaryMatrix(problem: PartitionProblem, pp: number, n: number): Float64Array[] {
  const bm: Float64Array[] = [];
  for (let j = 0; j < pp - 1; j++) {
    const row = new Float64Array(n).fill(NaN);
    for (let k = j; k <= n - pp + j; k++) row[k] = checkBoundaryCost(problem.boundaryCost_s(k, j), k, j);
    bm.push(row);
  }
  return bm;
}

/** Check that `sizes` is a composition of n into pp positive integers. */
export function checkSizes(sizes: readonly number[], pp: number, n: number): void {
  let total = 0;
  let ok = sizes.length === pp;
  for (const x of sizes) {
    if (!Number.isSafeInteger(x) || x < 1) ok = false;
    total += x;
  }
  if (!ok || total !== n) {
    throw new FasopError(`partition: sizes [${sizes.join(', ')}] are not ${pp} positive unit counts summing to ${n}`, 'give one positive unit count per stage');
  }
}

/**
 * The one arithmetic of the objective: every method's reported value goes through here.
 * `bc(k, j)` is the boundary cost. Writes stage times into `stage` and returns F.
 */
export function objectiveInto(
  nodeCost: readonly (readonly number[])[],
  bc: (k: number, j: number) => number,
  m: number,
  sizes: ArrayLike<number>,
  stage: Float64Array | number[],
): number {
  const pp = sizes.length;
  let a = 0;
  let max = 0;
  let sum = 0;
  for (let s = 0; s < pp; s++) {
    const row = nodeCost[s]!;
    const e = a + sizes[s]! - 1;
    let comp = 0;
    for (let k = a; k <= e; k++) comp += row[k]!;
    let t = comp;
    if (s < pp - 1) t += bc(e, s);
    if (s > 0) t += bc(a - 1, s - 1);
    stage[s] = t;
    if (t > max) max = t;
    sum += t;
    a = e + 1;
  }
  return (m - 1) * max + sum;
}

/** F(P) and the stage times of partition `sizes` (unit counts per stage). */
export function evaluatePartition(problem: PartitionProblem, sizes: readonly number[]): PartitionEvaluation {
  const { pp, n } = checkProblem(problem);
  checkSizes(sizes, pp, n);
  const stage = new Array<number>(pp).fill(0);
  const objective = objectiveInto(problem.nodeCost_s, (k, j) => checkBoundaryCost(problem.boundaryCost_s(k, j), k, j),
    problem.microBatches, sizes, stage);
  return { objective, stageTimes_s: stage };
}

/** Lexicographic comparison of two equally long integer vectors (negative: a first). */
export function compareLex(a: ArrayLike<number>, b: ArrayLike<number>): number {
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** The tie threshold for a minimum objective value. */
export function tieThreshold(fMin: number): number {
  return fMin * (1 + TIE_REL);
}
