import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Command } from 'commander';
import { addSearchOptions, resolveSearchOptions, type RawSearchOptions } from '../src/cli/search-options.js';
import { getEstimator } from '../src/estimate/index.js';
import { boundaryLinkCache, stageLists, stageTime_s, stageTimes_s } from '../src/estimate/boundaries.js';
import { FASOP, REFERENCE } from '../src/estimate/policy.js';
import { simulate1F1B } from '../src/pipeline/onef1b.js';
import { ProfileDb } from '../src/profiles/db.js';
import { chunkOf, ownerOf, parallelSearchEvents, threadsFor, PARALLEL_MIN_PLANS } from '../src/search/parallel.js';
import { searchEvents, type SearchEvent } from '../src/search/search.js';
import { REF_PROFILES, runCli, savedCsvPath } from './helpers/cli.js';

function rawOf(args: string[]): RawSearchOptions {
  return addSearchOptions(new Command('search')).exitOverride().parse(args, { from: 'user' }).opts() as RawSearchOptions;
}

function setup(gpuTokens: string[], args: string[]) {
  const raw = rawOf(args);
  const r = resolveSearchOptions(raw, gpuTokens);
  const ctx = { catalog: r.catalog, profiles: ProfileDb.open(r.profileDir), estimator: getEstimator(r.request.estimator) };
  return { raw, req: r.request, ctx, source: { raw, gpuTokens } };
}

async function collect(events: AsyncGenerator<SearchEvent>): Promise<SearchEvent[]> {
  const out: SearchEvent[] = [];
  for await (const ev of events) out.push(ev);
  return out;
}

const CASES: { name: string; gpus: string[]; args: string[] }[] = [
  { name: 'fasop, two GPU types, every placement', gpus: ['H100', '2', 'H200', '2'], args: ['--gbs', '64', '--dataset', 'c4'] },
  { name: 'fasop, Pareto sweep over sub-clusters and gbs', gpus: ['H100', '1', 'H200', '2'], args: ['--pareto', '--pareto-gbs-max', '16', '--dataset', 'c4'] },
  { name: 'reference estimator, original profiles, Pareto', gpus: ['A40', '4'], args: ['--estimator', 'reference', '--profile-dir', REF_PROFILES, '--pareto', '--pareto-gbs-max', '16', '--gpu-per-node', '4'] },
];

for (const c of CASES) {
  test(`parallel search gives the one-thread events, in order, row for row: ${c.name}`, async () => {
    const { req, ctx, source } = setup(c.gpus, c.args);
    const one = await collect(searchEvents(req, ctx));
    for (const workers of [2, 3]) {
      let threads = 0;
      const many = await collect(parallelSearchEvents(req, ctx, { workers, source, minPlans: 0, onThreads: (t) => { threads = t; } }));
      assert.equal(threads, workers, 'the search really ran on several threads');
      assert.equal(many.length, one.length);
      const results = one.filter((e) => e.type === 'result').length;
      assert.ok(results > 3 * 64, `enough plans for several chunks per thread (${results})`);
      for (let i = 0; i < one.length; i++) assert.deepEqual(many[i], one[i], `event ${i} with ${workers} threads`);
    }
  });
}

test("a job's strategies are dealt to threads in groups, round robin; small searches stay on one thread", () => {
  // of every five groups of four strategies (three threads): one to the calling thread, two to each worker
  assert.deepEqual([0, 3, 4, 11, 12, 19, 20].map((slot) => ownerOf(slot, 40, 3)), [0, 0, 1, 1, 2, 2, 0]);
  // a job of few strategies: groups of one
  assert.deepEqual([0, 1, 2, 3].map((slot) => ownerOf(slot, 4, 2)), [0, 1, 1, 0]);
  assert.equal(ownerOf(7, 9, 1), 0);
  assert.deepEqual([1, 64, 65].map((i) => chunkOf(i)), [0, 0, 1]);
  assert.equal(threadsFor(PARALLEL_MIN_PLANS - 1, 8), 1);
  assert.equal(threadsFor(PARALLEL_MIN_PLANS, 2), 2);
  assert.equal(threadsFor(PARALLEL_MIN_PLANS, 1), 1);
  assert.equal(threadsFor(100, 4, 0), 2, 'never more threads than chunks');
});

test('a search below the threshold reports one thread and yields the one-thread events', async () => {
  const { req, ctx, source } = setup(['H100', '1', 'H200', '1'], ['--gbs', '32', '--dataset', 'c4']);
  let threads = 0;
  let plans = 0;
  const many = await collect(parallelSearchEvents(req, ctx, { workers: 4, source, onThreads: (t, p) => { threads = t; plans = p; } }));
  assert.ok(plans > 0 && plans < PARALLEL_MIN_PLANS);
  assert.equal(threads, 1);
  assert.deepEqual(many, await collect(searchEvents(req, ctx)));
});

test('stopping a parallel search early ends its threads and loses nothing before the stop', async () => {
  const { req, ctx, source } = setup(['H100', '2', 'H200', '2'], ['--gbs', '64', '--dataset', 'c4']);
  const one = await collect(searchEvents(req, ctx));
  const got: SearchEvent[] = [];
  for await (const ev of parallelSearchEvents(req, ctx, { workers: 2, source, minPlans: 0 })) {
    got.push(ev);
    if (got.length === 150) break;
  }
  assert.deepEqual(got, one.slice(0, 150));
});

test('the boundary-link cache changes no result (cached vs uncached search)', async () => {
  for (const c of CASES) {
    const { req, ctx } = setup(c.gpus, c.args);
    boundaryLinkCache.enabled = false;
    let uncached: SearchEvent[];
    try {
      uncached = await collect(searchEvents(req, ctx));
    } finally {
      boundaryLinkCache.enabled = true;
    }
    assert.deepEqual(await collect(searchEvents(req, ctx)), uncached, c.name);
  }
});

test("stageTimes_s equals stageLists' stage times under both policies, every partition of small instances", () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
  for (const policy of [FASOP, REFERENCE]) {
    for (const n of [5, 9, 13]) {
      for (const pp of [1, 2, 3, 4]) {
        const costs = Array.from({ length: pp }, () => {
          const f = Float64Array.from({ length: n }, () => rnd() * 1e-3);
          const b = f.map((x) => x * (1.5 + rnd()));
          return { forward_s: f, backward_s: b, node_s: f.map((x, i) => x + b[i]!), column_s: [], layer_s: 0, step: { perLayer_s: 0, fixed_s: 0 }, source: '' };
        });
        const boundary = Array.from({ length: Math.max(0, pp - 1) }, () => Array.from({ length: 10 }, () => rnd() * 1e-4));
        const parts = (left: number, stages: number): number[][] => (stages === 1 ? [[left]] : Array.from({ length: left - stages + 1 }, (_, i) => i + 1).flatMap((k) => parts(left - k, stages - 1).map((p) => [k, ...p])));
        for (const sizes of parts(n, pp)) {
          const l = stageLists(costs, boundary, sizes, n, policy);
          assert.deepEqual(stageTimes_s(costs, boundary, sizes, n, policy), sizes.map((_, s) => stageTime_s(l, s, policy)), `${policy.name} n ${n} [${sizes}]`);
        }
      }
    }
  }
});

test('the 1F1B simulator reuses its buffer without carrying anything from one call to the next', () => {
  const times = (P: number, k: number) => ({
    forward_s: Array.from({ length: P }, (_, s) => 1 + ((s * k) % 3)),
    backward_s: Array.from({ length: P }, (_, s) => 2 + ((s + k) % 4)),
    forwardSend_s: Array.from({ length: P }, (_, s) => 0.1 * ((s + k) % 2)),
    backwardSend_s: Array.from({ length: P }, (_, s) => 0.2 * (s % 3)),
  });
  const opts = { stage0SkipsOwnSend: false };
  const small = simulate1F1B(times(3, 1), 5, opts);
  simulate1F1B(times(16, 2), 64, opts); // fills a larger part of the buffer with other numbers
  assert.deepEqual(simulate1F1B(times(3, 1), 5, opts), small);
  // by hand, 2 stages, 2 micro-batches, F 1, B 2, no sends: stage 1 runs F 1–2, B 2–4, F 4–5, B 5–7;
  // stage 0 runs F 0–1, F 1–2, then each backward after stage 1's: 4–6, 7–9
  assert.deepEqual(simulate1F1B({ forward_s: [1, 1], backward_s: [2, 2], forwardSend_s: [0, 0], backwardSend_s: [0, 0] }, 2, opts), [9, 7]);
});

test('fasop search --workers 1 and --workers 2 write the same CSV bytes; bad --workers is refused', async () => {
  const args = ['search', '--gpus', 'H100', '8', 'H200', '8', '--gbs', '1024', '--dataset', 'c4'];
  const one = await runCli([...args, '--workers', '1']);
  assert.equal(one.code, 0, one.err);
  assert.match(one.out, /^Threads: 1 \(--workers 1\)$/m);
  const two = await runCli([...args, '--workers', '2']);
  assert.equal(two.code, 0, two.err);
  assert.match(two.out, /^Threads: 2 \(--workers 2\)$/m);
  assert.equal(readFileSync(savedCsvPath(two.out), 'utf8'), readFileSync(savedCsvPath(one.out), 'utf8'));
  const small = await runCli(['search', '--gpus', 'H100', '1', '--model-type', 'llama8b', '--gbs', '32', '--dataset', 'c4', '--workers', '2']);
  assert.equal(small.code, 0, small.err);
  assert.match(small.out, /^Threads: 1 \(\d+ plans; the search splits over threads from 3,000 plans\)$/m);
  const zero = await runCli([...args, '--workers', '0']);
  assert.equal(zero.code, 2);
  assert.match(zero.err, /--workers must be a whole number from 1 to 256, got '0'/);
  const exhaustive = await runCli(['search', '--gpus', 'H100', '1', '--exhaustive', '--tp', '8', '--dp', '1', '--pp', '1', '--mbs', '1', '--workers', '2']);
  assert.equal(exhaustive.code, 2);
  assert.match(exhaustive.err, /--workers would do nothing/);
});

test('with slim estimates from the threads, the records and the extras the reports show are the one-thread ones', async () => {
  const { planExtras } = await import('../src/report/plan-extras.js');
  const { req, ctx, source } = setup(['H100', '1', 'H200', '2'], ['--pareto', '--pareto-gbs-max', '16', '--dataset', 'c4']);
  const one = await collect(searchEvents(req, ctx));
  const many = await collect(parallelSearchEvents(req, ctx, { workers: 2, source, minPlans: 0, slimEstimates: true }));
  assert.equal(many.length, one.length);
  let slim = 0;
  for (let i = 0; i < one.length; i++) {
    const a = one[i]!;
    const b = many[i]!;
    if (a.type !== 'result' || b.type !== 'result') {
      assert.deepEqual(b, a, `event ${i}`);
      continue;
    }
    assert.deepEqual(b.record, a.record, `record ${i}`);
    assert.equal(b.estimate.stepTime_s, a.estimate.stepTime_s);
    assert.deepEqual(planExtras(b.record, b.estimate, req.model.num_layers), planExtras(a.record, a.estimate, req.model.num_layers), `extras ${i}`);
    if (b.estimate.breakdown.stages.some((s) => !('compute_s' in s))) slim += 1;
  }
  assert.ok(slim > 64, `estimates from the other thread came slim (${slim})`);
});
