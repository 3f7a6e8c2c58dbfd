import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder that holds this package's package.json, whether running from src/ or dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('fasop: cannot find the package root (package.json)');
    dir = up;
  }
}

/** Shipped profile files (measured by this project's profiler). */
export function defaultProfileDir(): string {
  return join(packageRoot(), 'profiles');
}

/** Shipped catalog data files. */
export function catalogDataDir(): string {
  return join(packageRoot(), 'src', 'catalog', 'data');
}
