import { createInterface } from 'node:readline/promises';
import { FasopError } from '../errors.js';
import type { Estimate } from '../estimate/plan.js';
import type { ProfileDb } from '../profiles/db.js';
import { profileTypeFor, searchEvents, type Estimator } from '../search/search.js';
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

export function formatBreakdown(est: Estimate, title: string): string {
  const b = est.breakdown;
  const lines = [
    title,
    `  partition (nodes per stage): [${est.partition.join(', ')}]` + (est.partitionLayers ? `   layers per stage: [${est.partitionLayers.join(', ')}]` : ''),
    `  micro-batches per step: ${b.microBatches}`,
    `  stage  gpu        nodes   compute_s  fwd_send_s  bwd_send_s   pipe_end_s  dp_allreduce_s  optimizer_s  memory_GiB / limit`,
  ];
  b.stages.forEach((s, i) => {
    lines.push(`  ${String(i).padStart(5)}  ${s.gpu.padEnd(9)} ${String(s.nodes).padStart(6)} ${f(s.compute_s).padStart(11)} ${f(s.forwardSend_s, 5).padStart(11)} ${f(s.backwardSend_s, 5).padStart(11)} ${f(s.end_s).padStart(12)} ${f(s.dpAllreduce_s).padStart(15)} ${f(s.optimizerStep_s).padStart(12)}  ${s.memory_GiB.toFixed(2).padStart(9)} / ${s.memoryLimit_GiB.toFixed(2)}`);
  });
  lines.push(
    `  pipeline (1F1B) time: ${f(b.pipeline_s)} s`,
    `  embedding sync: ${f(b.embeddingSync_s)} s`,
    `  step time: ${f(est.stepTime_s)} s   throughput: ${est.throughput.toFixed(3)} samples/s`,
    `  peak memory: ${est.oomGpumem_GiB.toFixed(2)} GiB   OOM: ${est.isOom ? 'yes' : 'no'}`,
    `  total: ${est.totalTime_s.toFixed(2)} s (${est.totalTime_h.toFixed(2)} h) for ${est.iterations} iterations, cost $${est.cost_usd.toFixed(2)}`,
    `  compute costs: ${b.costSource}`,
  );
  return lines.join('\n');
}

/** `--exhaustive`: estimate the one plan the user names and print its full breakdown. */
export async function runExhaustive(io: CliIo, raw: RawSearchOptions, resolved: ResolvedSearchOptions, profiles: ProfileDb, estimator: Estimator): Promise<void> {
  const v = await askMissing(io, raw);
  const want = { mbs: intFlag(v.mbs, '--mbs'), tp: intFlag(v.tp, '--tp'), dp: intFlag(v.dp, '--dp'), pp: intFlag(v.pp, '--pp') };
  const req = resolved.request;
  const gpusTotal = req.gpus.reduce((a, g) => a + g.nodes, 0) * req.gpusPerNode;
  const why: string[] = [];
  if (want.tp * want.dp * want.pp !== gpusTotal) why.push(`tp·dp·pp = ${want.tp * want.dp * want.pp} but the cluster has ${gpusTotal} GPUs`);
  if (req.gpusPerNode % want.tp !== 0) why.push(`tp ${want.tp} does not divide ${req.gpusPerNode} GPUs per node`);
  if (req.gbsValues[0]! % want.dp !== 0) why.push(`dp ${want.dp} does not divide gbs ${req.gbsValues[0]}`);
  else if ((req.gbsValues[0]! / want.dp) % want.mbs !== 0) why.push(`mbs ${want.mbs} does not divide gbs/dp = ${req.gbsValues[0]! / want.dp}`);
  if (want.pp > req.model.num_layers) why.push(`pp ${want.pp} exceeds the model's ${req.model.num_layers} layers`);
  for (const g of req.gpus) {
    const p = profileTypeFor(req, g.type);
    if (!profiles.has(req.model.name, p, want.tp)) why.push(`no profile ${req.model.name}_${p}_${want.tp}.npz`);
  }
  if (why.length) throw new FasopError(`plan mbs=${want.mbs} tp=${want.tp} dp=${want.dp} pp=${want.pp} is invalid for this cluster: ${why.join('; ')}`, 'choose degrees with tp·dp·pp = GPUs, tp | GPUs per node, dp | gbs, mbs | gbs/dp');

  const one = { ...req, gbsValues: [req.gbsValues[0]!], pareto: false };
  let shown = 0;
  const only = (s: { tp: number; dp: number; pp: number; mbs: number }) => s.tp === want.tp && s.dp === want.dp && s.pp === want.pp && s.mbs === want.mbs;
  let placement: string[] = [];
  for await (const ev of searchEvents(one, { catalog: resolved.catalog, profiles, estimator: (plan) => (only(plan) ? estimator(plan) : SKIP) })) {
    if (ev.type === 'placement') placement = ev.nodes;
    if (ev.type === 'result' && ev.estimate !== SKIP) {
      shown += 1;
      io.out(formatBreakdown(ev.estimate, `Plan mbs=${want.mbs} tp=${want.tp} dp=${want.dp} pp=${want.pp} gbs=${one.gbsValues[0]} on [${placement.join(', ')}] (${req.estimator} estimator, ${raw.ppPartitionMethod})`));
    }
  }
  if (shown === 0) throw new FasopError('the plan is not among the enumerated strategies', 'check the degrees against --gpus and --gpu-per-node');
}

const SKIP = {
  partition: [], partitionLayers: null, stepTime_s: 0, throughput: 0, pricePerStep_usd: 0, isOom: false, oomGpumem_GiB: 0,
  iterations: 0, totalTime_s: 0, totalTime_h: 0, cost_usd: 0,
  breakdown: { microBatches: 0, stages: [], pipeline_s: 0, embeddingSync_s: 0, costSource: '' },
} as Estimate;
