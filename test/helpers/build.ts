import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';

export const REPO = resolve(import.meta.dirname, '../..');
export const BIN = join(REPO, 'bin', 'fasop.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function fresh(): boolean {
  const built = join(REPO, 'dist', 'cli', 'main.js');
  return existsSync(built) && statSync(built).mtimeMs >= newestSource(join(REPO, 'src'));
}

/**
 * Make sure dist/ (which bin/fasop.js runs) is built from the current src/. Test files run in
 * parallel processes, so the build is guarded by a lock folder in the temp dir.
 */
export function ensureBuilt(): void {
  if (fresh()) return;
  const lock = join(tmpdir(), `fasop-build-lock-${createHash('sha1').update(REPO).digest('hex').slice(0, 12)}`);
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`could not take the build lock ${lock}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    if (!fresh()) {
      const tsc = createRequire(join(REPO, 'package.json')).resolve('typescript/bin/tsc');
      execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: REPO, stdio: 'pipe' });
    }
  } finally {
    rmdirSync(lock);
  }
}
