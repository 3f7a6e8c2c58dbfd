import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * Every entry under `root` (files with a hash of their content, folders, links), as a sorted map
 * from relative path to a short description: compare two snapshots to see what a run created,
 * changed or deleted.
 */
export function snapshotTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const p = join(dir, name);
      const rel = relative(root, p);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out.set(rel, `link -> ${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.set(rel, 'dir');
        walk(p);
      } else if (!st.isFile()) out.set(rel, 'special (FIFO, socket or device)');
      else out.set(rel, `file ${createHash('sha1').update(readFileSync(p)).digest('hex')}`);
    }
  };
  walk(root);
  return out;
}

/** Paths added, removed or changed between two snapshots (empty when identical). */
export function diffTrees(before: Map<string, string>, after: Map<string, string>): string[] {
  const diffs: string[] = [];
  for (const [k, v] of after) if (!before.has(k)) diffs.push(`created ${k}`);
  else if (before.get(k) !== v) diffs.push(`changed ${k}`);
  for (const k of before.keys()) if (!after.has(k)) diffs.push(`deleted ${k}`);
  return diffs;
}
