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
