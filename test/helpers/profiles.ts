import { copyFileSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNpz, writeNpz } from '../../src/profiles/npz.js';
import type { NpyValue } from '../../src/profiles/npy.js';
import { REF_PROFILES } from './cli.js';

export const REF_TPS = [1, 2, 4, 8] as const;

/** The bytes of a reference profile (never copied into the repo). */
export function refProfileBytes(tp: number): Uint8Array {
  return readFileSync(join(REF_PROFILES, `llama70b_A40_${tp}.npz`));
}

/** The `data` array of a reference profile as rows (ms). */
export function refData(tp: number): number[][] {
  const arr = parseNpz(refProfileBytes(tp)).get('data')!;
  if (arr.kind !== 'number') throw new Error('unexpected');
  const [r, c] = arr.shape as [number, number];
  return Array.from({ length: r }, (_, i) => Array.from(arr.data.subarray(i * c, (i + 1) * c)));
}

export function npzBytes(arrays: Record<string, NpyValue>): Uint8Array {
  return writeNpz(arrays);
}

/**
 * A temporary profile folder: links to the reference A40 profiles for `tps` (default all), and
 * `replace` files written with the given bytes (a corrupted copy, for instance).
 */
export function profileDir(opts: { tps?: readonly number[]; files?: Record<string, Uint8Array | string> } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'fasop-prof-'));
  for (const tp of opts.tps ?? REF_TPS) {
    if (opts.files && `llama70b_A40_${tp}.npz` in opts.files) continue;
    try {
      symlinkSync(join(REF_PROFILES, `llama70b_A40_${tp}.npz`), join(dir, `llama70b_A40_${tp}.npz`));
    } catch {
      copyFileSync(join(REF_PROFILES, `llama70b_A40_${tp}.npz`), join(dir, `llama70b_A40_${tp}.npz`));
    }
  }
  for (const [name, bytes] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), bytes);
  return dir;
}
