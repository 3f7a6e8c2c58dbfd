/**
 * The Pareto frontier of training plans, cost against throughput, exactly as the original draws it
 * (SPEC §13.6):
 *
 * 1. keep the rows that are not OOM;
 * 2. sort them by (cost ascending, throughput descending), stably (input order breaks ties);
 * 3. scan in that order and mark a point when its throughput is strictly greater than every
 *    throughput seen so far.
 *
 * So a point is on the frontier iff no other valid point is at least as cheap and at least as fast
 * with one of the two strictly better — except that among rows with identical (cost, throughput)
 * only the first in input order is marked. NaN follows pandas: a NaN cost sorts last, a NaN
 * throughput is never marked (and does not raise the running maximum).
 */

/** What the frontier needs to know about a plan. */
export interface ParetoPoint {
  /** total training cost, USD */
  cost: number;
  /** samples per second */
  throughput: number;
  isOom: boolean;
}

export interface ParetoResult<T> {
  /** the non-OOM rows, in input order */
  valid: T[];
  /** the frontier rows, sorted by cost ascending (throughput then strictly increases) */
  frontier: T[];
  /** the valid rows not on the frontier, in input order */
  others: T[];
  /** the first valid row (input order) with the highest throughput, as pandas' idxmax picks it; undefined when no valid row has a number for throughput */
  maxThroughput: T | undefined;
}

/** Sort key comparison: cost ascending, then throughput descending; NaN last in both (pandas). */
function compareCostThenThroughput(a: ParetoPoint, b: ParetoPoint): number {
  const c = nanLast(a.cost, b.cost) ?? (a.cost < b.cost ? -1 : a.cost > b.cost ? 1 : 0);
  if (c !== 0) return c;
  return nanLast(a.throughput, b.throughput) ?? (a.throughput > b.throughput ? -1 : a.throughput < b.throughput ? 1 : 0);
}

/** The order when x or y is NaN (NaN after numbers), or undefined when neither is. */
function nanLast(x: number, y: number): number | undefined {
  const xn = Number.isNaN(x);
  const yn = Number.isNaN(y);
  if (!xn && !yn) return undefined;
  return xn === yn ? 0 : xn ? 1 : -1;
}

/** Rows that carry the ParetoPoint fields directly. */
export function paretoFrontier<T extends ParetoPoint>(rows: readonly T[]): ParetoResult<T>;
/** Any rows, read through an accessor. */
export function paretoFrontier<T>(rows: readonly T[], get: (row: T) => ParetoPoint): ParetoResult<T>;
export function paretoFrontier<T>(rows: readonly T[], get?: (row: T) => ParetoPoint): ParetoResult<T> {
  const read = get ?? ((r: T) => r as unknown as ParetoPoint);
  const valid: { row: T; p: ParetoPoint; i: number }[] = [];
  rows.forEach((row) => {
    const p = read(row);
    if (!p.isOom) valid.push({ row, p, i: valid.length });
  });

  // Array.prototype.sort is stable (ES2019), so equal keys keep input order.
  const sorted = [...valid].sort((a, b) => compareCostThenThroughput(a.p, b.p));
  const onFrontier = new Set<number>();
  const frontier: T[] = [];
  let best = -Infinity;
  for (const v of sorted) {
    if (v.p.throughput > best) {
      best = v.p.throughput;
      onFrontier.add(v.i);
      frontier.push(v.row);
    }
  }

  let maxThroughput: T | undefined;
  let maxValue = -Infinity;
  for (const v of valid) {
    if (v.p.throughput > maxValue || (maxThroughput === undefined && v.p.throughput === -Infinity)) {
      maxValue = v.p.throughput;
      maxThroughput = v.row;
    }
  }

  return {
    valid: valid.map((v) => v.row),
    frontier,
    others: valid.filter((v) => !onFrontier.has(v.i)).map((v) => v.row),
    maxThroughput,
  };
}

/** The accessor for rows read by `readResultsCsv`. */
export function resultRowPoint(row: { costUsd: number; throughputSamplesPerS: number; isOom: boolean }): ParetoPoint {
  return { cost: row.costUsd, throughput: row.throughputSamplesPerS, isOom: row.isOom };
}
