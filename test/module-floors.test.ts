/** docs/design.md's module table, held against the code: every import under src/ runs down a floor or stays on its own. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = resolve(import.meta.dirname, '../src');
const FLOORS: Record<string, number> = {
  'errors.ts': 1, 'paths.ts': 1, pipeline: 1, guard: 1,
  catalog: 2, partition: 2,
  model: 3,
  profiles: 4,
  estimate: 5,
  request: 6,
  plan: 7,
  search: 8, validate: 8,
  report: 9,
  export: 10, 'index.ts': 10,
  web: 11,
  cli: 12,
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.(ts|mjs)$/.test(n) ? [p] : [];
  });
}
const moduleOf = (file: string) => relative(SRC, file).split('/')[0]!;

test('every module of src/ has a floor in docs/design.md', () => {
  const doc = readFileSync(resolve(SRC, '../docs/design.md'), 'utf8');
  for (const m of new Set(files(SRC).map(moduleOf))) {
    assert.ok(m in FLOORS, `${m} has no floor here`);
    assert.ok(doc.includes(`\`${m.endsWith('.ts') ? m : `${m}/`}\``), `${m} is not in docs/design.md's table`);
  }
});

test('no import runs up a floor (web/ never imports cli/)', () => {
  const bad: string[] = [];
  for (const f of files(SRC)) {
    const from = moduleOf(f);
    for (const m of readFileSync(f, 'utf8').matchAll(/(?:^|\n)\s*(?:import|export)[^'"\n]*?from\s+'(\.[^']+)'/g)) {
      const target = resolve(dirname(f), m[1]!);
      if (!target.startsWith(SRC)) continue;
      const to = moduleOf(target.replace(/\.js$/, '.ts'));
      if (to === from) continue;
      if (FLOORS[to]! > FLOORS[from]!) bad.push(`${relative(SRC, f)} -> ${to}/`);
    }
  }
  assert.deepEqual(bad, []);
});
