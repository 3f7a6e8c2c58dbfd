/**
 * A minimal reader/writer for NumPy's .npy format (versions 1–3): little- and big-endian numeric
 * dtypes, booleans and fixed-width unicode/byte strings, C order. Errors are plain Errors with a
 * short reason; callers add the file name.
 */

export type NpyArray =
  | { kind: 'number'; dtype: string; shape: number[]; data: Float64Array }
  | { kind: 'string'; dtype: string; shape: number[]; data: string[] };

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

function parseHeader(text: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new Error(`malformed .npy header ${JSON.stringify(text.slice(0, 80))}`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const n = Number(s.replace(/L$/, ''));
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`bad dimension '${s}' in .npy shape`);
      return n;
    });
  return { descr, fortran: fortran === 'True', shape };
}

export function parseNpy(bytes: Uint8Array): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new Error('not a .npy array (bad magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new Error('truncated .npy header');
    headerLen = view.getUint32(8, true);
    start = 12;
  } else {
    throw new Error(`unsupported .npy version ${major}`);
  }
  if (start + headerLen > bytes.length) throw new Error('truncated .npy header');
  const header = parseHeader(new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen)));
  const count = header.shape.reduce((a, b) => a * b, 1);
  if (header.fortran && header.shape.filter((d) => d > 1).length > 1) throw new Error('Fortran-ordered arrays are not supported');
  const body = start + headerLen;
  const m = /^([<>|=])([a-zA-Z])(\d+)$/.exec(header.descr);
  if (!m) throw new Error(`unsupported dtype '${header.descr}'`);
  const little = m[1] !== '>';
  const code = m[2]!;
  const size = Number(m[3]);

  if (code === 'U' || code === 'S') {
    const itemBytes = code === 'U' ? 4 * size : size;
    if (body + count * itemBytes > bytes.length) throw new Error(`truncated data (${header.descr}, shape ${JSON.stringify(header.shape)})`);
    const data: string[] = [];
    for (let i = 0; i < count; i++) {
      let s = '';
      for (let j = 0; j < size; j++) {
        const off = body + i * itemBytes + (code === 'U' ? 4 * j : j);
        const cp = code === 'U' ? view.getUint32(off, little) : bytes[off]!;
        if (cp === 0) break;
        s += String.fromCodePoint(cp);
      }
      data.push(s);
    }
    return { kind: 'string', dtype: header.descr, shape: header.shape, data };
  }

  const readers: Record<string, (off: number) => number> = {
    f8: (o) => view.getFloat64(o, little),
    f4: (o) => view.getFloat32(o, little),
    f2: (o) => halfToFloat(view.getUint16(o, little)),
    i8: (o) => Number(view.getBigInt64(o, little)),
    u8: (o) => Number(view.getBigUint64(o, little)),
    i4: (o) => view.getInt32(o, little),
    u4: (o) => view.getUint32(o, little),
    i2: (o) => view.getInt16(o, little),
    u2: (o) => view.getUint16(o, little),
    i1: (o) => view.getInt8(o),
    u1: (o) => view.getUint8(o),
    b1: (o) => view.getUint8(o),
  };
  const read = readers[`${code}${size}`];
  if (!read) throw new Error(`unsupported dtype '${header.descr}'`);
  if (body + count * size > bytes.length) throw new Error(`truncated data (${header.descr}, shape ${JSON.stringify(header.shape)})`);
  const data = new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = read(body + i * size);
  return { kind: 'number', dtype: header.descr, shape: header.shape, data };
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Values the writer accepts: float64 or int64 numbers, or unicode strings. */
export type NpyValue =
  | { dtype: 'f8' | 'i8'; shape: number[]; data: ArrayLike<number> }
  | { dtype: 'U'; shape: number[]; data: readonly string[] };

export function writeNpy(value: NpyValue): Uint8Array {
  const count = value.shape.reduce((a, b) => a * b, 1);
  if (value.data.length !== count) throw new Error(`data length ${value.data.length} does not match shape ${JSON.stringify(value.shape)}`);
  let descr: string;
  let itemBytes: number;
  let width = 1;
  if (value.dtype === 'U') {
    width = Math.max(1, ...value.data.map((s) => [...s].length));
    descr = `<U${width}`;
    itemBytes = 4 * width;
  } else {
    descr = value.dtype === 'f8' ? '<f8' : '<i8';
    itemBytes = 8;
  }
  const shapeText = value.shape.length === 1 ? `(${value.shape[0]},)` : `(${value.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header = header + ' '.repeat(pad % 64) + '\n';
  const out = new Uint8Array(10 + header.length + count * itemBytes);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  const view = new DataView(out.buffer);
  view.setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const body = 10 + header.length;
  for (let i = 0; i < count; i++) {
    const off = body + i * itemBytes;
    if (value.dtype === 'U') {
      const cps = [...(value.data[i] as string)].map((c) => c.codePointAt(0)!);
      cps.forEach((cp, j) => view.setUint32(off + 4 * j, cp, true));
    } else if (value.dtype === 'f8') {
      view.setFloat64(off, Number(value.data[i]), true);
    } else {
      view.setBigInt64(off, BigInt(Math.trunc(Number(value.data[i]))), true);
    }
  }
  return out;
}
