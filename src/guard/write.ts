import { accessSync, closeSync, constants, mkdirSync, openSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { FasopError } from '../errors.js';

/** A file's content: whole, or as chunks of text written one after another (a large CSV). */
export type FileData = string | Uint8Array | Iterable<string>;

/** Write `data` to a new file at `path` (replacing one there). */
export function writeData(path: string, data: FileData): void {
  if (typeof data === 'string' || data instanceof Uint8Array) {
    writeFileSync(path, data);
    return;
  }
  const fd = openSync(path, 'w');
  try {
    for (const chunk of data) {
      const b = Buffer.from(chunk);
      for (let off = 0; off < b.length;) off += writeSync(fd, b, off);
    }
  } finally {
    closeSync(fd);
  }
}

/** Write a file so that readers see the old content or the new, never a truncated one. */
export function writeFileAtomic(path: string, data: FileData): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
  try {
    writeData(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // the temporary file could not even be created there
    }
    throw writeError(path, err);
  }
}

const WHY: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'input/output error',
  EROFS: 'read-only file system',
  EISDIR: 'it is a directory',
  ENOENT: 'its folder does not exist',
  ENOTDIR: 'a part of the path is not a folder',
  EFBIG: 'file too large',
  EPIPE: 'the reader went away',
};

const ELSEWHERE = '(--output-dir, --log-file, --parsing-file); earlier result files were left as they were';

/** What to do about a failed write, by its code. */
function writeHint(code: string): string {
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EFBIG':
      return `free space or choose a writable location ${ELSEWHERE}`;
    case 'EACCES':
    case 'EPERM':
      return `give this user write permission there, or choose a location it may write to ${ELSEWHERE}`;
    case 'EROFS':
      return `choose a location on a writable file system ${ELSEWHERE}`;
    case 'EIO':
      return `the device reported a failure: check the disk (or network share), then retry or choose another location ${ELSEWHERE}`;
    default:
      return `choose a writable location ${ELSEWHERE}`;
  }
}

/** A failed write as the user's error: one line naming the file, the reason (ENOSPC, EACCES, EIO, ...) and what to do. */
export function writeError(path: string, err: unknown, hint?: string): FasopError {
  if (err instanceof FasopError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  const why = Object.hasOwn(WHY, code) ? ` (${WHY[code]})` : '';
  return new FasopError(`cannot write ${path}: ${code}${why}`, hint ?? writeHint(code));
}

/** A file written line by line (a log, a JSONL stream): every failure is a FasopError naming it. */
export class LineFile {
  private fd: number | undefined;

  /** Open `path` for writing, or adopt `fd`, a descriptor already opened on it (a claimed new file). */
  constructor(readonly path: string, fd?: number) {
    if (fd !== undefined) {
      this.fd = fd;
      return;
    }
    let kind: string | undefined;
    try {
      const st = statSync(path);
      kind = st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : st.isDirectory() ? 'a directory' : undefined;
    } catch {
      // a new file
    }
    // opening a FIFO for writing waits for a reader: refuse it instead of hanging
    if (kind) throw new FasopError(`cannot write ${path}: it is ${kind}`, 'name a regular file (or /dev/null) for --log-file and --parsing-file');
    try {
      this.fd = openSync(path, 'w');
    } catch (err) {
      throw writeError(path, err);
    }
  }

  /** Write all of `text` (one call per record: a reader never sees half a line). */
  write(text: string): void {
    if (this.fd === undefined) return;
    const buf = Buffer.from(text, 'utf8');
    try {
      for (let off = 0; off < buf.length;) off += writeSync(this.fd, buf, off, buf.length - off);
    } catch (err) {
      this.close(true);
      throw writeError(this.path, err);
    }
  }

  close(quiet = false): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      closeSync(fd);
    } catch (err) {
      if (!quiet) throw writeError(this.path, err);
    }
  }
}

/**
 * Check a directory we are about to write into, before any work starts. With `create` it is made
 * (with its parents) when missing; without, a missing directory is an error — a file path the
 * user names never makes folders appear elsewhere on the disk. `flag` names the flag that chose it.
 */
export function ensureWritableDir(dir: string, flag: string, create = true): void {
  try {
    if (create) mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    if (code === 'ENOENT' && !create) throw new FasopError(`output folder ${dir} does not exist`, `pass a writable folder with ${flag} (create the folder first)`);
    const fix = code === 'EACCES' || code === 'EPERM'
      ? `give this user write permission on ${dir}, or pass a folder it may write to with ${flag}`
      : code === 'EROFS' ? `pass a folder on a writable file system with ${flag}` : `pass a writable folder with ${flag}`;
    throw new FasopError(`output directory ${dir} is not writable (${code})`, fix);
  }
}

/** The file a path names, links followed: its device and inode when it exists, else its folder's real path and its name. */
function fileIdentity(path: string): string | undefined {
  try {
    const st = statSync(path);
    // /dev/null (or /dev/full) may take any number of outputs
    if (st.isCharacterDevice()) return undefined;
    return `inode ${st.dev}:${st.ino}`;
  } catch {
    try {
      return `path ${join(realpathSync(dirname(resolve(path))), basename(path))}`;
    } catch {
      return `path ${resolve(path)}`;
    }
  }
}

/**
 * Refuse a file named by a flag (--log-file, --parsing-file) that is also another output of the
 * run or one of its inputs: opening it would truncate that file, and the two writers would
 * overwrite each other. Checked before anything is written; links and hard links count as the same file.
 */
export function checkDistinctFiles(named: readonly { path: string; flag: string }[], others: readonly { path: string; what: string }[]): void {
  const seen = new Map<string, string>();
  for (const o of others) {
    const id = fileIdentity(o.path);
    if (id !== undefined && !seen.has(id)) seen.set(id, `${o.what} (${o.path})`);
  }
  for (const n of named) {
    const id = fileIdentity(n.path);
    if (id === undefined) continue;
    const other = seen.get(id);
    if (other !== undefined) {
      throw new FasopError(`${n.flag} ${n.path} is the same file as ${other}`, `name another file for ${n.flag}: every output needs a file of its own, and no input is written over`);
    }
    seen.set(id, `${n.flag} (${n.path})`);
  }
}
