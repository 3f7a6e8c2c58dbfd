/**
 * Caches of values shared by many plans: per object (a placement's nodes, a profile, a model), then
 * per tuple of numbers of what else the value depends on. Values are shared: callers must not change them.
 */

let nextId = 1;
const ids = new WeakMap<object, number>();

/** A number per object, for cache keys made of several shared objects. */
export function idOf(o: object): number {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, (id = nextId++));
  return id;
}

const nameIds = new Map<string, number>();

/** A number per string (a GPU or recipe name), for tupleCache keys. */
export function idOfName(s: string): number {
  let id = nameIds.get(s);
  if (id === undefined) nameIds.set(s, (id = nameIds.size + 1));
  return id;
}

interface Entry<V> { key: readonly number[]; value: V; next: Entry<V> | undefined }

function hashOf(key: readonly number[]): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    const x = key[i]!;
    h = Math.imul(h ^ (x | 0), 16777619);
    h = Math.imul(h ^ ((x / 4294967296) | 0), 16777619);
  }
  // within V8's small-integer range: a Map key that needs no boxing
  return h & 0x3fffffff;
}

function sameKey(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Values per owner object and a tuple of numbers (ids of shared objects, degrees), hashed: no string
 * built per call. An owner's values are forgotten at once when it holds `keep`.
 */
export class TupleCache<O extends object, V> {
  private readonly byOwner = new WeakMap<O, { buckets: Map<number, Entry<V>>; size: number }>();
  constructor(private readonly keep = Infinity) {}

  get(owner: O, key: readonly number[]): V | undefined {
    const t = this.byOwner.get(owner);
    if (!t) return undefined;
    for (let e = t.buckets.get(hashOf(key)); e; e = e.next) if (sameKey(e.key, key)) return e.value;
    return undefined;
  }

  /** Keep `value` under `key` (the array itself: not to be changed afterwards) and return it. */
  set(owner: O, key: readonly number[], value: V): V {
    let t = this.byOwner.get(owner);
    if (!t) this.byOwner.set(owner, (t = { buckets: new Map(), size: 0 }));
    if (t.size >= this.keep) {
      t.buckets.clear();
      t.size = 0;
    }
    const h = hashOf(key);
    t.buckets.set(h, { key, value, next: t.buckets.get(h) });
    t.size += 1;
    return value;
  }
}
