import { accessSync, constants, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FasopError } from '../errors.js';

/** Write a file so that readers see the old content or the new, never a truncated one. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new FasopError(`cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'choose a writable output location (--output-dir)');
  }
}

/**
 * Check a directory we are about to write into, before any work starts. With `create` it is made
 * (with its parents) when missing; without, a missing directory is an error — a file path the
 * user names never makes folders appear elsewhere on the disk.
 */
export function ensureWritableDir(dir: string, flag: string, create = true): void {
  try {
    if (create) mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new FasopError(code === 'ENOENT' && !create ? `output folder ${dir} does not exist` : `output directory ${dir} is not writable (${code})`, `pass a writable folder with ${flag}`);
  }
}
