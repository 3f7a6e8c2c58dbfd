import { FasopError } from '../errors.js';
import { columnOfNode, layersPerStage, nodeCount } from '../model/graph.js';
import { optimusEvenPartition } from '../partition/even.js';
import { minmaxPartition, minmaxSearch } from '../partition/minmax.js';
import { simulate1F1B } from '../pipeline/onef1b.js';
import type { ProfileTable } from '../profiles/profile.js';
import { f32 } from './f32.js';
import type { Estimate, ResolvedPlan, StageBreakdown } from './plan.js';
import {
  nodeCostVector,
  referenceBoundaryCosts,
  referenceColumnCosts,
  referenceDpCosts,
  referenceEmbeddingCost,
  referenceMemoryNodes,
  referenceProfileRow,
  referenceStageLists,
  referenceStageMemory_GiB,
  stageGpuType,
} from './reference.js';

const OOM_MARGIN = f32(1.1);

/** Layer unit cost as the original's layer-level minmax sums it (float32 pairwise, SPEC A3). */
function layerUnitCost(c: number[]): number {
  const [, q, k, v, o, g, a, u, d] = c as [number, number, number, number, number, number, number, number, number];
  return f32(f32(f32(q + k) + f32(v + o)) + f32(f32(g + a) + f32(u + d)));
}

export interface PartitionOutcome {
  sizes: number[];
  partitionLayers: number[] | null;
  /** the sizes whose stage lists the original reports (its node-level minmax can leave them stale, SPEC Q15e) */
  listedSizes?: number[];
}

/**
 * The original's estimator (`--estimator reference`) for one resolved plan. Partition methods
 * other than minmax/even are passed in by the caller (they are exact solvers on our objective).
 */
export function estimateReference(
  plan: ResolvedPlan,
  externalPartition?: (ctx: ReferenceContext) => PartitionOutcome | Promise<PartitionOutcome>,
): Estimate | Promise<Estimate> {
  const ctx = referenceContext(plan);
  const { n } = ctx;
  let outcome: PartitionOutcome | Promise<PartitionOutcome>;
  if (plan.fixedPartition) outcome = checkedFixedPartition(plan.fixedPartition, plan.pp, n);
  else if (plan.partitionMethod === 'minmax') outcome = referenceMinmax(ctx);
  else if (plan.partitionMethod === 'even') {
    const r = optimusEvenPartition(n, plan.model.num_layers, plan.pp, plan.tp);
    outcome = { sizes: r.sizes, partitionLayers: r.partitionLayers };
  } else if (externalPartition) outcome = externalPartition(ctx);
  else throw new FasopError(`partition method '${plan.partitionMethod}' is not available here`, 'use minmax or even');
  return outcome instanceof Promise ? outcome.then((o) => finishReference(ctx, o)) : finishReference(ctx, outcome);
}

/** Everything after the partition: stage lists, 1F1B, DP and embedding costs, memory, outputs. */
function finishReference(ctx: ReferenceContext, outcome: PartitionOutcome): Estimate {
  const { plan, n, stageCosts, costC, m } = ctx;
  const { sizes } = outcome;
  const lists = referenceStageLists(outcome.listedSizes ?? sizes, stageCosts, costC, n);
  const { pp } = plan;
  let ends: number[];
  if (pp === 1) ends = [f32(m * f32(lists.comp[0]!))];
  else {
    ends = simulate1F1B(
      {
        forward_s: lists.comp.map((c) => c / 3),
        backward_s: lists.comp.map((c) => (2 * c) / 3),
        forwardSend_s: lists.forSend,
        backwardSend_s: lists.backSend,
      },
      m,
      { stage0SkipsOwnSend: true },
    );
  }
  const stageIsA100 = ctx.stageTypes.map((t) => t === 'A100');
  const dpCosts = referenceDpCosts(plan, sizes, stageIsA100);
  const emb = referenceEmbeddingCost(plan);
  const e2e = ends.map((e, s) => f32(f32(e) + dpCosts[s]!));
  const stepTime = f32(Math.max(...e2e) + f32(emb));

  const memory = referenceStageMemory_GiB(plan, sizes, m);
  let isOom = false;
  let reported = Math.max(...memory);
  const limits = memory.map((_, s) => Math.min(...referenceMemoryNodes(plan, s).map((i) => plan.nodes[i]!.gpu.memoryLimit_GiB)));
  memory.forEach((mem, s) => {
    const withMargin = f32(mem * OOM_MARGIN);
    if (withMargin > limits[s]!) {
      isOom = true;
      reported = withMargin;
    }
  });

  const stages: StageBreakdown[] = sizes.map((size, s) => ({
    gpu: ctx.stageTypes[s]!,
    nodes: size,
    compute_s: lists.comp[s]!,
    forwardSend_s: lists.forSend[s]!,
    backwardSend_s: lists.backSend[s]!,
    stageTime_s: lists.comp[s]! + lists.comm[s]!,
    end_s: ends[s]!,
    dpAllreduce_s: dpCosts[s]!,
    optimizerStep_s: 0,
    memory_GiB: memory[s]!,
    memoryLimit_GiB: limits[s]!,
  }));
  const throughput = stepTime > 0 ? plan.gbs / stepTime : 0;
  const pricePerStep = plan.pricePerSecond_usd * stepTime;
  return {
    partition: sizes,
    partitionLayers: outcome.partitionLayers,
    stepTime_s: stepTime,
    throughput,
    pricePerStep_usd: pricePerStep,
    isOom,
    oomGpumem_GiB: reported,
    iterations: plan.iterations,
    totalTime_s: stepTime * plan.iterations,
    totalTime_h: (stepTime * plan.iterations) / 3600,
    cost_usd: pricePerStep * plan.iterations,
    breakdown: {
      microBatches: m,
      stages,
      pipeline_s: ends[0]!,
      embeddingSync_s: emb,
      costSource: Object.entries(plan.profiles).map(([gpu, p]) => referenceCostSource(gpu, p, plan.mbs)).join('; '),
    },
  };
}

/**
 * How one GPU type's compute costs were obtained (the cost_source column): the profile row the
 * reference policy actually used (SPEC §3.3), saying so when it is not the plan's micro-batch.
 */
export function referenceCostSource(gpu: string, p: ProfileTable, mbs: number): string {
  const row = referenceProfileRow(mbs, p.forward_ms.length);
  const rowMbs = p.mbs[row] ?? 2 ** row;
  const how = rowMbs === mbs ? `row mbs=${rowMbs}`
    : rowMbs > mbs ? `row mbs=${rowMbs} for mbs ${mbs} (next larger row)`
      : `row mbs=${rowMbs} for mbs ${mbs} (clamped: beyond the profiled rows)`;
  const sub = p.gpu.toUpperCase() === gpu.toUpperCase() ? '' : ` SUBSTITUTED with the ${p.gpu} profile (--substitute-profile ${gpu}=${p.gpu})`;
  return `${gpu}${sub}: forward x3, ${how}`;
}

/** A caller-given partition, checked: pp positive stage sizes that cover the n nodes. */
export function checkedFixedPartition(sizes: readonly number[], pp: number, n: number): PartitionOutcome {
  if (sizes.length !== pp || sizes.some((x) => !Number.isInteger(x) || x < 1) || sizes.reduce((a, b) => a + b, 0) !== n) {
    throw new FasopError(`partition [${sizes.join(', ')}] is not ${pp} positive stage sizes summing to ${n} nodes`, 'give one node count per pipeline stage');
  }
  return { sizes: [...sizes], partitionLayers: layersPerStage(sizes) };
}

export interface ReferenceContext {
  plan: ResolvedPlan;
  n: number;
  m: number;
  stageTypes: string[];
  stageCosts: Float64Array[];
  columnCosts: Record<string, number[]>;
  /** costC[j][column]: seconds to send a node of that column across boundary j */
  costC: number[][];
}

export function referenceContext(plan: ResolvedPlan): ReferenceContext {
  const n = nodeCount(plan.model);
  const columnCosts: Record<string, number[]> = {};
  for (const [gpu, profile] of Object.entries(plan.profiles)) columnCosts[gpu] = referenceColumnCosts(profile, plan.mbs);
  const layerCost = (gpu: string) => {
    const c = columnCosts[gpu];
    if (!c) throw new FasopError(`no ${plan.model.name} profile for GPU ${gpu} at TP ${plan.tp}`, 'add the profile file or remove the GPU type from --gpus');
    return c.slice(1, 9).reduce((a, b) => a + b, 0);
  };
  const stageTypes = Array.from({ length: plan.pp }, (_, s) => stageGpuType(plan, s, layerCost));
  const vectors = new Map<string, Float64Array>();
  const stageCosts = stageTypes.map((t) => {
    if (!vectors.has(t)) vectors.set(t, nodeCostVector(columnCosts[t]!, n));
    return vectors.get(t)!;
  });
  const m = plan.gbs / (plan.dp * plan.mbs);
  if (!Number.isInteger(m) || m < 1) {
    throw new FasopError(`gbs ${plan.gbs} is not a multiple of dp·mbs = ${plan.dp * plan.mbs}`, 'choose gbs, dp and mbs so that gbs/(dp·mbs) is a whole number');
  }
  return { plan, n, m, stageTypes, stageCosts, columnCosts, costC: referenceBoundaryCosts(plan) };
}

/** minmax: node level for tp = 1, layer level (L + 2 units) for tp > 1 (SPEC §9.1). */
function referenceMinmax(ctx: ReferenceContext): PartitionOutcome {
  const { plan, n, stageCosts, costC, columnCosts, stageTypes } = ctx;
  const { pp, tp } = plan;
  if (tp === 1) {
    const times = new Array<number>(pp).fill(0);
    const { sizes, lastTimed } = minmaxSearch(n, pp, (sz) => {
      let a = 0;
      for (let s = 0; s < pp; s++) {
        const c = stageCosts[s]!;
        let acc = 0;
        for (let k = a; k < a + sz[s]!; k++) acc += c[k]!;
        times[s] = (pp > 1 && s > 0 && s < pp - 1 ? costC[s - 1]![columnOfNode(a, n)]! : 0) + acc;
        a += sz[s]!;
      }
      return times;
    });
    return { sizes, partitionLayers: null, listedSizes: lastTimed };
  }
  const L = plan.model.num_layers;
  const units = L + 2;
  const unitVectors = new Map<string, Float64Array>();
  const unitCosts = stageTypes.map((t) => {
    if (!unitVectors.has(t)) {
      const c = columnCosts[t]!;
      const v = new Float64Array(units).fill(layerUnitCost(c));
      v[0] = c[0]!;
      v[units - 1] = c[9]!;
      unitVectors.set(t, v);
    }
    return unitVectors.get(t)!;
  });
  const unitColumn = (u: number) => (u === 0 ? 0 : u === units - 1 ? 9 : 8);
  const unitSizes = minmaxPartition(units, pp, (sz) => {
    const times: number[] = [];
    let a = 0;
    for (let s = 0; s < pp; s++) {
      const c = unitCosts[s]!;
      let acc = 0;
      for (let u = a; u < a + sz[s]!; u++) acc += c[u]!;
      const comm = pp > 1 && s > 0 && s < pp - 1 ? costC[s - 1]![unitColumn(a)]! : 0;
      times.push(comm + acc);
      a += sz[s]!;
    }
    return times;
  });
  const partitionLayers = unitSizes.map((u, s) => u - (s === 0 ? 1 : 0) - (s === pp - 1 ? 1 : 0));
  const sizes = partitionLayers.map((l, s) => 8 * l + (s === 0 ? 1 : 0) + (s === pp - 1 ? 1 : 0));
  return { sizes, partitionLayers };
}

