import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { FasopError } from '../src/errors.js';
import {
  partitioners,
  evaluatePartition,
  dpPartition,
  bruteforcePartition,
  ilpPartition,
  compositions,
  referenceDpPartition,
  type PartitionProblem,
} from '../src/partition/index.js';
import { binomial } from '../src/partition/bruteforce.js';

// ---- seeded instances ----
function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** largest n ≤ 40 with C(n−1, pp−1) ≤ limit (keeps bruteforce fast) */
function maxNodes(pp: number, limit: number): number {
  let n = 40;
  while (n > pp && binomial(n - 1, pp - 1) > limit) n--;
  return n;
}

interface Instance { problem: PartitionProblem; desc: string }

/**
 * Random instance: 2–6 stages, 6–40 nodes (fewer for pp ≥ 5 so bruteforce stays small), a base node
 * cost vector scaled per stage (heterogeneous rows) plus per-node noise, random boundary costs per
 * (node, boundary), m in 1..64. One in four instances uses small integers (many exact ties).
 */
function randomInstance(seed: number, compLimit = 20000): Instance {
  const r = mulberry32(seed);
  const pp = 2 + Math.floor(r() * 5);
  const hi = maxNodes(pp, compLimit);
  const lo = Math.max(6, pp);
  const n = lo + Math.floor(r() * (hi - lo + 1));
  const ints = r() < 0.25;
  const base = Array.from({ length: n }, () => (ints ? Math.floor(r() * 4) : 0.1 + r()));
  const rows = Array.from({ length: pp }, () => {
    const speed = ints ? 1 + Math.floor(r() * 2) : 0.4 + 1.2 * r();
    return base.map((c) => (ints ? c * speed : (c * speed * (0.9 + 0.2 * r()))));
  });
  const bmat = Array.from({ length: n }, () => Array.from({ length: pp - 1 }, () => (ints ? Math.floor(r() * 3) : 0.3 * r())));
  const m = r() < 0.15 ? 1 : 1 + Math.floor(r() * 64);
  return {
    problem: { nodeCost_s: rows, boundaryCost_s: (k, j) => bmat[k]![j]!, microBatches: m },
    desc: `seed=${seed} pp=${pp} n=${n} m=${m}${ints ? ' ints' : ''}`,
  };
}

function assertSame(a: { sizes: number[]; objective: number }, b: { sizes: number[]; objective: number }, desc: string, rel = 1e-12): void {
  const scale = Math.max(Math.abs(a.objective), Math.abs(b.objective), 1e-300);
  assert.ok(Math.abs(a.objective - b.objective) <= rel * scale, `${desc}: objectives ${a.objective} vs ${b.objective}`);
  assert.deepEqual(a.sizes, b.sizes, `${desc}: sizes`);
}

// ---- the objective ----
test('evaluatePartition: hand-computed 1F1B objective', () => {
  // 5 nodes, 3 stages; stage rows differ; boundary cost = 10·(k+1) + j
  const p: PartitionProblem = {
    nodeCost_s: [
      [1, 2, 3, 4, 5],
      [2, 2, 2, 2, 2],
      [0.5, 0.5, 0.5, 0.5, 0.5],
    ],
    boundaryCost_s: (k, j) => 10 * (k + 1) + j,
    microBatches: 4,
  };
  // sizes [2,2,1]: stage0 = 1+2 + b(1,0)=20 → 23; stage1 = 2+2 + b(3,1)=41 + b(1,0)=20 → 65; stage2 = 0.5 + 41 → 41.5
  const r = evaluatePartition(p, [2, 2, 1]);
  assert.deepEqual(r.stageTimes_s, [23, 65, 41.5]);
  assert.equal(r.objective, 3 * 65 + (23 + 65 + 41.5));
  // pp = 1: no boundaries
  const one = evaluatePartition({ nodeCost_s: [[1, 2, 3]], boundaryCost_s: () => 99, microBatches: 2 }, [3]);
  assert.deepEqual(one, { objective: 12, stageTimes_s: [6] });
});

test('evaluatePartition rejects bad sizes and bad problems with FasopError', () => {
  const p: PartitionProblem = { nodeCost_s: [[1, 1, 1], [1, 1, 1]], boundaryCost_s: () => 0, microBatches: 2 };
  assert.throws(() => evaluatePartition(p, [1, 1]), FasopError);
  assert.throws(() => evaluatePartition(p, [0, 3]), FasopError);
  assert.throws(() => evaluatePartition(p, [1, 1, 1]), FasopError);
  assert.throws(() => evaluatePartition({ ...p, nodeCost_s: [[1, -1, 1], [1, 1, 1]] }, [1, 2]), FasopError);
  assert.throws(() => evaluatePartition({ ...p, boundaryCost_s: () => NaN }, [1, 2]), FasopError);
  assert.throws(() => evaluatePartition({ ...p, microBatches: 0 }, [1, 2]), FasopError);
});

// ---- bruteforce's enumeration ----
test('compositions: lazy, lexicographic, complete', () => {
  for (const [n, pp] of [[1, 1], [5, 1], [5, 5], [6, 3], [9, 4], [12, 2]] as const) {
    const seen: string[] = [];
    let prev: number[] | undefined;
    for (const c of compositions(n, pp)) {
      const arr = Array.from(c);
      assert.equal(arr.length, pp);
      assert.equal(arr.reduce((x, y) => x + y, 0), n);
      assert.ok(arr.every((x) => x >= 1));
      if (prev) assert.ok(prev.join() !== arr.join() && lexLess(prev, arr), `order ${prev} < ${arr}`);
      prev = arr;
      seen.push(arr.join());
    }
    assert.equal(seen.length, binomial(n - 1, pp - 1), `count n=${n} pp=${pp}`);
    assert.equal(new Set(seen).size, seen.length);
  }
  function lexLess(a: number[], b: number[]): boolean {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
    return false;
  }
});

// ---- dp against bruteforce ----
test('dp equals bruteforce (objective and tie-broken sizes) on 600 seeded random instances', (t) => {
  let count = 0;
  let ties = 0;
  let m1 = 0;
  for (let seed = 1; seed <= 600; seed++) {
    const { problem, desc } = randomInstance(seed);
    const b = bruteforcePartition(problem);
    const d = dpPartition(problem);
    assertSame(d, b, desc);
    // the result's objective is the shared evaluator's value
    assert.equal(d.objective, evaluatePartition(problem, d.sizes).objective);
    if (desc.includes('ints')) ties++;
    if (problem.microBatches === 1) m1++;
    count++;
  }
  t.diagnostic(`dp vs bruteforce: ${count} instances (${ties} with integer costs, ${m1} with m = 1), all equal`);
});

test('dp matches bruteforce on larger two- and three-stage instances', (t) => {
  let count = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const r = mulberry32(1000 + seed);
    const pp = 2 + (seed % 2);
    const n = 60 + Math.floor(r() * 60);
    const rows = Array.from({ length: pp }, () => Array.from({ length: n }, () => r()));
    const bmat = Array.from({ length: n }, () => r() * 0.2);
    const problem: PartitionProblem = { nodeCost_s: rows, boundaryCost_s: (k) => bmat[k]!, microBatches: 1 + Math.floor(r() * 40) };
    assertSame(dpPartition(problem), bruteforcePartition(problem), `seed ${seed} n=${n} pp=${pp}`);
    count++;
  }
  t.diagnostic(`${count} instances with n in 60..119`);
});

// ---- exact ties ----
test('exact ties resolve to the lexicographically smallest sizes in every method', async () => {
  // all zero: every partition ties
  const zero: PartitionProblem = { nodeCost_s: Array.from({ length: 3 }, () => new Array<number>(7).fill(0)), boundaryCost_s: () => 0, microBatches: 8 };
  // [1,0,0,1]: every 2-stage split has stage times {1,1} → F = 3 for all
  const flat: PartitionProblem = { nodeCost_s: [[1, 0, 0, 1], [1, 0, 0, 1]], boundaryCost_s: () => 0, microBatches: 2 };
  // m = 1 with uniform costs and equal boundary costs: Σ is the same for every partition
  const sum: PartitionProblem = { nodeCost_s: Array.from({ length: 3 }, () => new Array<number>(9).fill(1)), boundaryCost_s: () => 0.5, microBatches: 1 };
  // [2,4] and [3,3] tie (stage times 5 and 5); [1,5] and [4,2] do not
  const mid: PartitionProblem = { nodeCost_s: [[0, 5, 0, 0, 5, 0], [0, 5, 0, 0, 5, 0]], boundaryCost_s: () => 0, microBatches: 2 };
  const cases: [PartitionProblem, number[]][] = [
    [zero, [1, 1, 5]],
    [flat, [1, 3]],
    [sum, [1, 1, 7]],
    [mid, [2, 4]],
  ];
  for (const [p, want] of cases) {
    assert.deepEqual(bruteforcePartition(p).sizes, want, 'bruteforce');
    assert.deepEqual(dpPartition(p).sizes, want, 'dp');
    assert.deepEqual((await ilpPartition(p)).sizes, want, 'ilp');
  }
});

// ---- errors ----
test('bruteforce refuses too many compositions with a FasopError and a hint', () => {
  const n = 642;
  const p: PartitionProblem = { nodeCost_s: Array.from({ length: 4 }, () => new Array<number>(n).fill(1)), boundaryCost_s: () => 0, microBatches: 8 };
  assert.throws(
    () => bruteforcePartition(p),
    (e: unknown) => e instanceof FasopError && /C\(641, 3\)/.test(e.message) && /dp/.test(e.hint),
  );
  assert.throws(() => bruteforcePartition({ ...p, nodeCost_s: p.nodeCost_s.slice(0, 2) }, { maxCompositions: 100 }), FasopError);
  // two stages are fine
  assert.equal(bruteforcePartition({ ...p, nodeCost_s: p.nodeCost_s.slice(0, 2) }).sizes.length, 2);
});

test('invalid input (pp > n, ragged rows) throws FasopError in every method', async () => {
  const tooMany: PartitionProblem = { nodeCost_s: [[1, 2], [1, 2], [1, 2]], boundaryCost_s: () => 0, microBatches: 4 };
  const ragged: PartitionProblem = { nodeCost_s: [[1, 2, 3], [1, 2]], boundaryCost_s: () => 0, microBatches: 4 };
  for (const p of [tooMany, ragged]) {
    assert.throws(() => dpPartition(p), FasopError);
    assert.throws(() => bruteforcePartition(p), FasopError);
    await assert.rejects(ilpPartition(p), FasopError);
  }
  assert.throws(() => referenceDpPartition([[1, 2], [1, 2], [1, 2]], () => 0, 4, 3), FasopError);
});

test('trivial shapes: pp = 1 and pp = n', async () => {
  const p1: PartitionProblem = { nodeCost_s: [[1, 2, 3]], boundaryCost_s: () => 0, microBatches: 3 };
  const pn: PartitionProblem = { nodeCost_s: [[1, 2, 3], [1, 2, 3], [1, 2, 3]], boundaryCost_s: () => 1, microBatches: 3 };
  for (const name of ['dp', 'ilp', 'bruteforce'] as const) {
    assert.deepEqual((await partitioners[name](p1)).sizes, [3]);
    assert.deepEqual((await partitioners[name](pn)).sizes, [1, 1, 1]);
  }
});

// ---- ilp ----
test('ilp (HiGHS) agrees with dp and bruteforce on 36 seeded instances', async (t) => {
  let count = 0;
  let solves = 0;
  for (let seed = 5001; seed <= 5036; seed++) {
    const { problem, desc } = randomInstance(seed, 800);
    const b = bruteforcePartition(problem);
    const i = await ilpPartition(problem);
    assert.ok(i.optimal, `${desc}: ilp optimal`);
    // the MIP's own value agrees within its gap (1e-10 rel + 1e-9 abs on a scale of 1000)
    assert.ok(Math.abs(i.mipObjective - b.objective) <= 1e-8 * b.objective + 1e-12, `${desc}: mip objective ${i.mipObjective} vs ${b.objective}`);
    assertSame(i, b, desc, 1e-9);
    assertSame(dpPartition(problem), b, desc);
    solves += i.solves;
    count++;
  }
  t.diagnostic(`ilp vs bruteforce/dp: ${count} instances, ${solves} MIP solves, all equal`);
});

test('ilp runs from compiled JS (dist/) when built', { skip: !existsSync(new URL('../dist/partition/ilp.js', import.meta.url)) }, async () => {
  const mod = (await import(new URL('../dist/partition/ilp.js', import.meta.url).href)) as typeof import('../src/partition/ilp.js');
  const { problem, desc } = randomInstance(77, 500);
  const i = await mod.ilpPartition(problem);
  assertSame(i, bruteforcePartition(problem), desc, 1e-9);
  await mod.closeIlpWorker();
});

test('registry: the three methods share the signature and the answer', async () => {
  const { problem } = randomInstance(4242);
  const want = bruteforcePartition(problem);
  for (const name of ['dp', 'ilp', 'bruteforce'] as const) {
    const r = await partitioners[name](problem);
    assertSame(r, want, name, 1e-9);
  }
});

// ---- the original's dp (SPEC §9.3) ----
const f32 = Math.fround;
/** Direct transcription of §9.3's objective for one partition (with A13 rounding). */
function referenceObjective(c: number[][], costC: (k: number, j: number) => number, m: number, sizes: number[]): number {
  const pp = sizes.length;
  const mm1 = f32(m - 1);
  let prefix = 0;
  for (let k = 0; k < sizes[0]!; k++) prefix += c[0]![k]!;
  let val = f32(mm1 * f32(prefix));
  let cut = sizes[0]! - 1;
  for (let j = 1; j < pp; j++) {
    const i = cut + sizes[j]!;
    let comp = 0;
    for (let k = cut + 1; k <= i; k++) comp += c[j]![k]!;
    let x = comp + costC(cut, j - 1);
    if (j !== pp - 1) x += costC(cut, j);
    val = m === 1 ? f32(val + f32(x)) : Math.max(f32(mm1 * f32(x)), val);
    cut = i;
  }
  return val;
}

test('reference dp: hand-made cases', () => {
  const c = [[1, 2, 3, 4], [1, 2, 3, 4]];
  // m = 2: bottleneck of max(prefix0, x1): [1,3] → 9, [2,2] → 7, [3,1] → max(6, 4) = 6
  assert.deepEqual(referenceDpPartition(c, () => 0, 2, 2), [3, 1]);
  // m = 1: stage 0 is ignored, so the last stage is made as small as possible
  assert.deepEqual(referenceDpPartition(c, () => 0, 1, 2), [3, 1]);
  // the outgoing term uses row `cut` (the previous stage's last node) in column j
  const costC = (k: number, j: number): number => (j === 1 && k === 0 ? 100 : 0);
  // pp = 3, n = 4, uniform costs 1, m = 2: without the quirk [1,1,2], [1,2,1], [2,1,1] tie at 2;
  // cut = 0 before stage 1 pays costC(0, 1) = 100, so stage 0 must hold 2 nodes: [2,1,1]
  assert.deepEqual(referenceDpPartition([[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]], costC, 2, 3), [2, 1, 1]);
  // all zero: the first cut found wins everywhere → [1, 1, …, rest]
  assert.deepEqual(referenceDpPartition([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]], () => 0, 5, 3), [1, 1, 3]);
  assert.deepEqual(referenceDpPartition([[1, 2, 3]], () => 0, 2, 1), [3]);
});

test('reference dp attains the minimum of its own (§9.3) objective on seeded instances', (t) => {
  let count = 0;
  for (let seed = 1; seed <= 150; seed++) {
    const r = mulberry32(7000 + seed);
    const pp = 2 + Math.floor(r() * 3);
    const n = pp + Math.floor(r() * 9);
    const c = Array.from({ length: pp }, () => Array.from({ length: n }, () => f32(r() * 0.01)));
    const cc = Array.from({ length: n }, () => Array.from({ length: pp - 1 }, () => f32(r() * 0.002)));
    const costC = (k: number, j: number): number => cc[k]![j]!;
    const m = r() < 0.3 ? 1 : f32(1 + Math.floor(r() * 32));
    const sizes = referenceDpPartition(c, costC, m, pp);
    let best = Infinity;
    for (const comp of compositions(n, pp)) best = Math.min(best, referenceObjective(c, costC, m, Array.from(comp)));
    assert.equal(referenceObjective(c, costC, m, sizes), best, `seed ${seed}`);
    count++;
  }
  t.diagnostic(`${count} instances`);
});
