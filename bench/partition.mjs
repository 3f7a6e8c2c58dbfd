// Partition benchmark: a llama70b-like instance (n = 642), m = 32, pp ∈ {2, 4, 8, 16, 32, 80}.
//   npm run build && node bench/partition.mjs            (compiled dist/)
//   node --import tsx bench/partition.mjs --src           (TypeScript sources)
// Options: --ilp-limit <s> (default 60), --no-ilp, --reps <k> (default 9), --layers (the same
// instance in the fasop estimator's units: 80 decoder layers, the embedding with the first, lm_head with the last)
import { performance } from 'node:perf_hooks';
import { llamaNodeCosts, llamaProblem } from './partition-instance.mjs';

const args = process.argv.slice(2);
const useSrc = args.includes('--src');
const arg = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const ilpLimit = arg('--ilp-limit', 60);
const reps = arg('--reps', 9);
const root = new URL(useSrc ? '../src/' : '../dist/', import.meta.url);
const ext = useSrc ? '.ts' : '.js';
const part = await import(new URL(`partition/index${ext}`, root).href);
const { readProfileFile } = await import(new URL(`profiles/profile${ext}`, root).href);

const profilePath = process.env.FASOP_BENCH_PROFILE ?? new URL('../../shared/reference/profiles/llama70b_A40_1.npz', import.meta.url).pathname;
const profile = readProfileFile(profilePath);
const costs = llamaNodeCosts(profile.forward_ms[0]);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const m = 32;
const layers = args.includes('--layers');
const L = (costs.length - 2) / 8;
const starts = [0, ...Array.from({ length: L - 1 }, (_, u) => 1 + 8 * (u + 1)), costs.length];
const instance = (pp, m2, opts) => (layers ? part.groupProblem(llamaProblem(costs, pp, m2, opts), starts) : llamaProblem(costs, pp, m2, opts));
const rows = [];
let searchMs = 0;
for (const het of [false, true]) {
  for (const pp of [2, 4, 8, 16, 32, 80]) {
    const p = instance(pp, m, het ? { speedups: [1, 1.6] } : {});
    const times = [];
    let r;
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      r = part.dpPartition(p);
      times.push(performance.now() - t0);
    }
    const dpMs = median(times);
    searchMs += dpMs;
    let bf = '—';
    try {
      const t0 = performance.now();
      const b = part.bruteforcePartition(p);
      bf = `${(performance.now() - t0).toFixed(0)} ms${b.sizes.join() === r.sizes.join() ? '' : ' (DIFFERS)'}`;
    } catch (e) {
      bf = 'refused';
    }
    let ilp = 'skipped';
    if (!args.includes('--no-ilp') && pp === 16) {
      const t0 = performance.now();
      try {
        const i = await part.ilpPartition(p, { timeLimit_s: ilpLimit, allowIncumbent: true });
        const s = (performance.now() - t0) / 1000;
        ilp = `${s.toFixed(1)} s, ${i.optimal ? 'optimal' : 'NOT optimal (' + i.status + ')'}, ${i.solves} solves, ${i.sizes.join() === r.sizes.join() ? 'same sizes' : 'sizes differ, F ' + i.objective.toFixed(6)}`;
      } catch (e) {
        ilp = `error: ${e.message}`;
      }
    }
    rows.push({ stages: het ? 'A40/A100-like alternating (×1, ×1.6)' : 'homogeneous A40', pp, dp_ms: dpMs.toFixed(2), F_s: r.objective.toFixed(6), bruteforce: bf, ilp });
  }
}
console.log(`node ${process.version}, ${useSrc ? 'src via tsx' : 'dist'}, n = ${layers ? `${L} layers` : `${costs.length} operators`}, m = ${m}, dp median of ${reps}`);
console.table(rows);
console.log(`dp total over these ${rows.length} plans: ${searchMs.toFixed(1)} ms`);

// a mixed "search": 60 plans over pp × m × stage mix
const t0 = performance.now();
let plans = 0;
for (const m2 of [1, 2, 4, 8, 16, 32, 64]) for (const pp of [2, 4, 8, 16, 32]) for (const het of [false, true]) {
  if (plans >= 60) break;
  part.dpPartition(instance(pp, m2, het ? { speedups: [1, 1.6] } : {}));
  plans++;
}
console.log(`search-like sweep: ${plans} dp plans (m ∈ 1..64, pp ∈ 2..32, both stage mixes) in ${(performance.now() - t0).toFixed(0)} ms`);
await part.closeIlpWorker();
