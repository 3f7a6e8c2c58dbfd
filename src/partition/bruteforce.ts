/**
 * `bruteforce`: evaluate F on every composition of n into pp positive parts.
 *
 * Compositions are generated lazily (an odometer over the cut vector) in lexicographic order of
 * `sizes`. Pass 1 records every F in a Float64Array; the answer is the first composition (in that
 * order) whose F ≤ F_min · (1 + TIE_REL), i.e. the lexicographically smallest tied optimum.
 */
import { FasopError } from '../errors.js';
import { boundaryMatrix, checkProblem, objectiveInto, tieThreshold } from './objective.js';
import type { PartitionProblem, PartitionResult } from './types.js';

/** Default largest number of compositions bruteforce agrees to enumerate. */
export const BRUTEFORCE_MAX_COMPOSITIONS = 2_000_000;

export interface BruteforceOptions {
  /** refuse when C(n−1, pp−1) exceeds this (default 2·10⁶) */
  maxCompositions?: number;
}

/** C(n, k) as a float (exact while below 2^53; only compared with a bound). */
export function binomial(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  k = Math.min(k, n - k);
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
}

/**
 * All compositions of n into pp positive parts, lexicographically by sizes. The yielded array is
 * reused between steps: copy it if you keep it.
 */
export function* compositions(n: number, pp: number): Generator<Int32Array> {
  if (pp < 1 || pp > n) return;
  const sizes = new Int32Array(pp).fill(1);
  sizes[pp - 1] = n - pp + 1;
  for (;;) {
    yield sizes;
    // Lexicographic successor: the rightmost i < pp−1 whose tail (parts i+1..pp−1) holds more
    // nodes than it has parts grows by one; parts i+1..pp−2 reset to 1 and the last takes the rest.
    let i = pp - 2;
    let tail = sizes[pp - 1]!;
    while (i >= 0 && tail <= pp - 1 - i) {
      tail += sizes[i]!;
      i--;
    }
    if (i < 0) return;
    sizes[i]! += 1;
    tail -= 1;
    for (let r = i + 1; r < pp - 1; r++) sizes[r] = 1;
    sizes[pp - 1] = tail - (pp - 2 - i);
  }
}

export function bruteforcePartition(problem: PartitionProblem, opts: BruteforceOptions = {}): PartitionResult {
  const { pp, n } = checkProblem(problem);
  const limit = opts.maxCompositions ?? BRUTEFORCE_MAX_COMPOSITIONS;
  const count = binomial(n - 1, pp - 1);
  if (count > limit) {
    throw new FasopError(
      `partition: bruteforce would enumerate C(${n - 1}, ${pp - 1}) ≈ ${count.toPrecision(3)} partitions, more than its limit of ${limit}`,
      'use --pp-partition-method dp (exact and fast) or a smaller pipeline degree',
    );
  }
  const bm = boundaryMatrix(problem, pp, n);
  const bc = (k: number, j: number): number => bm[j]![k]!;
  const m = problem.microBatches;
  const stage = new Float64Array(pp);
  const values = new Float64Array(count);
  let idx = 0;
  let fMin = Infinity;
  for (const sizes of compositions(n, pp)) {
    const f = objectiveInto(problem.nodeCost_s, bc, m, sizes, stage);
    values[idx++] = f;
    if (f < fMin) fMin = f;
  }
  const thr = tieThreshold(fMin);
  let first = 0;
  while (!(values[first]! <= thr)) first++;
  idx = 0;
  for (const sizes of compositions(n, pp)) {
    if (idx++ === first) return { sizes: Array.from(sizes), objective: values[first]! };
  }
  throw new Error('bruteforce: enumeration changed between passes'); // unreachable
}
