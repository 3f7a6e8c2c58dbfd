/**
 * `dp`: the exact minimiser of F(P) = (m − 1)·max_s stage_s + Σ_s stage_s (see objective.ts).
 *
 * F is not decomposable, so the DP carries, for every suffix state "stage s starts at node a", the
 * Pareto front of (max, sum) over the stages s … pp−1. A stage's time depends only on (s, its first
 * node, its last node), so fronts combine exactly. Three safe prunings keep it small:
 *
 *  1. an upper bound U = F of the best of a few greedy min–max partitions (bisection on the
 *     bottleneck, O(n) per probe);
 *  2. a stage-time cap B_hi = (U·(1+4τ) − LB_Σ)/(m − 1), where LB_Σ is a lower bound of Σ stage
 *     over all partitions: no optimal (or tied) partition has a stage longer than that. Node costs
 *     are ≥ 0, so the cap bounds stage lengths and the node range each stage can start in;
 *  3. a label (M', S') at state (s, a) is dropped when (m−1)·M' + S' + (a lower bound of the prefix
 *     0 … a−1) exceeds U·(1+4τ), and whenever another label of the same state dominates it.
 *
 * The optimum is F_min = min over the labels of state (0, 0). The tie-break then walks forwards:
 * for each stage in turn it takes the smallest size for which some label of the next state
 * completes the partition with F ≤ F_min·(1+τ) (τ = TIE_REL). This gives the lexicographically
 * smallest sizes among the tied optima, the same rule as bruteforce and ilp. The reported
 * objective is re-evaluated with objective.ts.
 *
 * m = 1 makes F = Σ, and the fronts hold a single label.
 */
import { boundaryMatrix, checkProblem, objectiveInto, TIE_REL } from './objective.js';
import type { PartitionProblem, PartitionResult } from './types.js';

export interface DpStats {
  /** suffix states (s, a) visited */
  states: number;
  /** (state, last node) pairs tried */
  transitions: number;
  /** labels kept over all fronts */
  labels: number;
  /** the largest front */
  maxFront: number;
  /** heuristic upper bound U used for pruning */
  upperBound: number;
  /** stage-time cap B_hi (Infinity when m = 1) */
  stageCap: number;
}

export interface DpOptions {
  /** receives counters of the run (for benchmarks and tests) */
  stats?: (s: DpStats) => void;
}

export function dpPartition(problem: PartitionProblem, opts: DpOptions = {}): PartitionResult {
  const { pp, n } = checkProblem(problem);
  const rows = problem.nodeCost_s;
  const m = problem.microBatches;
  const m1 = m - 1;
  const bm = boundaryMatrix(problem, pp, n);
  const bc = (k: number, j: number): number => bm[j]![k]!;
  const stageScratch = new Float64Array(pp);
  if (pp === 1) {
    const sizes = [n];
    return { sizes, objective: objectiveInto(rows, bc, m, sizes, stageScratch) };
  }

  // prefix sums per stage row
  const pre: Float64Array[] = [];
  for (let s = 0; s < pp; s++) {
    const row = rows[s]!;
    const p = new Float64Array(n + 1);
    for (let k = 0; k < n; k++) p[k + 1] = p[k]! + row[k]!;
    pre.push(p);
  }
  const last = pp - 1;
  /** stage time of stage s over nodes a..e (same term order as objectiveInto) */
  const stageTime = (s: number, a: number, e: number): number => {
    const p = pre[s]!;
    let t = p[e + 1]! - p[a]!;
    if (s < last) t += bm[s]![e]!;
    if (s > 0) t += bm[s - 1]![a - 1]!;
    return t;
  };

  // ---- 1. heuristic upper bound: greedy packing under a bottleneck B, bisected ----
  let bestU = Infinity;
  const trySizes = (sizes: Int32Array): void => {
    const f = objectiveInto(rows, bc, m, sizes, stageScratch);
    if (f < bestU) bestU = f;
  };
  const greedy = (B: number, out: Int32Array): boolean => {
    let a = 0;
    for (let s = 0; s < last; s++) {
      const p = pre[s]!;
      const eMax = n - pp + s;
      let best = -1;
      for (let e = a; e <= eMax; e++) {
        if (p[e + 1]! - p[a]! > B) break;
        if (stageTime(s, a, e) <= B) best = e;
      }
      if (best < 0) return false;
      out[s] = best - a + 1;
      a = best + 1;
    }
    if (stageTime(last, a, n - 1) > B) return false;
    out[last] = n - a;
    return true;
  };
  {
    const sizes = new Int32Array(pp);
    let hi = 0;
    for (let s = 0; s < pp; s++) hi = Math.max(hi, pre[s]![n]!);
    let bmax = 0;
    for (const row of bm) for (const v of row) if (v > bmax) bmax = v;
    hi += 2 * bmax;
    let lo = 0;
    if (greedy(hi, sizes)) trySizes(sizes);
    for (let it = 0; it < 64 && hi - lo > 1e-12 * hi; it++) {
      const mid = 0.5 * (lo + hi);
      if (greedy(mid, sizes)) {
        hi = mid;
        trySizes(sizes);
      } else lo = mid;
    }
    // an even split by node count as one more candidate
    const base = Math.floor(n / pp);
    for (let s = 0; s < pp; s++) sizes[s] = base + (s < n - base * pp ? 1 : 0);
    trySizes(sizes);
  }
  let U = bestU;
  let Ucut = U * (1 + 4 * TIE_REL);

  // ---- 2. lower bounds and the stage-time cap ----
  const minPre = new Float64Array(n + 1);
  for (let k = 0; k < n; k++) {
    let c = Infinity;
    for (let s = 0; s < pp; s++) c = Math.min(c, rows[s]![k]!);
    minPre[k + 1] = minPre[k]! + c;
  }
  let lbSum = minPre[n]!;
  for (let j = 0; j < last; j++) {
    let b = Infinity;
    for (let k = j; k <= n - pp + j; k++) b = Math.min(b, bm[j]![k]!);
    lbSum += 2 * b;
  }
  let cap = m1 > 0 ? (Ucut - lbSum) / m1 : Infinity;

  // bands of feasible stage starts under the cap
  const minStart = new Int32Array(pp);
  const maxStart = new Int32Array(pp);
  const computeBands = (cap: number): boolean => {
    maxStart[0] = 0;
    for (let s = 0; s < last; s++) {
      const p = pre[s]!;
      const a = maxStart[s]!;
      let e = a - 1;
      while (e + 1 <= n - pp + s && p[e + 2]! - p[a]! <= cap) e++;
      if (e < a) return false;
      maxStart[s + 1] = e + 1;
    }
    let endNext = n - 1; // last node of stage s
    for (let s = last; s >= 0; s--) {
      const p = pre[s]!;
      let a = endNext + 1;
      while (a - 1 >= s && p[endNext + 1]! - p[a - 1]! <= cap) a--;
      if (a > endNext) return false;
      minStart[s] = a;
      endNext = a - 1;
    }
    for (let s = 0; s < pp; s++) if (minStart[s]! > maxStart[s]!) return false;
    return minStart[0] === 0;
  };
  const bands = (): void => {
    if (!computeBands(cap)) {
      // cannot happen in exact arithmetic (the heuristic partition lies inside the bands); be safe
      cap = Infinity;
      computeBands(cap);
    }
  };

  // ---- 2b. forward single-label DPs under the cap: min prefix Σ and min prefix max ----
  // fS[s·n + e], fM[s·n + e]: over partitions of nodes 0..e into stages 0..s with every stage ≤ cap.
  // They are exact lower bounds for any tied optimum's prefix, and their two argmin partitions
  // (min Σ, min max) are two more candidates for U.
  const fS = new Float64Array(pp * n);
  const fM = new Float64Array(pp * n);
  const argS = new Int32Array(pp * n);
  const argM = new Int32Array(pp * n);
  let fwdTransitions = 0;
  /** forward DPs with every stage ≤ B (B ≥ the true min bottleneck, else some states stay Infinity) */
  const forward = (B: number): void => {
    if (!computeBands(B)) computeBands(Infinity);
    fS.fill(Infinity);
    fM.fill(Infinity);
    argS.fill(-1);
    argM.fill(-1);
    for (let s = 0; s < pp; s++) {
      const p = pre[s]!;
      const eLo = s === last ? n - 1 : minStart[s + 1]! - 1;
      const eHi = s === last ? n - 1 : Math.min(maxStart[s + 1]! - 1, n - pp + s);
      const aLo = minStart[s]!;
      const aHi = s === 0 ? 0 : maxStart[s]!;
      const inRow = s > 0 ? bm[s - 1]! : undefined;
      const qBase = (s - 1) * n - 1;
      for (let e = eLo; e <= eHi; e++) {
        let bestS = Infinity;
        let bestM = Infinity;
        let bsArg = -1;
        let bmArg = -1;
        const out = s < last ? bm[s]![e]! : 0;
        const pe = p[e + 1]!;
        for (let a = e < aHi ? e : aHi; a >= aLo; a--) {
          const c = pe - p[a]!;
          if (c > B) break;
          let w = c + out;
          let pS = 0;
          let pM = 0;
          if (inRow !== undefined) {
            w += inRow[a - 1]!;
            pS = fS[qBase + a]!;
            if (pS === Infinity) continue;
            pM = fM[qBase + a]!;
          }
          fwdTransitions++;
          if (w > B) continue;
          const S2 = pS + w;
          const M2 = w > pM ? w : pM;
          if (S2 < bestS) { bestS = S2; bsArg = a; }
          if (M2 < bestM) { bestM = M2; bmArg = a; }
        }
        const q = s * n + e;
        fS[q] = bestS;
        fM[q] = bestM;
        argS[q] = bsArg;
        argM[q] = bmArg;
      }
    }
  };
  const sizesTmp = new Int32Array(pp);
  const tryArg = (arg: Int32Array): void => {
    let e = n - 1;
    for (let s = last; s >= 0; s--) {
      const a = arg[s * n + e]!;
      if (a < 0) return;
      sizesTmp[s] = e - a + 1;
      e = a - 1;
    }
    if (e === -1) trySizes(sizesTmp);
  };
  const updateCap = (gSum: number): void => {
    if (bestU < U) {
      U = bestU;
      Ucut = U * (1 + 4 * TIE_REL);
    }
    if (m1 > 0 && gSum < Infinity) cap = Math.min(cap, (Ucut - gSum) / m1);
  };
  if (m1 === 0) {
    // F = Σ: the backward pass alone is exact; no prefix bounds needed
    computeBands(Infinity);
    fS.fill(0);
    fM.fill(0);
  } else {
  forward(cap);
  tryArg(argS);
  tryArg(argM);
  const gSum = fS[last * n + n - 1]!; // min Σ over all partitions within the cap: a lower bound
  const bMin = fM[last * n + n - 1]!; // the min–max bottleneck
  updateCap(gSum);
  if (m1 > 0 && bMin < cap) {
    // g(B) = min Σ subject to every stage ≤ B; F* = min_B (m−1)·B + g(B). Probe a grid of B in
    // [bMin, cap] (and refine around the best) for a near-optimal U: pruning depends on it.
    const probe = (B: number): number => {
      forward(B);
      const before = bestU;
      tryArg(argS);
      updateCap(gSum);
      return bestU < before ? B : NaN;
    };
    const G = 6;
    let bestB = bMin;
    let lo = bMin;
    let hi = cap;
    for (let round = 0; round < 2 && hi > lo; round++) {
      const step = (hi - lo) / G;
      for (let i = 0; i <= G; i++) {
        const B = lo + step * i;
        if (B > cap) break;
        const got = probe(B);
        if (got === got) bestB = got;
      }
      lo = Math.max(bMin, bestB - step);
      hi = Math.min(cap, bestB + step);
    }
  }
  forward(cap); // the prefix bounds under the final cap
  bands();
  }

  // ---- 3. backward Pareto DP over suffixes ----
  // fronts: pairs (M, S) in a pool, sorted by M ascending, S strictly descending
  let pool = new Float64Array(1 << 16);
  let poolLen = 0;
  const frontOff: Int32Array[] = [];
  const frontCnt: Int32Array[] = [];
  for (let s = 0; s < pp; s++) {
    frontOff.push(new Int32Array(n + 1));
    frontCnt.push(new Int32Array(n + 1));
  }
  const push = (M: number, S: number): void => {
    if (poolLen + 2 > pool.length) {
      const bigger = new Float64Array(pool.length * 2);
      bigger.set(pool);
      pool = bigger;
    }
    pool[poolLen++] = M;
    pool[poolLen++] = S;
  };
  let cur = new Float64Array(256);
  let curLen = 0; // in labels
  let grp = new Float64Array(256);
  let out = new Float64Array(256);
  const ensure = (arr: Float64Array<ArrayBuffer>, labels: number): Float64Array<ArrayBuffer> => {
    if (arr.length >= labels * 2) return arr;
    const bigger = new Float64Array(Math.max(labels * 2, arr.length * 2));
    bigger.set(arr);
    return bigger;
  };
  let states = 0;
  let transitions = fwdTransitions;
  let maxFront = 0;

  // last stage
  for (let a = minStart[last]!; a <= maxStart[last]!; a++) {
    states++;
    const w = stageTime(last, a, n - 1);
    const q = (last - 1) * n + a - 1;
    const pS = fS[q]!;
    const pM = fM[q]!;
    if (w > cap || pS === Infinity || m1 * (w > pM ? w : pM) + w + pS > Ucut) continue;
    frontOff[last]![a] = poolLen;
    frontCnt[last]![a] = 1;
    push(m1 > 0 ? w : 0, w);
    if (maxFront < 1) maxFront = 1;
  }
  for (let s = last - 1; s >= 0; s--) {
    const p = pre[s]!;
    const offNext = frontOff[s + 1]!;
    const cntNext = frontCnt[s + 1]!;
    const eLo0 = minStart[s + 1]! - 1;
    const eHi0 = Math.min(maxStart[s + 1]! - 1, n - pp + s);
    const aLo = minStart[s]!;
    const aHi = s === 0 ? 0 : maxStart[s]!;
    for (let a = aLo; a <= aHi; a++) {
      states++;
      const inCost = s > 0 ? bm[s - 1]![a - 1]! : 0;
      // lower bounds of the prefix (stages 0..s−1 over nodes 0..a−1)
      const pS = s > 0 ? fS[(s - 1) * n + a - 1]! : 0;
      const pM = s > 0 ? fM[(s - 1) * n + a - 1]! : 0;
      if (pS === Infinity) continue;
      curLen = 0;
      for (let e = Math.max(a, eLo0); e <= eHi0; e++) {
        const c = p[e + 1]! - p[a]!;
        if (c > cap) break;
        const cnt = cntNext[e + 1]!;
        if (cnt === 0) continue;
        transitions++;
        let w = c + bm[s]![e]!;
        if (s > 0) w += inCost;
        if (w > cap) continue;
        // map the next state's front through this stage: (max(w, M'), w + S')
        const off = offNext[e + 1]!;
        if (m1 === 0) {
          // single-label fronts (M ≡ 0): keep the least S
          const S2 = w + pool[off + 1]!;
          if (curLen === 0 || S2 < cur[1]!) {
            cur[0] = 0;
            cur[1] = S2;
            curLen = 1;
          }
          continue;
        }
        let i = 0;
        while (i + 1 < cnt && pool[off + 2 * (i + 1)]! <= w) i++;
        // labels 0..i with M' ≤ w collapse to M = w; the one with the least S' is i
        let gLen = 0;
        grp = ensure(grp, cnt);
        for (let q = pool[off]! <= w ? i : 0; q < cnt; q++) {
          const Mq = pool[off + 2 * q]!;
          const M2 = m1 > 0 ? (Mq > w ? Mq : w) : 0;
          const S2 = w + pool[off + 2 * q + 1]!;
          if (m1 * (M2 > pM ? M2 : pM) + S2 + pS > Ucut) continue;
          grp[2 * gLen] = M2;
          grp[2 * gLen + 1] = S2;
          gLen++;
        }
        if (gLen === 0) continue;
        // merge cur and grp into out, keeping the Pareto front
        out = ensure(out, curLen + gLen);
        let x = 0;
        let y = 0;
        let o = 0;
        let lastS = Infinity;
        while (x < curLen || y < gLen) {
          let M: number;
          let S: number;
          if (y >= gLen || (x < curLen && (cur[2 * x]! < grp[2 * y]! || (cur[2 * x] === grp[2 * y] && cur[2 * x + 1]! <= grp[2 * y + 1]!)))) {
            M = cur[2 * x]!;
            S = cur[2 * x + 1]!;
            x++;
          } else {
            M = grp[2 * y]!;
            S = grp[2 * y + 1]!;
            y++;
          }
          if (S < lastS) {
            out[2 * o] = M;
            out[2 * o + 1] = S;
            o++;
            lastS = S;
          }
        }
        const t = cur;
        cur = out;
        out = t;
        curLen = o;
      }
      if (curLen > 0) {
        frontOff[s]![a] = poolLen;
        frontCnt[s]![a] = curLen;
        for (let q = 0; q < curLen; q++) push(cur[2 * q]!, cur[2 * q + 1]!);
        if (curLen > maxFront) maxFront = curLen;
      }
    }
  }

  const cnt0 = frontCnt[0]![0]!;
  if (cnt0 === 0) throw new Error('dp: no partition survived pruning (bug)');
  let fMin = Infinity;
  for (let q = 0; q < cnt0; q++) {
    const off = frontOff[0]![0]! + 2 * q;
    const f = m1 * pool[off]! + pool[off + 1]!;
    if (f < fMin) fMin = f;
  }
  const thr = fMin * (1 + TIE_REL);

  // ---- 4. forward walk: the lexicographically smallest sizes among the tied optima ----
  const sizes: number[] = [];
  let a = 0;
  let M = 0;
  let S = 0;
  for (let s = 0; s < last; s++) {
    const p = pre[s]!;
    const inCost = s > 0 ? bm[s - 1]![a - 1]! : 0;
    let chosen = -1;
    for (let e = a; e <= n - pp + s; e++) {
      const c = p[e + 1]! - p[a]!;
      if (c > cap) break;
      const cnt = frontCnt[s + 1]![e + 1]!;
      if (cnt === 0) continue;
      let w = c + bm[s]![e]!;
      if (s > 0) w += inCost;
      const M2 = w > M ? w : M;
      const S2 = S + w;
      const off = frontOff[s + 1]![e + 1]!;
      let ok = false;
      for (let q = 0; q < cnt && !ok; q++) {
        const Mq = pool[off + 2 * q]!;
        if (m1 * (Mq > M2 ? Mq : M2) + S2 + pool[off + 2 * q + 1]! <= thr) ok = true;
      }
      if (ok) {
        chosen = e;
        M = M2;
        S = S2;
        break;
      }
    }
    if (chosen < 0) throw new Error('dp: tie-break walk found no completion (bug)');
    sizes.push(chosen - a + 1);
    a = chosen + 1;
  }
  sizes.push(n - a);

  opts.stats?.({ states, transitions, labels: poolLen / 2, maxFront, upperBound: U, stageCap: cap });
  return { sizes, objective: objectiveInto(rows, bc, m, sizes, stageScratch) };
}
