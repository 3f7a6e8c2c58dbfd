import { createInterface } from 'node:readline/promises';
import { FasopError } from '../errors.js';
import type { Estimator } from '../estimate/index.js';
import type { Estimate } from '../estimate/plan.js';
import { POLICIES } from '../estimate/policy.js';
import { memoryBreakdownLines, type MemoryBreakdownContext } from '../report/console.js';
import { layersPerStage } from '../model/graph.js';
import { resolvePlans } from '../plan/resolve.js';
import type { ResolvedPlan } from '../estimate/plan.js';
import { PLAIN_EXECUTION, executionLabel } from '../estimate/execution.js';
import { resolveChosenPlans } from '../search/choose.js';
import type { ProfileDb } from '../profiles/db.js';
import type { CliIo } from './io.js';
import { intFlag, type RawSearchOptions, type ResolvedSearchOptions } from './search-options.js';

async function askMissing(io: CliIo, raw: RawSearchOptions): Promise<Record<'mbs' | 'tp' | 'dp' | 'pp', string>> {
  const keys = ['mbs', 'tp', 'dp', 'pp'] as const;
  const missing = keys.filter((k) => raw[k] === undefined);
  const values = Object.fromEntries(keys.map((k) => [k, raw[k] ?? ''])) as Record<(typeof keys)[number], string>;
  if (missing.length === 0) return values;
  if (!io.inIsTty) {
    throw new FasopError(`--exhaustive needs ${missing.map((k) => `--${k}`).join(', ')} when stdin is not a terminal`, 'pass --mbs N --tp N --dp N --pp N');
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    for (const k of missing) values[k] = (await rl.question(`${k}: `)).trim();
  } finally {
    rl.close();
  }
  return values;
}

const f = (x: number, d = 4) => x.toFixed(d);

export function formatBreakdown(est: Estimate, title: string, memory: Omit<MemoryBreakdownContext, 'microBatches'>): string {
  const b = est.breakdown;
  // a stage's decoder layers (the embedding goes with the first stage, lm_head with the last); '-' where a cut falls inside a layer
  const layers = layersPerStage(est.partition);
  const lines = [
    title,
    layers
      ? `  layers per stage: [${layers.join(', ')}]`
      : `  partition, graph operators per stage: [${est.partition.join(', ')}]   (it cuts inside decoder layers: fasop export rounds it to whole layers)`,
    `  micro-batches per step: ${b.microBatches}`,
    `  stage  gpu        layers  operators   compute_s  fwd_send_s  bwd_send_s   pipe_end_s  dp_allreduce_s  optimizer_s  memory_GiB / limit`,
  ];
  b.stages.forEach((s, i) => {
    lines.push(`  ${String(i).padStart(5)}  ${s.gpu.padEnd(9)} ${(layers ? String(layers[i]) : '-').padStart(6)} ${String(s.nodes).padStart(10)} ${f(s.compute_s).padStart(11)} ${f(s.forwardSend_s, 5).padStart(11)} ${f(s.backwardSend_s, 5).padStart(11)} ${f(s.end_s).padStart(12)} ${f(s.dpAllreduce_s).padStart(15)} ${f(s.optimizerStep_s).padStart(12)}  ${s.memory_GiB.toFixed(2).padStart(9)} / ${s.memoryLimit_GiB.toFixed(2)}`);
  });
  lines.push(...memoryBreakdownLines(b.stages, { ...memory, microBatches: b.microBatches }));
  lines.push(
    `  pipeline (1F1B) time: ${f(b.pipeline_s)} s`,
    `  embedding sync: ${f(b.embeddingSync_s)} s`,
    `  step time: ${f(est.stepTime_s)} s   throughput: ${est.throughput.toFixed(3)} samples/s`,
    `  peak memory: ${est.oomGpumem_GiB.toFixed(2)} GiB   OOM: ${est.isOom ? 'yes' : 'no'}`,
    `  total: ${est.totalTime_s.toFixed(2)} s (${est.totalTime_h.toFixed(2)} h) for ${est.iterations} iterations, cost $${est.cost_usd.toFixed(2)}`,
    `  compute costs: ${b.costSource}`,
    `  MFU: ${Number.isFinite(est.mfu) ? `${(100 * est.mfu).toFixed(1)} %` : 'n/a (a GPU without a BF16 peak in the catalog)'}   tokens/s per GPU: ${est.tokensPerSecondPerGpu.toFixed(0)}`,
  );
  return lines.join('\n');
}

/** The plan's execution for the title; `chosen`: picked among the request's as the fastest that fits. */
function executionNote(plan: ResolvedPlan, chosen: boolean): string {
  const label = executionLabel(plan.execution ?? PLAIN_EXECUTION);
  return chosen ? `\n  execution: ${label} (the fastest of the searched executions that fits, as the search ranks it; fix one with --recompute, --dp-sharding, --shard-group, --virtual-stages, --[no-]sequence-parallel)` : label === 'plain' ? '' : `\n  execution: ${label}`;
}

/** `--exhaustive`: estimate the one plan the user names and print its full breakdown. */
export async function runExhaustive(io: CliIo, raw: RawSearchOptions, resolved: ResolvedSearchOptions, profiles: ProfileDb, estimator: Estimator): Promise<void> {
  const v = await askMissing(io, raw);
  const want = { mbs: intFlag(v.mbs, '--mbs'), tp: intFlag(v.tp, '--tp'), dp: intFlag(v.dp, '--dp'), pp: intFlag(v.pp, '--pp') };
  const req = resolved.request;
  const settings = { ...want, gbs: req.gbsValues[0]! };
  const one = { ...req, gbsValues: [settings.gbs], pareto: false };
  // several executions (the default space): each placement's fastest that fits, as the search ranks it
  const plans = (req.executions?.length ?? 0) > 1
    ? await resolveChosenPlans(one, resolved.catalog, profiles, estimator, settings)
    : await Promise.all(resolvePlans(one, resolved.catalog, profiles, settings).map(async (plan) => ({ plan, estimate: await estimator(plan) })));
  for (const { plan, estimate: est } of plans) {
    const memory = { virtualStages: plan.execution?.virtualStages ?? 1, oomMargin: POLICIES.get(req.estimator)!.oomMargin, nominal_GB: Object.fromEntries(plan.nodes.map((n) => [n.gpu.name, n.gpu.memory_GB])) };
    io.out(formatBreakdown(est, `Plan mbs=${want.mbs} tp=${want.tp} dp=${want.dp} pp=${want.pp} gbs=${settings.gbs} on [${plan.nodes.map((n) => n.gpu.name).join(', ')}] (${req.estimator} estimator, ${raw.ppPartitionMethod})${executionNote(plan, (req.executions?.length ?? 0) > 1)}`, memory));
  }
}
