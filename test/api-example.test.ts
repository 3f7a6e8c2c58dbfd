/** docs/api.md's runnable example: build dist/, run docs/examples/export.mjs, check what it prints. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { layoutLayersPerStage } from '../src/export/layout.js';
import { checkModuleFqns } from '../src/export/torchtitan.js';
import { REF_PROFILES } from './helpers/cli.js';

const ROOT = resolve(import.meta.dirname, '..');

test('docs/examples/export.mjs runs against the built library and prints consistent launcher arguments', { timeout: 180_000 }, () => {
  execFileSync(process.execPath, [resolve(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'pipe' });
  const out = execFileSync(process.execPath, ['docs/examples/export.mjs', REF_PROFILES], { cwd: ROOT, encoding: 'utf8' });
  const line = (prefix: string) => {
    const l = out.split('\n').find((x) => x.startsWith(prefix));
    assert.ok(l, `no line '${prefix}' in:\n${out}`);
    return l.slice(prefix.length).trim();
  };
  assert.ok(Number(line('plans estimated:')) > 10);
  const best = Object.fromEntries(line('best:').split(' ').map((kv) => kv.split('=')));
  assert.equal(Number(line('estimate() of the same plan and partition:')), Number(best['step_time']));
  const layers = JSON.parse(line('layers per stage:').split(' ')[0]!);
  const mg = line('megatron:').split(' ');
  const layout = mg[mg.indexOf('--pipeline-model-parallel-layout') + 1]!;
  assert.equal(Number(mg[mg.indexOf('--pipeline-model-parallel-size') + 1]), Number(best['pp']));
  assert.deepEqual(layoutLayersPerStage(layout, Number(best['pp']), 80), layers);
  assert.deepEqual(checkModuleFqns(JSON.parse(line('torchtitan module_fqns_per_model_part:')), 80), layers);
  const cut = /-> layers (\[[^\]]*\]) exact=(true|false)/.exec(line('tp=1 plan:'))!;
  assert.equal(cut[2], 'false');
  assert.match(line('rounding:'), /^[\d.]+ s -> [\d.]+ s \(-?[\d.]+ %\)$/);
  assert.deepEqual(layoutLayersPerStage(line('tp=1 megatron layout:'), JSON.parse(cut[1]!).length, 80), JSON.parse(cut[1]!));
});
