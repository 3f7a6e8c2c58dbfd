import { closeSync, existsSync, linkSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FasopError } from '../errors.js';
import { writeData, writeError, type FileData } from '../guard/write.js';

/** `H100x4`, `A40x8-A100x1`: a cluster as a file-name part. */
export function clusterFilePart(groups: readonly { type: string; nodes: number }[]): string {
  return groups.map((g) => `${g.type}x${g.nodes}`).join('-');
}

/**
 * The stem of a search's results: `{model}_{cluster}[_pareto]_gbs{gbs}{suffix}`, a gbs sweep as
 * `gbs1-64`. Characters a file name should not hold become `-`.
 */
export function resultStem(model: string, groups: readonly { type: string; nodes: number }[], gbsValues: readonly number[], pareto: boolean, suffix = ''): string {
  const gbs = gbsValues.length > 1 ? `${gbsValues[0]}-${gbsValues.at(-1)}` : String(gbsValues[0]);
  return `${model}_${clusterFilePart(groups)}${pareto ? '_pareto' : ''}_gbs${gbs}${suffix}`.replace(/[/\\\0\s:]/g, '-');
}

/** The original's CSV stem: `{model}[_heterogeneous][_pareto]{suffix}` (replaced by every run). */
export function originalCsvStem(model: string, heterogeneous: boolean, pareto: boolean, suffix = ''): string {
  return `${model}${heterogeneous ? '_heterogeneous' : ''}${pareto ? '_pareto' : ''}${suffix}`;
}

/** `dir/stem.ext`, then `dir/stem_2.ext`, `dir/stem_3.ext`, … */
export function candidatePath(dir: string, stem: string, ext: string, n: number): string {
  return join(dir, `${stem}${n > 1 ? `_${n}` : ''}${ext}`);
}

const MAX_TRIES = 10_000;

/**
 * Create a new file at the first free candidate path and return it open: `wx` fails when the name
 * exists, so two runs at once never get the same file.
 */
export function claimNewFile(dir: string, stem: string, ext: string): { path: string; fd: number } {
  for (let n = 1; n <= MAX_TRIES; n++) {
    const path = candidatePath(dir, stem, ext, n);
    try {
      return { path, fd: openSync(path, 'wx') };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError(path, err);
    }
  }
  throw new FasopError(`${MAX_TRIES} files named ${stem}*${ext} already exist in ${dir}`, 'clear out old results, or pass --output-dir');
}

/**
 * Write `data` under the first free candidate name, whole or not at all: the text goes to a
 * temporary file first, which is then hard-linked to the name (a link never replaces a file).
 */
export function writeNewFile(dir: string, stem: string, ext: string, data: FileData): string {
  const tmp = join(dir, `.${stem}${ext}.tmp-${process.pid}-${Date.now()}`);
  try {
    writeData(tmp, data);
    for (let n = 1; n <= MAX_TRIES; n++) {
      const path = candidatePath(dir, stem, ext, n);
      try {
        linkSync(tmp, path);
        return path;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError(path, err);
      }
    }
    throw new FasopError(`${MAX_TRIES} files named ${stem}*${ext} already exist in ${dir}`, 'clear out old results, or pass --output-dir');
  } catch (err) {
    if (err instanceof FasopError) throw err;
    throw writeError(join(dir, `${stem}${ext}`), err);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** True when a file of that name is already there (for the notice that the original's name replaces it). */
export function replacesFile(path: string): boolean {
  return existsSync(path);
}

/** Close a claimed file, ignoring a descriptor already closed. */
export function closeQuietly(fd: number | undefined): void {
  if (fd === undefined) return;
  try { closeSync(fd); } catch { /* already closed */ }
}

