import { getGpu, type Catalog } from '../catalog/catalog.js';
import type { ModelSpec } from '../catalog/schema.js';
import { FasopError } from '../errors.js';
import { getEstimator } from '../estimate/index.js';
import type { ResolvedPlan } from '../estimate/plan.js';
import { RECIPES, type TrainingRecipe } from '../estimate/recipe.js';
import type { ProfileDb } from '../profiles/db.js';
import type { EstimatorName } from '../search/search.js';
import { gpuTypeOf, type ValidationRecord } from './records.js';

export interface ComparedPlan {
  file: string;
  scenario: string;
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
}

export interface ScenarioVerdict {
  scenario: string;
  plans: number;
  measuredBest: string;
  predictedBest: string;
  same: boolean;
}

export interface ComparisonSummary {
  estimator: EstimatorName;
  plans: ComparedPlan[];
  stepMape: number;
  stepMaxError: number;
  memoryMape: number;
  memoryMaxError: number;
  scenarios: ScenarioVerdict[];
}

const planName = (p: Pick<ComparedPlan, 'tp' | 'pp' | 'dp' | 'mbs'>) => `tp${p.tp} pp${p.pp} dp${p.dp} mbs${p.mbs}`;

/** The recipe a record was trained with (validation/train_step.py writes bf16 + AdamW on bf16). */
export function recipeOf(rec: ValidationRecord): TrainingRecipe {
  const r = rec.recipe ?? {};
  if (r['param_dtype'] === 'bf16' && String(r['optimizer'] ?? '').includes('AdamW') && !String(r['optimizer'] ?? '').includes('master')) return RECIPES['bf16-adamw']!;
  if (String(r['optimizer'] ?? '').includes('no fp32 master')) return RECIPES['bf16-adamw']!;
  return RECIPES['megatron-mixed']!;
}

/** The resolved plan that a measured run executed: one node of tp·pp·dp GPUs, its exact layer split. */
export function planOfRecord(rec: ValidationRecord, catalog: Catalog, profiles: ProfileDb): ResolvedPlan {
  const type = gpuTypeOf(rec.machine.gpu_name);
  if (!type) throw new FasopError(`${rec.file}: unknown GPU '${rec.machine.gpu_name}'`, 'add the GPU type to the catalog');
  const gpu = getGpu(catalog, type);
  const { tp, pp, dp, mbs, gbs } = rec.plan;
  const model: ModelSpec = { architecture: 'llama', source: `validation run ${rec.file}`, ...rec.model, tie_word_embeddings: rec.model.tie_word_embeddings ?? false };
  const world = tp * pp * dp;
  const layers = rec.plan.layers_per_stage ?? undefined;
  const fixedPartition = layers ? layers.map((l, s) => 8 * l + (s === 0 ? 1 : 0) + (s === pp - 1 ? 1 : 0)) : undefined;
  return {
    model,
    nodes: [{ gpu, interNode_bps: gpu.interNode_bps, intraNode_bps: gpu.intraNode_bps }],
    gpusPerNode: world,
    tp, dp, pp, mbs, gbs,
    profiles: { [gpu.name]: profiles.get(rec.model.name, gpu.name, tp) },
    partitionMethod: 'minmax',
    fixedPartition,
    precision: 16,
    pricePerSecond_usd: 0,
    iterations: 1,
    recipe: recipeOf(rec),
  };
}

/** Estimate every successful measured run and compare (step time and peak memory per rank). */
export async function compareRecords(records: readonly ValidationRecord[], catalog: Catalog, profiles: ProfileDb, estimatorName: EstimatorName): Promise<ComparisonSummary> {
  const estimator = getEstimator(estimatorName);
  const plans: ComparedPlan[] = [];
  for (const rec of records) {
    const m = rec.measured;
    if (m.oom || m.error || m.step_time_ms_median === undefined) continue;
    const plan = planOfRecord(rec, catalog, profiles);
    const est = await estimator(plan);
    const measuredPeak = Math.max(...(m.peak_allocated_GiB_per_rank ?? [NaN]));
    const predictedPeak = Math.max(...est.breakdown.stages.map((s) => s.memory_GiB));
    const world = plan.tp * plan.pp * plan.dp;
    plans.push({
      file: rec.file,
      scenario: `${rec.model.name}-${rec.model.num_layers}L gbs${plan.gbs} ${world}x${gpuTypeOf(rec.machine.gpu_name)}`,
      tp: plan.tp, pp: plan.pp, dp: plan.dp, mbs: plan.mbs, gbs: plan.gbs,
      measuredStep_ms: m.step_time_ms_median,
      predictedStep_ms: est.stepTime_s * 1000,
      stepError: (est.stepTime_s * 1000 - m.step_time_ms_median) / m.step_time_ms_median,
      measuredPeak_GiB: measuredPeak,
      predictedPeak_GiB: predictedPeak,
      memoryError: (predictedPeak - measuredPeak) / measuredPeak,
    });
  }
  if (plans.length === 0) throw new FasopError('no successful measured run to compare', 'check validation/results (all OOM or failed?)');
  const abs = (xs: number[]) => xs.map(Math.abs);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const byScenario = new Map<string, ComparedPlan[]>();
  for (const p of plans) byScenario.set(p.scenario, [...(byScenario.get(p.scenario) ?? []), p]);
  const scenarios: ScenarioVerdict[] = [...byScenario].map(([scenario, ps]) => {
    const mb = ps.reduce((a, b) => (b.measuredStep_ms < a.measuredStep_ms ? b : a));
    const pb = ps.reduce((a, b) => (b.predictedStep_ms < a.predictedStep_ms ? b : a));
    return { scenario, plans: ps.length, measuredBest: planName(mb), predictedBest: planName(pb), same: mb === pb };
  });
  const memErr = plans.map((p) => p.memoryError).filter(Number.isFinite);
  return {
    estimator: estimatorName,
    plans,
    stepMape: mean(abs(plans.map((p) => p.stepError))),
    stepMaxError: Math.max(...abs(plans.map((p) => p.stepError))),
    memoryMape: memErr.length ? mean(abs(memErr)) : NaN,
    memoryMaxError: memErr.length ? Math.max(...abs(memErr)) : NaN,
    scenarios,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** Markdown tables of one comparison. */
export function formatComparison(s: ComparisonSummary): string {
  const out = [
    `### estimator: ${s.estimator}`,
    '',
    '| scenario | plan | measured step (ms) | predicted (ms) | error | measured peak (GiB) | predicted (GiB) | error |',
    '|---|---|---|---|---|---|---|---|',
    ...s.plans.map((p) => `| ${p.scenario} | ${planName(p)} | ${p.measuredStep_ms.toFixed(1)} | ${p.predictedStep_ms.toFixed(1)} | ${pct(p.stepError)} | ${p.measuredPeak_GiB.toFixed(2)} | ${p.predictedPeak_GiB.toFixed(2)} | ${pct(p.memoryError)} |`),
    '',
    `step time: MAPE ${pct(s.stepMape)}, max |error| ${pct(s.stepMaxError)} over ${s.plans.length} plans; peak memory: mean |error| ${pct(s.memoryMape)}, max ${pct(s.memoryMaxError)}`,
    '',
    '| scenario | plans | measured best | predicted best | same |',
    '|---|---|---|---|---|',
    ...s.scenarios.map((v) => `| ${v.scenario} | ${v.plans} | ${v.measuredBest} | ${v.predictedBest} | ${v.same ? 'yes' : 'NO'} |`),
    '',
    `predicted-best = measured-best in ${s.scenarios.filter((v) => v.same).length} of ${s.scenarios.length} scenarios`,
  ];
  return out.join('\n');
}
