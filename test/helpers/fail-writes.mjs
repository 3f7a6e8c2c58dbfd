// Fault injection for tests, loaded with `node --import` before the real CLI: every write to a
// file whose absolute path matches FASOP_FAIL_WRITE_PATH (a regular expression) fails the way a
// failing device fails it, with FASOP_FAIL_WRITE_CODE (EIO unless set). A whole-file write first
// creates the file and writes half of the data; a descriptor opened for writing fails at its first
// write. Production code has no hook for this: the preload replaces node:fs functions for the process.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { resolve } from 'node:path';

const pattern = new RegExp(process.env.FASOP_FAIL_WRITE_PATH ?? '(?!)');
const code = process.env.FASOP_FAIL_WRITE_CODE ?? 'EIO';
const KNOWN = { EIO: [-5, 'i/o error'], EACCES: [-13, 'permission denied'], ENOSPC: [-28, 'no space left on device'], EROFS: [-30, 'read-only file system'] };
if (!Object.hasOwn(KNOWN, code)) throw new Error(`fail-writes: FASOP_FAIL_WRITE_CODE must be one of ${Object.keys(KNOWN).join(', ')}`);
const [errno, text] = KNOWN[code];

/** The error node:fs throws for a failed system call. */
const failure = (syscall, path) => Object.assign(new Error(`${code}: ${text}, ${syscall}${path ? ` '${path}'` : ''}`), { errno, code, syscall, ...(path ? { path } : {}) });
const matches = (path) => (typeof path === 'string' || path instanceof URL) && pattern.test(resolve(String(path instanceof URL ? path.pathname : path)));
const forWriting = (flags) => (typeof flags === 'number' ? (flags & 3) !== 0 : /[wa+]/.test(String(flags ?? 'r')));

const real = { openSync: fs.openSync, writeSync: fs.writeSync, writeFileSync: fs.writeFileSync, closeSync: fs.closeSync };
const failing = new Set();

fs.openSync = function openSync(path, flags, mode) {
  const fd = real.openSync(path, flags, mode);
  if (matches(path) && forWriting(flags)) failing.add(fd);
  return fd;
};
fs.writeSync = function writeSync(fd, ...rest) {
  if (failing.has(fd)) throw failure('write');
  return real.writeSync(fd, ...rest);
};
fs.closeSync = function closeSync(fd) {
  failing.delete(fd);
  return real.closeSync(fd);
};
fs.writeFileSync = function writeFileSync(file, data, options) {
  if (typeof file !== 'number' && matches(file)) {
    const fd = real.openSync(file, 'w');
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      real.writeSync(fd, buf, 0, buf.length >> 1);
    } finally {
      real.closeSync(fd);
    }
    throw failure('write');
  }
  return real.writeFileSync(file, data, options);
};
syncBuiltinESMExports();
