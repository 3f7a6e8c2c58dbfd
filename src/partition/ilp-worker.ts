/**
 * The HiGHS side of `ilp`, run in a worker thread (HiGHS' solve() is synchronous WebAssembly).
 * It receives a fully built MIP (see ilp.ts), solves it (phase 1), then — when asked — breaks ties
 * by lexicographic minimisation of the cut vector (phase 2): with the objective row bounded by the
 * phase-1 value, it minimises each cut position in turn and fixes it.
 */
import { parentPort } from 'node:worker_threads';
import * as highsModule from 'highs';

export interface IlpWorkerRequest {
  id: number;
  numCols: number;
  numRows: number;
  colCost: Float64Array;
  colLower: Float64Array;
  colUpper: Float64Array;
  rowLower: Float64Array;
  rowUpper: Float64Array;
  /** CSR */
  starts: Int32Array;
  indices: Int32Array;
  values: Float64Array;
  integrality: Int32Array;
  offset: number;
  /** a feasible start (all columns) */
  start: Float64Array;
  /** columns of cut j: z[j][k] for k = first+1 … (count of them); last_j = first + Σ z */
  groups: { start: number; count: number }[];
  timeLimit_s: number;
  mipRelGap: number;
  mipAbsGap: number;
  lex: boolean;
  tieRel: number;
}

export type IlpWorkerResponse =
  | {
      id: number;
      ok: true;
      /** 'optimal' | 'timeLimit' | other HiGHS status names */
      status: string;
      /** phase-1 objective (scaled, offset included) and dual bound */
      objective: number;
      dualBound: number;
      colValue: Float64Array;
      /** phase 2 ran to the end */
      lexDone: boolean;
      solves: number;
      seconds: number;
    }
  | { id: number; ok: false; message: string };

type HighsLoader = (opts?: unknown) => Promise<any>;
const loader: HighsLoader = ((highsModule as unknown as { default?: HighsLoader }).default ?? (highsModule as unknown as HighsLoader));
let highsPromise: Promise<any> | undefined;

function statusName(highs: any, code: number): string {
  for (const [k, v] of Object.entries(highs.constants.modelStatus as Record<string, number>)) if (v === code) return k;
  return `status${code}`;
}

export async function solveIlpRequest(req: IlpWorkerRequest): Promise<IlpWorkerResponse> {
  highsPromise ??= loader();
  const highs = await highsPromise;
  const t0 = performance.now();
  const remaining = (): number => Math.max(0.01, req.timeLimit_s - (performance.now() - t0) / 1000);
  const model = highs.createModel({
    numCols: req.numCols,
    numRows: req.numRows,
    offset: req.offset,
    colCost: req.colCost,
    colLower: req.colLower,
    colUpper: req.colUpper,
    rowLower: req.rowLower,
    rowUpper: req.rowUpper,
    matrix: { format: 'csr', numRows: req.numRows, numCols: req.numCols, starts: req.starts, indices: req.indices, values: req.values },
    integrality: req.integrality,
  });
  try {
    model.options.set({
      output_flag: false,
      mip_rel_gap: req.mipRelGap,
      mip_abs_gap: req.mipAbsGap,
      time_limit: remaining(),
    });
    model.setSolution({ colValue: req.start });
    model.run();
    let solves = 1;
    const st = model.getModelStatus() as number;
    const status = statusName(highs, st);
    const info = model.info;
    const objective = Number(info.get('objective_function_value'));
    const dualBound = Number(info.get('mip_dual_bound'));
    const primalOk = Number(info.get('primal_solution_status')) === 2;
    if (!primalOk) {
      return { id: req.id, ok: false, message: `HiGHS found no feasible partition (status ${status})` };
    }
    let col = model.getSolution().colValue as Float64Array;
    if (st !== highs.constants.modelStatus.optimal || !req.lex) {
      return { id: req.id, ok: true, status, objective, dualBound, colValue: col, lexDone: false, solves, seconds: (performance.now() - t0) / 1000 };
    }
    // phase 2: objective row ≤ F1·(1+τ) (as Σ cost·x ≤ F1(1+τ) − offset), then minimise each cut in turn
    const nz: number[] = [];
    const nzv: number[] = [];
    for (let c = 0; c < req.numCols; c++) if (req.colCost[c] !== 0) { nz.push(c); nzv.push(req.colCost[c]!); }
    const bound = objective + Math.abs(objective) * req.tieRel - req.offset;
    model.addRow(-highs.infinity, bound, { indices: Int32Array.from(nz), values: Float64Array.from(nzv) });
    model.changeObjectiveOffset(0);
    const zero = new Float64Array(req.numCols);
    let lexDone = true;
    for (const g of req.groups) {
      if (g.count === 0) continue;
      const cost = zero.slice();
      for (let q = 0; q < g.count; q++) cost[g.start + q] = 1;
      model.changeColsCost({ kind: 'range', from: 0, to: req.numCols - 1 }, cost);
      model.options.set({ time_limit: remaining(), mip_rel_gap: 0, mip_abs_gap: 0.5 });
      model.setSolution({ colValue: col });
      model.run();
      solves++;
      const s2 = model.getModelStatus() as number;
      if (Number(model.info.get('primal_solution_status')) !== 2) { lexDone = false; break; }
      col = model.getSolution().colValue as Float64Array;
      if (s2 !== highs.constants.modelStatus.optimal) { lexDone = false; break; }
      let L = 0;
      for (let q = 0; q < g.count; q++) L += Math.round(col[g.start + q]!);
      const lo = new Float64Array(g.count);
      const hi = new Float64Array(g.count);
      for (let q = 0; q < g.count; q++) { const v = q < L ? 1 : 0; lo[q] = v; hi[q] = v; }
      model.changeColsBounds({ kind: 'range', from: g.start, to: g.start + g.count - 1 }, lo, hi);
    }
    return { id: req.id, ok: true, status, objective, dualBound, colValue: col, lexDone, solves, seconds: (performance.now() - t0) / 1000 };
  } finally {
    model.dispose();
  }
}

if (parentPort) {
  const port = parentPort;
  port.on('message', (req: IlpWorkerRequest) => {
    solveIlpRequest(req).then(
      (res) => port.postMessage(res),
      (err: unknown) => port.postMessage({ id: req.id, ok: false, message: err instanceof Error ? err.message : String(err) }),
    );
  });
}
