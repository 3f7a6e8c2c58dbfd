import type { ModelSpec } from '../catalog/schema.js';
import { FasopError } from '../errors.js';
import type { Estimate, ResolvedPlan } from '../estimate/plan.js';
import type { Estimator } from '../search/search.js';
import { megatronArgs, shellQuote, type MegatronArgs } from './megatron.js';
import { placementReport, type PlacementReport } from './placement.js';
import { roundToLayers, stageLayerRanges, TIE_RULE, type BoundaryRounding } from '../model/layer-rounding.js';
import { torchtitanConfig, torchtitanToml, type TorchtitanConfig, type TorchtitanDpMode } from './torchtitan.js';

/** What export needs of a plan: a PlanRecord (from search() or a results CSV) satisfies it. */
export interface ExportablePlan {
  gbs: number;
  mbs: number;
  tp: number;
  dp: number;
  pp: number;
  /** fasop's node partition (nodes of the 8L+2-node graph per stage) */
  partition: number[];
  /** GPU type of each node in placement order */
  placement: string[];
  gpu_cluster_str: string;
  step_time: number;
  is_oom: boolean;
  estimator?: string;
  partition_method?: string;
}

export interface ExportOptions {
  model: ModelSpec;
  gpusPerNode: number;
  /** the resolved plan, to re-estimate a rounded partition (see resolvePlans) */
  plan?: ResolvedPlan;
  estimator?: Estimator;
  torchtitanDp?: TorchtitanDpMode;
  /** where the plan came from, echoed in the output */
  source?: Record<string, unknown>;
}

export interface RoundingReport {
  from: number[];
  to: number[];
  boundaries: BoundaryRounding[];
  rule: string;
  /** the plan's step time as recorded (search result or CSV) */
  recordedStepTime_s: number;
  /** fasop's partition re-estimated as a fixed partition (same flags), when available */
  stepTimeBefore_s: number | null;
  /** the rounded partition re-estimated */
  stepTimeAfter_s: number | null;
  /** (after − before) / before × 100 */
  changePct: number | null;
  isOomAfter: boolean | null;
  /** why no re-estimate is given */
  reestimateError?: string;
}

export interface ExportResult {
  plan: {
    model: string;
    numLayers: number;
    gbs: number; mbs: number; tp: number; dp: number; pp: number;
    microBatches: number;
    gpusPerNode: number;
    nodes: number;
    worldSize: number;
    cluster: string;
    placement: string[];
    nodePartition: number[];
    stepTime_s: number;
    isOom: boolean;
    estimator?: string;
    partitionMethod?: string;
    source?: Record<string, unknown>;
  };
  layerPartition: {
    layersPerStage: number[];
    /** first and last decoder layer of each stage */
    stageLayers: Array<[number, number]>;
    nodePartition: number[];
    exact: boolean;
  };
  rounding: RoundingReport | null;
  megatron: MegatronArgs & { launch: string };
  torchtitan: TorchtitanConfig & { module_fqns_per_model_part: string[][]; toml: string };
  placement: PlacementReport;
  validation: { args: string[]; command: string };
  warnings: string[];
}

const pct = (after: number, before: number) => ((after - before) / before) * 100;

/**
 * Turn a plan into launcher arguments: the layer partition (rounded to whole layers when fasop's
 * node partition cuts inside a layer, and then re-estimated), Megatron-LM arguments with the
 * `--pipeline-model-parallel-layout`, torchtitan `[parallelism]`/`[training]` settings with
 * `module_fqns_per_model_part`, the node-rank order that realises the placement, and the
 * validation harness's arguments.
 */
export async function exportPlan(p: ExportablePlan, opts: ExportOptions): Promise<ExportResult> {
  const { model, gpusPerNode } = opts;
  const L = model.num_layers;
  const warnings: string[] = [];
  const worldSize = p.tp * p.dp * p.pp;
  if (worldSize !== p.placement.length * gpusPerNode) {
    throw new FasopError(`tp·dp·pp = ${worldSize} GPUs but the placement has ${p.placement.length} nodes × ${gpusPerNode} GPUs per node`,
      'pass the --gpu-per-node the plan was searched with');
  }
  if (p.partition.reduce((a, b) => a + b, 0) !== 8 * L + 2) {
    throw new FasopError(`the plan's partition covers ${p.partition.reduce((a, b) => a + b, 0)} nodes but ${model.name} has 8·${L}+2 = ${8 * L + 2}`,
      'pass the --model-type (or --model-config) the plan was searched with');
  }
  const lp = roundToLayers(p.partition, L);
  let rounding: RoundingReport | null = null;
  if (!lp.exact) {
    rounding = {
      from: [...p.partition], to: lp.nodePartition, boundaries: lp.boundaries, rule: TIE_RULE,
      recordedStepTime_s: p.step_time, stepTimeBefore_s: null, stepTimeAfter_s: null, changePct: null, isOomAfter: null,
    };
    if (opts.plan && opts.estimator) {
      try {
        const before: Estimate = await opts.estimator({ ...opts.plan, fixedPartition: [...p.partition] });
        const after: Estimate = await opts.estimator({ ...opts.plan, fixedPartition: lp.nodePartition });
        rounding.stepTimeBefore_s = before.stepTime_s;
        rounding.stepTimeAfter_s = after.stepTime_s;
        rounding.changePct = pct(after.stepTime_s, before.stepTime_s);
        rounding.isOomAfter = after.isOom;
        if (Number.isFinite(p.step_time) && Math.abs(before.stepTime_s - p.step_time) > 1e-9 * Math.max(1, p.step_time)) {
          warnings.push(`re-estimating fasop's own partition gives ${before.stepTime_s} s, not the recorded ${p.step_time} s (different flags than the search, or the minmax quirk Q15); the % change compares the two re-estimates`);
        }
        if (after.isOom && !p.is_oom) warnings.push('the rounded partition runs out of memory on some stage (estimate)');
      } catch (err) {
        rounding.reestimateError = (err as Error).message;
      }
    } else rounding.reestimateError = 'no resolved plan to re-estimate (pass the search flags and --profile-dir, or call exportPlan with plan and estimator)';
  }
  if (p.is_oom) warnings.push(`fasop estimates this plan runs out of GPU memory (is_oom); it will likely fail to launch`);
  if (model.architecture !== 'llama') warnings.push(`torchtitan module names are LLaMA's (tok_embeddings, layers.i, norm, output); ${model.name} is a ${model.architecture} model`);
  const dpMode = opts.torchtitanDp ?? 'replicate';
  if (dpMode === 'replicate' && p.dp > 1 && (p.tp > 1 || p.pp > 1)) {
    warnings.push("torchtitan: DDP (data_parallel_replicate_degree) with TP or PP is refused by torchtitan versions that raise 'DDP has not supported > 1D parallelism'; if yours does, export with --torchtitan-dp shard (FSDP: fasop's DP all-reduce estimate then only approximates its reduce-scatter/all-gather)");
  }
  const microBatches = p.gbs / (p.dp * p.mbs);
  if (p.pp > 1 && microBatches < p.pp) {
    // torch.distributed.pipelining's Schedule1F1B raises "1F1B requires at least one microbatch per
    // stage"; the validation harness's pp 4 run with 2 micro-batches crashed (docs/accuracy.md)
    warnings.push(`torchtitan: ${microBatches} micro-batch${microBatches === 1 ? '' : 'es'} per step for ${p.pp} pipeline stages; PyTorch's Schedule1F1B refuses fewer micro-batches than stages — raise gbs or lower mbs to at least ${p.pp} micro-batches (Megatron-LM's 1F1B runs it)`);
  }
  const degrees = { tp: p.tp, dp: p.dp, pp: p.pp, mbs: p.mbs, gbs: p.gbs };
  const mg = megatronArgs(degrees, L, lp.layersPerStage);
  const nodes = p.placement.length;
  const launch = nodes === 1
    ? `torchrun --standalone --nproc-per-node ${gpusPerNode}`
    : `torchrun --nnodes ${nodes} --nproc-per-node ${gpusPerNode} --node-rank <i> --master-addr <host> --master-port <port>`;
  const tt = torchtitanConfig(degrees, lp.layersPerStage, dpMode);
  const fqns = tt.parallelism.module_fqns_per_model_part ?? [['tok_embeddings', ...Array.from({ length: L }, (_, i) => `layers.${i}`), 'norm', 'output']];
  const place = placementReport(degrees, p.placement, gpusPerNode);
  const vArgs = ['--tp', String(p.tp), '--pp', String(p.pp), '--dp', String(p.dp), '--mbs', String(p.mbs), '--gbs', String(p.gbs), '--layers', String(L), '--module-fqns', JSON.stringify(fqns)];
  const runner = nodes === 1 ? `torchrun --standalone --nproc_per_node ${worldSize}` : `torchrun --nnodes ${nodes} --nproc_per_node ${gpusPerNode} --node_rank <i> --rdzv_backend c10d --rdzv_endpoint <host:port>`;
  return {
    plan: {
      model: model.name, numLayers: L, ...degrees, microBatches, gpusPerNode, nodes, worldSize,
      cluster: p.gpu_cluster_str, placement: [...p.placement], nodePartition: [...p.partition], stepTime_s: p.step_time, isOom: p.is_oom,
      ...(p.estimator ? { estimator: p.estimator } : {}), ...(p.partition_method ? { partitionMethod: p.partition_method } : {}),
      ...(opts.source ? { source: opts.source } : {}),
    },
    layerPartition: { layersPerStage: lp.layersPerStage, stageLayers: stageLayerRanges(lp.layersPerStage), nodePartition: lp.nodePartition, exact: lp.exact },
    rounding,
    megatron: { ...mg, launch },
    torchtitan: { ...tt, module_fqns_per_model_part: fqns, toml: torchtitanToml(tt) },
    placement: place,
    validation: { args: vArgs, command: `${runner} validation/train_step.py ${vArgs.map(shellQuote).join(' ')}` },
    warnings,
  };
}
