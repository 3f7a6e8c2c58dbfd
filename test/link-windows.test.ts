import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { addSearchOptions, resolveSearchOptions, type RawSearchOptions } from '../src/cli/search-options.js';
import { getEstimator } from '../src/estimate/index.js';
import { windowKey, windowKeys } from '../src/estimate/node-window.js';
import type { ClusterNode } from '../src/estimate/plan.js';
import { ProfileDb } from '../src/profiles/db.js';
import { searchEvents, type SearchEvent } from '../src/search/search.js';

async function events(gpus: string[], args: string[]): Promise<SearchEvent[]> {
  const raw = addSearchOptions(new Command('search')).exitOverride().parse(args, { from: 'user' }).opts() as RawSearchOptions;
  const r = resolveSearchOptions(raw, gpus);
  const ctx = { catalog: r.catalog, profiles: ProfileDb.open(r.profileDir), estimator: getEstimator(r.request.estimator) };
  const out: SearchEvent[] = [];
  for await (const ev of searchEvents(r.request, ctx)) out.push(ev);
  return out;
}

// rotations of mixed clusters: stages and boundaries that straddle the types, stages smaller than a
// node (tp·dp < GPUs per node), 6 GPUs per node (ranks not aligned to 4), context-parallel rings
const CASES: { gpus: string[]; args: string[] }[] = [
  { gpus: ['H100', '3', 'H200', '2'], args: ['--gbs', '32', '--dataset', 'c4', '--model-type', 'llama8b'] },
  { gpus: ['A40', '3', 'H100', '2'], args: ['--gbs', '24', '--dataset', 'c4', '--model-type', 'llama1b', '--gpu-per-node', '6', '--substitute-profile', 'A40=H200'] },
  { gpus: ['H100', '2', 'H200', '1'], args: ['--gbs', '16', '--dataset', 'c4', '--model-type', 'llama8b', '--seq-length', '8192', '--cp', '1,2'] },
];

test('links keyed by their nodes\' contents across placements change no result (with and without the content keys)', async () => {
  for (const c of CASES) {
    windowKeys.enabled = false;
    let perPlacement: SearchEvent[];
    try {
      perPlacement = await events(c.gpus, c.args);
    } finally {
      windowKeys.enabled = true;
    }
    const results = perPlacement.filter((e) => e.type === 'result').length;
    assert.ok(results > 20, `${c.gpus.join(' ')}: ${results} results`);
    assert.deepEqual(await events(c.gpus, c.args), perPlacement, c.gpus.join(' '));
  }
});

test('a window key names the offset, the rank alignment and each run of equal nodes', () => {
  const gpu = (name: string) => ({ name }) as unknown as ClusterNode['gpu'];
  const a = { gpu: gpu('A'), interNode_bps: 1, intraNode_bps: 2 };
  const b = { gpu: gpu('B'), interNode_bps: 1, intraNode_bps: 2 };
  const nodes = [a, a, { ...a }, b, b, a];
  const k = windowKey(nodes, 8, 12, 40)!; // ranks 12..39: nodes 1..4
  assert.deepEqual(k.slice(0, 2), [4, 0]);
  assert.deepEqual(k.slice(2).filter((_, i) => i % 2 === 1), [2, 2]); // two A nodes (equal contents), two B nodes
  assert.notEqual(k[2], k[4]);
  // the same nodes seen from another placement give the same key; one node of other bandwidth does not
  assert.deepEqual(windowKey([b, a, a, b, b, b], 8, 12, 40), k);
  assert.notDeepEqual(windowKey([b, a, { ...a, interNode_bps: 3 }, b, b, b], 8, 12, 40), k);
  // 6 GPUs per node: node 1 starts at rank 6 (2 mod 4), node 2 at rank 12 (0 mod 4)
  assert.equal(windowKey(nodes, 6, 6, 12)![1], 2);
  assert.equal(windowKey(nodes, 6, 12, 18)![1], 0);
});
