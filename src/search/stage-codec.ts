/**
 * Packs the per-stage objects of many estimates into one Float64Array (numbers) and one small array
 * (everything else), so a search thread sends them to another cheaply (structured cloning of
 * thousands of small objects costs more than estimating them). Generic over the objects' keys: each
 * distinct key list is a shape; decoding rebuilds the same keys, in the same order, with the same values.
 */
export interface PackedObjects {
  /** per object: its shape's index */
  shapes: Int32Array;
  /** key lists, by shape */
  keys: string[][];
  /** per key of each shape: 1 when the value is a number (in `numbers`), 0 when it is in `others` */
  numeric: number[][];
  numbers: Float64Array;
  others: unknown[];
}

/** Pack objects whose values are numbers (and a few strings, booleans or others). */
export function packObjects(objects: readonly Record<string, unknown>[]): PackedObjects {
  const shapeOf = new Map<string, number>();
  const keys: string[][] = [];
  const numeric: number[][] = [];
  const shapes = new Int32Array(objects.length);
  const nums: number[] = [];
  const others: unknown[] = [];
  objects.forEach((o, i) => {
    const ks = Object.keys(o);
    const kinds = ks.map((k) => (typeof o[k] === 'number' ? 1 : 0));
    const id = `${ks.join('\u0000')}\u0001${kinds.join('')}`;
    let s = shapeOf.get(id);
    if (s === undefined) {
      s = keys.length;
      shapeOf.set(id, s);
      keys.push(ks);
      numeric.push(kinds);
    }
    shapes[i] = s;
    for (let j = 0; j < ks.length; j++) {
      const v = o[ks[j]!];
      if (kinds[j] === 1) nums.push(v as number);
      else others.push(v);
    }
  });
  return { shapes, keys, numeric, numbers: Float64Array.from(nums), others };
}

/** The objects packObjects packed. */
export function unpackObjects(p: PackedObjects): Record<string, unknown>[] {
  const out = new Array<Record<string, unknown>>(p.shapes.length);
  let n = 0;
  let x = 0;
  for (let i = 0; i < p.shapes.length; i++) {
    const ks = p.keys[p.shapes[i]!]!;
    const kinds = p.numeric[p.shapes[i]!]!;
    const o: Record<string, unknown> = {};
    for (let j = 0; j < ks.length; j++) o[ks[j]!] = kinds[j] === 1 ? p.numbers[n++] : p.others[x++];
    out[i] = o;
  }
  return out;
}
