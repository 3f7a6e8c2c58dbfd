import { getGpu, type Catalog } from '../catalog/catalog.js';
import type { ModelSpec } from '../catalog/schema.js';
import { FasopError } from '../errors.js';
import { PLAIN_EXECUTION, type Recompute } from '../estimate/execution.js';
import { getEstimator } from '../estimate/index.js';
import type { ResolvedPlan } from '../estimate/plan.js';
import { recipeOf, type TrainingRecipe } from '../estimate/recipe.js';
import type { HostIssueProfile } from '../profiles/host-issue.js';
import { recipeAtHostSpeed, recipeWithHostProfile } from '../estimate/host-speed.js';
import type { ProfileDb } from '../profiles/db.js';
import { placementOf, resolvePlan } from '../plan/resolve.js';
import type { EstimatorName, SearchRequest } from '../request/request.js';
import { gpuTypeOf, type ValidationRecord } from './records.js';

export interface ComparedPlan {
  file: string;
  scenario: string;
  /** which TP runtime ran it: 'megatron-style' (also every tp = 1 run) or 'dtensor' (PyTorch DTensor TP; modelled with loss_parallel) */
  runtime: string;
  /** how the runtime issued the work: eager, or one captured CUDA graph per step */
  launch: 'eager' | 'cuda-graph';
  /** the estimator models this runtime (isModelled): scored; else listed apart */
  modelled: boolean;
  /** a second measurement of a plan already in the set */
  repeat: boolean;
  layersPerStage?: number[];
  tp: number;
  pp: number;
  dp: number;
  mbs: number;
  gbs: number;
  measuredStep_ms: number;
  predictedStep_ms: number;
  stepError: number;
  measuredPeak_GiB: number;
  predictedPeak_GiB: number;
  memoryError: number;
  /** the estimator flags the plan as host-bound (policy host-issue-floor) */
  hostBound: boolean;
  /** the CPU may set the pace on a slower host of the same kind (issue time × the recipe's hostSpreadFactor above GPU time); includes hostBound */
  hostSensitive: boolean;
}

export interface ScenarioVerdict {
  scenario: string;
  plans: number;
  measuredBest: string;
  predictedBest: string;
  same: boolean;
}

export interface ErrorStats {
  plans: number;
  stepMape: number;
  stepMaxError: number;
  memoryMape: number;
  memoryMaxError: number;
}

export interface ComparisonSummary {
  estimator: EstimatorName;
  /** error figures over the main set */
  overall: ErrorStats;
  /** every compared run (main set, repeats and other runtimes) */
  all: ComparedPlan[];
  /** the main set: modelled runtime, first measurement of each plan */
  plans: ComparedPlan[];
  scenarios: ScenarioVerdict[];
  calibration: string[];
  calibrationStats?: ErrorStats;
  heldOutStats?: ErrorStats;
  /** eager runs that recorded their host's speed, and of them those whose CPU issue figures were scaled to it (policy host-speed) */
  hostSpeed: { recorded: number; scaled: number };
  /** runs that ran out of GPU memory, and whether the estimator says the plan does not fit */
  outOfMemory: OutOfMemoryRun[];
}

export interface OutOfMemoryRun {
  file: string;
  scenario: string;
  plan: string;
  predictedPeak_GiB: number;
  /** the tightest stage's memory limit */
  limit_GiB: number;
  predictedOom: boolean;
}

const planName = (p: Pick<ComparedPlan, 'tp' | 'pp' | 'dp' | 'mbs' | 'layersPerStage'>) => {
  const lps = p.layersPerStage && new Set(p.layersPerStage).size > 1 ? ` layers ${p.layersPerStage.join('+')}` : '';
  return `tp${p.tp} pp${p.pp} dp${p.dp} mbs${p.mbs}${lps}`;
};

/** Which tensor-parallel runtime ran the plan: PyTorch DTensor or the Megatron-style one (also every tp = 1 plan). */
export function runtimeOf(rec: ValidationRecord): string {
  const impl = String(rec.recipe?.['tp_impl'] ?? '');
  return rec.plan.tp > 1 && /^DTensor/i.test(impl) ? 'dtensor' : 'megatron-style';
}

const isCaptured = (rec: ValidationRecord) => String(rec.recipe?.['launch'] ?? '').startsWith('cuda-graph');

/**
 * Whether the estimator models the run: every Megatron-style run, and DTensor TP with loss_parallel,
 * eager (recipe bf16-adamw-dtensor) or captured as a CUDA graph (bf16-adamw-graph-dtensor). DTensor TP
 * with all-gathered logits (train_step.py --no-loss-parallel) is not modelled: listed apart.
 */
export function isModelled(rec: ValidationRecord): boolean {
  return runtimeOf(rec) === 'megatron-style' || /loss_parallel/.test(String(rec.recipe?.['tp_impl'] ?? ''));
}

function stats(ps: readonly ComparedPlan[]): ErrorStats {
  const abs = (xs: number[]) => xs.map(Math.abs);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  const mem = ps.map((p) => p.memoryError).filter(Number.isFinite);
  return {
    plans: ps.length,
    stepMape: mean(abs(ps.map((p) => p.stepError))),
    stepMaxError: ps.length ? Math.max(...abs(ps.map((p) => p.stepError))) : NaN,
    memoryMape: mean(abs(mem)),
    memoryMaxError: mem.length ? Math.max(...abs(mem)) : NaN,
  };
}

/** The recipe a record was trained with (validation/train_step.py trains bf16 weights with AdamW on them). */
export function recipeOfRecord(rec: ValidationRecord): TrainingRecipe {
  const r = rec.recipe ?? {};
  const optimizer = String(r['optimizer'] ?? '');
  const dtensor = runtimeOf(rec) === 'dtensor';
  const bf16 = isCaptured(rec) || dtensor || (r['param_dtype'] === 'bf16' && optimizer.includes('AdamW') && !optimizer.includes('master')) || optimizer.includes('no fp32 master');
  // --master-fp32: PyTorch's bf16 model with fp32 master weights and gradient buffers under AdamW
  const master = !bf16 && r['param_dtype'] === 'bf16' && r['master_weights'] === 'fp32' && optimizer.includes('AdamW');
  return recipeOf({ optimizer: bf16 ? 'bf16-adamw' : master ? 'fp32-master-adamw' : 'megatron-mixed', launch: isCaptured(rec) ? 'cuda-graph' : 'eager', tpRuntime: dtensor ? 'dtensor' : 'megatron-style' });
}

/**
 * The recipe a record ran, with the CPU issue figures of a measured host profile when one is given
 * (for as many busy training processes as the run had on its host).
 */
function recipeForRecord(rec: ValidationRecord, hostProfile?: HostIssueProfile, useRecordSpeed = true): TrainingRecipe {
  let recipe = recipeOfRecord(rec);
  if (!recipe.hostIssue) return recipe;
  const world = rec.plan.tp * rec.plan.pp * rec.plan.dp;
  if (hostProfile) recipe = recipeWithHostProfile(recipe, hostProfile, { model: rec.model.name, processesPerHost: rec.machine.host_processes ?? world });
  const speed = useRecordSpeed ? hostSpeedOfRecord(rec) : undefined;
  return speed !== undefined && recipe.hostIssue?.speedRef_launch_us !== undefined ? recipeAtHostSpeed(recipe, speed) : recipe;
}

/**
 * The speed of the host while the run ran (policy host-speed), from the time per CUDA launch of a
 * tiny PyTorch op that validation/train_step.py measures before every step; undefined for runs that
 * did not record it. Where the run kept every step's sample: the slowest rank's sample of each step
 * (the ranks meet in collectives every step, so the slower one sets its pace), averaged over the
 * steps (a step is a sum of issue work, so its average pace follows the average time per launch; on
 * these hosts the samples are bimodal and a median jumps between the modes). Runs that kept only
 * each rank's median (the 10-step host-speed runs): the slowest rank's median.
 */
export function hostSpeedOfRecord(rec: ValidationRecord): number | undefined {
  const m = rec.measured as { host_speed_us_median_per_rank?: unknown; host_speed_us_per_step_per_rank?: unknown };
  const perStep = slowestRankPerStep(m.host_speed_us_per_step_per_rank);
  if (perStep) return perStep.reduce((a, b) => a + b, 0) / perStep.length;
  const medians = launchPerRank(m.host_speed_us_median_per_rank);
  return medians?.every(isLaunch_us) ? Math.max(...medians) : undefined;
}

/** Each step's largest CUDA-launch sample over the ranks; undefined unless every rank kept one per step. */
function slowestRankPerStep(series: unknown): number[] | undefined {
  const ranks = launchPerRank(series);
  const n = Array.isArray(ranks?.[0]) ? ranks[0].length : 0;
  const ok = n > 0 && ranks!.every((xs) => Array.isArray(xs) && xs.length === n && xs.every(isLaunch_us));
  return ok ? Array.from({ length: n }, (_, i) => Math.max(...(ranks as number[][]).map((xs) => xs[i]!))) : undefined;
}

/** Each rank's recorded cuda_launch_us (a value or a list), as found; undefined without ranks. */
function launchPerRank(perRank: unknown): unknown[] | undefined {
  return Array.isArray(perRank) && perRank.length > 0
    ? perRank.map((r) => (r as { cuda_launch_us?: unknown } | null)?.cuda_launch_us)
    : undefined;
}

const isLaunch_us = (x: unknown): x is number => typeof x === 'number' && x > 0;

/** What else a run varied (validation/train_step.py --recompute, --master-fp32), as a scenario suffix; empty for the default. */
export function variantOf(rec: ValidationRecord): string {
  const r = rec.recipe ?? {};
  const recompute = typeof r['recompute'] === 'string' && r['recompute'] !== 'none' ? ` recompute-${r['recompute']}` : '';
  const master = typeof r['master_weights'] === 'string' ? ` master-${r['master_weights']}` : '';
  const seq = rec.model.seq_length !== 1024 ? ` s${rec.model.seq_length}` : '';
  return `${seq}${recompute}${master}`;
}

/** The activation recompute a run used (validation/train_step.py --recompute). */
function recomputeOf(rec: ValidationRecord): Recompute {
  const r = rec.recipe?.['recompute'];
  return r === 'selective' || r === 'op' || r === 'full' ? r : 'none';
}

/** The resolved plan that a measured run executed: one node of tp·pp·dp GPUs, its exact layer split. */
export function planOfRecord(rec: ValidationRecord, catalog: Catalog, profiles: ProfileDb, graphProfiles?: ProfileDb, hostProfile?: HostIssueProfile, useRecordSpeed = true): ResolvedPlan {
  const type = gpuTypeOf(rec.machine.gpu_name);
  if (!type) throw new FasopError(`${rec.file}: unknown GPU '${rec.machine.gpu_name}'`, 'add the GPU type to the catalog');
  const gpu = getGpu(catalog, type);
  const { tp, pp, dp, mbs, gbs } = rec.plan;
  const recipe = recipeForRecord(rec, hostProfile, useRecordSpeed);
  // runs captured as CUDA graphs are estimated with operator profiles timed the same way (profile_ops.py --graph)
  const db = recipe.launch === 'cuda-graph' && graphProfiles ? graphProfiles : profiles;
  const model: ModelSpec = { architecture: 'llama', source: `validation run ${rec.file}`, ...rec.model, tie_word_embeddings: rec.model.tie_word_embeddings ?? false };
  const world = tp * pp * dp;
  const layers = rec.plan.layers_per_stage ?? undefined;
  const fixedPartition = layers ? layers.map((l, s) => 8 * l + (s === 0 ? 1 : 0) + (s === pp - 1 ? 1 : 0)) : undefined;
  // every rank of a run on one host: one node of `world` GPUs; one step is the whole run
  const req: SearchRequest = {
    gpus: [{ type: gpu.name, nodes: 1 }], model, dataset: { name: rec.file, samples: gbs, description: 'one step' }, gbsValues: [gbs],
    gpusPerNode: world, precision: 16, partitionMethod: 'minmax', estimator: 'fasop', pareto: false, recipe,
    ...(recomputeOf(rec) !== 'none' ? { executions: [{ ...PLAIN_EXECUTION, recompute: recomputeOf(rec) }] } : {}),
  };
  return resolvePlan(req, db, placementOf(req, catalog, req.gpus, [gpu.name]), { tp, dp, pp, mbs, gbs }, fixedPartition);
}

/** Estimate every successful measured run and compare (step time and peak memory per rank). */
export async function compareRecords(records: readonly ValidationRecord[], catalog: Catalog, profiles: ProfileDb, estimatorName: EstimatorName, calibration: readonly string[] = [], graphProfiles?: ProfileDb, hostProfile?: HostIssueProfile, useRecordSpeed = true): Promise<ComparisonSummary> {
  const estimator = getEstimator(estimatorName);
  const all: ComparedPlan[] = [];
  const seen = new Set<string>();
  const hostSpeed = { recorded: 0, scaled: 0 };
  const outOfMemory: OutOfMemoryRun[] = [];
  for (const rec of records) {
    const m = rec.measured;
    if (m.oom && estimatorName !== 'reference') {
      const p = planOfRecord(rec, catalog, profiles, graphProfiles, hostProfile, useRecordSpeed);
      const est = await estimator(p);
      outOfMemory.push({
        file: rec.file, scenario: `${rec.model.name}-${rec.model.num_layers}L gbs${p.gbs} ${p.tp * p.pp * p.dp}x${gpuTypeOf(rec.machine.gpu_name)}${variantOf(rec)}`,
        plan: planName({ ...p, layersPerStage: rec.plan.layers_per_stage ?? undefined }), predictedPeak_GiB: est.oomGpumem_GiB, limit_GiB: Math.min(...est.breakdown.stages.map((st) => st.memoryLimit_GiB)), predictedOom: est.isOom,
      });
    }
    if (m.oom || m.error || m.step_time_ms_median === undefined) continue;
    const resolved = planOfRecord(rec, catalog, profiles, graphProfiles, hostProfile, useRecordSpeed);
    // the reference prices plain plans only (as the original did, whatever the run recomputed)
    const { execution: _e, ...plainPlan } = resolved;
    const plan = estimatorName === 'reference' ? plainPlan : resolved;
    const launch = plan.recipe!.launch;
    const speed = launch === 'eager' ? hostSpeedOfRecord(rec) : undefined;
    if (speed !== undefined) {
      hostSpeed.recorded += 1;
      // scaled figures carry the run's speed as their reference
      if (plan.recipe!.hostIssue?.speedRef_launch_us === speed) hostSpeed.scaled += 1;
    }
    const est = await estimator(plan);
    // Memory is judged on eager runs. A captured run warms up on a side stream (with DDP built
    // there, as whole-step capture requires), which changes DDP's buffers; its peak is shown when the
    // harness separated it from the capture (peak_allocated_GiB_source), but not scored.
    const peakShown = launch === 'eager' || m.peak_allocated_GiB_source !== undefined;
    const measuredPeak = peakShown ? Math.max(...(m.peak_allocated_GiB_per_rank ?? [NaN])) : NaN;
    const predictedPeak = Math.max(...est.breakdown.stages.map((s) => s.memory_GiB));
    const world = plan.tp * plan.pp * plan.dp;
    const runtime = runtimeOf(rec);
    const layersPerStage = rec.plan.layers_per_stage ?? undefined;
    const variant = variantOf(rec);
    const key = `${gpuTypeOf(rec.machine.gpu_name)}|${rec.model.name}|${rec.model.num_layers}|${rec.model.seq_length}|${plan.tp}|${plan.pp}|${plan.dp}|${plan.mbs}|${plan.gbs}|${layersPerStage?.join('+')}|${runtime}|${launch}|${variant}`;
    const modelled = isModelled(rec);
    // a run the estimator does not model is not a measurement of a modelled plan
    const repeat = modelled && seen.has(key);
    if (modelled) seen.add(key);
    all.push({
      file: rec.file,
      scenario: `${rec.model.name}-${rec.model.num_layers}L gbs${plan.gbs} ${world}x${gpuTypeOf(rec.machine.gpu_name)}${launch === 'cuda-graph' ? ' graph' : ''}${runtime === 'dtensor' ? ' dtensor' : ''}${variant}`,
      runtime,
      launch,
      modelled,
      repeat,
      layersPerStage,
      tp: plan.tp, pp: plan.pp, dp: plan.dp, mbs: plan.mbs, gbs: plan.gbs,
      measuredStep_ms: m.step_time_ms_median,
      predictedStep_ms: est.stepTime_s * 1000,
      stepError: (est.stepTime_s * 1000 - m.step_time_ms_median) / m.step_time_ms_median,
      measuredPeak_GiB: measuredPeak,
      predictedPeak_GiB: predictedPeak,
      memoryError: launch === 'eager' ? (predictedPeak - measuredPeak) / measuredPeak : NaN,
      hostBound: est.breakdown.hostBound === true,
      hostSensitive: est.breakdown.hostSensitive === true,
    });
  }
  const plans = all.filter((p) => p.modelled && !p.repeat);
  if (plans.length === 0) throw new FasopError('no successful measured run to compare', 'check validation/results (all OOM or failed?)');
  const byScenario = new Map<string, ComparedPlan[]>();
  for (const p of plans) byScenario.set(p.scenario, [...(byScenario.get(p.scenario) ?? []), p]);
  const scenarios: ScenarioVerdict[] = [...byScenario].map(([scenario, ps]) => {
    const mb = ps.reduce((a, b) => (b.measuredStep_ms < a.measuredStep_ms ? b : a));
    const pb = ps.reduce((a, b) => (b.predictedStep_ms < a.predictedStep_ms ? b : a));
    return { scenario, plans: ps.length, measuredBest: planName(mb), predictedBest: planName(pb), same: mb === pb };
  });
  const inCal = (p: ComparedPlan) => calibration.includes(p.scenario);
  const split = plans.some(inCal);
  return {
    estimator: estimatorName,
    all,
    plans,
    overall: stats(plans),
    scenarios,
    calibration: [...calibration],
    calibrationStats: split ? stats(plans.filter(inCal)) : undefined,
    heldOutStats: split ? stats(plans.filter((p) => !inCal(p))) : undefined,
    hostSpeed,
    outOfMemory,
  };
}

const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : 'n/a');
const gib = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');

const statsLine = (label: string, x: ErrorStats) => x.plans === 0 ? `${label}: none` :
  `${label}: step time MAPE ${pct(x.stepMape)}, max |error| ${pct(x.stepMaxError)} over ${x.plans} plans; ` +
  (Number.isFinite(x.memoryMape) ? `peak memory mean |error| ${pct(x.memoryMape)}, max ${pct(x.memoryMaxError)}` : 'peak memory not scored (captured runs)');

const row = (p: ComparedPlan) => `| ${p.scenario} | ${planName(p)}${p.hostBound ? ' [host-bound]' : p.hostSensitive ? ' [host-sensitive]' : ''} | ${p.measuredStep_ms.toFixed(1)} | ${p.predictedStep_ms.toFixed(1)} | ${pct(p.stepError)} | ${gib(p.measuredPeak_GiB)} | ${gib(p.predictedPeak_GiB)} | ${pct(p.memoryError)} |`;
const HEAD = ['| scenario | plan | measured step (ms) | predicted (ms) | error | measured peak (GiB) | predicted (GiB) | error |', '|---|---|---|---|---|---|---|---|'];

/** Markdown tables of one comparison. */
export function formatComparison(s: ComparisonSummary): string {
  const out = [`### estimator: ${s.estimator}`, '', ...HEAD, ...s.plans.map(row), '', statsLine('all plans', s.overall)];
  if (s.calibrationStats && s.heldOutStats) {
    out.push(statsLine(`calibration scenario (${s.calibration.join(', ')})`, s.calibrationStats));
    out.push(statsLine('held-out scenarios', s.heldOutStats));
  }
  const eager = s.plans.filter((p) => p.launch === 'eager');
  const graph = s.plans.filter((p) => p.launch === 'cuda-graph');
  if (eager.length && graph.length) {
    out.push(statsLine('eager runs (kernels launched one by one)', stats(eager)));
    out.push(statsLine('CUDA-graph runs (one captured step replayed)', stats(graph)));
  }
  const flagged = s.plans.filter((p) => p.hostSensitive);
  if (flagged.length) {
    out.push(statsLine('plans whose pace the CPU sets or may set on a slower host ([host-bound], [host-sensitive])', stats(flagged)));
    out.push(statsLine('— of them [host-bound] (CPU issue time above GPU time)', stats(flagged.filter((p) => p.hostBound))));
    out.push(statsLine('plans the GPU bounds (not flagged)', stats(s.plans.filter((p) => !p.hostSensitive))));
  }
  if (s.estimator === 'fasop' && s.hostSpeed.recorded > 0) {
    out.push(s.hostSpeed.scaled === s.hostSpeed.recorded
      ? `host speed (policy host-speed): the CPU issue figures were scaled to the speed each of the ${s.hostSpeed.recorded} eager runs recorded`
      : s.hostSpeed.scaled === 0
        ? `host speed: ${s.hostSpeed.recorded} eager runs recorded their host's speed, not used — the CPU issue figures carry no speed of their own (pass --host-profile with a profiler/host_issue.py file that records it) or --no-host-speed was given`
        : `host speed (policy host-speed): ${s.hostSpeed.scaled} of the ${s.hostSpeed.recorded} eager runs that recorded their host's speed were scaled to it`);
  }
  if (s.outOfMemory.length) {
    const caught = s.outOfMemory.filter((o) => o.predictedOom).length;
    out.push(`runs that ran out of GPU memory: ${s.outOfMemory.length}, predicted not to fit: ${caught}` +
      ` (${s.outOfMemory.map((o) => `${o.scenario} ${o.plan}: ${o.predictedPeak_GiB.toFixed(2)} GiB predicted, limit ${o.limit_GiB.toFixed(2)} GiB${o.predictedOom ? '' : ' — predicted to fit'}`).join('; ')})`);
  }
  out.push('', '| scenario | plans | measured best | predicted best | same |', '|---|---|---|---|---|',
    ...s.scenarios.map((v) => `| ${v.scenario}${s.calibration.includes(v.scenario) ? ' (calibration)' : ''} | ${v.plans} | ${v.measuredBest} | ${v.predictedBest} | ${v.same ? 'yes' : 'NO'} |`),
    '', `predicted-best = measured-best in ${s.scenarios.filter((v) => v.same).length} of ${s.scenarios.length} scenarios`);
  const other = s.all.filter((p) => !p.modelled);
  if (other.length) {
    out.push('', `Runs of a configuration the estimator does not model (PyTorch DTensor tensor parallelism with all-gathered logits instead of loss_parallel, train_step.py --no-loss-parallel), not in the figures above:`, '', ...HEAD, ...other.map(row));
  }
  const repeats = s.all.filter((p) => p.repeat && p.modelled);
  if (repeats.length) {
    out.push('', 'Repeated measurements of plans above (not in the figures above; they show the run-to-run spread):', '', ...HEAD, ...repeats.map(row));
  }
  return out.join('\n');
}
