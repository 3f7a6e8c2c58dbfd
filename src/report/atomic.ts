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

/** Create (if needed) and check a directory we are about to write into, before any work starts. */
export function ensureWritableDir(dir: string, flag: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new FasopError(`output directory ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? 'error'})`, `pass a writable folder with ${flag}`);
  }
}
