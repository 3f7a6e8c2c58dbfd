/**
 * The contiguous partition of `units` into caps.length stages whose slowest stage is fastest, stage
 * s holding between 1 and caps[s] units: exact, by dynamic programming over (stage, units placed),
 * O(stages · units · largest cap). `stageTime(s, a, end)` is stage s's time holding units [a, end),
 * which must not fall as a falls (a stage that starts earlier holds more).
 * Ties: each stage, from the last, holds as few units as it can. undefined when no partition
 * within the caps exists.
 */
export function cappedMinmax(units: number, caps: readonly number[], stageTime: (s: number, a: number, end: number) => number): number[] | undefined {
  const S = caps.length;
  if (S < 1 || units < S || caps.some((c) => !(c >= 1))) return undefined;
  // some partition exists exactly when the caps hold every unit; stage s then ends within [lowEnd, highEnd]
  const capsFrom = new Array<number>(S + 1).fill(0);
  for (let s = S - 1; s >= 0; s--) capsFrom[s] = capsFrom[s + 1]! + caps[s]!;
  if (capsFrom[0]! < units) return undefined;
  const lowEnd = (s: number) => Math.max(s + 1, units - capsFrom[s + 1]!);
  const highEnd = (s: number) => Math.min(capsFrom[0]! - capsFrom[s + 1]!, units - (S - 1 - s));
  // best[s·(units+1) + u]: the least slowest-stage time of stages 0..s holding units [0, u); from: stage s's first unit
  const W = units + 1;
  const best = new Float64Array(S * W).fill(Infinity);
  const from = new Int32Array(S * W).fill(-1);
  for (let u = lowEnd(0); u <= highEnd(0); u++) {
    best[u] = stageTime(0, 0, u);
    from[u] = 0;
  }
  for (let s = 1; s < S; s++) {
    // stage s ends at u, starting where stage s − 1 can end
    const aLow = lowEnd(s - 1);
    const aHigh = highEnd(s - 1);
    for (let u = lowEnd(s), hi = highEnd(s); u <= hi; u++) {
      let b = Infinity;
      let f = -1;
      for (let a = Math.min(u - 1, aHigh); a >= Math.max(aLow, u - caps[s]!); a--) {
        // a stage's time grows as it starts earlier: once it alone is no better, no longer stage is
        const st = stageTime(s, a, u);
        if (st >= b) break;
        const before = best[(s - 1) * W + a]!;
        if (before === Infinity) continue;
        const t = Math.max(before, st);
        if (t < b) { b = t; f = a; }
      }
      best[s * W + u] = b;
      from[s * W + u] = f;
    }
  }
  if (best[(S - 1) * W + units] === Infinity) return undefined;
  const sizes = new Array<number>(S);
  let u = units;
  for (let s = S - 1; s >= 0; s--) {
    const a = from[s * W + u]!;
    sizes[s] = u - a;
    u = a;
  }
  return sizes;
}
