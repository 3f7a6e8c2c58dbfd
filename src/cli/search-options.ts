/** The `fasop search` flags (commander), resolved by request/options.ts. */
import { Command, Option } from 'commander';
import { RECIPES } from '../estimate/recipe.js';
import { PARTITION_METHODS } from '../request/options.js';

export { intFlag, resolveSearchOptions, profileDirFor, PARTITION_METHODS, type RawSearchOptions, type ResolvedSearchOptions } from '../request/options.js';

/** The search flags (shared by `search` and `export --best`). `--gpus` is taken out of argv first. */
export function addSearchOptions(cmd: Command): Command {
  return cmd
    .option('--gpus <TYPE NODES...>', 'cluster: pairs of GPU type and number of NODES (each node has --gpu-per-node GPUs), e.g. --gpus A40 8 A100 1')
    .option('--model-type <name>', 'model from the catalog (llama1b, llama8b, llama70b, gpt2XL)', 'llama70b')
    .option('--model-config <file>', 'a Hugging Face config.json (LLaMA/Mistral/Qwen2 or GPT-2 style) instead of --model-type')
    .option('--seq-length <n>', 'sequence length (default: the catalog model\'s, or min(1024, max positions) for --model-config); at most the model\'s positions')
    .option('--dataset <name>', 'dataset for the iteration count: c4, pile, redpajama, openwebtext, squad, default', 'squad')
    .option('--gbs <n>', 'global batch size', '32')
    .option('--gpu-per-node <n>', 'GPUs per node (default: the catalog node size of the GPU type, e.g. A40 4, H100 8; 4 for mixed sizes; 8 with --pareto)')
    .option('--precision <bits>', 'bits per element of the embedding sync (16 or 32)', '16')
    .addOption(new Option('--pp-partition-method <method>', 'pipeline layer partition method (dp, ilp, bruteforce: exact on one shared objective; dp-original: the original\'s O(pp·n³) dp, small models only)').choices([...PARTITION_METHODS]).default('minmax'))
    .addOption(new Option('--estimator <name>', 'cost model: reference (the original FASOP, number for number) or fasop (corrected)').choices(['reference', 'fasop']).default('fasop'))
    .addOption(new Option('--recipe <name>', 'training recipe for the corrected estimator\'s memory/optimizer terms (bf16-adamw-graph: a whole step captured as a CUDA graph, costed with the graph/ subfolder of the profiles)').choices(Object.keys(RECIPES)).default('megatron-mixed'))
    .option('--host-profile <file>', 'CPU issue figures of your host (profiler/host_issue.py: host_issue_<GPU>.json) for the eager recipes bf16-adamw and bf16-adamw-dtensor, instead of the shipped ones')
    .option('--host-launch-us <us>', 'your training host\'s speed (python3 profiler/host_speed.py on it): scales the --host-profile figures to it (policy host-speed)')
    .option('--pareto', 'search every sub-cluster (the _pareto catalog variants)')
    .option('--pareto-gbs-max <n>', 'also sweep gbs = 1, 2, 4, … up to this')
    .option('--make-pareto', 'draw the cost-vs-throughput Pareto chart (PNG + SVG) after a --pareto search')
    .option('--only-make-pareto <csv>', 'draw the Pareto chart from an existing results CSV and exit (no --gpus needed)')
    .option('--pareto-title <title>', 'title and file name of the Pareto chart')
    .option('--verbose', 'print one progress line per plan (also written to a log file)')
    .option('--log-file <file>', 'also write the console output to this file')
    .option('--add-exp-name <suffix>', 'suffix of the experiment (CSV) name', '')
    .option('--parsing', 'write every plan as a JSONL line as soon as it is estimated')
    .option('--parsing-file <file>', 'JSONL path for --parsing (default main_logs/{model}_{gpus}_gbs{gbs}_{time}.jsonl)')
    .option('--no-save-csv', 'do not write the results CSV')
    .option('--exhaustive', 'estimate one plan (--mbs --tp --dp --pp, or prompts on a terminal) and print its full breakdown')
    .option('--mbs <n>', 'micro-batch size for --exhaustive')
    .option('--tp <n>', 'tensor-parallel degree for --exhaustive')
    .option('--dp <n>', 'data-parallel degree for --exhaustive')
    .option('--pp <n>', 'pipeline-parallel degree for --exhaustive')
    .option('--profile-dir <dir>', 'folder of {model}_{gpu}_{tp}.npz profiles (default: the shipped profiles/; with --recipe bf16-adamw-graph its graph/ subfolder when present)')
    .option('--output-dir <dir>', 'where CSV, JSONL, logs and charts go (default: ./main_logs)')
    .option('--catalog <file>', 'extra catalog JSON (gpus/models/datasets) merged over the shipped one; repeatable', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--substitute-profile <GPU=OTHER>', 'cost GPU type GPU with OTHER\'s profiles (it has none of its own); plans that use it say so in cost_source; repeatable', (v: string, prev: string[]) => [...prev, v], [] as string[]);
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
      while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) gpus.push(argv[++i]!);
      continue;
    }
    rest.push(a);
  }
  return { rest, gpus };
}

