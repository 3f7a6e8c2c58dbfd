import { accessSync, closeSync, constants, mkdirSync, openSync, realpathSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync, writeSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { FasopError } from '../errors.js';
import { errCode, readHead } from './read.js';

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
  const code = errCode(err);
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
 *
 * Missing folders are made one at a time from the first existing ancestor (never with
 * `mkdirSync(…, { recursive: true })`, which loops forever under /proc on Node 20), and removed
 * again when a later step fails, so a refused folder leaves nothing behind.
 */
export function ensureWritableDir(dir: string, flag: string, create = true): void {
  const permissionFix = (where: string, code: string) => code === 'EACCES' || code === 'EPERM'
    ? `give this user write permission on ${where}, or pass a folder it may write to with ${flag}`
    : code === 'EROFS' ? `pass a folder on a writable file system with ${flag}` : `pass a writable folder with ${flag}`;
  const notFolderFix = create ? `give a folder with ${flag} (a missing one is created)` : `give ${flag} a path inside an existing folder`;
  // the first existing ancestor (dir itself when it exists); the folders below it are missing
  const missing: string[] = [];
  let cur = resolve(dir);
  let st: Stats;
  for (;;) {
    try {
      st = statSync(cur);
      break;
    } catch (err) {
      const code = errCode(err);
      // ENOTDIR: a part of the path is a file; walking up finds it
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(cur) !== cur) {
        missing.push(cur);
        cur = dirname(cur);
        continue;
      }
      throw new FasopError(`output directory ${dir} is not writable (${code})`, permissionFix(dir, code));
    }
  }
  if (!st.isDirectory()) {
    const what = st.isFile() ? 'a file, not a folder' : 'not a folder';
    if (missing.length === 0) throw new FasopError(`output directory ${dir} is ${what}`, notFolderFix);
    throw new FasopError(`output directory ${dir} is not writable (ENOTDIR): ${cur} is ${what}`, notFolderFix);
  }
  if (missing.length > 0 && !create) throw new FasopError(`output folder ${dir} does not exist`, `pass a writable folder with ${flag} (create the folder first)`);
  const made: string[] = [];
  const undo = () => {
    for (const d of made.reverse()) {
      try {
        rmdirSync(d);
      } catch {
        // something else put a file there meanwhile: leave it
      }
    }
  };
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
      made.push(d);
    } catch (err) {
      const code = errCode(err);
      // made meanwhile by another run: fine when it is a folder
      if (code === 'EEXIST' && statSync(d, { throwIfNoEntry: false })?.isDirectory()) continue;
      undo();
      const parent = dirname(d);
      const why = code === 'ENOENT' ? `${parent} accepts no new folders` : code === 'EEXIST' ? `${d} exists and is not a folder` : Object.hasOwn(WHY, code) ? WHY[code] : undefined;
      const fix = code === 'ENOENT' ? `pass a folder on an ordinary file system with ${flag}`
        : code === 'ENOSPC' || code === 'EDQUOT' ? `free space, or pass a folder on another disk with ${flag}`
        : code === 'EEXIST' ? notFolderFix : permissionFix(parent, code);
      const failed = `${code}${why ? ` (${why})` : ''}`;
      throw new FasopError(`cannot create output directory ${dir}: ${d === resolve(dir) ? failed : `making ${d} failed with ${failed}`}`, fix);
    }
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    undo();
    const code = errCode(err);
    throw new FasopError(`output directory ${dir} is not writable (${code})`, permissionFix(dir, code));
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
 * What an earlier file of a flag's own kind starts with: a named file that exists is replaced only
 * when fasop (or the original FASOP) wrote it — its log, or its --parsing JSONL, whose first line
 * is a meta record. Any other file (a results CSV, notes, a script) is refused, never truncated.
 */
const OWN_KIND: Record<string, { what: string; first: RegExp }> = {
  '--log-file': { what: 'a fasop log', first: /^\[LOG\] Output will be saved to: / },
  '--parsing-file': { what: 'a fasop --parsing JSONL', first: /^\{\s*"type"\s*:\s*"(?:pareto_)?meta"/ },
};

/** Refuse an existing regular file that `flag` would truncate unless it is an earlier output of that flag (empty counts). */
function checkReplaceable(path: string, flag: string): void {
  const kind = Object.hasOwn(OWN_KIND, flag) ? OWN_KIND[flag]! : undefined;
  if (kind === undefined) return;
  const st = statSync(path, { throwIfNoEntry: false });
  // a new file, or /dev/null, a FIFO, a folder (LineFile says what is wrong with those)
  if (st === undefined || !st.isFile() || st.size === 0) return;
  const head = readHead(path, 512);
  if (head !== undefined && kind.first.test(head.toString('utf8'))) return;
  throw new FasopError(`${flag} ${path} is an existing file that is not ${kind.what}`,
    `name a new file for ${flag}, or remove ${path} first: ${flag} replaces only an earlier file of its own kind`);
}

/**
 * Refuse a file named by a flag (--log-file, --parsing-file) that is also another output of the
 * run or one of its inputs: opening it would truncate that file, and the two writers would
 * overwrite each other. An existing file is refused too unless it is an earlier output of the same
 * flag (a log, a JSONL). Checked before anything is written; links and hard links count as the same file.
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
  for (const n of named) checkReplaceable(n.path, n.flag);
}
