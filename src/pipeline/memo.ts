/**
 * simulate1F1B with its results kept: plans that differ only in what the pipeline does not see (the
 * distributed optimizer against DDP, placements with the same stage timings) simulate once. Inputs
 * are compared value for value, so a kept result is the one the simulation would give.
 */
import { simulate1F1B, type PipelineStageTimes, type SimulationOptions } from './onef1b.js';

interface Kept { inputs: Float64Array; m: number; flags: number; ends: number[] }

/** Results kept at most (then forgotten all at once). */
const KEEP = 1 << 14;
const kept = new Map<number, Kept[]>();
let count = 0;
/** Where inputsOf writes (a result kept copies its part): no array is allocated per call; hashed as 32-bit words. */
let scratch = new Float64Array(256);
let scratchWords = new Uint32Array(scratch.buffer);

/** The simulation's inputs side by side in a shared scratch buffer (its first 4·P elements). */
function inputsOf(t: PipelineStageTimes): Float64Array {
  const P = t.forward_s.length;
  if (scratch.length < 4 * P) {
    scratch = new Float64Array(8 * P);
    scratchWords = new Uint32Array(scratch.buffer);
  }
  const x = scratch;
  for (let s = 0; s < P; s++) {
    x[s] = t.forward_s[s]!;
    x[P + s] = t.backward_s[s]!;
    x[2 * P + s] = t.forwardSend_s[s]!;
    x[3 * P + s] = t.backwardSend_s[s]!;
  }
  return x;
}

/** A hash of the first n inputs (their 2n 32-bit words, in memory order), m and the flags. */
function hashOf(words: Uint32Array, n: number, m: number, flags: number): number {
  let h = (2166136261 ^ m ^ Math.imul(flags, 0x9e3779b9)) >>> 0;
  for (let i = 0; i < 2 * n; i++) h = Math.imul(h ^ words[i]!, 16777619);
  // within V8's small-integer range: a Map key that needs no boxing
  return h & 0x3fffffff;
}

/** Whether kept inputs `a` are the first n elements of `b`. */
const same = (a: Float64Array, b: Float64Array, n: number) => {
  if (a.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
};

/** simulate1F1B(t, m, opts), simulated once per distinct input. The returned array is the caller's. */
export function simulate1F1BKept(t: PipelineStageTimes, m: number, opts: SimulationOptions): number[] {
  const x = inputsOf(t);
  const n = 4 * t.forward_s.length;
  // the two options as one number: 1 stage 0 skips its own send, 2 the steady state is extended
  const flags = (opts.stage0SkipsOwnSend ? 1 : 0) + (opts.extendSteadyState ? 2 : 0);
  const h = hashOf(scratchWords, n, m, flags);
  const bucket = kept.get(h);
  if (bucket) for (const k of bucket) if (k.m === m && k.flags === flags && same(k.inputs, x, n)) return k.ends.slice();
  const ends = simulate1F1B(t, m, opts);
  if (count >= KEEP) {
    kept.clear();
    count = 0;
  }
  const entry = { inputs: x.slice(0, n), m, flags, ends: ends.slice() };
  if (bucket) bucket.push(entry);
  else kept.set(h, [entry]);
  count += 1;
  return ends;
}
