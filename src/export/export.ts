import type { ModelSpec } from '../catalog/schema.js';
import { FasopError } from '../errors.js';
import type { Estimate, ResolvedPlan } from '../estimate/plan.js';
import type { Estimator } from '../search/search.js';
import { executionLabel, type Execution } from '../estimate/execution.js';
import { megatronArgs, shellQuote, type MegatronArgs } from './megatron.js';
import { checkExecution, executionOf, type ExecutionFields } from './plan-execution.js';
import { virtualStageLayers } from './virtual-stages.js';
import { placementReport, type PlacementReport } from './placement.js';
import { roundToLayers, stageLayerRanges, TIE_RULE, type BoundaryRounding } from '../model/layer-rounding.js';
import { moduleFqnsPerModelPart, torchtitanConfig, torchtitanToml, type TorchtitanConfig, type TorchtitanDpMode } from './torchtitan.js';

/**
 * What export needs of a plan: a PlanRecord (from search() or a results CSV) satisfies it. The
 * execution fields (cp, recompute, dp_sharding, …) are optional: absent ones mean the plain execution.
 */
export interface ExportablePlan extends ExecutionFields {
  gbs: number;
  mbs: number;
  tp: number;
  dp: number;
  pp: number;
  /** the plan's partition: graph operators per stage (of the 8L+2 operators of model/graph.ts) */
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
  /** torchtitan data parallelism: undefined follows the plan's dp_sharding; replicate/shard force DDP/FSDP2 */
  torchtitanDp?: TorchtitanDpMode;
  /** the training recipe the plan was priced with (estimate/recipe.ts name); shapes the precision arguments */
  recipe?: string;
  /** where the plan came from, echoed in the output */
  source?: Record<string, unknown>;
  /** why no plan or estimator is given (reported instead of a re-estimate) */
  unavailable?: string;
}

/** One stage boundary of the rounding, in graph operators (see model/layer-rounding.ts). */
export interface OperatorBoundary {
  /** boundary between stage `boundary` and stage `boundary + 1` */
  boundary: number;
  /** first operator of the later stage in the plan's partition */
  fromOperator: number;
  /** first operator of the later stage after rounding (= 1 + 8·layer) */
  toOperator: number;
  /** first decoder layer of the later stage after rounding */
  layer: number;
  how: BoundaryRounding['how'];
}

export interface RoundingReport {
  /** graph operators per stage: the plan's, and after rounding */
  from: number[];
  to: number[];
  boundaries: OperatorBoundary[];
  rule: string;
  /** the plan's step time as recorded (search result or CSV) */
  recordedStepTime_s: number;
  /** the plan's own partition re-estimated as a fixed partition (same flags), when available */
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
    gbs: number; mbs: number; tp: number; dp: number; pp: number; cp: number;
    microBatches: number;
    /** how the plan executes (estimate/execution.ts), with its short label */
    execution: Execution & { label: string };
    recipe?: string;
    gpusPerNode: number;
    nodes: number;
    worldSize: number;
    cluster: string;
    placement: string[];
    /** graph operators per stage of the plan's partition */
    operatorPartition: number[];
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
    /** graph operators per stage of the layer partition */
    operatorPartition: number[];
    /** the plan's partition already cut only between layers (no rounding) */
    exact: boolean;
    /** the layer partition re-estimated as a fixed partition with the plan's flags (null: see reestimateError) */
    stepTime_s: number | null;
    isOom: boolean | null;
    reestimateError?: string;
    virtualStages: number;
    /** decoder layers of each model chunk in model order (pp·v; chunk i runs on pipeline rank i mod pp) */
    chunkLayers: number[];
  };
  rounding: RoundingReport | null;
  /** null when Megatron-LM cannot run the plan (refused.megatron says why) */
  megatron: (MegatronArgs & { launch: string }) | null;
  /** null when torchtitan cannot run the plan (refused.torchtitan says why) */
  torchtitan: (TorchtitanConfig & { module_fqns_per_model_part: string[][]; toml: string }) | null;
  refused: { megatron?: Refusal; torchtitan?: Refusal };
  placement: PlacementReport;
  /** the validation harness's arguments; unsupported: techniques of the plan it does not run (it then runs the plain plan) */
  validation: { args: string[]; command: string; unsupported: string[] };
  warnings: string[];
}

/** Why a launcher cannot run the plan: the FasopError's message and fix. */
export interface Refusal { message: string; hint: string }

const pct = (after: number, before: number) => ((after - before) / before) * 100;

/** The launcher's settings, or why it refuses the plan (user errors only; anything else is a bug). */
function attempt<T>(make: () => T): { value: T | null; refusal?: Refusal } {
  try {
    return { value: make() };
  } catch (err) {
    if (!(err instanceof FasopError)) throw err;
    return { value: null, refusal: { message: err.message, hint: err.hint } };
  }
}

/** Techniques of the plan that validation/train_step.py does not run. */
function harnessUnsupported(e: Execution): string[] {
  const out: string[] = [];
  if (e.recomputeLayers !== undefined) out.push(`full recompute of ${e.recomputeLayers} layers per stage (the harness recomputes every layer or none)`);
  if (e.dpSharding !== 'none') out.push(`dp sharding '${e.dpSharding}'`);
  if (e.sequenceParallel) out.push('sequence parallelism');
  if (e.virtualStages > 1) out.push(`${e.virtualStages} virtual stages`);
  if (e.cp > 1) out.push(`context parallelism ${e.cp}`);
  return out;
}

/** A launcher's fix without its alternatives that switch --format (the other launcher refuses the plan too). */
function planFix(hint: string): string {
  const kept = hint.split(/, or /).filter((alt) => !/--format\b/.test(alt));
  return kept.length ? kept.join(', or ') : 'use a plan that fasop search enumerated for this launcher';
}

/** The step time a re-estimate gives against the recorded one: a warning when they differ. */
function reestimateMismatch(what: string, got: number, recorded: number): string | null {
  if (!Number.isFinite(recorded) || Math.abs(got - recorded) <= 1e-9 * Math.max(1, recorded)) return null;
  return `re-estimating ${what} gives ${got} s, not the recorded ${recorded} s (different flags than the search, or the original's minmax quirk Q15)`;
}

/**
 * Turn a plan into launcher arguments: the layer partition (the plan's own when it cuts only
 * between layers, as every fasop-estimator plan does; else rounded to whole layers), re-estimated
 * as exported, Megatron-LM arguments with the
 * `--pipeline-model-parallel-layout`, torchtitan `[parallelism]`/`[training]` settings with
 * `module_fqns_per_model_part`, the node-rank order that realises the placement, and the
 * validation harness's arguments.
 */
export async function exportPlan(p: ExportablePlan, opts: ExportOptions): Promise<ExportResult> {
  const { model, gpusPerNode } = opts;
  const L = model.num_layers;
  const warnings: string[] = [];
  const e = executionOf(p);
  const worldSize = p.tp * e.cp * p.dp * p.pp;
  if (worldSize !== p.placement.length * gpusPerNode) {
    throw new FasopError(`tp·cp·dp·pp = ${worldSize} GPUs but the placement has ${p.placement.length} nodes × ${gpusPerNode} GPUs per node`,
      'pass the --gpu-per-node the plan was searched with');
  }
  if (p.partition.reduce((a, b) => a + b, 0) !== 8 * L + 2) {
    throw new FasopError(`the plan's partition covers ${p.partition.reduce((a, b) => a + b, 0)} graph operators but ${model.name} has 8·${L}+2 = ${8 * L + 2}`,
      'pass the --model-type (or --model-config) the plan was searched with');
  }
  const microBatches = p.gbs / (p.dp * p.mbs);
  checkExecution(e, { tp: p.tp, dp: p.dp, pp: p.pp, microBatches, numLayers: L, seqLength: model.seq_length });
  const lp = roundToLayers(p.partition, L);
  const chunkLayers = virtualStageLayers(lp.layersPerStage, e.virtualStages);
  let rounding: RoundingReport | null = null;
  let exported: Estimate | null = null;
  let reestimateError: string | undefined;
  const reestimate = (fixedPartition: number[]) => opts.estimator!({ ...opts.plan!, fixedPartition });
  if (!lp.exact) {
    rounding = {
      from: [...p.partition], to: lp.nodePartition,
      boundaries: lp.boundaries.map((b) => ({ boundary: b.boundary, fromOperator: b.fromNode, toOperator: b.toNode, layer: b.layer, how: b.how })),
      rule: TIE_RULE, recordedStepTime_s: p.step_time, stepTimeBefore_s: null, stepTimeAfter_s: null, changePct: null, isOomAfter: null,
    };
  }
  if (opts.plan && opts.estimator) {
    try {
      exported = await reestimate(lp.nodePartition);
      if (rounding) {
        const before: Estimate = await reestimate([...p.partition]);
        rounding.stepTimeBefore_s = before.stepTime_s;
        rounding.stepTimeAfter_s = exported.stepTime_s;
        rounding.changePct = pct(exported.stepTime_s, before.stepTime_s);
        rounding.isOomAfter = exported.isOom;
        const w = reestimateMismatch("the plan's own partition", before.stepTime_s, p.step_time);
        if (w) warnings.push(`${w}; the % change compares the two re-estimates`);
        if (exported.isOom && !p.is_oom) warnings.push('the rounded partition runs out of memory on some stage (estimate)');
      } else {
        const w = reestimateMismatch('the exported partition', exported.stepTime_s, p.step_time);
        if (w) warnings.push(w);
      }
    } catch (err) {
      if (!(err instanceof FasopError)) throw err;
      exported = null;
      reestimateError = err.message;
    }
  } else reestimateError = opts.unavailable ?? 'no resolved plan to re-estimate (pass the search flags and --profile-dir, or call exportPlan with plan and estimator)';
  if (rounding && reestimateError !== undefined) rounding.reestimateError = reestimateError;
  if (p.is_oom) warnings.push(`fasop estimates this plan runs out of GPU memory (is_oom); it will likely fail to launch`);
  if (model.architecture !== 'llama') warnings.push(`torchtitan module names are LLaMA's (tok_embeddings, layers.i, norm, output); ${model.name} is a ${model.architecture} model`);
  if (p.pp > 1 && e.virtualStages === 1 && microBatches < p.pp) {
    // torch.distributed.pipelining's Schedule1F1B raises "1F1B requires at least one microbatch per
    // stage"; the validation harness's pp 4 run with 2 micro-batches crashed (docs/accuracy.md)
    warnings.push(`torchtitan: ${microBatches} micro-batch${microBatches === 1 ? '' : 'es'} per step for ${p.pp} pipeline stages; PyTorch's Schedule1F1B refuses fewer micro-batches than stages — raise gbs or lower mbs to at least ${p.pp} micro-batches (Megatron-LM's 1F1B runs it)`);
  }
  const degrees = { tp: p.tp, dp: p.dp, pp: p.pp, mbs: p.mbs, gbs: p.gbs };
  const nodes = p.placement.length;
  const mg = attempt(() => megatronArgs({ ...degrees, cp: e.cp }, L, chunkLayers, { execution: e, model, recipe: opts.recipe }));
  const tt = attempt(() => torchtitanConfig(degrees, chunkLayers, opts.torchtitanDp, { execution: e, seqLength: model.seq_length, recipe: opts.recipe }));
  if (!mg.value && !tt.value) {
    // each launcher's fix may point at the other launcher (--format ...), which refuses the plan too
    throw new FasopError(`neither launcher can run the plan: Megatron-LM: ${mg.refusal!.message}; torchtitan: ${tt.refusal!.message}`,
      `for Megatron-LM: ${planFix(mg.refusal!.hint)}; for torchtitan: ${planFix(tt.refusal!.hint)}`);
  }
  const ttp = tt.value?.parallelism;
  if (ttp && ttp.data_parallel_replicate_degree > 1 && ttp.data_parallel_shard_degree === 1 && e.cp === 1 && (p.tp > 1 || p.pp > 1)) {
    warnings.push("torchtitan: DDP (data_parallel_replicate_degree) with TP or PP is refused by torchtitan versions that raise 'DDP has not supported > 1D parallelism'; if yours does, export with --torchtitan-dp shard (FSDP: fasop's DP all-reduce estimate then only approximates its reduce-scatter/all-gather)");
  }
  const torchrun = nodes === 1
    ? `torchrun --standalone --nproc-per-node ${gpusPerNode}`
    : `torchrun --nnodes ${nodes} --nproc-per-node ${gpusPerNode} --node-rank <i> --master-addr <host> --master-port <port>`;
  const megatron = mg.value ? { ...mg.value, launch: [...Object.entries(mg.value.env).map(([k, v]) => `${k}=${v}`), torchrun].join(' ') } : null;
  const stageFqns = moduleFqnsPerModelPart(lp.layersPerStage);
  const torchtitan = tt.value ? { ...tt.value, module_fqns_per_model_part: tt.value.parallelism.module_fqns_per_model_part ?? stageFqns, toml: torchtitanToml(tt.value) } : null;
  const place = placementReport({ ...degrees, cp: e.cp }, p.placement, gpusPerNode);
  const unsupported = harnessUnsupported(e);
  const harnessRecompute = e.recompute !== 'none' && e.recomputeLayers === undefined ? ['--recompute', e.recompute] : [];
  const vArgs = ['--tp', String(p.tp), '--pp', String(p.pp), '--dp', String(p.dp), '--mbs', String(p.mbs), '--gbs', String(p.gbs), '--layers', String(L), ...harnessRecompute, '--module-fqns', JSON.stringify(stageFqns)];
  // the harness runs tp·dp·pp ranks (no cp)
  const harnessWorld = p.tp * p.dp * p.pp;
  const harnessNodes = harnessWorld / gpusPerNode;
  const runner = harnessWorld <= gpusPerNode || !Number.isInteger(harnessNodes)
    ? `torchrun --standalone --nproc_per_node ${harnessWorld}`
    : `torchrun --nnodes ${harnessNodes} --nproc_per_node ${gpusPerNode} --node_rank <i> --rdzv_backend c10d --rdzv_endpoint <host:port>`;
  return {
    plan: {
      model: model.name, numLayers: L, ...degrees, cp: e.cp, microBatches, execution: { ...e, label: executionLabel(e) }, ...(opts.recipe ? { recipe: opts.recipe } : {}),
      gpusPerNode, nodes, worldSize,
      cluster: p.gpu_cluster_str, placement: [...p.placement], operatorPartition: [...p.partition], stepTime_s: p.step_time, isOom: p.is_oom,
      ...(p.estimator ? { estimator: p.estimator } : {}), ...(p.partition_method ? { partitionMethod: p.partition_method } : {}),
      ...(opts.source ? { source: opts.source } : {}),
    },
    layerPartition: {
      layersPerStage: lp.layersPerStage, stageLayers: stageLayerRanges(lp.layersPerStage), operatorPartition: lp.nodePartition, exact: lp.exact,
      stepTime_s: exported ? exported.stepTime_s : null, isOom: exported ? exported.isOom : null, ...(reestimateError !== undefined ? { reestimateError } : {}),
      virtualStages: e.virtualStages, chunkLayers,
    },
    rounding,
    megatron,
    torchtitan,
    refused: { ...(mg.refusal ? { megatron: mg.refusal } : {}), ...(tt.refusal ? { torchtitan: tt.refusal } : {}) },
    placement: place,
    validation: { args: vArgs, command: `${runner} validation/train_step.py ${vArgs.map(shellQuote).join(' ')}`, unsupported },
    warnings,
  };
}
