import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { FasopError } from '../errors.js';

/** A system error's code (ENOENT, EACCES, ...), or 'error' when it has none. */
export const errCode = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? 'error';

/** Why an input file could not be read: a short code for messages (ENOENT, EISDIR, ENOTREG, EFBIG, ...). */
export class ReadFailure extends Error {
  constructor(readonly code: string, readonly detail: string) {
    super(detail);
  }
}

const describe = (code: string): string =>
  ({
    EISDIR: 'a directory, not a file',
    ENOTREG: 'not a regular file (a FIFO, socket or device)',
    EFBIG: 'too large',
  })[code] ?? code;

/**
 * Read a whole input file, at most `maxBytes`: only a regular file (a symbolic link is followed and
 * its target checked), never a FIFO, socket or device (so /dev/zero or a pipe cannot hang or fill
 * memory). Opened non-blocking, checked with fstat on the open descriptor, then read up to the cap
 * plus one byte, so a file that grows while it is read is refused too. Throws ReadFailure.
 */
export function readFileCapped(path: string, maxBytes: number): Buffer {
  const { fd, st } = openRegular(path);
  try {
    if (st.size > maxBytes) throw new ReadFailure('EFBIG', `${st.size} bytes, more than the limit of ${maxBytes}`);
    const buf = Buffer.allocUnsafe(Math.min(st.size, maxBytes) + 1);
    let got = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, got, buf.length - got, got);
      } catch (err) {
        const code = errCode(err);
        throw new ReadFailure(code, describe(code));
      }
      if (n === 0) break;
      got += n;
      if (got > maxBytes) throw new ReadFailure('EFBIG', `more than the limit of ${maxBytes} bytes`);
      if (got === buf.length) break;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** A regular file opened non-blocking (links followed) and its fstat; a directory, FIFO, socket or device is a ReadFailure. */
function openRegular(path: string): { fd: number; st: Stats } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0));
  } catch (err) {
    const code = errCode(err);
    throw new ReadFailure(code, describe(code));
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new ReadFailure('EISDIR', describe('EISDIR'));
    if (!st.isFile()) throw new ReadFailure('ENOTREG', describe('ENOTREG'));
    return { fd, st };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** readFileCapped as text (UTF-8). */
export function readTextCapped(path: string, maxBytes: number): string {
  return readFileCapped(path, maxBytes).toString('utf8');
}

/** Byte caps of the input files (docs/errors.md, Limits). */
export const MAX_JSON_BYTES = 16 * 1024 * 1024;
export const MAX_PROFILE_BYTES = 64 * 1024 * 1024;
export const MAX_CSV_BYTES = 128 * 1024 * 1024;

/** readFileCapped with the usual FasopError: "cannot read WHAT PATH: CODE (why)". */
export function readInputFile(path: string, what: string, maxBytes: number, hint = 'check the path and that it is a readable regular file'): Buffer {
  try {
    return readFileCapped(path, maxBytes);
  } catch (err) {
    if (err instanceof ReadFailure) throw new FasopError(`cannot read ${what} ${path}: ${err.code}${err.code === err.detail ? '' : ` (${err.detail})`}`, hint);
    throw err;
  }
}

/**
 * The first `maxBytes` bytes of a regular file (links followed), or undefined when `path` is not a
 * readable regular file. Opened non-blocking and checked with fstat, like readFileCapped, so a
 * FIFO or device is never read.
 */
export function readHead(path: string, maxBytes: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openRegular(path).fd;
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(maxBytes);
    let got = 0;
    while (got < maxBytes) {
      const n = readSync(fd, buf, got, maxBytes - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
