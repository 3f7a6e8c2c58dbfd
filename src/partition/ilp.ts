/**
 * `ilp`: F(P) = (m − 1)·max_s stage_s + Σ_s stage_s as a mixed-integer program, solved by HiGHS
 * (npm `highs`, WebAssembly) in a worker thread.
 *
 * Formulation ("staircase"): for each boundary j = 0 … pp−2 and node k, a binary
 * z[j][k] = 1 ⇔ k ≤ last_j. Only k ∈ (j, n−pp+j] are variables (k ≤ j is always 1, larger k is
 * always 0), (pp−1)(n−pp) binaries in all.
 *   monotone:   z[j][k+1] ≤ z[j][k]
 *   non-empty:  z[j][k] ≤ z[j+1][k+1]          (last_{j+1} ≥ last_j + 1)
 *   comp_s  = Σ_k c[s][k]·(z[s][k] − z[s−1][k])  (z[pp−1][·] ≡ 1, z[−1][·] ≡ 0)
 *   bound_j = Σ_k b(k, j)·(z[j][k] − z[j][k+1])  (exactly one difference is 1: k = last_j)
 *   stage_s = comp_s + bound_s + bound_{s−1};  stage_s ≤ T
 *   minimise (m − 1)·T + Σ_s stage_s
 * Costs are scaled so the objective of an even split is 1000 (tolerances are absolute).
 *
 * Tie-break (phase 2, in the worker): with the objective row bounded by F₁·(1+TIE_REL), where F₁
 * is the phase-1 optimum, minimise last_0, fix it, minimise last_1, … — the lexicographically
 * smallest cut vector among the tied optima, the same rule as dp and bruteforce. That costs pp−1
 * more MIP solves.
 *
 * Time limit: `timeLimit_s` (default 10 s) bounds both phases together. If it runs out before
 * optimality (and the tie-break) is proven, ilp throws a FasopError — unless `allowIncumbent` is
 * set, in which case it returns the best partition found with `optimal: false`.
 */
import { Worker } from 'node:worker_threads';
import { FasopError } from '../errors.js';
import { boundaryMatrix, checkProblem, objectiveInto, TIE_REL } from './objective.js';
import type { IlpWorkerRequest, IlpWorkerResponse } from './ilp-worker.js';
import type { PartitionProblem, PartitionResult } from './types.js';

export interface IlpOptions {
  /** seconds for both phases together (default 10) */
  timeLimit_s?: number;
  /** HiGHS mip_rel_gap for phase 1 (default 1e-10: proven optimal up to round-off) */
  mipRelGap?: number;
  /** break ties lexicographically (default true); false returns HiGHS' own choice among optima */
  lexTieBreak?: boolean;
  /** on time-out return the incumbent flagged optimal: false instead of throwing */
  allowIncumbent?: boolean;
  /** fix cut variables outside the ranges allowed by a valid stage-time cap (default true) */
  tighten?: boolean;
}

/**
 * For each boundary j, the range [lo, hi] that last_j must lie in for any partition whose F is
 * within TIE_REL of the optimum: from a heuristic upper bound U (the best of an even split and
 * greedy bottleneck packings) every stage of such a partition is ≤ cap = (U(1+4τ) − LB_Σ)/(m−1).
 */
export function cutRanges(
  problem: PartitionProblem,
  rows: readonly (readonly number[])[],
  bm: Float64Array[],
  pp: number,
  n: number,
  even: number[],
): [number, number][] {
  const m1 = problem.microBatches - 1;
  const bc = (k: number, j: number): number => bm[j]![k]!;
  const scratch = new Float64Array(pp);
  const pre = rows.map((r) => {
    const p = new Float64Array(n + 1);
    for (let k = 0; k < n; k++) p[k + 1] = p[k]! + r[k]!;
    return p;
  });
  const stageTime = (s: number, a: number, e: number): number =>
    pre[s]![e + 1]! - pre[s]![a]! + (s < pp - 1 ? bm[s]![e]! : 0) + (s > 0 ? bm[s - 1]![a - 1]! : 0);
  let U = objectiveInto(rows, bc, problem.microBatches, even, scratch);
  const sizes = new Int32Array(pp);
  const greedy = (B: number): boolean => {
    let a = 0;
    for (let s = 0; s < pp - 1; s++) {
      let best = -1;
      for (let e = a; e <= n - pp + s; e++) {
        if (pre[s]![e + 1]! - pre[s]![a]! > B) break;
        if (stageTime(s, a, e) <= B) best = e;
      }
      if (best < 0) return false;
      sizes[s] = best - a + 1;
      a = best + 1;
    }
    if (stageTime(pp - 1, a, n - 1) > B) return false;
    sizes[pp - 1] = n - a;
    return true;
  };
  let lo = 0;
  let hi = 0;
  for (const p of pre) hi = Math.max(hi, p[n]!);
  let bmax = 0;
  for (const r of bm) for (const v of r) if (v > bmax) bmax = v;
  hi += 2 * bmax;
  for (let it = 0; it < 64 && hi - lo > 1e-12 * hi; it++) {
    const mid = 0.5 * (lo + hi);
    if (greedy(mid)) {
      hi = mid;
      U = Math.min(U, objectiveInto(rows, bc, problem.microBatches, sizes, scratch));
    } else lo = mid;
  }
  let lbSum = 0;
  for (let k = 0; k < n; k++) {
    let c = Infinity;
    for (const r of rows) c = Math.min(c, r[k]!);
    lbSum += c;
  }
  for (let j = 0; j < pp - 1; j++) {
    let b = Infinity;
    for (let k = j; k <= n - pp + j; k++) b = Math.min(b, bm[j]![k]!);
    lbSum += 2 * b;
  }
  const cap = m1 > 0 ? (U * (1 + 4 * TIE_REL) - lbSum) / m1 : Infinity;
  // furthest reach and earliest start of each stage under the cap (costs ≥ 0)
  const maxStart = new Int32Array(pp);
  const minStart = new Int32Array(pp);
  for (let s = 0; s < pp - 1; s++) {
    const a = maxStart[s]!;
    let e = a;
    while (e + 1 <= n - pp + s && pre[s]![e + 2]! - pre[s]![a]! <= cap) e++;
    maxStart[s + 1] = e + 1;
  }
  let endNext = n - 1;
  for (let s = pp - 1; s >= 1; s--) {
    let a = endNext;
    while (a - 1 >= s && pre[s]![endNext + 1]! - pre[s]![a - 1]! <= cap) a--;
    minStart[s] = a;
    endNext = a - 1;
  }
  const out: [number, number][] = [];
  for (let j = 0; j < pp - 1; j++) {
    const lo2 = Math.max(j, minStart[j + 1]! - 1);
    const hi2 = Math.min(n - pp + j, maxStart[j + 1]! - 1);
    out.push(lo2 <= hi2 ? [lo2, hi2] : [j, n - pp + j]); // empty (round-off): no fixing
  }
  return out;
}

export interface IlpResult extends PartitionResult {
  /** optimality (and, with lexTieBreak, the tie-break) proven */
  optimal: boolean;
  /** HiGHS' phase-1 model status */
  status: string;
  /** phase-1 objective and dual bound, in seconds (unscaled) */
  mipObjective: number;
  mipDualBound: number;
  /** MIP solves run (1 + tie-break steps) and wall seconds inside the worker */
  solves: number;
  solverSeconds: number;
}

/** The MIP for a problem (exported for tests and the benchmark). */
export function buildIlpModel(problem: PartitionProblem, tighten = true): { req: Omit<IlpWorkerRequest, 'id' | 'timeLimit_s' | 'mipRelGap' | 'mipAbsGap' | 'lex' | 'tieRel'>; scale: number; pp: number; n: number } {
  const { pp, n } = checkProblem(problem);
  const rows = problem.nodeCost_s;
  const m1 = problem.microBatches - 1;
  const bm = boundaryMatrix(problem, pp, n);
  const width = n - pp; // variables per boundary
  const nz = (pp - 1) * width;
  const tCol = nz;
  const numCols = nz + 1;
  const zIdx = (j: number, k: number): number => j * width + (k - j - 1);
  const isVar = (j: number, k: number): boolean => j >= 0 && j <= pp - 2 && k > j && k <= n - pp + j;
  const constVal = (j: number, k: number): number => (j >= pp - 1 ? 1 : j < 0 ? 0 : k <= j ? 1 : 0);

  // scale: an even split's objective becomes 1000
  const even: number[] = [];
  const base = Math.floor(n / pp);
  for (let s = 0; s < pp; s++) even.push(base + (s < n - base * pp ? 1 : 0));
  const fEven = objectiveInto(rows, (k, j) => bm[j]![k]!, problem.microBatches, even, new Float64Array(pp));
  const scale = fEven > 0 ? 1000 / fEven : 1;

  // linear expressions: coefficient map + constant
  type Expr = { coef: Map<number, number>; c: number };
  const add = (e: Expr, j: number, k: number, v: number): void => {
    if (v === 0) return;
    if (isVar(j, k)) {
      const i = zIdx(j, k);
      e.coef.set(i, (e.coef.get(i) ?? 0) + v);
    } else e.c += v * constVal(j, k);
  };
  const stages: Expr[] = [];
  for (let s = 0; s < pp; s++) {
    const e: Expr = { coef: new Map(), c: 0 };
    const row = rows[s]!;
    for (let k = 0; k < n; k++) {
      const v = row[k]! * scale;
      add(e, s, k, v);
      add(e, s - 1, k, -v);
    }
    for (const j of [s, s - 1]) {
      if (j < 0 || j > pp - 2) continue;
      for (let k = j; k <= n - pp + j; k++) {
        const v = bm[j]![k]! * scale;
        add(e, j, k, v);
        add(e, j, k + 1, -v);
      }
    }
    stages.push(e);
  }
  const colCost = new Float64Array(numCols);
  let offset = 0;
  for (const e of stages) {
    for (const [i, v] of e.coef) colCost[i] = colCost[i]! + v;
    offset += e.c;
  }
  colCost[tCol] = m1;
  const colLower = new Float64Array(numCols);
  const colUpper = new Float64Array(numCols).fill(1);
  colUpper[tCol] = Infinity;
  const integrality = new Int32Array(numCols).fill(1);
  integrality[tCol] = 0;

  const starts: number[] = [0];
  const indices: number[] = [];
  const values: number[] = [];
  const rowLower: number[] = [];
  const rowUpper: number[] = [];
  const pushRow = (entries: [number, number][], lo: number, hi: number): void => {
    entries.sort((x, y) => x[0] - y[0]);
    for (const [i, v] of entries) {
      indices.push(i);
      values.push(v);
    }
    starts.push(indices.length);
    rowLower.push(lo);
    rowUpper.push(hi);
  };
  // stage_s − T ≤ 0
  for (const e of stages) {
    const entries: [number, number][] = [];
    for (const [i, v] of e.coef) if (v !== 0) entries.push([i, v]);
    entries.push([tCol, -1]);
    pushRow(entries, -Infinity, -e.c);
  }
  for (let j = 0; j <= pp - 2; j++) {
    for (let k = j + 1; k < n - pp + j; k++) pushRow([[zIdx(j, k + 1), 1], [zIdx(j, k), -1]], -Infinity, 0);
    if (j <= pp - 3) {
      for (let k = j + 1; k <= n - pp + j; k++) if (isVar(j + 1, k + 1)) pushRow([[zIdx(j, k), 1], [zIdx(j + 1, k + 1), -1]], -Infinity, 0);
    }
  }
  // a feasible start: the even split
  const start = new Float64Array(numCols);
  {
    let lastNode = -1;
    let maxStage = 0;
    const st = new Float64Array(pp);
    objectiveInto(rows, (k, j) => bm[j]![k]!, problem.microBatches, even, st);
    for (const t of st) maxStage = Math.max(maxStage, t * scale);
    for (let j = 0; j <= pp - 2; j++) {
      lastNode += even[j]!;
      for (let k = j + 1; k <= n - pp + j; k++) start[zIdx(j, k)] = k <= lastNode ? 1 : 0;
    }
    start[tCol] = maxStage;
  }
  if (tighten) {
    // Valid bound tightening (not coarsening): every optimal or tied partition has all stages
    // ≤ cap = (U·(1+4τ) − LB_Σ)/(m−1), U = F of a heuristic partition, LB_Σ a lower bound of Σ stage.
    // Node costs are ≥ 0, so that bounds where each cut can lie; z outside those ranges is fixed.
    const range = cutRanges(problem, rows, bm, pp, n, even);
    for (let j = 0; j <= pp - 2; j++) {
      const [lo, hi] = range[j]!;
      for (let k = j + 1; k <= n - pp + j; k++) {
        const i = zIdx(j, k);
        if (k <= lo) colLower[i] = 1;
        if (k > hi) colUpper[i] = 0;
      }
    }
    for (let j = 0; j <= pp - 2; j++) {
      // keep the start consistent with the fixings when the even split lies outside (it is only a hint)
      for (let k = j + 1; k <= n - pp + j; k++) {
        const i = zIdx(j, k);
        start[i] = Math.min(colUpper[i]!, Math.max(colLower[i]!, start[i]!));
      }
    }
  }
  const groups = [];
  for (let j = 0; j <= pp - 2; j++) groups.push({ start: j * width, count: width });
  return {
    req: {
      numCols,
      numRows: rowLower.length,
      colCost,
      colLower,
      colUpper,
      rowLower: Float64Array.from(rowLower),
      rowUpper: Float64Array.from(rowUpper),
      starts: Int32Array.from(starts),
      indices: Int32Array.from(indices),
      values: Float64Array.from(values),
      integrality,
      offset,
      start,
      groups,
    },
    scale,
    pp,
    n,
  };
}

// ---- the worker ----
let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<number, { resolve: (r: IlpWorkerResponse) => void; reject: (e: Error) => void }>();

function workerUrl(): URL {
  // from src/ under tsx the worker needs the tsx loader registered; compiled JS runs directly
  return import.meta.url.endsWith('.ts') ? new URL('./ilp-worker-boot.mjs', import.meta.url) : new URL('./ilp-worker.js', import.meta.url);
}

function getWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(workerUrl());
  w.on('message', (res: IlpWorkerResponse) => {
    const p = pending.get(res.id);
    if (!p) return;
    pending.delete(res.id);
    if (pending.size === 0) w.unref();
    p.resolve(res);
  });
  const fail = (err: Error): void => {
    if (worker === w) worker = undefined;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  w.on('error', fail);
  w.on('exit', (code) => fail(new Error(`ilp worker exited with code ${code}`)));
  w.unref();
  worker = w;
  return w;
}

/** Stop the solver worker (it is unref'd, so this is only needed to free memory early). */
export async function closeIlpWorker(): Promise<void> {
  const w = worker;
  worker = undefined;
  if (w) await w.terminate();
}

function ask(req: IlpWorkerRequest, hardLimit_ms: number): Promise<IlpWorkerResponse> {
  const w = getWorker();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      // HiGHS ignored its own time limit: kill the worker
      if (pending.delete(req.id)) {
        void closeIlpWorker();
        reject(new FasopError(`partition: ilp solver did not stop within ${(hardLimit_ms / 1000).toFixed(0)} s`, 'use --pp-partition-method dp'));
      }
    }, hardLimit_ms);
    timer.unref();
    pending.set(req.id, {
      resolve: (r) => { clearTimeout(timer); resolve(r); },
      reject: (e) => { clearTimeout(timer); reject(e); },
    });
    w.ref();
    w.postMessage(req);
  });
}

export async function ilpPartition(problem: PartitionProblem, opts: IlpOptions = {}): Promise<IlpResult> {
  const { pp, n } = checkProblem(problem);
  const trivial = (sizes: number[]): IlpResult => {
    const bm = boundaryMatrix(problem, pp, n);
    const objective = objectiveInto(problem.nodeCost_s, (k, j) => bm[j]![k]!, problem.microBatches, sizes, new Float64Array(pp));
    return { sizes, objective, optimal: true, status: 'trivial', mipObjective: objective, mipDualBound: objective, solves: 0, solverSeconds: 0 };
  };
  if (pp === 1) return trivial([n]);
  if (pp === n) return trivial(new Array<number>(n).fill(1));
  const timeLimit_s = opts.timeLimit_s ?? 10;
  const lex = opts.lexTieBreak ?? true;
  const built = buildIlpModel(problem, opts.tighten ?? true);
  const req: IlpWorkerRequest = {
    ...built.req,
    id: nextId++,
    timeLimit_s,
    mipRelGap: opts.mipRelGap ?? 1e-10,
    mipAbsGap: 1e-9,
    lex,
    tieRel: TIE_REL,
  };
  const res = await ask(req, (timeLimit_s + 30) * 1000);
  if (!res.ok) throw new FasopError(`partition: ilp failed: ${res.message}`, 'use --pp-partition-method dp');
  // decode the cut positions
  const sizes: number[] = [];
  let prevLast = -1;
  for (let j = 0; j <= pp - 2; j++) {
    const g = req.groups[j]!;
    let L = j;
    for (let q = 0; q < g.count; q++) L += Math.round(res.colValue[g.start + q]!);
    sizes.push(L - prevLast);
    prevLast = L;
  }
  sizes.push(n - 1 - prevLast);
  const optimal = res.status === 'optimal' && (!lex || res.lexDone);
  if (!optimal && !opts.allowIncumbent) {
    throw new FasopError(
      `partition: ilp did not prove an optimum within ${timeLimit_s} s (HiGHS status ${res.status}${res.status === 'optimal' ? ', tie-break unfinished' : ''})`,
      'raise the ILP time limit or use --pp-partition-method dp (exact, milliseconds)',
    );
  }
  const bm = boundaryMatrix(problem, pp, n);
  const objective = objectiveInto(problem.nodeCost_s, (k, j) => bm[j]![k]!, problem.microBatches, sizes, new Float64Array(pp));
  return {
    sizes,
    objective,
    optimal,
    status: res.status,
    mipObjective: res.objective / built.scale,
    mipDualBound: res.dualBound / built.scale,
    solves: res.solves,
    solverSeconds: res.seconds,
  };
}
