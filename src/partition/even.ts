import { FasopError } from '../errors.js';

/** The original's starting split: ⌊units/pp⌋ each, remainder to the last stage, then 0, 1, … */
export function initialSplit(units: number, pp: number): number[] {
  const base = Math.floor(units / pp);
  const sizes = new Array<number>(pp).fill(base);
  for (let i = 0; i < units - base * pp; i++) sizes[(i - 1 + pp) % pp]! += 1;
  return sizes;
}

/**
 * `even` in whole units (e.g. decoder layers): ⌊units/pp⌋ each, one more for the first `units mod pp`
 * of the middle stages 1 … pp−2, then stage 0, then the last (the edge stages also hold the
 * embedding and the head, so they take a remainder last).
 */
export function evenSplit(units: number, pp: number): number[] {
  if (!Number.isSafeInteger(pp) || pp < 1 || pp > units) {
    throw new FasopError(`even: ${pp} stages cannot each hold one of ${units} units`, 'choose a pipeline degree no larger than the number of layers');
  }
  const base = Math.floor(units / pp);
  const sizes = new Array<number>(pp).fill(base);
  const order = [...Array.from({ length: Math.max(0, pp - 2) }, (_, i) => i + 1), 0, ...(pp > 1 ? [pp - 1] : [])];
  for (let i = 0; i < units - base * pp; i++) sizes[order[i]!]! += 1;
  return sizes;
}

/** Distinct decoder layers each stage's nodes touch (node 0 = embed and n−1 = lm_head excluded). */
export function layersTouched(sizes: number[], n: number): number[] {
  const out: number[] = [];
  let start = 0;
  for (const size of sizes) {
    const layers = new Set<number>();
    for (let k = start; k < start + size; k++) if (k !== 0 && k !== n - 1) layers.add(Math.floor((k - 1) / 8));
    out.push(layers.size);
    start += size;
  }
  return out;
}

/**
 * `optimus-even` (SPEC §9.2): tp = 1 takes the initial node split; tp > 1 splits the L + 2 blocks
 * (embed, layers, lm_head) evenly with Optimus-Prime's rule for the last stage. No cost objective.
 */
export function optimusEvenPartition(n: number, layers: number, pp: number, tp: number): { sizes: number[]; partitionLayers: number[] } {
  if (tp === 1) {
    const sizes = initialSplit(n, pp);
    return { sizes, partitionLayers: layersTouched(sizes, n) };
  }
  if (pp > layers) throw new FasopError(`optimus-even needs pp <= number of layers (pp ${pp}, layers ${layers})`, 'choose a smaller pp or another partition method');
  const B = layers + 2;
  const blocks: number[][] = [];
  for (let s = 0; s < pp; s++) {
    const lo = Math.floor((s * B) / pp);
    const hi = Math.floor(((s + 1) * B) / pp);
    blocks.push(Array.from({ length: hi - lo }, (_, i) => lo + i));
  }
  if (pp > 2 && blocks[pp - 1]!.length > blocks[pp - 2]!.length && blocks[pp - 1]![0] !== layers - 1) {
    blocks[pp - 2]!.push(blocks[pp - 1]!.shift()!);
  }
  const starts: number[] = [];
  const ends: number[] = [];
  for (let s = 0; s < pp; s++) {
    const ls = blocks[s]!.filter((b) => b >= 0 && b < layers);
    if (s === 0) starts.push(0);
    else starts.push(ls.length ? 1 + 8 * Math.min(...ls) : ends[s - 1]! + 1);
    if (s === pp - 1) ends.push(n - 1);
    else ends.push(ls.length ? 8 * Math.max(...ls) + 8 : s === 0 ? 0 : starts[s]! - 1);
  }
  const sizes = starts.map((st, s) => ends[s]! - st + 1);
  if (sizes.some((x) => x < 1) || sizes.reduce((a, b) => a + b, 0) !== n) {
    throw new FasopError(`optimus-even cannot split ${layers} layers into ${pp} non-empty stages`, 'choose a smaller pp or another partition method');
  }
  return { sizes, partitionLayers: layersTouched(sizes, n) };
}
