/**
 * The ORIGINAL's `dp` partition method (SPEC §9.3, quirk Q17), kept only for
 * `--estimator reference` parity. It optimises its own, inconsistent objective:
 *
 *   m > 1: a bottleneck  max( (m−1)·comp_0 , max_{j≥1} (m−1)·x_j )
 *   m = 1: a sum         Σ_{j≥1} x_j            (stage 0's compute is ignored)
 *   x_j = comp_j + cost_c[cut][j−1] + (j ≠ pp−1 ? cost_c[cut][j] : 0),  cut = last node of stage j−1
 *
 * Float32 rounding follows Appendix A13: the base case is f32(f32(m−1)·f32(prefix)); x is a float64
 * value (comp summed left to right in float64, then the cost_c terms added); (m−1)·x is
 * f32(f32(m−1)·f32(x)); for m = 1 the running value is f32(past + f32(x)). All DP values are float32,
 * so comparing them as doubles is the float32 comparison. Ties keep the first cut found (strict <,
 * cut ascending). O(pp·n³) as written in the original: use it on small models only.
 *
 * Reading of the pseudo-code where SPEC is silent: the stage-0 prefix Σ_{k≤i} c⁽⁰⁾_k is summed left
 * to right in float64 before the f32 rounding; cost_c values are used as given (the caller passes
 * the float64 copies of the float32 matrix).
 */
import { FasopError } from '../errors.js';

const f32 = Math.fround;

/**
 * @param nodeCost_s per-stage cost vectors c⁽ʲ⁾ (pp rows × n), seconds
 * @param costC cost_c[k][j]: sending node k's output across boundary j (j = 0 … pp−2)
 * @param m the float32 micro-batch count
 * @param pp number of stages
 * @returns the node counts per stage
 */
export function referenceDpPartition(
  nodeCost_s: readonly (readonly number[])[],
  costC: (k: number, j: number) => number,
  m: number,
  pp: number,
): number[] {
  const n = nodeCost_s[0]?.length ?? 0;
  if (!Number.isSafeInteger(pp) || pp < 1 || nodeCost_s.length < pp) {
    throw new FasopError(`partition: reference dp needs ${pp} stage cost rows, got ${nodeCost_s.length}`, 'give one cost row per stage');
  }
  if (pp > n) {
    throw new FasopError(`partition: ${pp} pipeline stages for only ${n} units`, 'use a pipeline degree no larger than the number of units (graph operators or decoder layers)');
  }
  if (pp === 1) return [n];
  const mIsOne = m === 1;
  const mm1 = f32(m - 1);
  // D[j][i] = best (cost, parts) with stage j ending at node i
  const cost: Float64Array[] = [];
  const parts: (number[] | undefined)[][] = [];
  for (let j = 0; j < pp; j++) {
    cost.push(new Float64Array(n).fill(Infinity));
    parts.push(new Array<number[] | undefined>(n).fill(undefined));
  }
  const c0 = nodeCost_s[0]!;
  let prefix = 0;
  for (let i = 0; i < n; i++) {
    prefix += c0[i]!;
    cost[0]![i] = f32(mm1 * f32(prefix));
    parts[0]![i] = [i + 1];
  }
  for (let j = 1; j < pp; j++) {
    const cj = nodeCost_s[j]!;
    const prevCost = cost[j - 1]!;
    const prevParts = parts[j - 1]!;
    const curCost = cost[j]!;
    const curParts = parts[j]!;
    for (let i = j; i < n; i++) {
      for (let cut = j - 1; cut <= i - 1; cut++) {
        const past = prevCost[cut]!;
        if (past === Infinity) continue; // unreachable state (cannot happen for cut ≥ j−1)
        let comp = 0;
        for (let k = cut + 1; k <= i; k++) comp += cj[k]!;
        let x = comp + costC(cut, j - 1);
        if (j !== pp - 1) x += costC(cut, j);
        let val: number;
        if (mIsOne) val = f32(past + f32(x));
        else {
          const t = f32(mm1 * f32(x));
          val = t > past ? t : past;
        }
        if (val < curCost[i]!) {
          curCost[i] = val;
          curParts[i] = [...prevParts[cut]!, i - cut];
        }
      }
    }
  }
  return parts[pp - 1]![n - 1]!;
}
