import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { addSearchOptions, resolveSearchOptions } from '../src/cli/search-options.js';
import { getEstimator } from '../src/estimate/index.js';
import { ProfileDb } from '../src/profiles/db.js';
import { planExtras } from '../src/report/plan-extras.js';
import type { PlanRecord } from '../src/search/record.js';
import { searchEvents } from '../src/search/search.js';
import { ResultPacker, ResultUnpacker, type PackedResults, type ShardItem } from '../src/search/wire.js';

async function itemsOf(gpuTokens: string[], args: string[]): Promise<{ items: ShardItem[]; layers: number }> {
  const raw = addSearchOptions(new Command('search')).exitOverride().parse(args, { from: 'user' }).opts();
  const r = resolveSearchOptions(raw, gpuTokens);
  const ctx = { catalog: r.catalog, profiles: ProfileDb.open(r.profileDir), estimator: getEstimator(r.request.estimator) };
  const items: ShardItem[] = [];
  for await (const ev of searchEvents(r.request, ctx)) {
    if (ev.type === 'result') items.push({ index: ev.index, record: ev.record, estimate: ev.estimate });
    else if (ev.type === 'oom') items.push({ index: ev.index, oom: ev.oom });
  }
  return { items, layers: r.request.model.num_layers };
}

/** Pack in batches of `batch` items, as a thread posts them (through a structured clone), and unpack. */
function roundTrip(items: ShardItem[], batch: number, tableLimit?: number): { out: ShardItem[]; resets: number } {
  const packer = new ResultPacker(tableLimit);
  const unpacker = new ResultUnpacker();
  const out: ShardItem[] = [];
  let resets = 0;
  for (let i = 0; i < items.length; i += batch) {
    for (const it of items.slice(i, i + batch)) packer.add(it);
    const p = structuredClone(packer.take()) as PackedResults;
    if (p.reset) resets += 1;
    unpacker.unpack(p, out);
  }
  assert.equal(packer.take(), undefined, 'nothing left after the last take');
  return { out, resets };
}

test('packed results unpack to the same records, OOM items and report extras, in order', async () => {
  // FSDP, recompute layers and sequence parallel vary across these; one H100 node of 70B has OOM strategies
  const { items, layers } = await itemsOf(['H100', '1', 'H200', '2'], ['--pareto', '--pareto-gbs-max', '16', '--dataset', 'c4']);
  const ooms = items.filter((it) => 'oom' in it).length;
  assert.ok(ooms > 0 && ooms < items.length, `both kinds (${ooms} OOM of ${items.length})`);
  const { out } = roundTrip(items, 5);
  assert.equal(out.length, items.length);
  for (let i = 0; i < items.length; i++) {
    const a = items[i]!;
    const b = out[i]!;
    assert.equal(b.index, a.index);
    if ('oom' in a) {
      assert.deepEqual(b, a, `oom item ${i}`);
      continue;
    }
    assert.ok(!('oom' in b));
    assert.deepEqual(b.record, a.record, `record ${i}`);
    // the same keys in the same order: the CSV and JSON of a record do not depend on its thread
    assert.equal(JSON.stringify(b.record), JSON.stringify(a.record));
    assert.deepEqual(planExtras(b.record, b.estimate, layers), planExtras(a.record, a.estimate, layers), `extras ${i}`);
    const { breakdown: bb, ...bTop } = b.estimate;
    const { breakdown: ab, ...aTop } = a.estimate;
    assert.deepEqual(bTop, aTop, `estimate ${i}`);
    assert.deepEqual([bb.microBatches, bb.pipeline_s, bb.embeddingSync_s, bb.costSource], [ab.microBatches, ab.pipeline_s, ab.embeddingSync_s, ab.costSource]);
    assert.deepEqual(bb.stages.map((s) => [s.memory_GiB, s.memoryLimit_GiB]), ab.stages.map((s) => [s.memory_GiB, s.memoryLimit_GiB]));
  }
});

test('packed records keep nulls and flags, and survive the tables starting again', async () => {
  const { items } = await itemsOf(['H100', '4'], ['--model-type', 'llama8b', '--gbs', '64', '--dp-sharding', 'parameters', '--shard-group', '8,16', '--optimizer', 'fp32-master-adamw']);
  const records = items.flatMap((it) => ('record' in it ? [it.record] : []));
  const some = (what: string, f: (r: PlanRecord) => boolean) => assert.ok(records.some(f), `some record: ${what}`);
  some('a shard group', (r) => r.shard_group !== null);
  some('no shard group', (r) => r.shard_group === null);
  some('sequence parallel', (r) => r.sequence_parallel);
  some('no sequence parallel', (r) => !r.sequence_parallel);
  const { out, resets } = roundTrip(items, 3, 4);
  assert.ok(resets > 1, `the tables started again (${resets} times)`);
  assert.deepEqual(out.map((it) => ('record' in it ? it.record : it.oom)), items.map((it) => ('record' in it ? it.record : it.oom)));
});
