/**
 * Estimator policies as data: the original FASOP's behaviour (`REFERENCE`) and the corrected model
 * (`FASOP`) are two records of the same fields, read by the one estimator (estimate.ts). Every
 * difference between them is one field here, documented row by row in docs/estimator.md.
 */

export interface EstimatorPolicy {
  /** the name written to the CSV's `estimator` column */
  name: string;
  /** 'float32': the original's float32 rounding points (SPEC Appendix A); 'float64': none */
  rounding: 'float32' | 'float64';
  /** a micro-batch without a profiled row: the 'next-larger-row' (clamped) or 'interpolate' (and extrapolate, flagged) */
  microBatchRow: 'next-larger-row' | 'interpolate';
  /** backward time: 'twice-forward' (the original's 3 × forward) or 'measured' where the profile has it */
  backward: 'twice-forward' | 'measured';
  /** fold the profiled extra operators (attention core, norms, RoPE, residuals, loss) into their nodes */
  extraOperators: boolean;
  /** add the TP all-reduces to profiles measured on one TP shard (the original's files hold them already) */
  tpAllreduce: boolean;
  /** FFN width and K/V width: the original's '4h-mha' or the 'model' config's intermediate size and KV heads */
  widths: '4h-mha' | 'model';
  /** pipeline boundaries priced: the original's 'first-and-last' sends, or 'every-boundary' */
  boundaries: 'first-and-last' | 'every-boundary';
  /** link model: the original's 'bandwidth-only' figures (with its divisors), or 'alpha-beta' with measured samples */
  links: 'bandwidth-only' | 'alpha-beta';
  /** stage 0 starts its backward without waiting for its own forward send (the original, SPEC Q20) */
  stage0SkipsOwnSend: boolean;
  /** the 1F1B steady state: 'simulated' step by step (the original), or 'extended' once it repeats (pipeline/onef1b.ts) */
  pipelineSteadyState: 'simulated' | 'extended';
  /** DP all-reduce: 'stage0-params' charged to every stage (the original) or 'per-stage' own parameters and ring */
  dpAllreduce: 'stage0-params' | 'per-stage';
  /** DP all-reduce overlapped with the last backward where the recipe's runtime does (DDP buckets) */
  dpOverlap: boolean;
  /** embedding/LM-head sync: 'whenever-pipelined' (the original) or 'tied-only' */
  embeddingSync: 'whenever-pipelined' | 'tied-only';
  /** memory: the original's 'elements' (18 B/param + activations in elements) or 'bytes' from the recipe */
  memory: 'elements' | 'bytes';
  /** which GPUs' limit a stage is held to: the original's 'node-formula' or the 'hosting-nodes' */
  memoryLimit: 'node-formula' | 'hosting-nodes';
  /** factor on a stage's memory before the limit check (the original: 1.1) */
  oomMargin: number;
  /** oom_gpumem: the 'last-oom-stage-with-margin' when a stage is out of memory (the original), or always the 'max-stage' */
  oomReported: 'last-oom-stage-with-margin' | 'max-stage';
  /** partition_layers: as the 'method' reports them (the original: none for node-level minmax) or 'whole-layers' of the partition */
  partitionLayers: 'method' | 'whole-layers';
  /** the optimizer step's pass over HBM and gradient accumulation are part of the step */
  optimizerStep: boolean;
  /** a micro-batch takes at least the CPU's time to issue it (recipes with measured host figures) */
  hostIssueFloor: boolean;
  /** what a stage boundary may cut between: any two graph operators ('operator', the original) or only whole decoder layers ('layer', as Megatron-LM and torchtitan run) */
  partitionUnit: 'operator' | 'layer';
  /** minmax's units under partitionUnit 'operator': 'layers-when-tp' (node level for tp 1, layer level otherwise: the original) or 'nodes' */
  minmaxUnits: 'layers-when-tp' | 'nodes';
  /** report the stage lists of minmax's last timed partition, stale after its edge move (SPEC Q15e) */
  minmaxStaleLists: boolean;
  /** for the exact partition methods, also simulate the minmax partition and keep the faster */
  simulatedCandidates: boolean;
  /**
   * minmax's partition, where it loads a stage past its GPU's memory: 'as-is' (the original: the plan
   * is out of memory) or 'within-memory' (the fastest whole-layer partition whose every stage fits;
   * memory-caps.ts). Needs the byte model, limits of the hosting nodes and whole-layer units.
   */
  minmaxMemory: 'as-is' | 'within-memory';
  /** context parallelism: 'unpriced' (cp > 1 refused) or 'ring-p2p' (ring attention, K/V passed on beside each attention step) */
  contextParallel: 'unpriced' | 'ring-p2p';
  /** hybrid sharding (FSDP over shard groups smaller than dp): on the 'whole-group' ring, the replica all-reduce as its all-reduce / Z, or on each group's 'own-rings' */
  hybridSharding: 'whole-group' | 'own-rings';
}

export const REFERENCE: EstimatorPolicy = Object.freeze({
  name: 'reference',
  rounding: 'float32',
  microBatchRow: 'next-larger-row',
  backward: 'twice-forward',
  extraOperators: false,
  tpAllreduce: false,
  widths: '4h-mha',
  boundaries: 'first-and-last',
  links: 'bandwidth-only',
  stage0SkipsOwnSend: true,
  pipelineSteadyState: 'simulated',
  dpAllreduce: 'stage0-params',
  dpOverlap: false,
  embeddingSync: 'whenever-pipelined',
  memory: 'elements',
  memoryLimit: 'node-formula',
  oomMargin: 1.1,
  oomReported: 'last-oom-stage-with-margin',
  partitionLayers: 'method',
  optimizerStep: false,
  hostIssueFloor: false,
  partitionUnit: 'operator',
  minmaxUnits: 'layers-when-tp',
  minmaxStaleLists: true,
  simulatedCandidates: false,
  minmaxMemory: 'as-is',
  contextParallel: 'unpriced',
  hybridSharding: 'whole-group',
});

export const FASOP: EstimatorPolicy = Object.freeze({
  name: 'fasop',
  rounding: 'float64',
  microBatchRow: 'interpolate',
  backward: 'measured',
  extraOperators: true,
  tpAllreduce: true,
  widths: 'model',
  boundaries: 'every-boundary',
  links: 'alpha-beta',
  stage0SkipsOwnSend: false,
  pipelineSteadyState: 'extended',
  dpAllreduce: 'per-stage',
  dpOverlap: true,
  embeddingSync: 'tied-only',
  memory: 'bytes',
  memoryLimit: 'hosting-nodes',
  oomMargin: 1,
  oomReported: 'max-stage',
  partitionLayers: 'whole-layers',
  optimizerStep: true,
  hostIssueFloor: true,
  partitionUnit: 'layer',
  minmaxUnits: 'nodes',
  minmaxStaleLists: false,
  simulatedCandidates: true,
  minmaxMemory: 'within-memory',
  contextParallel: 'ring-p2p',
  hybridSharding: 'own-rings',
});

export const POLICIES: ReadonlyMap<string, EstimatorPolicy> = new Map([
  ['reference', REFERENCE],
  ['fasop', FASOP],
]);

/** A policy from a base with some fields switched (e.g. `withPolicy(FASOP, { backward: 'twice-forward' })`). */
export function withPolicy(base: EstimatorPolicy, changes: Partial<EstimatorPolicy>): EstimatorPolicy {
  return Object.freeze({ ...base, ...changes });
}
