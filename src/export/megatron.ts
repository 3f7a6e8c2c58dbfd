import type { ModelSpec } from '../catalog/schema.js';
import { FasopError } from '../errors.js';
import { PLAIN_EXECUTION, type Execution } from '../estimate/execution.js';
import { formatMegatronLayout } from './layout.js';
import { megatronModelArgs, type Flag } from './model-args.js';

export interface MegatronArgs {
  /** argv tokens, in order */
  args: string[];
  /** the same, one flag per line, shell-quoted, joined with ` \` line continuations */
  text: string;
  /** the layout string (null for pp = 1, where no layout is needed); pp·v stages with v virtual stages */
  layout: string | null;
  /** data parallel size Megatron derives: world size / (tp · cp · pp) */
  dataParallelSize: number;
  worldSize: number;
  /** environment the launch needs (validate_args asserts it) */
  env: Record<string, string>;
  /** what the arguments assume or leave to the user */
  notes: string[];
}

export interface MegatronOptions {
  execution?: Execution;
  /** the model: its own arguments (hidden size, heads, …) are written when given */
  model?: ModelSpec;
  /** training recipe name (estimate/recipe.ts); undefined: the estimator prices none */
  recipe?: string;
}

/** Quote a shell word when it holds anything beyond [A-Za-z0-9_./:=@%+-]. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Activation recompute (arguments.py _add_training_args: --recompute-granularity/-method/-num-layers). */
function recomputeFlags(e: Execution): Flag[] {
  if (e.recompute === 'none') return [];
  if (e.recompute === 'selective') return [['--recompute-granularity', 'selective']];
  if (e.recompute === 'op') {
    throw new FasopError('the plan recomputes per operator (torchtitan\'s selective_ac_option "op"); Megatron-LM has no such checkpointing',
      'export it with --format torchtitan, or plan with --recompute selective or full');
  }
  if (e.recomputeLayers === undefined) return [['--recompute-granularity', 'full'], ['--recompute-method', 'uniform'], ['--recompute-num-layers', '1']];
  // block: the first N layers of each model chunk (each virtual stage) are recomputed
  const v = e.virtualStages;
  if (e.recomputeLayers % v !== 0) {
    throw new FasopError(`Megatron-LM recomputes --recompute-num-layers per model chunk; ${e.recomputeLayers} layers per stage do not split over ${v} virtual stages`,
      `use a plan whose recompute_layers is a multiple of ${v}, or full recompute of every layer`);
  }
  return [['--recompute-granularity', 'full'], ['--recompute-method', 'block'], ['--recompute-num-layers', String(e.recomputeLayers / v)]];
}

/**
 * Data-parallel sharding (arguments.py _add_distributed_args): the distributed optimizer (ZeRO-1);
 * Megatron-FSDP's --data-parallel-sharding-strategy optim_grads (ZeRO-2) / optim_grads_params
 * (ZeRO-3), with the flags its guide lists and the checkpoint format validate_args asserts.
 */
function shardingFlags(e: Execution, dp: number, pp: number): Flag[] {
  if (e.dpSharding === 'none') return [];
  if (e.dpSharding === 'optimizer') return [['--use-distributed-optimizer']];
  if (pp > 1) {
    throw new FasopError(`Megatron-LM export: dp sharding '${e.dpSharding}' with pipeline parallelism ${pp}: Megatron-FSDP's guide lists TP, EP and CP as compatible, not PP, and --use-torch-fsdp2 asserts a pipeline size of 1`,
      "export with --format torchtitan (FSDP2 with PP), or use a plan with pp 1 or dp sharding 'optimizer' (--use-distributed-optimizer)");
  }
  if (e.dpSharding === 'parameters' && e.shardGroup !== undefined && e.shardGroup < dp) {
    throw new FasopError(`Megatron-LM export: hybrid sharding (parameters sharded over groups of ${e.shardGroup}, replicated ${dp / e.shardGroup}× across dp ${dp}) is not written: Megatron-FSDP's HSDP flags were not checked against its sources`,
      'export with --format torchtitan (data_parallel_replicate_degree × data_parallel_shard_degree), or use a plan whose shard group is the whole dp');
  }
  const strategy = e.dpSharding === 'gradients' ? 'optim_grads' : 'optim_grads_params';
  return [['--use-megatron-fsdp'], ['--data-parallel-sharding-strategy', strategy], ['--no-gradient-accumulation-fusion'], ['--use-distributed-optimizer'], ['--ckpt-format', 'fsdp_dtensor']];
}

/**
 * Precision (arguments.py _add_mixed_precision_args, _add_experimental_args). --bf16 keeps fp32
 * main params, fp32 main gradients and fp32 Adam states: the megatron-mixed recipe. bf16 states
 * take the precision-aware optimizer (TransformerEngine's FusedAdam); --main-params-dtype takes only
 * fp32 or fp16, so Megatron keeps an fp32 master copy that the bf16-adamw recipe does not price.
 */
function precisionFlags(recipe: string | undefined, notes: string[]): Flag[] {
  if (recipe?.startsWith('bf16-adamw')) {
    notes.push(`precision: the ${recipe} recipe keeps bf16 weights and bf16 AdamW states without fp32 master weights; Megatron-LM's precision-aware optimizer gives bf16 gradients and states but always keeps fp32 (or fp16) main params: 4 B per parameter more than the plan prices`);
    return [['--bf16'], ['--use-precision-aware-optimizer'], ['--main-grads-dtype', 'bf16'], ['--exp-avg-dtype', 'bf16'], ['--exp-avg-sq-dtype', 'bf16']];
  }
  notes.push(recipe
    ? `precision: --bf16 (bf16 weights and activations, fp32 main params, gradients accumulated and reduced in fp32, fp32 Adam states: Megatron-LM's default with --bf16, the ${recipe} recipe)`
    : 'precision: --bf16 (Megatron-LM\'s default mixed precision: fp32 main params and Adam states); the reference estimator prices no optimizer recipe');
  if (recipe?.includes('-graph')) notes.push('launch: the recipe prices a whole step captured as a CUDA graph; these arguments launch eagerly (Megatron-LM captures with --cuda-graph-impl local --cuda-graph-scope full_iteration, which refuses full recompute)');
  if (recipe?.includes('-dtensor')) notes.push('tensor parallelism: the recipe prices PyTorch DTensor TP; Megatron-LM runs its own TP layers');
  return [['--bf16']];
}

/** argv tokens and the ` \`-continued text of a flag list. */
function render(flags: Flag[]): { args: string[]; text: string } {
  return { args: flags.flat(), text: flags.map(([f, ...vs]) => [f, ...vs.map(shellQuote)].join(' ')).join(' \\\n') };
}

/**
 * Megatron-LM arguments for a plan: parallel sizes, micro/global batch, the layout of
 * `chunkLayers` (decoder layers of each model chunk in model order: pp of them, or pp·v with
 * virtual stages; embedding on the first, loss on the last), then the execution, the model's own
 * arguments and the precision. Data parallelism is implied by the world size; Megatron runs
 * gbs / (mbs · dp) micro-batches per step, as fasop assumes.
 */
export function megatronArgs(p: { tp: number; dp: number; pp: number; mbs: number; gbs: number; cp?: number }, numLayers: number, chunkLayers: readonly number[], opts: MegatronOptions = {}): MegatronArgs {
  const e = opts.execution ?? PLAIN_EXECUTION;
  const cp = p.cp ?? e.cp;
  const notes: string[] = [];
  const env: Record<string, string> = {};
  const layout = p.pp > 1 ? formatMegatronLayout(chunkLayers) : null;
  const flags: Flag[] = [
    ['--tensor-model-parallel-size', String(p.tp)],
    ['--pipeline-model-parallel-size', String(p.pp)],
    ['--micro-batch-size', String(p.mbs)],
    ['--global-batch-size', String(p.gbs)],
    ['--num-layers', String(numLayers)],
  ];
  if (layout) flags.push(['--pipeline-model-parallel-layout', layout]);
  if (cp > 1) flags.push(['--context-parallel-size', String(cp)]);
  if (e.sequenceParallel) {
    const seq = opts.model?.seq_length;
    if (seq !== undefined && (seq / cp) % p.tp !== 0) {
      throw new FasopError(`sequence parallelism splits each rank's ${seq / cp} tokens over tp ${p.tp}, which does not divide them`, `use a sequence length that is a multiple of cp·tp = ${cp * p.tp}`);
    }
    flags.push(['--sequence-parallel']);
  }
  if (opts.model) {
    const m = megatronModelArgs(opts.model, p.tp);
    flags.push(...m.flags);
    notes.push(...m.notes);
  }
  flags.push(...recomputeFlags(e));
  const sharding = shardingFlags(e, p.dp, p.pp);
  flags.push(...sharding);
  flags.push(...precisionFlags(opts.recipe, notes));
  if (cp > 1 && e.dpSharding !== 'none') notes.push(`context parallelism: Megatron-LM reduces gradients and shards optimizer state over the data-parallel and context-parallel ranks together (dp·cp = ${p.dp}·${cp} = ${p.dp * cp})`);
  const fsdp = sharding.some(([f]) => f === '--use-megatron-fsdp');
  if (fsdp) notes.push('environment: Megatron-FSDP asserts CUDA_DEVICE_MAX_CONNECTIONS is not 1 (leave it unset)');
  else if (p.tp > 1 || cp > 1) env['CUDA_DEVICE_MAX_CONNECTIONS'] = '1';
  const { args, text } = render(flags);
  return { args, text, layout, dataParallelSize: p.dp, worldSize: p.tp * cp * p.dp * p.pp, env, notes };
}
