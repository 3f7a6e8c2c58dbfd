/**
 * The committed CPU correctness checks of the harness's multi-GPU techniques
 * (validation/results/techniques_cpu/, written by `validation/run.sh technique-check`): every check
 * validation/technique_check.py defines and every combination validation/README.md claims has a file,
 * each file's figures are within its stated tolerances (recomputed here, not read from its verdict),
 * and the control run is outside them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const DIR = join(ROOT, 'validation', 'results', 'techniques_cpu');
const CONTROL = 'control_lr_plus_10pct';

interface CheckRecord {
  check: string;
  technique_flags: string[];
  ranks: number;
  steps: number;
  passed: boolean;
  error?: string;
  within_tolerance?: boolean;
  tolerance: { loss_max_rel_diff: number; weights_rel_l2_diff: number; tensor_rel_l2_diff_max: number; init_max_abs_diff: number; replica_max_abs_diff: number };
  loss: { reference: number[]; technique: number[]; max_rel_diff: number };
  weights: { tensors: number; missing_or_misshapen: string[]; rel_l2_diff: number; tensor_rel_l2_diff_max: number; init_max_abs_diff: number; replica_max_abs_diff: number; reference_update_max_abs: number };
  versions: { torch: string };
  machine: { backend: string; device: string; dtype: string };
  runtime_per_rank: RankRuntime[];
}

/** What ran on one rank of the technique's launch (train_step.py --dump). */
interface RankRuntime {
  wrapper: string[];
  parameter_kinds: string[];
  optimizers: string[];
  schedule: string | null;
  stage_indices: number[] | null;
  attention: string;
  sp_norm_params: number;
  local_batch_rows: number;
  local_sequence: number;
  layer_input_tokens?: number;
}

/** The techniques and combinations the issue asks for, as train_step.py flags (each must have a passing check). */
const REQUIRED: Record<string, string[]> = {
  zero1_dp2: ['--dp', '2', '--dp-sharding', 'optimizer'],
  zero1_dp4: ['--dp', '4', '--dp-sharding', 'optimizer'],
  zero2_dp2: ['--dp', '2', '--dp-sharding', 'gradients'],
  zero2_dp4: ['--dp', '4', '--dp-sharding', 'gradients'],
  fsdp_dp2: ['--dp', '2', '--dp-sharding', 'parameters'],
  fsdp_dp4: ['--dp', '4', '--dp-sharding', 'parameters'],
  hsdp_dp4_sg2: ['--dp', '4', '--dp-sharding', 'parameters', '--shard-group', '2'],
  sp_tp2: ['--tp', '2', '--sequence-parallel'],
  sp_tp2_dp2: ['--tp', '2', '--dp', '2', '--sequence-parallel'],
  v2_pp2: ['--pp', '2', '--virtual-stages', '2'],
  v2_pp2_dp2: ['--pp', '2', '--dp', '2', '--virtual-stages', '2'],
  cp2: ['--cp', '2'],
  cp4: ['--cp', '4'],
  cp2_dp2: ['--cp', '2', '--dp', '2'],
  sp_tp2_pp2: ['--tp', '2', '--pp', '2', '--sequence-parallel'],
};

const records = new Map<string, CheckRecord>(
  readdirSync(DIR).filter((f) => f.endsWith('.json')).map((f) => {
    const r = JSON.parse(readFileSync(join(DIR, f), 'utf8')) as CheckRecord;
    return [r.check, r] as const;
  }),
);

/** The check names validation/technique_check.py defines (its CHECKS table). */
function definedChecks(): string[] {
  const src = readFileSync(join(ROOT, 'validation', 'technique_check.py'), 'utf8');
  const table = src.slice(src.indexOf('CHECKS = {'), src.indexOf('\n}\n', src.indexOf('CHECKS = {')));
  return [...table.matchAll(/^ {4}"([a-z0-9_]+)": \(/gm)].map((m) => m[1]!);
}

const ranksOf = (flags: string[]) => ['--tp', '--pp', '--dp', '--cp'].reduce((w, k) => (flags.includes(k) ? w * Number(flags[flags.indexOf(k) + 1]) : w), 1);

test('technique checks: a file for every check the script defines, every required combination, and the control', () => {
  const defined = definedChecks();
  assert.ok(defined.length >= Object.keys(REQUIRED).length, `CHECKS table not found or too short: ${defined.join(', ')}`);
  for (const name of [...defined, ...Object.keys(REQUIRED), CONTROL]) assert.ok(records.has(name), `validation/results/techniques_cpu/${name}.json is missing`);
  for (const name of records.keys()) assert.ok(name === CONTROL || defined.includes(name), `${name}.json: no such check in validation/technique_check.py`);
  for (const [name, flags] of Object.entries(REQUIRED)) assert.deepEqual(records.get(name)!.technique_flags, flags, `${name}: ran other flags`);
  const worlds = new Set([...records.values()].map((r) => r.ranks));
  for (const w of [2, 4, 8]) assert.ok(worlds.has(w), `no check on ${w} ranks`);
});

test('technique checks: each within its stated tolerances on CPU in fp32 (recomputed from its figures)', () => {
  for (const r of records.values()) {
    if (r.check === CONTROL) continue;
    const t = r.tolerance;
    assert.equal(r.error, undefined, `${r.check}: the run failed (${r.error})`);
    assert.deepEqual([r.machine.backend, r.machine.device, r.machine.dtype], ['gloo', 'cpu', 'fp32'], r.check);
    assert.match(r.versions.torch, /^2\.\d+/, `${r.check}: torch ${r.versions.torch}`);
    assert.equal(r.ranks, ranksOf(r.technique_flags), `${r.check}: ranks`);
    assert.ok(r.ranks >= 2, `${r.check}: a technique check runs on several ranks`);
    assert.equal(r.loss.technique.length, r.steps, `${r.check}: a loss per step`);
    assert.equal(r.loss.reference.length, r.steps, `${r.check}: a reference loss per step`);
    const rel = Math.max(...r.loss.reference.map((a, i) => Math.abs(a - r.loss.technique[i]!) / Math.abs(a)));
    assert.ok(Math.abs(rel - r.loss.max_rel_diff) <= 1e-12, `${r.check}: loss difference recorded ${r.loss.max_rel_diff}, recomputed ${rel}`);
    assert.ok(rel <= t.loss_max_rel_diff, `${r.check}: loss differs by ${rel} (> ${t.loss_max_rel_diff})`);
    const w = r.weights;
    assert.ok(w.tensors > 0 && w.missing_or_misshapen.length === 0, `${r.check}: weights missing or misshapen: ${w.missing_or_misshapen.join(', ')}`);
    assert.ok(w.reference_update_max_abs > 0, `${r.check}: the reference did not train`);
    assert.ok(w.rel_l2_diff <= t.weights_rel_l2_diff, `${r.check}: weights differ by ${w.rel_l2_diff} of the update (> ${t.weights_rel_l2_diff})`);
    assert.ok(w.tensor_rel_l2_diff_max <= t.tensor_rel_l2_diff_max, `${r.check}: a tensor differs by ${w.tensor_rel_l2_diff_max} (> ${t.tensor_rel_l2_diff_max})`);
    assert.equal(w.init_max_abs_diff, 0, `${r.check}: started from other weights`);
    assert.ok(w.replica_max_abs_diff <= t.replica_max_abs_diff, `${r.check}: replicas disagree by ${w.replica_max_abs_diff}`);
    assert.equal(r.passed, true, `${r.check}: recorded as failed`);
  }
});

const flag = (flags: string[], k: string, dflt: number) => (flags.includes(k) ? Number(flags[flags.indexOf(k) + 1]) : dflt);

test('technique checks: each launch ran the technique its flags name (runtime recorded on every rank)', () => {
  const plain = [...records.values()].filter((r) => r.check !== CONTROL && !r.technique_flags.some((f) => f === '--cp' || f === '--sequence-parallel'));
  const seq = plain[0]!.runtime_per_rank[0]!.local_sequence;
  for (const r of records.values()) {
    if (r.check === CONTROL) continue;
    const f = r.technique_flags;
    const [tp, pp, dp, cp, v] = [flag(f, '--tp', 1), flag(f, '--pp', 1), flag(f, '--dp', 1), flag(f, '--cp', 1), flag(f, '--virtual-stages', 1)];
    const sharding = f.includes('--dp-sharding') ? f[f.indexOf('--dp-sharding') + 1] : 'none';
    assert.equal(r.runtime_per_rank.length, r.ranks, `${r.check}: a runtime record per rank`);
    for (const [i, rt] of r.runtime_per_rank.entries()) {
      const at = `${r.check} rank ${i}`;
      assert.equal(rt.local_batch_rows, 8 / dp, `${at}: its share of the global batch`);
      assert.equal(rt.local_sequence, seq / cp, `${at}: its share of the sequence`);
      if (rt.layer_input_tokens !== undefined) {
        assert.equal(rt.layer_input_tokens, f.includes('--sequence-parallel') ? seq / tp : seq / cp, `${at}: tokens entering a decoder layer`);
      } else assert.ok(pp > 1, `${at}: no decoder layer ran`);
      assert.equal(rt.attention, cp > 1 ? 'ring_cp' : 'sdpa', at);
      assert.equal(rt.sp_norm_params > 0, f.includes('--sequence-parallel'), `${at}: norm weights summed over tp`);
      assert.equal(rt.optimizers.includes('ZeroRedundancyOptimizer'), sharding === 'optimizer', `${at}: optimizers ${rt.optimizers.join(', ')}`);
      const fsdp = sharding === 'gradients' || sharding === 'parameters';
      assert.equal(rt.wrapper.every((w) => w.startsWith('FSDP')), fsdp, `${at}: wrapped as ${rt.wrapper.join(', ')}`);
      if (fsdp) {
        assert.ok(rt.parameter_kinds.every((k) => k.startsWith('DTensor') && k.includes('Shard(dim=0)')), `${at}: parameters ${rt.parameter_kinds.join(', ')}`);
        assert.equal(rt.parameter_kinds.every((k) => k.includes('Replicate()')), f.includes('--shard-group'), `${at}: hybrid sharding`);
      } else if (dp * cp > 1) assert.deepEqual(rt.wrapper, ['DistributedDataParallel'], at);
      assert.equal(rt.schedule, pp === 1 ? null : v > 1 ? 'ScheduleInterleaved1F1B' : 'Schedule1F1B', at);
      if (pp > 1) assert.equal(rt.stage_indices!.length, v, `${at}: model chunks`);
    }
    if (pp > 1) {
      const stages = new Set(r.runtime_per_rank.flatMap((rt) => rt.stage_indices!));
      assert.equal(stages.size, pp * v, `${r.check}: every pipeline stage ran`);
    }
  }
});

test('technique checks: the control (10 % larger learning rate) falls outside the tolerances', () => {
  const c = records.get(CONTROL)!;
  assert.equal(c.error, undefined);
  assert.equal(c.within_tolerance, false);
  assert.ok(c.weights.rel_l2_diff > 10 * c.tolerance.weights_rel_l2_diff, `control weights differ by only ${c.weights.rel_l2_diff}`);
  // the passing checks stay far below the control's difference
  const worst = Math.max(...[...records.values()].filter((r) => r.check !== CONTROL).map((r) => r.weights.rel_l2_diff));
  assert.ok(worst < c.weights.rel_l2_diff / 10, `a check differs by ${worst}, within 10× of the control's ${c.weights.rel_l2_diff}`);
});

test('technique checks: validation/README.md lists every check', () => {
  const readme = readFileSync(join(ROOT, 'validation', 'README.md'), 'utf8');
  for (const name of records.keys()) assert.ok(readme.includes(`\`${name}\``), `validation/README.md does not list ${name}`);
});
