import { zipSync } from 'fflate';
import { parseNpy, writeNpy, type NpyArray, type NpyValue } from './npy.js';
import { readZip, type ZipCaps } from './zip.js';

/** Caps of one .npz: a profile is a few tables of micro-batch rows (docs/errors.md, Limits). */
export const NPZ_CAPS: ZipCaps = { maxMemberBytes: 16 * 1024 * 1024, maxTotalBytes: 64 * 1024 * 1024, maxMembers: 256 };

/** Read every array of an .npz (zip of .npy files, stored or deflated), bounded and CRC-checked. Throws plain Errors. */
export function parseNpz(bytes: Uint8Array, caps: ZipCaps = NPZ_CAPS): Map<string, NpyArray> {
  let entries: Map<string, Uint8Array>;
  try {
    entries = readZip(bytes, caps);
  } catch (err) {
    throw new Error(`not a readable .npz (zip) file: ${(err as Error).message}`);
  }
  const arrays = new Map<string, NpyArray>();
  for (const [name, data] of entries) {
    if (!name.endsWith('.npy')) continue;
    try {
      arrays.set(name.slice(0, -4), parseNpy(data));
    } catch (err) {
      throw new Error(`array '${name.slice(0, -4)}': ${(err as Error).message}`);
    }
  }
  return arrays;
}

/** Write arrays as an .npz that NumPy's `np.load` reads (deflated zip entries). */
export function writeNpz(arrays: Record<string, NpyValue>): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  for (const [name, value] of Object.entries(arrays)) files[`${name}.npy`] = writeNpy(value);
  return zipSync(files, { level: 6 });
}
