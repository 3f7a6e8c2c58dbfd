/** Python-compatible text for numbers, lists and JSON, so our files read like the original's. */

/** Python's float repr: shortest round-trip digits, exponent form below 1e-4 or from 1e16. */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(x);
  if (abs >= 1e16 || abs < 1e-4) {
    const [mant, exp] = x.toExponential().split('e') as [string, string];
    const e = Number(exp);
    return `${mant}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  const s = String(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** Python repr of a list of ints or strings: `[1, 2]`, `['A40', 'A40']`. */
export function pyList(xs: readonly (number | string)[]): string {
  return `[${xs.map((x) => (typeof x === 'string' ? `'${x}'` : String(x))).join(', ')}]`;
}

export function pyBool(b: boolean): string {
  return b ? 'True' : 'False';
}

/** A float that must print as a float in JSON (Python's json.dumps writes 16.0, not 16). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** json.dumps(obj, ensure_ascii=False) with its default ", " / ": " separators. */
export function pyJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof PyFloat) {
    const v = value.value;
    return Number.isFinite(v) ? pyFloat(v) : Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
  }
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : pyFloat(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>).map(([k, v]) => `${JSON.stringify(k)}: ${pyJson(v)}`).join(', ')}}`;
  }
  return JSON.stringify(String(value));
}
