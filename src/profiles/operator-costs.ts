/**
 * The time of an operator at a shape, from an operator profile by shape: log(time) interpolated
 * linearly in log(axis) along each measured axis (exact at measured points; an ideal GEMM,
 * time ∝ M·N·K, is interpolated exactly). Outside the measured range it extrapolates — along the
 * size axis (the last) in proportion to size above the largest point, otherwise with the end
 * segment's log-log slope — and says which axis went outside.
 */
import { FasopError } from '../errors.js';
import type { OperatorProfile, OperatorTable, TableName } from './operators.js';
import { TABLE_AXES, TABLE_FIELDS } from './operators.js';
import type { OperatorShape } from '../model/shapes.js';

/** Points grouped by axis; `lo`/`hi`: the smallest and largest value of each deeper axis below the node. */
type Tree = ({ xs: number[]; kids: Tree[] } | { xs: number[]; ys: number[][] }) & { lo: number[]; hi: number[] };

export interface Lookup {
  ms: number;
  /** one entry per axis the query left the measured range on, e.g. "tokens 65536 > 32768" */
  outside: string[];
}

export interface OperatorCost {
  shape: OperatorShape;
  /** one call's forward, ms (× shape.count in the totals) */
  forward_ms: number;
  /** one call's backward (linear: input gradient + weight gradient), ms */
  backward_ms: number;
  outside: string[];
}

const trees = new WeakMap<OperatorTable, Tree>();

/** Tables a profile written before them lacks (profiler/operators.py --only layout adds them). */
const LATER_TABLES: ReadonlySet<TableName> = new Set(['head_merge', 'qkv_grad_stack', 'bias_grad']);

/** Group points by each axis in turn; the last axis becomes a sorted series. */
function build(points: number[][], depth: number, nAxes: number, where: string): Tree {
  const values = [...new Set(points.map((p) => p[depth]!))].sort((a, b) => a - b);
  const lo: number[] = [];
  const hi: number[] = [];
  for (let a = depth + 1; a < nAxes; a++) {
    lo.push(Math.min(...points.map((p) => p[a]!)));
    hi.push(Math.max(...points.map((p) => p[a]!)));
  }
  if (depth === nAxes - 1) {
    if (values.length !== points.length) throw new FasopError(`operator table ${where}: two points at the same shape`, 'regenerate the operator profile');
    const sorted = [...points].sort((a, b) => a[depth]! - b[depth]!);
    return { xs: values, ys: sorted.map((p) => p.slice(nAxes)), lo, hi };
  }
  return { xs: values, kids: values.map((v) => build(points.filter((p) => p[depth] === v), depth + 1, nAxes, where)), lo, hi };
}

function treeOf(table: OperatorTable): Tree {
  let t = trees.get(table);
  if (!t) {
    t = build(table.points, 0, table.axes.length, table.axes.join('×'));
    trees.set(table, t);
  }
  return t;
}

/** Index i with xs[i] <= x < xs[i+1] clamped to [0, len-2]; -1 for a single value. */
function bracket(xs: number[], x: number): number {
  if (xs.length < 2) return -1;
  let i = 0;
  while (i < xs.length - 2 && xs[i + 1]! <= x) i++;
  return i;
}

interface Val { y: number; outside: string[] }

/**
 * log(time) at q below `tree`. Where the points are ragged (sub-grids of different extent, as the
 * GEMM grid's two halves), a neighbour whose sub-grid covers the query is preferred to one that
 * would have to extrapolate.
 */
function evalTree(tree: Tree, q: readonly number[], depth: number, field: number, axes: readonly string[]): Val {
  const x = q[depth]!;
  const xs = tree.xs;
  const last = !('kids' in tree);
  const at = (i: number): Val => ('kids' in tree ? evalTree(tree.kids[i]!, q, depth + 1, field, axes) : { y: Math.log(tree.ys[i]![field]!), outside: [] });
  const between = (i: number, j: number, a: Val, b: Val): Val => {
    const slope = (b.y - a.y) / Math.log(xs[j]! / xs[i]!);
    return { y: a.y + slope * Math.log(x / xs[i]!), outside: [...a.outside, ...b.outside] };
  };
  const exact = xs.indexOf(x);
  if (exact >= 0) {
    const r = at(exact);
    if (last || r.outside.length === 0) return r;
  }
  if ('kids' in tree) {
    // the nearest values on each side whose sub-grids cover the query (a kid whose box misses it cannot)
    const kids = tree.kids;
    const boxed = (i: number) => {
      const k = kids[i]!;
      const y = q[depth + 1]!;
      return y >= k.xs[0]! && y <= k.xs[k.xs.length - 1]! && k.lo.every((l, a) => q[depth + 2 + a]! >= l && q[depth + 2 + a]! <= k.hi[a]!);
    };
    let lo = -1;
    let hi = -1;
    let a: Val | undefined;
    let b: Val | undefined;
    for (let i = xs.length - 1; i >= 0 && !a; i--) if (xs[i]! < x && boxed(i)) { const r = at(i); if (r.outside.length === 0) { lo = i; a = r; } }
    for (let i = 0; i < xs.length && !b; i++) if (xs[i]! > x && boxed(i)) { const r = at(i); if (r.outside.length === 0) { hi = i; b = r; } }
    if (a && b) return between(lo, hi, a, b);
    if (exact >= 0) return at(exact);
  }
  const lo = xs[0]!;
  const hi = xs[xs.length - 1]!;
  const flag: string[] = [];
  if (x < lo) flag.push(`${axes[depth]} ${x} < ${lo}`);
  if (x > hi) flag.push(`${axes[depth]} ${x} > ${hi}`);
  const i = bracket(xs, x);
  if (i < 0) {
    const r = at(0);
    return { y: r.y + Math.log(x / xs[0]!), outside: [...r.outside, ...flag] }; // one value: proportional
  }
  const a = at(i);
  const b = at(i + 1);
  const x0 = xs[i]!;
  const x1 = xs[i + 1]!;
  let slope = (b.y - a.y) / Math.log(x1 / x0);
  const outside = [...a.outside, ...b.outside, ...flag];
  if (x > hi) {
    if (last) return { y: b.y + Math.log(x / x1), outside }; // size axis above the grid: time ∝ size
    return { y: b.y + Math.max(0, slope) * Math.log(x / x1), outside };
  }
  if (x < lo) slope = Math.min(Math.max(0, slope), last ? 1 : 3);
  return { y: a.y + slope * Math.log(x / x0), outside };
}

/** Time of one field of a table at a query (axis values in the table's axis order). */
export function lookup(table: OperatorTable, query: readonly number[], field: string): Lookup {
  const f = table.fields.indexOf(field);
  if (f < 0) throw new FasopError(`operator table has no field ${field} (has ${table.fields.join(', ')})`, 'regenerate the operator profile');
  if (query.length !== table.axes.length || query.some((v) => !Number.isFinite(v) || v <= 0)) {
    throw new FasopError(`operator query [${query.join(', ')}] does not fit axes [${table.axes.join(', ')}]`, 'give one positive value per axis');
  }
  const r = evalTree(treeOf(table), query, 0, f, table.axes);
  return { ms: Math.exp(r.y), outside: [...new Set(r.outside)] };
}

function tableFor(profile: OperatorProfile, name: TableName): OperatorTable {
  const t = profile.tables[name];
  if (!t) throw new FasopError(`operator profile ${profile.path} has no table '${name}'`, 'regenerate it with profiler/operators.py (all families)');
  return t;
}

/** Forward and backward ms of one call of an operator at its shape. */
export function operatorCost(profile: OperatorProfile, shape: OperatorShape): OperatorCost {
  // a profile measured before the unaligned GEMMs were: priced as aligned, and said so
  if (shape.table === 'linear_unaligned' && !profile.tables.linear_unaligned) {
    const c = operatorCost(profile, { ...shape, table: 'linear' });
    return { ...c, shape, outside: [...c.outside, `${shape.name}: out_features ${shape.dims['out_features']} not a multiple of 8, priced as aligned (the profile has no linear_unaligned table)`] };
  }
  // a profile measured before the layout and bias-gradient tables were: not priced, and said so
  if (LATER_TABLES.has(shape.table) && !profile.tables[shape.table]) {
    return { shape, forward_ms: 0, backward_ms: 0, outside: [`${shape.name}: not priced (the profile has no ${shape.table} table)`] };
  }
  const table = tableFor(profile, shape.table);
  const query = TABLE_AXES[shape.table].map((a) => {
    const v = (shape.dims as Record<string, number | undefined>)[a];
    if (v === undefined) throw new FasopError(`operator ${shape.name} has no ${a}`, 'report this as a bug');
    return v;
  });
  const fields = TABLE_FIELDS[shape.table];
  const outside = new Set<string>();
  const get = (f: string) => {
    const r = lookup(table, query, f);
    r.outside.forEach((o) => outside.add(o));
    return r.ms;
  };
  const first = get(fields[0]!);
  const isGemm = shape.table === 'linear' || shape.table === 'linear_unaligned';
  const forward_ms = shape.pass === 'backward' ? 0 : first;
  const backward_ms = shape.pass === 'backward' ? first : isGemm ? get('input_grad_ms') + get('weight_grad_ms') : fields.length > 1 ? get(fields[1]!) : 0;
  return { shape, forward_ms, backward_ms, outside: [...outside].map((o) => `${shape.name}: ${o}`) };
}

export interface ListCost {
  forward_ms: number;
  backward_ms: number;
  ops: OperatorCost[];
  /** every extrapolation, "<operator>: <axis> <value> > <largest measured>" */
  outside: string[];
}

/** Totals of a list of operators (each × its count). */
export function costOf(profile: OperatorProfile, shapes: readonly OperatorShape[]): ListCost {
  const ops = shapes.map((s) => operatorCost(profile, s));
  return {
    forward_ms: ops.reduce((a, o) => a + o.shape.count * o.forward_ms, 0),
    backward_ms: ops.reduce((a, o) => a + o.shape.count * o.backward_ms, 0),
    ops,
    outside: ops.flatMap((o) => o.outside),
  };
}

/** The cost_source words for a list: measured grid, or which axes were extrapolated. */
export function costSourceOf(profile: OperatorProfile, cost: ListCost): string {
  const base = `operator profile ${profile.gpu} (${profile.date})`;
  return cost.outside.length === 0 ? `${base}, interpolated` : `${base}, EXTRAPOLATED: ${cost.outside.slice(0, 3).join('; ')}${cost.outside.length > 3 ? ` (+${cost.outside.length - 3} more)` : ''}`;
}
