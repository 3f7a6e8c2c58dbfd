import { basename, dirname, join, resolve } from 'node:path';
import { FasopError } from '../errors.js';

/**
 * A file name taken from a flag (`--pareto-title`, `--add-exp-name`) must stay a name: no path
 * separator, no NUL, not `.` or `..`, at most 200 characters. Checked before anything is written.
 */
export function checkPlainName(value: string, flag: string, allowEmpty = false): void {
  const bad = (why: string) => new FasopError(`${flag} ${JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)} ${why}`,
    `give a plain name (letters, digits, - _ . and spaces); the file is written inside the output folder`);
  if (value === '' && !allowEmpty) throw bad('is empty');
  if (/[/\\\0]/.test(value)) throw bad('contains a path separator');
  if (value === '.' || value === '..') throw bad('is not a file name');
  if (value.length > 200) throw bad('is longer than 200 characters');
  if (/[\u0000-\u001f\u007f]/.test(value)) throw bad('contains a control character');
}

/** `dir/name`, refused unless it lies directly inside `dir` (the output folder). */
export function confinedPath(dir: string, name: string, flag: string): string {
  const path = join(dir, name);
  if (resolve(dirname(path)) !== resolve(dir) || basename(path) !== name) {
    throw new FasopError(`${flag} would write ${path}, outside the output folder ${dir}`, 'give a plain file name');
  }
  return path;
}

/**
 * A path flag's value, refused when empty: `--output-dir ''` (an unset shell variable) must not
 * fall back to ./main_logs, nor `--log-file ''` to no log. `what` is what the flag takes ('a folder',
 * 'a file'). Usable as a commander argParser: `.argParser(nonEmptyPath('--output-dir', 'a folder'))`.
 */
export function nonEmptyPath(flag: string, what: 'a folder' | 'a file'): (value: string) => string {
  return (value: string) => {
    if (value === '') throw new FasopError(`${flag} is empty`, `give ${what}, or leave the flag out`);
    return value;
  };
}
