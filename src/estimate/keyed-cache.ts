/**
 * Caches of values shared by many plans: per object (a placement's nodes, a profile, a model), then
 * per string key of what else the value depends on. Values are shared: callers must not change them.
 */

let nextId = 1;
const ids = new WeakMap<object, number>();

/** A number per object, for cache keys made of several shared objects. */
export function idOf(o: object): number {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, (id = nextId++));
  return id;
}

/** A cache `(owner, key, make) => value`, forgetting an owner's values at once when it holds `keep`. */
export function keyedCache<O extends object, V>(keep = Infinity): (owner: O, key: string, make: () => V) => V {
  const byOwner = new WeakMap<O, Map<string, V>>();
  return (owner, key, make) => {
    let m = byOwner.get(owner);
    if (!m) byOwner.set(owner, (m = new Map()));
    let v = m.get(key);
    if (v === undefined) {
      if (m.size >= keep) m.clear();
      m.set(key, (v = make()));
    }
    return v;
  };
}

const nameIds = new Map<string, number>();

/** A number per string (a GPU or recipe name), for tupleCache keys. */
export function idOfName(s: string): number {
  let id = nameIds.get(s);
  if (id === undefined) nameIds.set(s, (id = nameIds.size + 1));
  return id;
}

type Trie<V> = Map<number, Trie<V> | V>;

/**
 * keyedCache with a tuple of numbers for the key (ids of shared objects, degrees): looked up level by
 * level, no string built per call. Every key of one cache has the same length.
 */
export function tupleCache<O extends object, V>(keep = Infinity): (owner: O, key: readonly number[], make: () => V) => V {
  const byOwner = new WeakMap<O, { root: Trie<V>; size: number }>();
  return (owner, key, make) => {
    let t = byOwner.get(owner);
    if (!t) byOwner.set(owner, (t = { root: new Map(), size: 0 }));
    let node = t.root;
    const last = key.length - 1;
    for (let i = 0; i < last; i++) {
      let next = node.get(key[i]!) as Trie<V> | undefined;
      if (next === undefined) node.set(key[i]!, (next = new Map()));
      node = next;
    }
    let v = node.get(key[last]!) as V | undefined;
    if (v === undefined) {
      if (t.size >= keep) {
        t.root.clear();
        t.size = 0;
        return tupleCacheFill(t, key, make);
      }
      node.set(key[last]!, (v = make()));
      t.size += 1;
    }
    return v;
  };
}

function tupleCacheFill<V>(t: { root: Trie<V>; size: number }, key: readonly number[], make: () => V): V {
  let node = t.root;
  for (let i = 0; i < key.length - 1; i++) {
    const next: Trie<V> = new Map();
    node.set(key[i]!, next);
    node = next;
  }
  const v = make();
  node.set(key[key.length - 1]!, v);
  t.size = 1;
  return v;
}
