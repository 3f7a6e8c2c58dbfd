import { FasopError } from '../errors.js';
import type { RawSearchOptions } from './search-options.js';

/** Flags by the option key commander gives them. */
const FLAG: Record<string, string> = {
  modelType: '--model-type', modelConfig: '--model-config', seqLength: '--seq-length', dataset: '--dataset', gbs: '--gbs',
  gpuPerNode: '--gpu-per-node', precision: '--precision', ppPartitionMethod: '--pp-partition-method', estimator: '--estimator',
  recipe: '--recipe', hostProfile: '--host-profile', hostLaunchUs: '--host-launch-us', pareto: '--pareto',
  paretoGbsMax: '--pareto-gbs-max', makePareto: '--make-pareto', onlyMakePareto: '--only-make-pareto', paretoTitle: '--pareto-title',
  verbose: '--verbose', logFile: '--log-file', addExpName: '--add-exp-name', parsing: '--parsing', parsingFile: '--parsing-file',
  saveCsv: '--no-save-csv', exhaustive: '--exhaustive', mbs: '--mbs', tp: '--tp', dp: '--dp', pp: '--pp', profileDir: '--profile-dir',
  outputDir: '--output-dir', catalog: '--catalog', substituteProfile: '--substitute-profile', workers: '--workers',
  optimizer: '--optimizer', launch: '--launch', tpRuntime: '--tp-runtime', trainTokens: '--train-tokens', epochs: '--epochs',
  plain: '--plain', eachExecution: '--each-execution', listOom: '--list-oom', recompute: '--recompute', dpSharding: '--dp-sharding', shardGroup: '--shard-group',
  sequenceParallel: '--sequence-parallel', virtualStages: '--virtual-stages', cp: '--cp', recomputeLayers: '--recompute-layers',
  originalNames: '--original-names',
};

/** Flags that only shape files a full search writes; `--exhaustive` prints one plan and writes none. */
const OUTPUT_ONLY = ['workers', 'eachExecution', 'listOom', 'pareto', 'paretoGbsMax', 'makePareto', 'paretoTitle', 'parsing', 'parsingFile', 'logFile', 'verbose', 'addExpName', 'saveCsv', 'outputDir', 'originalNames'];

/** Flags that may be given more than once (each adds a value); any other given twice would keep only its last value. */
const REPEATABLE: ReadonlySet<string> = new Set(['--catalog', '--substitute-profile', '--gpus']);

/** A flag the command line gives more than once, where only one value counts, with its values; undefined if none. */
export function repeatedFlag(argv: readonly string[]): { flag: string; values: string[] } | undefined {
  const seen = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--') || a === '--') continue;
    const eq = a.indexOf('=');
    const flag = eq < 0 ? a : a.slice(0, eq);
    if (REPEATABLE.has(flag)) continue;
    const value = eq >= 0 ? a.slice(eq + 1) : argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('-') ? argv[i + 1]! : '';
    const values = seen.get(flag);
    if (values) return { flag, values: [...values, value] };
    seen.set(flag, [value]);
  }
  return undefined;
}

/** The command-line flag of an option key (`gbs` → `--gbs`). */
export const flagOf = (key: string): string => FLAG[key] ?? key;

const flags = (keys: readonly string[]) => keys.map(flagOf).join(', ');
/** The word that agrees with how many flags there are: `one` for one, else `many`. */
const agree = (keys: readonly unknown[], one: string, many: string) => (keys.length === 1 ? one : many);
const them = (keys: readonly unknown[]) => agree(keys, 'it', 'them');

/**
 * Refuse flags that would do nothing in the mode the command line selects (docs/errors.md):
 * a flag is never silently dropped. `given` holds the option keys typed on the command line.
 */
export function checkSearchFlagModes(raw: RawSearchOptions, given: ReadonlySet<string>, gpusGiven: boolean): void {
  const has = (k: string) => given.has(k);
  if (has('onlyMakePareto')) {
    const idle = [...given].filter((k) => k !== 'onlyMakePareto' && k !== 'paretoTitle');
    if (gpusGiven) idle.unshift('--gpus');
    if (idle.length) {
      throw new FasopError(`--only-make-pareto draws the chart of an existing CSV; ${flags(idle)} would do nothing with it`,
        `drop ${them(idle)} (only --pareto-title applies), or run the search without --only-make-pareto`);
    }
    return;
  }
  if (has('modelType') && has('modelConfig')) {
    throw new FasopError('--model-type and --model-config both name the model', 'give one of them');
  }
  const recipeFlags = ['recipe', 'optimizer', 'launch', 'tpRuntime'].filter(has);
  if (raw.estimator === 'reference' && recipeFlags.length) {
    throw new FasopError(`${flags(recipeFlags)} ${agree(recipeFlags, 'chooses', 'choose')} the training recipe of the corrected estimator; --estimator reference costs every plan the original's way`, `drop ${them(recipeFlags)}, or use --estimator fasop`);
  }
  const searchShape = ['eachExecution', 'listOom'].filter(has);
  if (raw.estimator === 'reference' && searchShape.length) {
    throw new FasopError(`${flags(searchShape)} ${agree(searchShape, 'shapes', 'shape')} the corrected estimator's search; --estimator reference times and lists every plan, as the original`, `drop ${them(searchShape)}, or use --estimator fasop`);
  }
  if (has('listOom') && !raw.saveCsv && !raw.exhaustive) throw new FasopError('--list-oom writes an _oom.csv beside the results CSV, which --no-save-csv turns off', 'drop --no-save-csv or --list-oom');
  if (has('listOom') && raw.eachExecution) throw new FasopError('--each-execution times every plan and lists those out of memory in the results CSV; --list-oom would do nothing', 'drop one of them');
  if (raw.exhaustive) {
    const idle = OUTPUT_ONLY.filter(has);
    if (idle.length) throw new FasopError(`--exhaustive prints one plan and writes no file; ${flags(idle)} would do nothing`, `drop ${them(idle)}, or drop --exhaustive to run the full search`);
    return;
  }
  if (has('gbs') && has('paretoGbsMax')) throw new FasopError('--pareto-gbs-max sweeps gbs 1, 2, 4, … in place of --gbs, which would do nothing', 'drop --gbs, or drop --pareto-gbs-max to search that one gbs');
  const degrees = ['mbs', 'tp', 'dp', 'pp'].filter(has);
  if (degrees.length) throw new FasopError(`${flags(degrees)} ${agree(degrees, 'chooses', 'choose')} the one plan of --exhaustive; a full search tries every degree`, `add --exhaustive, or drop ${them(degrees)}`);
  if (has('makePareto') && !raw.pareto) throw new FasopError('--make-pareto draws the chart of a --pareto search', 'add --pareto, or drop --make-pareto (or draw an existing CSV with --only-make-pareto FILE)');
  if (has('makePareto') && !raw.saveCsv) throw new FasopError('--make-pareto draws the chart from the results CSV, which --no-save-csv turns off', 'drop --no-save-csv or --make-pareto');
  if (has('paretoTitle') && !has('makePareto')) throw new FasopError('--pareto-title names the chart of --make-pareto or --only-make-pareto', 'add --make-pareto (with --pareto), or drop --pareto-title');
}

/** `fasop export`: flags of another way to choose the plan, or of another output format. */
export function checkExportFlagModes(raw: { best?: boolean; format: string }, given: ReadonlySet<string>): void {
  if (given.has('allowOom') && !raw.best) throw new FasopError('--allow-oom applies only to --best', 'add --best, or drop --allow-oom');
  if (given.has('torchtitanDp') && raw.format === 'megatron') throw new FasopError('--torchtitan-dp shapes the torchtitan output; --format megatron does not print it', 'use --format torchtitan or json, or drop --torchtitan-dp');
  const searchOnly = ['workers', 'eachExecution', 'listOom', 'onlyMakePareto', 'makePareto', 'paretoTitle', 'parsing', 'parsingFile', 'logFile', 'verbose', 'addExpName', 'saveCsv', 'outputDir', 'exhaustive', 'originalNames'].filter((k) => given.has(k));
  if (searchOnly.length) throw new FasopError(`${flags(searchOnly)} ${agree(searchOnly, 'belongs', 'belong')} to fasop search; fasop export prints one plan and writes no file`, `drop ${them(searchOnly)}`);
  if (given.has('modelType') && given.has('modelConfig')) throw new FasopError('--model-type and --model-config both name the model', 'give one of them');
}

/** The option keys a commander command got from the command line. */
export function givenFlags(cmd: { options: readonly { attributeName(): string }[]; getOptionValueSource(key: string): string | undefined }): Set<string> {
  return new Set(cmd.options.map((o) => o.attributeName()).filter((k) => cmd.getOptionValueSource(k) === 'cli'));
}
