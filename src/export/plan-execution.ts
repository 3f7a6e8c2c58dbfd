import { FasopError } from '../errors.js';
import { DP_SHARDING, PLAIN_EXECUTION, RECOMPUTE, executionProblems, type DpSharding, type Execution, type Recompute } from '../estimate/execution.js';

/** The execution columns of a plan record (PlanRecord's names); absent ones mean the plain execution. */
export interface ExecutionFields {
  cp?: number;
  recompute?: string;
  /** full recompute: layers per pipeline stage; null/absent: every layer */
  recompute_layers?: number | null;
  dp_sharding?: string;
  /** FSDP shard group (hybrid sharding); null/absent: the whole data-parallel group */
  shard_group?: number | null;
  sequence_parallel?: boolean;
  virtual_stages?: number;
}

const HINT = 'pass a plan that fasop search wrote (results CSV or --best), or fix the plan fields';

/** The plan's execution from its record fields (fields absent: the plain one). */
export function executionOf(p: ExecutionFields): Execution {
  const recompute = p.recompute ?? PLAIN_EXECUTION.recompute;
  if (!(RECOMPUTE as readonly string[]).includes(recompute)) throw new FasopError(`the plan's recompute '${recompute}' is not one of ${RECOMPUTE.join(', ')}`, HINT);
  const dpSharding = p.dp_sharding ?? PLAIN_EXECUTION.dpSharding;
  if (!(DP_SHARDING as readonly string[]).includes(dpSharding)) throw new FasopError(`the plan's dp_sharding '${dpSharding}' is not one of ${DP_SHARDING.join(', ')}`, HINT);
  const e: Execution = {
    recompute: recompute as Recompute,
    dpSharding: dpSharding as DpSharding,
    sequenceParallel: p.sequence_parallel ?? false,
    virtualStages: p.virtual_stages ?? 1,
    cp: p.cp ?? 1,
  };
  if (p.recompute_layers !== undefined && p.recompute_layers !== null) e.recomputeLayers = p.recompute_layers;
  if (p.shard_group !== undefined && p.shard_group !== null) e.shardGroup = p.shard_group;
  return e;
}

/** Refuse an execution the launchers reject for these degrees (estimate/execution.ts's checks), in one line. */
export function checkExecution(e: Execution, shape: Parameters<typeof executionProblems>[1]): void {
  const why = executionProblems(e, shape);
  if (why.length) throw new FasopError(`the plan cannot launch: ${why.join('; ')}`, 'export a plan that fasop search enumerated, or change the degrees, micro-batches or execution fields named');
}
