/** The `fasop search` flags (commander), resolved by request/options.ts. */
import { Command, Option } from 'commander';
import { LAUNCHES, OPTIMIZER_RECIPES, RECIPE_AXES, TP_RUNTIMES } from '../estimate/recipe.js';
import { PARTITION_METHODS } from '../request/options.js';
import { nonEmptyPath } from '../guard/output-path.js';

export { intFlag, resolveSearchOptions, profileDirFor, PARTITION_METHODS, type RawSearchOptions, type ResolvedSearchOptions } from '../request/options.js';

/** The help groups of the search flags, common ones first. */
export const HELP_GROUPS = {
  cluster: 'Cluster, model and batch:',
  training: 'Training recipe and estimator:',
  output: 'Outputs:',
  pareto: 'Pareto sweep and chart:',
  onePlan: 'One plan (--exhaustive):',
  data: 'Profiles and catalogs:',
  advanced: 'Advanced (host CPU figures, for eager PyTorch runs and validation):',
} as const;

const repeatable = (v: string, prev: string[]) => [...prev, v];

/**
 * The search flags (shared by `search` and `export`), grouped in the help. `--gpus` is taken out of
 * argv first. `hidden` lists groups whose flags still work but stay out of this command's help.
 */
export function addSearchOptions(cmd: Command, hidden: ReadonlySet<keyof typeof HELP_GROUPS> = new Set()): Command {
  const group = (g: keyof typeof HELP_GROUPS, ...opts: Option[]) => {
    for (const o of opts) cmd.addOption(hidden.has(g) ? o.hideHelp() : o.helpGroup(HELP_GROUPS[g]));
  };
  group('cluster',
    new Option('--gpus <TYPE NODES...>', 'cluster: pairs of GPU type and number of NODES (each node has --gpu-per-node GPUs), e.g. --gpus A40 8 A100 1'),
    new Option('--gpu-per-node <n>', 'GPUs per node (default: the catalog node size of the GPU type, e.g. A40 4, H100 8; 4 for mixed sizes; 8 with --pareto)'),
    new Option('--model-type <name>', 'model from the catalog (llama1b, llama8b, llama70b, llama405b, gpt2XL)').default('llama70b'),
    new Option('--model-config <file>', 'a Hugging Face config.json (LLaMA/Mistral/Qwen2 or GPT-2 style) instead of --model-type'),
    new Option('--seq-length <n>', 'sequence length (default: the catalog model\'s, or min(1024, max positions) for --model-config); at most the model\'s positions'),
    new Option('--gbs <n>', 'global batch size').default('32'),
    new Option('--dataset <name>', 'dataset of the training budget: c4, pile, redpajama, openwebtext (counted in tokens with --estimator fasop), squad, default (counted in samples)').default('squad'),
    new Option('--train-tokens <n>', 'training budget in tokens, e.g. 2T, 300B, 1.5e12 (instead of the dataset\'s size; --estimator fasop)'),
    new Option('--epochs <n>', 'passes over the dataset (default 1; --estimator fasop)'));
  group('training',
    new Option('--recipe <name>', 'training recipe by name: an optimizer with -graph (a whole step captured as a CUDA graph, costed with the graph/ subfolder of the profiles) and -dtensor (PyTorch DTensor TP) when chosen; the three flags below change one axis of it').choices([...RECIPE_AXES.keys()]).default('megatron-mixed'),
    new Option('--optimizer <name>', 'precision and optimizer: megatron-mixed (bf16 weights, fp32 grads, master weights and Adam states), bf16-adamw (all bf16, torch AdamW) or fp32-master-adamw (PyTorch: bf16 weights and grads, fp32 master weights, gradient buffers and AdamW states)').choices([...OPTIMIZER_RECIPES]),
    new Option('--launch <mode>', 'how a step is launched: eager (kernel by kernel) or cuda-graph (captured and replayed)').choices([...LAUNCHES]),
    new Option('--tp-runtime <name>', 'tensor-parallel runtime: megatron-style or dtensor (PyTorch parallelize_module + loss_parallel)').choices([...TP_RUNTIMES]),
    new Option('--estimator <name>', 'cost model: fasop (corrected) or reference (the original FASOP, number for number)').choices(['reference', 'fasop']).default('fasop'),
    new Option('--pp-partition-method <method>', 'pipeline layer partition method (dp, ilp, bruteforce: exact on one shared objective; dp-original: the original\'s O(pp·n³) dp, small models only)').choices([...PARTITION_METHODS]).default('minmax'),
    new Option('--precision <bits>', 'bits per element of the embedding sync (16 or 32)').default('16'),
    new Option('--recompute <modes>', 'activation recompute to search: none, selective (the attention core), op (torchtitan\'s per-operator checkpointing; PyTorch recipes), full (whole layers), or several comma-separated, e.g. none,full (default with --estimator fasop: none, selective, full)'),
    new Option('--recompute-layers <n>', 'with --recompute full: decoder layers per stage recomputed (Megatron\'s block method; default every layer)'),
    new Option('--dp-sharding <levels>', 'data-parallel sharding to search in plans with dp > 1: none (DDP), optimizer (distributed optimizer, ZeRO-1), gradients (ZeRO-2), parameters (FSDP), or several comma-separated (default: none,optimizer,parameters)'),
    new Option('--shard-group <groups>', 'with --dp-sharding parameters: ranks each parameter shard spans, the rest replicating (hybrid sharding, torchtitan data_parallel_shard_degree): full (the whole dp group), node (the dp ranks of one node), a whole number >= 2 dividing dp, or several comma-separated (default: full, and under a PyTorch recipe also node)'),
    new Option('--sequence-parallel', 'sequence parallelism in every plan with tp > 1, activations and norms split over TP (the default)'),
    new Option('--no-sequence-parallel', 'no sequence parallelism'),
    new Option('--virtual-stages <v>', 'interleaved 1F1B with v model chunks per pipeline rank, or several comma-separated, e.g. 1,2 (plans with pp >= 2 whose layers and micro-batches it divides; default: every such v)'),
    new Option('--plain', 'search the plain DP × TP × PP space only, as the original (no recompute, sharding, SP or interleaving)'),
    new Option('--each-execution', 'one result per execution of each plan rather than the fastest one that fits (every execution timed, those out of memory too)'),
    new Option('--cp <degrees>', 'context parallelism (ring attention, the sequence split over cp ranks) to search: a degree or several comma-separated, e.g. 1,2,4; world = tp·cp·dp·pp, the sequence divisible by 2·cp (--estimator fasop; priced from an operator profile). Default: 1 below sequence 16384; from 16384, 1 and every power of two with at least 4096 tokens a rank that divides the GPUs (and 2·cp the sequence)'));
  group('output',
    new Option('--output-dir <dir>', 'where CSV, JSONL, logs and charts go (default: ./main_logs)').argParser(nonEmptyPath('--output-dir', 'a folder')),
    new Option('--add-exp-name <suffix>', 'suffix of the experiment (CSV) name').default(''),
    new Option('--original-names', 'the original\'s result names: main_logs/{model}[_heterogeneous][_pareto]{suffix}.csv, replaced by every run (default with --estimator reference)'),
    new Option('--no-original-names', 'results named by model, cluster and gbs, with a suffix rather than replacing an earlier file (default with --estimator fasop)'),
    new Option('--no-save-csv', 'do not write the results CSV'),
    new Option('--parsing', 'write every plan as a JSONL line as soon as it is estimated'),
    new Option('--parsing-file <file>', 'JSONL path for --parsing (default main_logs/{model}_{gpus}_gbs{gbs}_{time}.jsonl)').argParser(nonEmptyPath('--parsing-file', 'a file')),
    new Option('--verbose', 'print one progress line per plan (also written to a log file)'),
    new Option('--log-file <file>', 'also write the console output to this file').argParser(nonEmptyPath('--log-file', 'a file')),
    new Option('--list-oom', 'also write the plans that do not fit in memory to {results}_oom.csv (they are not timed)'),
    new Option('--workers <n>', 'threads the search splits over (default: all cores); searches of fewer than 3000 plans run on one; the output is the same for any number'));
  group('pareto',
    new Option('--pareto', 'search every sub-cluster (the _pareto catalog variants)'),
    new Option('--pareto-gbs-max <n>', 'also sweep gbs = 1, 2, 4, … up to this'),
    new Option('--make-pareto', 'draw the cost-vs-throughput Pareto chart (PNG + SVG) after a --pareto search'),
    new Option('--only-make-pareto <csv>', 'draw the Pareto chart from an existing results CSV and exit (no --gpus needed)'),
    new Option('--pareto-title <title>', 'title and file name of the Pareto chart'));
  const exhaustive = new Option('--exhaustive', 'estimate one plan (--mbs --tp --dp --pp, or prompts on a terminal) and print its full breakdown');
  // export chooses its plan with the same degrees but has no --exhaustive mode
  if (hidden.has('output')) exhaustive.hideHelp();
  group('onePlan',
    exhaustive,
    new Option('--mbs <n>', 'micro-batch size of the plan'),
    new Option('--tp <n>', 'tensor-parallel degree of the plan'),
    new Option('--dp <n>', 'data-parallel degree of the plan'),
    new Option('--pp <n>', 'pipeline-parallel degree of the plan'));
  group('data',
    new Option('--profile-dir <dir>', 'folder of {model}_{gpu}_{tp}.npz profiles (default: the shipped profiles/; with a cuda-graph launch its graph/ subfolder when present)'),
    new Option('--catalog <file>', 'extra catalog JSON (gpus/models/datasets) merged over the shipped one; repeatable').argParser(repeatable).default([] as string[]),
    new Option('--substitute-profile <GPU=OTHER>', 'derive GPU type GPU from OTHER\'s measured files by the roofline (OTHER\'s operator profile, else its per-model files scaled operator by operator); with --estimator reference, OTHER\'s files unscaled, as the original; plans that use it say so in cost_source; repeatable').argParser(repeatable).default([] as string[]));
  group('advanced',
    new Option('--host-profile <file>', 'CPU issue figures of your host (profiler/host_issue.py: host_issue_<GPU>.json) for the eager bf16-adamw recipes, instead of the shipped ones'),
    new Option('--host-launch-us <us>', 'your training host\'s speed (python3 profiler/host_speed.py on it): scales the --host-profile figures to it (policy host-speed)'));
  return cmd;
}

/** Pull `--gpus T C ...` out of argv ourselves: commander's variadic would take `-1` as a flag. */
export function extractGpus(argv: readonly string[]): { rest: string[]; gpus: string[] | undefined } {
  const rest: string[] = [];
  let gpus: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--gpus' || a.startsWith('--gpus=')) {
      gpus = gpus ?? [];
      if (a.startsWith('--gpus=')) gpus.push(...a.slice(7).split(/[\s,]+/).filter(Boolean));
      // up to the next flag (a short one such as -h too; '-1' stays a value, for the node-count error)
      while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--') && !/^-[a-zA-Z]/.test(argv[i + 1]!)) gpus.push(argv[++i]!);
      continue;
    }
    rest.push(a);
  }
  return { rest, gpus };
}

