import { zipSync } from 'fflate';
import { writeNpy, type NpyValue } from '../../src/profiles/npy.js';

/** An .npz as NumPy's np.savez writes it: stored (uncompressed) members. */
export function storedNpz(arrays: Record<string, NpyValue>): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  for (const [name, value] of Object.entries(arrays)) files[`${name}.npy`] = writeNpy(value);
  return zipSync(files, { level: 0 });
}

/** Offsets of the central-directory entries of a zip (for tests that patch declared sizes). */
export function centralEntries(zip: Uint8Array): { offset: number; name: string; dataStart: number; compressedSize: number }[] {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let end = zip.length - 22;
  while (view.getUint32(end, true) !== 0x06054b50) end--;
  const count = view.getUint16(end + 10, true);
  let p = view.getUint32(end + 16, true);
  const out = [];
  for (let i = 0; i < count; i++) {
    const n = view.getUint16(p + 28, true);
    const local = view.getUint32(p + 42, true);
    const name = new TextDecoder().decode(zip.subarray(p + 46, p + 46 + n));
    const dataStart = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    out.push({ offset: p, name, dataStart, compressedSize: view.getUint32(p + 20, true) });
    p += 46 + n + view.getUint16(p + 30, true) + view.getUint16(p + 32, true);
  }
  return out;
}

/** A copy of `zip` whose member `name` declares `size` uncompressed bytes (central directory and local header). */
export function withDeclaredSize(zip: Uint8Array, name: string, size: number): Uint8Array {
  const out = new Uint8Array(zip);
  const view = new DataView(out.buffer);
  const e = centralEntries(out).find((x) => x.name === name)!;
  view.setUint32(e.offset + 24, size, true);
  const local = view.getUint32(e.offset + 42, true);
  view.setUint32(local + 22, size, true);
  return out;
}

/** A copy of `zip` with one byte of member `name`'s data flipped (at `at` bytes into it). */
export function withFlippedByte(zip: Uint8Array, name: string, at: number): Uint8Array {
  const out = new Uint8Array(zip);
  const e = centralEntries(out).find((x) => x.name === name)!;
  const i = e.dataStart + Math.min(at, e.compressedSize - 1);
  out[i] = out[i]! ^ 0x01;
  return out;
}
