/** Host CPU issue profiles (profiler/host_issue.py output): parsing, the choice of figures for a plan, --host-profile. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCatalog } from '../src/catalog/catalog.js';
import { FasopError } from '../src/errors.js';
import { estimate } from '../src/estimate/estimate.js';
import { RECIPES } from '../src/estimate/recipe.js';
import { defaultProfileDir } from '../src/paths.js';
import { ProfileDb } from '../src/profiles/db.js';
import { parseHostIssueProfile, readHostIssueProfile } from '../src/profiles/host-issue.js';
import { recipeWithHostProfile } from '../src/estimate/host-speed.js';
import { compareRecords, formatComparison, hostSpeedOfRecord, planOfRecord } from '../src/validate/compare.js';
import { recipeAtHostSpeed } from '../src/estimate/host-speed.js';
import { readValidationRecords } from '../src/validate/records.js';
import { runCli, tmp, savedCsvPath } from './helpers/cli.js';
import { readCsvFile } from './helpers/csv.js';

const SETS = join(import.meta.dirname, '..', 'validation', 'results');
const SLOW_HOST = join(SETS, 'host_issue', 'host_issue_H200_slow_host.json');

test('host profile: the measured file parses; figures are chosen by tp class, busy processes and DDP', () => {
  const p = readHostIssueProfile(SLOW_HOST);
  const doc = JSON.parse(readFileSync(SLOW_HOST, 'utf8')).entries;
  assert.deepEqual(p.entries.map((e) => `${e.model} tp${e.tp} procs${e.processes}${e.ddp ? ' ddp' : ''}`).sort(), Object.keys(doc).sort());
  const r = RECIPES['bf16-adamw']!;
  const two = recipeWithHostProfile(r, p, { model: 'llama1b', processesPerHost: 2 }).hostIssue!;
  assert.equal(two.tp1.backwardPerLayer_ms, doc['llama1b tp1 procs2'].backwardPerLayer_ms);
  assert.equal(two.tp1Ddp!.backwardPerLayer_ms, doc['llama1b tp1 procs2 ddp'].backwardPerLayer_ms);
  assert.equal(two.tpN.forwardPerLayer_ms, doc['llama1b tp2 procs2'].forwardPerLayer_ms);
  assert.equal(two.hostSpreadFactor, r.hostIssue!.hostSpreadFactor);
  assert.match(two.source, /host_issue_H200_slow_host\.json.*2 busy processes/);
  const one = recipeWithHostProfile(r, p, { model: 'llama1b', processesPerHost: 1 }).hostIssue!;
  assert.equal(one.tp1.backwardPerLayer_ms, doc['llama1b tp1 procs1'].backwardPerLayer_ms);
  // more processes per host than measured: the most measured; another model: the one measured
  const eight = recipeWithHostProfile(r, p, { model: 'llama70b', processesPerHost: 8 }).hostIssue!;
  assert.equal(eight.tp1.backwardPerLayer_ms, doc['llama1b tp1 procs2'].backwardPerLayer_ms);
  // the shipped recipe is not changed
  assert.equal(RECIPES['bf16-adamw']!.hostIssue!.tp1Ddp, undefined);
});

test('host profile: entries measured under recompute are read and never priced', () => {
  const path = join(SETS, 'host_issue', 'host_issue_H100_recompute.json');
  const p = readHostIssueProfile(path);
  const doc = JSON.parse(readFileSync(path, 'utf8')).entries;
  assert.deepEqual(p.entries.filter((e) => e.recompute).map((e) => `${e.model} ${e.recompute}`).sort(),
    ['gpt2-xl-like full', 'gpt2-xl-like op', 'llama1b full', 'llama1b op']);
  // the per-operator policy's Python dispatch: more CPU per layer than the same blocks without it
  const op = p.entries.find((e) => e.model === 'gpt2-xl-like' && e.recompute === 'op')!;
  const none = p.entries.find((e) => e.model === 'gpt2-xl-like' && !e.recompute)!;
  assert.ok(op.figures.forwardPerLayer_ms > 2 * none.figures.forwardPerLayer_ms);
  // with a tp > 1 entry beside them, the recipe takes the model's figures without recompute
  const withTp2 = { ...p, entries: [...p.entries, { ...none, tp: 2 }] };
  const r = recipeWithHostProfile(RECIPES['bf16-adamw']!, withTp2, { model: 'gpt2-xl-like', processesPerHost: 1 }).hostIssue!;
  assert.equal(r.tp1.backwardPerLayer_ms, doc['gpt2-xl-like tp1 procs1'].backwardPerLayer_ms);
  assert.match(r.source, /\(gpt2-xl-like tp1 procs1, gpt2-xl-like tp2 procs1;/);
  // recompute entries alone are no tp1 entry
  const e = '{"forwardPerLayer_ms": 1, "backwardPerLayer_ms": 2, "forwardFixed_ms": 1, "backwardFixed_ms": 1}';
  assert.throws(() => parseHostIssueProfile(`{"entries": {"m tp1 procs1 recompute-op": ${e}}}`, 'z.json'), /no tp1 entry/);
  assert.throws(() => parseHostIssueProfile(`{"entries": {"m tp1 procs1 recompute-selective": ${e}}}`, 'z.json'), /recompute-full\|recompute-op/);
});

test('host profile: bad files and recipes without a CPU term are FasopErrors naming the fix', () => {
  const bad = (text: string, re: RegExp) => assert.throws(() => parseHostIssueProfile(text, 'x.json'), (e: unknown) => e instanceof FasopError && re.test(e.message) && /host_issue\.py/.test(e.hint ?? ''));
  bad('{', /not valid JSON/);
  bad('{"what": 1}', /no "entries"/);
  bad('{"entries": {"llama1b tp1": {}}}', /not "<model> tp<N> procs<N>/);
  bad('{"entries": {"llama1b tp1 procs1": {"forwardPerLayer_ms": 1, "backwardPerLayer_ms": 2, "forwardFixed_ms": 1}}}', /backwardFixed_ms/);
  bad('{"entries": {"llama1b tp1 procs1": {"forwardPerLayer_ms": 0, "backwardPerLayer_ms": 2, "forwardFixed_ms": 1, "backwardFixed_ms": 1}}}', /forwardPerLayer_ms/);
  bad('{"entries": {"llama1b tp2 procs2": {"forwardPerLayer_ms": 1, "backwardPerLayer_ms": 2, "forwardFixed_ms": 1, "backwardFixed_ms": 1}}}', /no tp1 entry/);
  const onlyTp1 = parseHostIssueProfile('{"entries": {"m tp1 procs1": {"forwardPerLayer_ms": 1, "backwardPerLayer_ms": 2, "forwardFixed_ms": -0.1, "backwardFixed_ms": 1}}}', 'y.json');
  assert.equal(onlyTp1.entries[0]!.figures.forwardFixed_ms, 0, 'a slightly negative fixed part (difference of medians) is 0');
  assert.throws(() => recipeWithHostProfile(RECIPES['bf16-adamw']!, onlyTp1, { model: 'm', processesPerHost: 1 }), /no tp > 1 entry/);
  assert.throws(() => recipeWithHostProfile(RECIPES['megatron-mixed-graph']!, onlyTp1, { model: 'm', processesPerHost: 1 }), /no CPU issue term/);
  assert.throws(() => readHostIssueProfile('/nonexistent/host.json'), /cannot read host profile/);
});

test('the DDP figures cost data-parallel tp1 plans only', async () => {
  const recs = readValidationRecords(join(SETS, 'eager_slow_host'));
  const dp2 = recs.find((r) => r.plan.dp === 2 && r.plan.mbs === 1)!;
  const pp2 = recs.find((r) => r.plan.pp === 2 && r.plan.mbs === 1)!;
  const db = ProfileDb.open(defaultProfileDir());
  const p = readHostIssueProfile(SLOW_HOST);
  const slowDdp = { ...p, entries: p.entries.map((e) => (e.ddp ? { ...e, figures: { ...e.figures, backwardPerLayer_ms: 50 } } : e)) };
  for (const [rec, changes] of [[dp2, true], [pp2, false]] as const) {
    const a = await estimate(planOfRecord(rec, loadCatalog(), db, undefined, p));
    const b = await estimate(planOfRecord(rec, loadCatalog(), db, undefined, slowDdp));
    assert.equal(b.stepTime_s > a.stepTime_s * 2, changes, `dp${rec.plan.dp} pp${rec.plan.pp}`);
  }
});

test('validate --host-profile: a slow host\'s own figures predict its eager runs far better than the shipped ones', async () => {
  const db = ProfileDb.open(defaultProfileDir());
  const recs = readValidationRecords(join(SETS, 'eager_slow_host'));
  const shipped = await compareRecords(recs, loadCatalog(), db, 'fasop');
  const own = await compareRecords(recs, loadCatalog(), db, 'fasop', [], undefined, readHostIssueProfile(SLOW_HOST));
  assert.ok(shipped.overall.stepMape > 0.15, String(shipped.overall.stepMape));
  assert.ok(own.overall.stepMape < 0.10, String(own.overall.stepMape));
  // the host that measured the recipe's figures: its own file changes little, and stays on target on average
  const recsFig = readValidationRecords(join(SETS, 'eager_figures_host'));
  const ownFig = await compareRecords(recsFig, loadCatalog(), db, 'fasop', [], undefined, readHostIssueProfile(join(SETS, 'host_issue', 'host_issue_H200_figures_host.json')));
  assert.ok(ownFig.overall.stepMape <= 0.05, String(ownFig.overall.stepMape));
});

test('--host-profile on the CLI: used by validate and search; a bad file or recipe is one line, exit 2, nothing written', async () => {
  const v = await runCli(['validate', join(SETS, 'eager_slow_host'), '--estimator', 'fasop', '--calibration', 'none', '--host-profile', SLOW_HOST]);
  assert.equal(v.code, 0, v.err);
  assert.match(v.out, /all plans: step time MAPE/);
  const missing = await runCli(['validate', join(SETS, 'eager_slow_host'), '--host-profile', 'nope.json']);
  assert.equal(missing.code, 2);
  assert.equal(missing.err.trim().split('\n').length, 1);
  assert.match(missing.err, /cannot read host profile .*nope\.json/);
  const dir = tmp();
  const corrupt = join(dir, 'host.json');
  writeFileSync(corrupt, '{"entries": ');
  const s1 = await runCli(['--gpus', 'H100', '1', '--gbs', '16', '--model-type', 'llama1b', '--recipe', 'bf16-adamw', '--host-profile', corrupt, '--output-dir', join(dir, 'out')]);
  assert.equal(s1.code, 2);
  assert.match(s1.err, /not valid JSON/);
  assert.equal(existsSync(join(dir, 'out')), false);
  const s2 = await runCli(['--gpus', 'H100', '1', '--gbs', '16', '--model-type', 'llama1b', '--recipe', 'megatron-mixed-graph', '--host-profile', SLOW_HOST, '--output-dir', join(dir, 'out')]);
  assert.equal(s2.code, 2);
  assert.match(s2.err, /recipe megatron-mixed-graph has no CPU issue term/);
  const ok = await runCli(['--gpus', 'H100', '1', '--gpu-per-node', '2', '--gbs', '16', '--model-type', 'llama1b', '--recipe', 'bf16-adamw', '--host-profile', SLOW_HOST, '--output-dir', join(dir, 'out')]);
  assert.equal(ok.code, 0, ok.err);
  const csv = readFileSync(savedCsvPath(ok.out), 'utf8');
  assert.match(csv, /CPU issue figures: [^)]*host_issue_H200_slow_host\.json \(llama1b tp1 procs2/);
});

// ---- policy host-speed: issue figures scaled to the host speed (µs per CUDA launch) a run recorded
const N_START = join(defaultProfileDir(), 'host_issue_H200.json');

test('host speed: figures scale with the launch index; entries measured at different speeds are brought to one', () => {
  const p = readHostIssueProfile(N_START);
  const doc = JSON.parse(readFileSync(N_START, 'utf8')).entries;
  const speed = (key: string) => Math.max(...doc[key].host_speed_us_per_rank.map((r: { start: { cuda_launch_us: number }; end: { cuda_launch_us: number } }) => (r.start.cuda_launch_us + r.end.cuda_launch_us) / 2));
  assert.ok(p.entries.every((e) => e.pinned && e.launch_us !== undefined));
  const hi = recipeWithHostProfile(RECIPES['bf16-adamw']!, p, { model: 'llama1b', processesPerHost: 2 }).hostIssue!;
  const ref = speed('llama1b tp1 procs2 pinned');
  assert.equal(hi.speedRef_launch_us, ref);
  assert.equal(hi.tp1.forwardPerLayer_ms, doc['llama1b tp1 procs2 pinned'].forwardPerLayer_ms);
  const tpNScale = ref / speed('llama1b tp2 procs2 pinned');
  assert.ok(Math.abs(hi.tpN.forwardPerLayer_ms - doc['llama1b tp2 procs2 pinned'].forwardPerLayer_ms * tpNScale) < 1e-12);
  const r = recipeWithHostProfile(RECIPES['bf16-adamw']!, p, { model: 'llama1b', processesPerHost: 2 });
  const slow = recipeAtHostSpeed(r, 2 * ref).hostIssue!;
  assert.ok(Math.abs(slow.tp1.backwardFixed_ms - 2 * hi.tp1.backwardFixed_ms) < 1e-12);
  assert.ok(Math.abs(slow.tpN.forwardPerLayer_ms - 2 * hi.tpN.forwardPerLayer_ms) < 1e-12);
  assert.equal(slow.speedRef_launch_us, 2 * ref);
  assert.match(slow.source, /scaled ×2\.000 to a host speed of/);
  // figures without a speed (the shipped ones, an old probe) cannot be scaled; nor can a recipe without a CPU term
  assert.throws(() => recipeAtHostSpeed(RECIPES['bf16-adamw']!, 6), (e: unknown) => e instanceof FasopError && /measured without a host speed/.test(e.message));
  assert.throws(() => recipeAtHostSpeed(RECIPES['bf16-adamw-graph']!, 6), (e: unknown) => e instanceof FasopError && /has no CPU issue term/.test(e.message));
  assert.throws(() => recipeAtHostSpeed(r, 0), (e: unknown) => e instanceof FasopError && /not a positive number/.test(e.message));
});

test('host speed, held out: a host\'s eager runs, costed with the shipped probe of another host, are closer with each run\'s recorded speed', async () => {
  // the CUDA-launch index was chosen on three other hosts; this one ran after, for this test
  const db = ProfileDb.open(defaultProfileDir());
  const recs = readValidationRecords(join(SETS, 'eager_host_speed'));
  assert.ok(recs.every((r) => hostSpeedOfRecord(r) !== undefined));
  const n = readHostIssueProfile(N_START);
  const withSpeed = await compareRecords(recs, loadCatalog(), db, 'fasop', [], undefined, n);
  const without = await compareRecords(recs, loadCatalog(), db, 'fasop', [], undefined, n, false);
  assert.equal(withSpeed.plans.length, 16);
  // measured: 8.4 % with the speeds, 16.3 % without (the pinned runs; the unpinned repeats are listed apart)
  assert.ok(withSpeed.overall.stepMape < 0.10, `MAPE ${withSpeed.overall.stepMape}`);
  assert.ok(without.overall.stepMape > 1.5 * withSpeed.overall.stepMape, `${without.overall.stepMape} vs ${withSpeed.overall.stepMape}`);
  // the lone 1-GPU runs (one process on the host) are within 10 % with the speed
  assert.deepEqual(withSpeed.hostSpeed, { recorded: 32, scaled: 32 });
  assert.match(formatComparison(withSpeed), /scaled to the speed each of the 32 eager runs recorded/);
  const shipped = await compareRecords(recs, loadCatalog(), db, 'fasop');
  assert.deepEqual(shipped.hostSpeed, { recorded: 32, scaled: 0 });
  assert.match(formatComparison(shipped), /32 eager runs recorded their host's speed, not used/);
  const lone = withSpeed.plans.filter((x) => x.tp * x.pp * x.dp === 1);
  assert.equal(lone.length, 4);
  for (const p of lone) assert.ok(Math.abs(p.stepError) < 0.10, `${p.file}: ${p.stepError}`);
});

test('host speed of a run: each step\'s slowest rank, averaged over the steps, else the slowest median', () => {
  const [rec] = readValidationRecords(join(SETS, 'eager_host_speed'));
  const base = rec!;
  const withSeries = {
    ...base,
    measured: {
      ...base.measured,
      host_speed_us_median_per_rank: [{ cuda_launch_us: 6 }, { cuda_launch_us: 6 }],
      // bimodal samples: per step the slower rank is 6.5, 6.5, 12 (mean 8.333…); rank means 8 and 7
      host_speed_us_per_step_per_rank: [{ cuda_launch_us: [6, 6, 12] }, { cuda_launch_us: [6.5, 6.5, 8] }],
    },
  };
  assert.ok(Math.abs(hostSpeedOfRecord(withSeries as typeof base)! - 25 / 3) < 1e-12);
  // a rank without usable samples (or a different count): every rank falls back to the recorded medians
  const partial = { ...withSeries, measured: { ...withSeries.measured, host_speed_us_per_step_per_rank: [{ cuda_launch_us: [6, 6, 12] }, { python_us: [2] }] } };
  assert.equal(hostSpeedOfRecord(partial as typeof base), 6);
  const none = { ...base, measured: { ...base.measured, host_speed_us_median_per_rank: undefined } };
  assert.equal(hostSpeedOfRecord(none as typeof base), undefined);
});

/** MAPE and max |error| of step time over every compared run, repeats included. */
function stepErrors(s: Awaited<ReturnType<typeof compareRecords>>): { n: number; mape: number; max: number; bias: number } {
  const e = s.all.map((p) => p.stepError);
  return { n: e.length, mape: e.reduce((a, x) => a + Math.abs(x), 0) / e.length, max: Math.max(...e.map(Math.abs)), bias: e.reduce((a, x) => a + x, 0) / e.length };
}

test('host speed, held out: three 2x H200 hosts and one 1x H100 host, 40-step runs, each step\'s slowest rank averaged', async () => {
  // the statistic was chosen on another host's sweeps; these hosts ran after it
  const db = ProfileDb.open(defaultProfileDir());
  const n = readHostIssueProfile(N_START);
  for (const [dir, runs, mapeBelow, maxBelow, gain] of [['eager40_h200_1', 32, 0.06, 0.15, 4], ['eager40_h100', 8, 0.09, 0.14, 2.5], ['eager40_h200_2', 16, 0.08, 0.21, 3.5], ['eager40_h200_3', 32, 0.06, 0.17, 1.3]] as const) {
    const recs = readValidationRecords(join(SETS, dir));
    const withSpeed = stepErrors(await compareRecords(recs, loadCatalog(), db, 'fasop', [], undefined, n));
    const without = stepErrors(await compareRecords(recs, loadCatalog(), db, 'fasop', [], undefined, n, false));
    assert.equal(withSpeed.n, runs);
    // measured: h200_1 5.3 % / 13.1 % (without the speeds 26.6 % / 47.9 %); h100 7.7 % / 12.3 % (21.8 % / 41.8 %);
    // h200_2 6.8 % / 19.3 % (28.4 % / 52.5 %); h200_3, a fast host, 5.0 % / 16.2 % (7.3 % / 24.8 %)
    assert.ok(withSpeed.mape < mapeBelow && withSpeed.max < maxBelow, `${dir}: ${JSON.stringify(withSpeed)}`);
    assert.ok(without.mape > gain * withSpeed.mape, `${dir}: ${without.mape} vs ${withSpeed.mape}`);
  }
});

test('fasop search --host-profile profiles/host_issue_H200.json --host-launch-us: host-bound plans follow the host speed, GPU-bound ones do not', async () => {
  const dir = tmp();
  const rows = async (us: string) => {
    const r = await runCli(['--gpus', 'H200', '1', '--gpu-per-node', '1', '--gbs', '16', '--model-type', 'llama1b', '--recipe', 'bf16-adamw',
      '--host-profile', N_START, '--host-launch-us', us, '--output-dir', join(dir, us)]);
    assert.equal(r.code, 0, r.err);
    return new Map(readCsvFile(savedCsvPath(r.out)).map((row) => [Number(row['mbs']), { step_s: Number(row['step_time(s)']), source: row['cost_source']! }]));
  };
  const fast = await rows('5'), slow = await rows('10');
  // mbs 1 is host-bound (the CPU's 26.7 ms per micro-batch at 5 µs per launch against 25.4 ms of GPU work): twice the speed index, about twice the step
  const r1 = slow.get(1)!.step_s / fast.get(1)!.step_s;
  assert.ok(r1 > 1.8 && r1 < 2.0, `mbs 1: ×${r1}`);
  assert.match(slow.get(1)!.source, /HOST-BOUND.*host_issue_H200\.json.*scaled ×1\.987 to a host speed of 10\.00 µs per launch/);
  // mbs 16 is GPU-bound at either speed
  assert.equal(slow.get(16)!.step_s, fast.get(16)!.step_s);
});
