/** The 1F1B pipeline simulator (src/pipeline/onef1b.ts), checked directly against schedules worked by hand. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { simulate1F1B, type PipelineStageTimes } from '../src/pipeline/onef1b.js';
import { simulate1F1BKept } from '../src/pipeline/memo.js';
import { simulate1F1BEightTables } from './helpers/onef1b-eight-tables.js';

const uniform = (p: number, F: number, B: number, send = 0): PipelineStageTimes => ({
  forward_s: Array(p).fill(F), backward_s: Array(p).fill(B),
  forwardSend_s: Array.from({ length: p }, (_, s) => (s < p - 1 ? send : 0)), backwardSend_s: Array.from({ length: p }, (_, s) => (s > 0 ? send : 0)),
});
const both = [true, false] as const;

test('one micro-batch runs every forward, then every backward, with the sends in between', () => {
  const t: PipelineStageTimes = { forward_s: [1, 2, 3], backward_s: [4, 5, 6], forwardSend_s: [0.5, 0.25, 0], backwardSend_s: [0, 0.125, 0.0625] };
  for (const skip of both) {
    const ends = simulate1F1B(t, 1, { stage0SkipsOwnSend: skip });
    // forward 1 + .5 + 2 + .25 + 3 = 6.75; then stage 2's backward ends at 12.75, stage 1's at 12.8125 + 5, stage 0's at 17.9375 + 4
    assert.deepEqual(ends, [21.9375, 17.8125, 12.75]);
  }
});

test('equal stages without sends: the first stage ends after (m + p - 1) forward+backward slots', () => {
  for (const [p, m] of [[2, 2], [4, 4], [4, 8], [8, 32], [3, 7]] as const) {
    const ends = simulate1F1B(uniform(p, 1, 2), m, { stage0SkipsOwnSend: false });
    assert.equal(ends[0], (m + p - 1) * 3, `p ${p} m ${m}`);
    // the last stage has no warm-up: its m forward+backward pairs start once the first forward reaches it
    assert.equal(ends[p - 1], (p - 1) * 1 + m * 3, `p ${p} m ${m}`);
  }
});

test('fewer micro-batches than stages: no overlap beyond what the micro-batches allow', () => {
  // p = 4, m = 2: the second micro-batch trails the first by one forward everywhere
  const ends = simulate1F1B(uniform(4, 1, 2), 2, { stage0SkipsOwnSend: false });
  assert.equal(ends[0], 4 * 1 + 1 + 4 * 2 + 2);
  const one = simulate1F1B(uniform(4, 1, 2), 1, { stage0SkipsOwnSend: false });
  assert.deepEqual(one, [12, 10, 8, 6]);
});

test('stage 0 may start a backward before its own last forward send ends only under stage0SkipsOwnSend (the original)', () => {
  const t: PipelineStageTimes = { forward_s: [1, 1], backward_s: [1, 1], forwardSend_s: [5, 0], backwardSend_s: [0, 0] };
  // m = 3, worked by hand: stage 0's first backward waits for its second forward's send (ends at 12, not at
  // stage 1's gradient at 8), which delays every later slot by 4 s
  assert.deepEqual(simulate1F1B(t, 3, { stage0SkipsOwnSend: true }), [18, 17]);
  assert.deepEqual(simulate1F1B(t, 3, { stage0SkipsOwnSend: false }), [22, 21]);
});

test('no end time decreases when any forward, backward or send grows (property)', () => {
  const times = (p: number) => fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: p, maxLength: p });
  fc.assert(fc.property(fc.integer({ min: 2, max: 6 }).chain((p) => fc.record({
    p: fc.constant(p), F: times(p), B: times(p), Sf: times(p), Sb: times(p), m: fc.integer({ min: 1, max: 10 }),
    which: fc.integer({ min: 0, max: 3 }), stage: fc.integer({ min: 0, max: p - 1 }), grow: fc.double({ min: 0, max: 5, noNaN: true }),
  })), ({ p, F, B, Sf, Sb, m, which, stage, grow }) => {
    const t: PipelineStageTimes = { forward_s: F, backward_s: B, forwardSend_s: Sf.map((x, s) => (s < p - 1 ? x : 0)), backwardSend_s: Sb.map((x, s) => (s > 0 ? x : 0)) };
    const key = (['forward_s', 'backward_s', 'forwardSend_s', 'backwardSend_s'] as const)[which]!;
    const bigger = { ...t, [key]: t[key].map((x, s) => (s === stage ? x + grow : x)) };
    for (const skip of both) {
      const a = simulate1F1B(t, m, { stage0SkipsOwnSend: skip });
      const b = simulate1F1B(bigger, m, { stage0SkipsOwnSend: skip });
      a.forEach((x, s) => assert.ok(b[s]! >= x - 1e-9, `stage ${s}: ${b[s]} < ${x}`));
      // and the step never beats the busiest stage's own work
      assert.ok(Math.max(...a) >= Math.max(...F.map((f, s) => m * (f + B[s]!))) - 1e-9);
    }
  }), { numRuns: 300 });
});

test('the six-table simulation equals the eight-table one (receive ends kept apart) on random pipelines, to the bit', () => {
  const times = (p: number) => fc.array(fc.oneof(fc.constant(0), fc.double({ min: 0, max: 10, noNaN: true })), { minLength: p, maxLength: p });
  fc.assert(fc.property(fc.integer({ min: 1, max: 9 }).chain((p) => fc.record({
    F: times(p), B: times(p), Sf: times(p), Sb: times(p), m: fc.integer({ min: 1, max: 24 }), skip: fc.boolean(),
  })), ({ F, B, Sf, Sb, m, skip }) => {
    const t: PipelineStageTimes = { forward_s: F, backward_s: B, forwardSend_s: Sf, backwardSend_s: Sb };
    const want = simulate1F1BEightTables(t, m, { stage0SkipsOwnSend: skip });
    assert.deepEqual(simulate1F1B(t, m, { stage0SkipsOwnSend: skip }), want);
    // a larger run in between leaves nonzero scratch behind: the next run must not see it
    simulate1F1B({ forward_s: [...F, 1], backward_s: [...B, 2], forwardSend_s: [...Sf, 3], backwardSend_s: [...Sb, 4] }, m + 3, { stage0SkipsOwnSend: skip });
    assert.deepEqual(simulate1F1B(t, m, { stage0SkipsOwnSend: skip }), want);
  }), { numRuns: 3000 });
});

test('at least one micro-batch is required', () => {
  assert.throws(() => simulate1F1B(uniform(2, 1, 2), 0, { stage0SkipsOwnSend: false }));
});

test('kept 1F1B results are the simulation\'s, for every input, and each caller gets its own array', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const inputs: Array<[Parameters<typeof simulate1F1B>[0], number]> = [];
  for (let i = 0; i < 300; i++) {
    const P = 1 + Math.floor(rnd() * 6);
    const times = () => Array.from({ length: P }, () => Math.round(rnd() * 8) / 4);
    inputs.push([{ forward_s: times(), backward_s: times(), forwardSend_s: times(), backwardSend_s: times() }, 1 + Math.floor(rnd() * 9)]);
  }
  // each input twice (the second comes from the kept results), and a near-copy that differs in one send
  for (const [t, m] of [...inputs, ...inputs]) {
    for (const skip of [false, true]) {
      const want = simulate1F1B(t, m, { stage0SkipsOwnSend: skip });
      const got = simulate1F1BKept(t, m, { stage0SkipsOwnSend: skip });
      assert.deepEqual(got, want);
      got[0] = -1;
      assert.deepEqual(simulate1F1BKept(t, m, { stage0SkipsOwnSend: skip }), want, 'a caller changing its array changes no kept result');
      const other = { ...t, backwardSend_s: t.backwardSend_s.map((x, s) => (s === t.backwardSend_s.length - 1 ? x + 0.5 : x)) };
      assert.deepEqual(simulate1F1BKept(other, m, { stage0SkipsOwnSend: skip }), simulate1F1B(other, m, { stage0SkipsOwnSend: skip }));
    }
  }
});

test('the steady state extended once it repeats gives the simulated schedule, to rounding, and is taken', () => {
  let seed = 11;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let extended = 0;
  for (let i = 0; i < 4000; i++) {
    const P = 1 + Math.floor(rnd() * 20);
    const m = 1 + Math.floor(rnd() * (i % 2 ? 24 : 300));
    // equal stages, or each its own (the last with the head), with and without sends
    const equal = rnd() < 0.3;
    const F = Array.from({ length: P }, () => (equal ? 0.05 : 0.01 + rnd() * 0.09));
    const sends = rnd() < 0.8;
    const t = {
      forward_s: F, backward_s: F.map((f) => f * (1.5 + rnd())),
      forwardSend_s: F.map((_, s) => (sends && s < P - 1 ? rnd() * 0.01 : 0)), backwardSend_s: F.map((_, s) => (sends && s > 0 ? rnd() * 0.01 : 0)),
    };
    for (const skip of [false, true]) {
      const want = simulate1F1B(t, m, { stage0SkipsOwnSend: skip });
      const got = simulate1F1B(t, m, { stage0SkipsOwnSend: skip, extendSteadyState: true });
      for (let s = 0; s < P; s++) assert.ok(Math.abs(got[s]! - want[s]!) <= 1e-12 * want[s]!, `P ${P} m ${m} stage ${s}: ${got[s]} vs ${want[s]}`);
      if (got.some((x, s) => x !== want[s])) extended += 1;
      // the kept results keep the two apart
      assert.deepEqual(simulate1F1BKept(t, m, { stage0SkipsOwnSend: skip, extendSteadyState: true }), got);
    }
  }
  // the extension ran (its rounding differs from the step-by-step sums) in many of them
  assert.ok(extended > 500, `${extended}`);
});
