import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { paretoFrontier, resultRowPoint, type ParetoPoint } from '../src/report/pareto.js';

interface P extends ParetoPoint {
  id: string;
}
const p = (id: string, cost: number, throughput: number, isOom = false): P => ({ id, cost, throughput, isOom });
const ids = (rows: { id: string }[]) => rows.map((r) => r.id);

test('frontier: keeps non-OOM, sorts by cost, marks strictly rising throughput', () => {
  const rows = [p('a', 10, 1), p('b', 12, 2), p('c', 11, 0.5), p('oom', 5, 3, true), p('d', 20, 4), p('e', 15, 2)];
  const r = paretoFrontier(rows);
  assert.deepEqual(ids(r.valid), ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(ids(r.frontier), ['a', 'b', 'd']);
  assert.deepEqual(ids(r.others), ['c', 'e']);
  assert.equal(r.maxThroughput?.id, 'd');
});

test('frontier: equal cost keeps the fastest; equal throughput keeps the cheapest', () => {
  const r = paretoFrontier([p('slow', 10, 1), p('fast', 10, 3), p('pricy', 12, 3)]);
  assert.deepEqual(ids(r.frontier), ['fast']);
  assert.deepEqual(ids(r.others), ['slow', 'pricy']);
});

test('frontier: identical (cost, throughput) rows mark only the first in input order', () => {
  const r = paretoFrontier([p('x', 5, 2), p('first', 1, 1), p('second', 1, 1), p('third', 1, 1)]);
  assert.deepEqual(ids(r.frontier), ['first', 'x']);
  assert.deepEqual(ids(r.others), ['second', 'third']);
});

test('frontier: max-throughput row is the first in input order (pandas idxmax), not the cheapest', () => {
  const r = paretoFrontier([p('pricy', 9, 5), p('cheap', 3, 5)]);
  assert.deepEqual(ids(r.frontier), ['cheap']);
  assert.equal(r.maxThroughput?.id, 'pricy');
});

test('frontier: all OOM, empty input, single point', () => {
  const none = paretoFrontier([p('a', 1, 1, true), p('b', 2, 2, true)]);
  assert.deepEqual(none, { valid: [], frontier: [], others: [], maxThroughput: undefined });
  assert.deepEqual(paretoFrontier([] as P[]).frontier, []);
  const one = paretoFrontier([p('only', 7, 0)]);
  assert.deepEqual(ids(one.frontier), ['only']);
  assert.equal(one.maxThroughput?.id, 'only');
});

test('frontier: NaN cost sorts last, NaN throughput is never marked', () => {
  const r = paretoFrontier([p('nanCost', Number.NaN, 100), p('a', 1, 1), p('nanThr', 0.5, Number.NaN), p('b', 2, 2)]);
  assert.deepEqual(ids(r.frontier), ['a', 'b', 'nanCost']);
  assert.equal(r.maxThroughput?.id, 'nanCost');
});

test('frontier: accessor form works on any row type (e.g. CSV rows)', () => {
  const rows = [
    { costUsd: 3, throughputSamplesPerS: 1, isOom: false, tag: 1 },
    { costUsd: 2, throughputSamplesPerS: 1, isOom: false, tag: 2 },
    { costUsd: 1, throughputSamplesPerS: 9, isOom: true, tag: 3 },
  ];
  const r = paretoFrontier(rows, resultRowPoint);
  assert.deepEqual(r.frontier.map((x) => x.tag), [2]);
  const r2 = paretoFrontier([[1, 5], [2, 6]] as const, ([cost, throughput]) => ({ cost, throughput, isOom: false }));
  assert.deepEqual(r2.frontier, [[1, 5], [2, 6]]);
});

test('frontier: frontier is sorted by cost with strictly increasing throughput', () => {
  fc.assert(
    fc.property(arbitraryPoints(), (rows) => {
      const f = paretoFrontier(rows).frontier;
      for (let i = 1; i < f.length; i++) {
        assert.ok(f[i]!.cost > f[i - 1]!.cost, 'cost strictly increases along the frontier');
        assert.ok(f[i]!.throughput > f[i - 1]!.throughput, 'throughput strictly increases along the frontier');
      }
    }),
    { numRuns: 300 },
  );
});

test('frontier property: on the frontier iff not dominated and first of its duplicates', () => {
  fc.assert(
    fc.property(arbitraryPoints(), (rows) => {
      const r = paretoFrontier(rows);
      const onFrontier = new Set(r.frontier);
      const valid = rows.filter((x) => !x.isOom);
      valid.forEach((x, i) => {
        const dominated = valid.some(
          (y) => y !== x && y.cost <= x.cost && y.throughput >= x.throughput && (y.cost < x.cost || y.throughput > x.throughput),
        );
        const laterDuplicate = valid.slice(0, i).some((y) => y.cost === x.cost && y.throughput === x.throughput);
        assert.equal(onFrontier.has(x), !dominated && !laterDuplicate, `point ${x.id} (${x.cost}, ${x.throughput})`);
      });
      assert.equal(r.valid.length, valid.length);
      assert.equal(r.frontier.length + r.others.length, valid.length);
      // max throughput: the first valid row with the largest throughput
      if (valid.length > 0) {
        const m = Math.max(...valid.map((x) => x.throughput));
        assert.equal(r.maxThroughput, valid.find((x) => x.throughput === m));
      }
    }),
    { numRuns: 500 },
  );
});

/** Small integer grids so ties and duplicates are frequent. */
function arbitraryPoints() {
  return fc
    .array(fc.record({ cost: fc.integer({ min: 0, max: 6 }), throughput: fc.integer({ min: 0, max: 6 }), isOom: fc.boolean() }), {
      maxLength: 25,
    })
    .map((xs) => xs.map((x, i) => ({ ...x, id: `r${i}` })));
}
