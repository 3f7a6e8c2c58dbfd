/**
 * The Pareto skyline of SPEC §13.6 for the server's counters: non-OOM points, sorted by cost
 * ascending then throughput descending (stable), kept when their throughput is strictly greater
 * than every one before. TODO: replace with `paretoFrontier` from src/report/pareto.ts once merged.
 */
export interface CostThroughput {
  cost: number;
  throughput: number;
  is_oom: boolean;
}

export function frontierIndices(points: readonly CostThroughput[]): number[] {
  const order = points
    .map((p, i) => i)
    .filter((i) => !points[i]!.is_oom && Number.isFinite(points[i]!.cost) && Number.isFinite(points[i]!.throughput))
    .sort((a, b) => points[a]!.cost - points[b]!.cost || points[b]!.throughput - points[a]!.throughput);
  const out: number[] = [];
  let best = -Infinity;
  for (const i of order) {
    if (points[i]!.throughput > best) {
      best = points[i]!.throughput;
      out.push(i);
    }
  }
  return out;
}
