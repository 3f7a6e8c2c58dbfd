/**
 * Look-ups by names that users type (GPU types, models, datasets, config keys, CSV columns): only
 * a record's own entries count, never what it inherits (`__proto__`, `constructor`, `toString`).
 */

/** The record's own value for `key`, or undefined (inherited properties are not looked at). */
export function ownGet<V>(record: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** True when `key` is the record's own entry. */
export function ownHas(record: object, key: string): boolean {
  return Object.hasOwn(record, key);
}

/** An empty record without a prototype: any string is a safe key to store and read. */
export function nullRecord<V>(): Record<string, V> {
  return Object.create(null) as Record<string, V>;
}
