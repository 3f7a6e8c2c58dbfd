/**
 * `fasop validate --published`: each published configuration is resolved as the search resolves a
 * plan (its cluster, model, degrees and execution) and estimated by the default estimator; the
 * predicted step time and peak memory are set against the published ones.
 */
import { getGpu, type Catalog } from '../catalog/catalog.js';
import { executionLabel } from '../estimate/execution.js';
import { getEstimator } from '../estimate/index.js';
import type { ResolvedPlan } from '../estimate/plan.js';
import { DEFAULT_RECIPE_AXES, RECIPE_AXES, recipeOf, withFusedCrossEntropy, withUnfusedAttention } from '../estimate/recipe.js';
import type { ProfileDb } from '../profiles/db.js';
import { resolvePlans } from '../plan/resolve.js';
import type { SearchRequest } from '../request/request.js';
import {
  executionOf, outOfScope, publishedPeak_GiB, publishedStepTime, worldOf, type PublishedRecord, type PublishedSet,
} from './published-records.js';

/** One scored record. */
export interface PublishedScore {
  id: string;
  file: string;
  heldOut: boolean;
  gpu: string;
  gpus: number;
  plan: string;
  execution: string;
  publishedStep_s: number;
  /** how the published step time follows from the source's figures */
  stepFrom: string;
  predictedStep_s: number;
  stepError: number;
  /** the record's sequence length (tokens) */
  seqLength: number;
  publishedPeak_GiB: number;
  predictedPeak_GiB: number;
  /** NaN where the source gives no memory */
  memoryError: number;
  memoryMetric?: string;
  /** the estimator finds the plan does not fit the catalog GPU's memory */
  oom: boolean;
  /** the estimator finds the CPU, not the GPU, sets the pace (policy host-issue-floor) */
  hostBound: boolean;
  costSource: string;
}

/** A record fasop does not price, and why. */
export interface UnscoredRecord {
  id: string;
  file: string;
  heldOut: boolean;
  reason: string;
  publishedStep_s: number;
  stepFrom: string;
}

export interface PublishedStats {
  records: number;
  stepMape: number;
  stepMaxError: number;
  /** mean signed step-time error (below 0: predicted fast) */
  stepBias: number;
  memoryRecords: number;
  memoryMape: number;
  memoryMaxError: number;
}

export interface PublishedSummary {
  scores: PublishedScore[];
  unscored: UnscoredRecord[];
  heldOut: PublishedStats;
  rest: PublishedStats;
  all: PublishedStats;
}

const planLabel = (r: PublishedRecord) => `tp${r.tp} cp${r.cp} dp${r.dp} pp${r.pp} mbs${r.mbs} gbs${r.gbs}`;

/**
 * The request a search of the record's cluster would build on its hardware (hardwareOf): its nodes,
 * its model, one step of its batch, its recipe (the record's, else its file's, else the default)
 * with the record's attention and loss kernels, and the launchers' own layer split (Megatron-LM and
 * torchtitan give each pipeline stage as many decoder layers).
 */
function requestOf(r: PublishedRecord, hardware: Catalog): SearchRequest {
  const gpu = getGpu(hardware, r.gpu.type);
  let recipe = recipeOf(r.recipe ? RECIPE_AXES.get(r.recipe)! : DEFAULT_RECIPE_AXES);
  if (r.loss === 'fused') recipe = withFusedCrossEntropy(recipe);
  if (r.attention === 'unfused') recipe = withUnfusedAttention(recipe);
  return {
    gpus: [{ type: gpu.name, nodes: r.nodes }], model: r.model, dataset: { name: r.id, samples: r.gbs, description: 'one step' }, gbsValues: [r.gbs],
    gpusPerNode: r.gpusPerNode, precision: 16, partitionMethod: 'even', estimator: 'fasop', pareto: false, recipe,
  };
}

/** The catalog as the record's hardware: its GPU type with the network the source states, where it states one. */
function hardwareOf(r: PublishedRecord, catalog: Catalog): Catalog {
  const net = r.gpu.interNode_Gbps;
  if (net === undefined) return catalog;
  const gpu = getGpu(catalog, r.gpu.type);
  return { ...catalog, gpus: { ...catalog.gpus, [gpu.name]: { ...gpu, interNode_bps: net * 1e9 } } };
}

/** The resolved plan of a record, with the record's execution on it. */
export function planOfPublished(r: PublishedRecord, catalog: Catalog, profiles: ProfileDb): ResolvedPlan {
  const hardware = hardwareOf(r, catalog);
  // the record's execution places its ranks (tp·cp·dp·pp) and prices its tables (a context-parallel rank's s/cp tokens)
  const [plan] = resolvePlans(requestOf(r, hardware), hardware, profiles, { tp: r.tp, dp: r.dp, pp: r.pp, mbs: r.mbs, gbs: r.gbs, execution: executionOf(r) });
  return plan!;
}

function stats(xs: readonly PublishedScore[]): PublishedStats {
  const abs = (v: number[]) => v.map(Math.abs);
  const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);
  const max = (v: number[]) => (v.length ? Math.max(...v) : NaN);
  const mem = xs.map((s) => s.memoryError).filter(Number.isFinite);
  return {
    records: xs.length,
    stepMape: mean(abs(xs.map((s) => s.stepError))),
    stepMaxError: max(abs(xs.map((s) => s.stepError))),
    stepBias: mean(xs.map((s) => s.stepError)),
    memoryRecords: mem.length,
    memoryMape: mean(abs(mem)),
    memoryMaxError: max(abs(mem)),
  };
}

/** Estimate every in-scope record with the default estimator; list the others with their reason. */
export async function scorePublished(sets: readonly PublishedSet[], catalog: Catalog, profiles: ProfileDb): Promise<PublishedSummary> {
  const estimator = getEstimator('fasop');
  const scores: PublishedScore[] = [];
  const unscored: UnscoredRecord[] = [];
  for (const rec of sets.flatMap((s) => s.records)) {
    const pub = publishedStepTime(rec);
    const reason = outOfScope(rec);
    if (reason) {
      unscored.push({ id: rec.id, file: rec.file, heldOut: rec.heldOut, reason, publishedStep_s: pub.step_s, stepFrom: pub.from });
      continue;
    }
    const plan = planOfPublished(rec, catalog, profiles);
    const est = await estimator(plan);
    const stages = est.breakdown.stages;
    const predictedPeak = rec.published.memory_ranks === 'last_rank' ? stages.at(-1)!.memory_GiB : Math.max(...stages.map((s) => s.memory_GiB));
    const peak = publishedPeak_GiB(rec);
    scores.push({
      id: rec.id, file: rec.file, heldOut: rec.heldOut, gpu: plan.nodes[0]!.gpu.name, gpus: worldOf(rec), plan: planLabel(rec), execution: executionLabel(plan.execution!),
      publishedStep_s: pub.step_s, stepFrom: pub.from, predictedStep_s: est.stepTime_s, stepError: (est.stepTime_s - pub.step_s) / pub.step_s, seqLength: rec.model.seq_length,
      publishedPeak_GiB: peak, predictedPeak_GiB: predictedPeak, memoryError: Number.isFinite(peak) ? (predictedPeak - peak) / peak : NaN,
      ...(rec.published.memory_metric ? { memoryMetric: rec.published.memory_metric } : {}),
      oom: est.isOom, hostBound: est.breakdown.hostBound === true, costSource: est.breakdown.costSource,
    });
  }
  return { scores, unscored, heldOut: stats(scores.filter((s) => s.heldOut)), rest: stats(scores.filter((s) => !s.heldOut)), all: stats(scores) };
}

const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : 'n/a');
const num = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

const statsLine = (label: string, s: PublishedStats) => s.records === 0 ? `${label}: none` :
  `${label}: step time MAPE ${pct(s.stepMape)}, max |error| ${pct(s.stepMaxError)}, mean signed ${pct(s.stepBias)} over ${s.records} records; ` +
  (s.memoryRecords ? `peak memory mean |error| ${pct(s.memoryMape)}, max ${pct(s.memoryMaxError)} over ${s.memoryRecords}` : 'no published memory');

/** Sequence lengths (tokens) up to which a record counts as short: above it attention's share of a step grows with the sequence. */
export const SHORT_SEQUENCE = 4096;

/** The scores by sequence length, all sources and each source with records on both sides of SHORT_SEQUENCE. */
function bandLines(scores: readonly PublishedScore[]): string[] {
  const bands = [
    { label: `sequence ≤ ${SHORT_SEQUENCE}`, has: (p: PublishedScore) => p.seqLength <= SHORT_SEQUENCE },
    { label: `sequence > ${SHORT_SEQUENCE}`, has: (p: PublishedScore) => p.seqLength > SHORT_SEQUENCE },
  ];
  const out = bands.map((b) => statsLine(`by ${b.label}`, stats(scores.filter(b.has))));
  for (const f of new Set(scores.map((p) => p.file))) {
    const mine = scores.filter((p) => p.file === f);
    if (bands.every((b) => mine.some(b.has))) out.push(...bands.map((b) => statsLine(`— ${f}, ${b.label}`, stats(mine.filter(b.has)))));
  }
  return out;
}

/** How many runs the sources ran the estimate finds over the GPU's memory: a check of the memory model where no peak is published. */
function oomLine(scores: readonly PublishedScore[]): string {
  const over = scores.filter((p) => p.oom);
  const byFile = [...new Set(over.map((p) => p.file))].map((f) => `${f} ${over.filter((p) => p.file === f).length}`);
  return `predicted not to fit, though the source ran them: ${over.length} of ${scores.length} records${byFile.length ? ` (${byFile.join(', ')})` : ''}`;
}

/** Markdown tables of a published-set score. */
export function formatPublished(s: PublishedSummary): string {
  const row = (p: PublishedScore) => `| ${p.id} | ${p.heldOut ? 'yes' : ''} | ${p.gpus}x${p.gpu} | ${p.plan} | ${p.execution} | ${num(p.publishedStep_s, 3)} | ${p.stepFrom} | ${num(p.predictedStep_s, 3)}${p.hostBound ? ' [host-bound]' : ''} | ${pct(p.stepError)} | ${num(p.publishedPeak_GiB, 2)}${p.memoryMetric === 'max_reserved' ? ' (reserved)' : ''} | ${num(p.predictedPeak_GiB, 2)}${p.oom ? ' [OOM]' : ''} | ${pct(p.memoryError)} |`;
  const out = [
    '### published measurements, estimator: fasop (the recipe its file names, else the default, megatron-mixed)',
    '',
    '| record | held out | GPUs | plan | execution | published step (s) | from | predicted (s) | error | published peak (GiB) | predicted (GiB) | error |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...s.scores.map(row),
    '',
    statsLine('held-out records', s.heldOut),
    statsLine('the other records', s.rest),
    statsLine('all scored records', s.all),
    ...[...new Set(s.scores.map((p) => p.file))].map((f) => statsLine(`— ${f}`, stats(s.scores.filter((p) => p.file === f)))),
    '',
    ...bandLines(s.scores),
    oomLine(s.scores),
  ];
  const derived = [...new Set(s.scores.flatMap((p) => {
    const from = /derived from (\S+?)[\s(,;]/.exec(p.costSource)?.[1];
    return from ? [`${p.gpu} from ${from}`] : [];
  }))];
  if (derived.length) out.push(`GPUs without an operator profile of their own, priced by derivation (cost_source says so): ${derived.join(', ')}`);
  if (s.unscored.length) {
    out.push('', 'Not scored (out of scope):', '', '| record | held out | published step (s) | from | reason |', '|---|---|---|---|---|',
      ...s.unscored.map((u) => `| ${u.id} | ${u.heldOut ? 'yes' : ''} | ${num(u.publishedStep_s, 3)} | ${u.stepFrom} | ${u.reason} |`));
  }
  return out.join('\n');
}
