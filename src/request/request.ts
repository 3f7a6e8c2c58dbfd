/**
 * A search request, fully typed: what the CLI's flags and the web form's JSON both resolve to
 * (options.ts), and what the plan resolver and the search read.
 */
import type { DatasetSpec, ModelSpec } from '../catalog/schema.js';
import { FasopError } from '../errors.js';
import type { PartitionMethod } from '../estimate/plan.js';
import type { RequestExecution } from '../estimate/execution.js';
import type { TrainingRecipe } from '../estimate/recipe.js';
import type { NodeGroup } from './cluster.js';

export type EstimatorName = 'reference' | 'fasop';

export interface SearchRequest {
  /** the cluster: node groups in CLI order */
  gpus: NodeGroup[];
  model: ModelSpec;
  dataset: DatasetSpec;
  /** global batch sizes to search (one, or the `--pareto-gbs-max` sweep) */
  gbsValues: number[];
  gpusPerNode: number;
  /** bits per element of the embedding sync */
  precision: number;
  partitionMethod: PartitionMethod;
  estimator: EstimatorName;
  /** search every sub-cluster with the `_pareto` catalog variants */
  pareto: boolean;
  /** how the model is trained (the corrected estimator's memory and optimizer terms); default megatron-mixed */
  recipe?: TrainingRecipe;
  /**
   * GPU type → the type whose measured files it is derived from (`--substitute-profile A100=A40`;
   * under the reference estimator, costed with unscaled, as the original does). Only what the user
   * asks for. Such plans say so in cost_source.
   */
  profileSubstitutes?: Record<string, string>;
  /**
   * The executions the search tries for every strategy (`--recompute none,full`, `--dp-sharding`,
   * `--sequence-parallel`, `--virtual-stages 1,2`, `--cp 1,2`: their cross product); in a plan where a technique
   * is a no-op (sequence parallelism at tp 1, sharding at dp 1) it runs without it, and its columns say
   * so. A shard group of `node` is resolved per plan (planExecution). Undefined: plain only.
   */
  executions?: RequestExecution[];
  /**
   * One result per execution of each strategy, every one timed. Otherwise (several executions) one
   * result per strategy: its fastest execution that fits, and plans that cannot fit are not timed.
   */
  eachExecution?: boolean;
  /**
   * Where an execution with full recompute is searched without a layer count, also its partial
   * forms (Megatron's `--recompute-method block --recompute-num-layers`): the fewest recomputed
   * layers per stage that fit, which is the fastest of them (per strategy, not with eachExecution).
   * Set for the Megatron recipes: torchtitan recomputes every k-th block instead, which is not this.
   */
  fewestRecomputeLayers?: boolean;
}

/** The GPU type whose profiles cost `type` in this request (itself unless substituted). */
export function profileTypeFor(req: Pick<SearchRequest, 'profileSubstitutes'>, type: string): string {
  const subs = req.profileSubstitutes;
  return subs && Object.hasOwn(subs, type) ? subs[type]! : type;
}

/**
 * How GPU type `type` is costed: the GPU whose cost table prices it and the measured GPU that table
 * is derived from. A substitute is derived from by the roofline; under the reference estimator its
 * files cost `type` unscaled, as the original does.
 */
export function costingFor(req: Pick<SearchRequest, 'profileSubstitutes' | 'estimator'>, type: string): { gpu: string; from?: string } {
  const p = profileTypeFor(req, type);
  if (p === type) return { gpu: type };
  return req.estimator === 'reference' ? { gpu: p } : { gpu: type, from: p };
}

/** The checks every request passes before any work, whoever built it. */
export function validateRequest(req: SearchRequest): void {
  const pos = (x: number) => Number.isSafeInteger(x) && x >= 1;
  if (!req.gbsValues.length || !req.gbsValues.every(pos)) {
    throw new FasopError(`global batch size must be a whole number >= 1, got ${req.gbsValues.join(', ')}`, 'pass e.g. --gbs 32');
  }
  if (!pos(req.gpusPerNode) || req.gpusPerNode > 64) {
    throw new FasopError(`--gpu-per-node must be a whole number from 1 to 64, got ${req.gpusPerNode}`, 'pass the GPUs of one node, e.g. --gpu-per-node 8');
  }
  if (req.precision !== 16 && req.precision !== 32) throw new FasopError(`--precision must be 16 or 32, got ${req.precision}`, 'pass --precision 16 or --precision 32');
}
