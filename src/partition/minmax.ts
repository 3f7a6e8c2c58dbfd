/**
 * The original's greedy `minmax` partitioner (SPEC §9.1), over any sequence of units. Starting
 * from an even split (remainder to the last stage first, then stages 0, 1, …), it repeatedly moves
 * one unit from the slowest stage to the fastest, stopping when the maximum stage time grows, on a
 * repeated state, or at an edge stage of 2 units. `stageTimes(sizes)` gives each stage's time.
 */
export function minmaxPartition(units: number, pp: number, stageTimes: (sizes: number[]) => number[], opts?: MinmaxOptions): number[] {
  return minmaxSearch(units, pp, stageTimes, opts).sizes;
}

export interface MinmaxOptions {
  /**
   * The original's edge rule (default on): when the slowest stage is an edge stage of 2 units (the
   * embedding or the head and one operator) it stops, first moving one unit from the fastest stage
   * back to it if it has moved any. Off for units that already hold the embedding and the head
   * (decoder layers): the move back could empty a stage of one unit.
   */
  edgeRule?: boolean;
}

/** The greedy's result and the sizes its last stageTimes call saw (they differ after an edge move, SPEC Q15e). */
export interface MinmaxOutcome {
  sizes: number[];
  lastTimed: number[];
}

export function minmaxSearch(units: number, pp: number, stageTimes: (sizes: number[]) => number[], opts: MinmaxOptions = {}): MinmaxOutcome {
  const edgeRule = opts.edgeRule ?? true;
  const base = Math.floor(units / pp);
  const sizes = new Array<number>(pp).fill(base);
  const remainder = units - base * pp;
  for (let i = 0; i < remainder; i++) sizes[(i - 1 + pp) % pp]! += 1; // Python P[i-1]: i = 0 is the last stage
  // a state's key: one UTF-16 unit per stage size (sizes are < 65536 nodes), cheaper than join(',')
  const keyOf = (x: readonly number[]) => (units < 65536 ? String.fromCharCode(...x) : x.join(','));
  const history = new Set<string>([keyOf(sizes)]); // states visited so far
  const earlier = new Set<string>(); // states visited at least twice
  let last = 1e6;
  let counted = false;
  let imax = 0;
  let imin = 0;
  const undo = () => {
    sizes[imax]! += 1;
    sizes[imin]! -= 1;
  };
  let lastTimed: number[] = [];
  for (;;) {
    lastTimed = [...sizes];
    const times = stageTimes(sizes);
    let mx = times[0]!;
    let mn = times[0]!;
    let newMax = 0;
    let newMin = 0;
    for (let s = 1; s < pp; s++) {
      if (times[s]! > mx) { mx = times[s]!; newMax = s; }
      if (times[s]! < mn) { mn = times[s]!; newMin = s; }
    }
    if (mx > last && counted) { undo(); lastTimed = [...sizes]; break; }
    if (mx === last && counted) {
      // the current state is the latest visit; was it also visited before that?
      const key = keyOf(sizes);
      if (earlier.has(key)) { undo(); lastTimed = [...sizes]; break; }
    }
    last = mx;
    imax = newMax;
    imin = newMin;
    if (edgeRule && (imax === 0 || imax === pp - 1) && sizes[imax] === 2) {
      if (counted) { sizes[imax]! += 1; sizes[imin]! -= 1; }
      break;
    }
    if (sizes[imax]! > 1) {
      sizes[imax]! -= 1;
      sizes[imin]! += 1;
      counted = true;
      const key = keyOf(sizes);
      if (history.has(key)) earlier.add(key);
      history.add(key);
    } else {
      break;
    }
  }
  return { sizes, lastTimed };
}
