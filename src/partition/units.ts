/**
 * Partitioning in coarser units: a unit is a run of consecutive items (e.g. a decoder layer's graph
 * operators), and a partition of the units is the partition of the items they cover. Every method
 * then runs unchanged on the grouped problem.
 */
import { FasopError } from '../errors.js';
import type { PartitionProblem } from './types.js';

/**
 * Unit boundaries: unit u covers items starts[u] … starts[u+1] − 1, so starts[0] = 0,
 * starts[units] = the item count, and starts is strictly increasing.
 */
export type UnitStarts = readonly number[];

function checkStarts(starts: UnitStarts, items: number): void {
  const ok = starts.length >= 2 && starts[0] === 0 && starts[starts.length - 1] === items
    && starts.every((x, i) => Number.isSafeInteger(x) && (i === 0 || x > starts[i - 1]!));
  if (!ok) throw new FasopError(`partition: unit starts [${starts.join(', ')}] do not cover ${items} items in order`, 'give strictly increasing unit starts from 0 to the item count');
}

/**
 * The problem over units: a unit's cost on stage s is the left-to-right sum of its items' costs on
 * that stage, and a boundary after unit u costs what it costs after u's last item. Stage rows that
 * are the same array are summed once and stay shared.
 */
export function groupProblem(problem: PartitionProblem, starts: UnitStarts): PartitionProblem {
  const items = problem.nodeCost_s[0]?.length ?? 0;
  checkStarts(starts, items);
  const units = starts.length - 1;
  const grouped = new Map<readonly number[], number[]>();
  const rows = problem.nodeCost_s.map((row) => {
    let g = grouped.get(row);
    if (!g) {
      g = new Array<number>(units);
      for (let u = 0; u < units; u++) {
        let acc = 0;
        for (let k = starts[u]!; k < starts[u + 1]!; k++) acc += row[k]!;
        g[u] = acc;
      }
      grouped.set(row, g);
    }
    return g;
  });
  return {
    nodeCost_s: rows,
    boundaryCost_s: (u, j) => problem.boundaryCost_s(starts[u + 1]! - 1, j),
    microBatches: problem.microBatches,
  };
}

/** Item counts per stage of a partition given in units. */
export function expandSizes(unitSizes: readonly number[], starts: UnitStarts): number[] {
  const out: number[] = [];
  let u = 0;
  for (const size of unitSizes) {
    if (!Number.isSafeInteger(size) || size < 1 || u + size >= starts.length) break;
    out.push(starts[u + size]! - starts[u]!);
    u += size;
  }
  if (out.length !== unitSizes.length || u !== starts.length - 1) throw new FasopError(`partition: unit sizes [${unitSizes.join(', ')}] are not positive unit counts summing to ${starts.length - 1}`, 'give one unit count per stage');
  return out;
}
