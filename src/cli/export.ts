import { basename } from 'node:path';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { FasopError } from '../errors.js';
import { getEstimator } from '../estimate/index.js';
import type { ResolvedPlan } from '../estimate/plan.js';
import { readPlanCsvFile, type CsvPlanRow } from '../export/csv-row.js';
import { loadCatalog } from '../catalog/catalog.js';
import { RECIPE_AXES } from '../estimate/recipe.js';
import { clusterString, parseGpuTokens } from '../request/cluster.js';
import { recipeOfOptions } from '../request/options.js';
import { exportPlan, type ExportablePlan } from '../export/export.js';
import { executionOf } from '../export/plan-execution.js';
import { formatExport, type ExportFormat } from '../export/format.js';
import { resolveBestPlacement } from '../export/resolve.js';
import { resolvePlans as resolvePlansOf } from '../plan/resolve.js';
import type { TorchtitanDpMode } from '../export/torchtitan.js';
import { ProfileDb } from '../profiles/db.js';
import { rankRecords } from '../report/csv.js';
import { search, type Estimator, type SearchRequest } from '../search/search.js';
import type { Catalog } from '../catalog/catalog.js';
import { ownGet } from '../guard/lookup.js';
import { checkExportFlagModes, flagOf, givenFlags } from './flag-modes.js';
import type { CliIo } from './io.js';
import { addSearchOptions, intFlag, resolveSearchOptions, type RawSearchOptions } from './search-options.js';

interface RawExportOptions extends RawSearchOptions {
  csv?: string;
  rank?: string;
  best?: boolean;
  allowOom?: boolean;
  format: ExportFormat;
  torchtitanDp?: TorchtitanDpMode;
}

/** `fasop export`: one plan → Megatron-LM / torchtitan launcher arguments (or all of it as JSON). */
export function exportCommand(io: CliIo, gpuTokens: string[] | undefined): Command {
  const own = new Command('export')
    .description("turn one plan into launcher arguments: Megatron-LM (the model's own arguments, parallel sizes, --pipeline-model-parallel-layout, recompute, sharding, precision), torchtitan ([parallelism], [training], [activation_checkpoint]) or JSON. Choose the plan with --csv FILE --rank N, --best (fresh search) or --tp --dp --pp --mbs")
    .optionsGroup('Export:')
    .option('--csv <file>', 'results CSV of fasop search (or the original FASOP) to take the plan from')
    .option('--rank <n>', 'rank of the plan in --csv (default 1)')
    .option('--best', 'search now (same flags as fasop search) and export the best plan that fits in memory')
    .option('--allow-oom', 'with --best: also consider plans estimated to run out of memory')
    .addOption(new Option('--format <format>', 'output: megatron arguments, torchtitan TOML, or json (both, plus rounding and placement)').choices(['megatron', 'torchtitan', 'json']).default('json'))
    .addOption(new Option('--torchtitan-dp <mode>', "torchtitan data parallelism instead of the plan's dp_sharding (none: DDP, parameters: FSDP2): replicate (DDP) or shard (FSDP2; also for plans that shard only optimizer states or gradients, which torchtitan lacks)").choices(['replicate', 'shard']))
    .addHelpText('after', '\nThe plan is priced with the search flags above (cluster, model, recipe, estimator, profiles); see fasop search --help for all of them.');
  const cmd = addSearchOptions(own, new Set(['output', 'pareto', 'advanced'] as const));
  // the search's one-plan degrees choose export's plan here (export has no --exhaustive)
  for (const o of cmd.options) if (['--tp', '--dp', '--pp', '--mbs'].includes(o.long ?? '')) o.helpGroup('Plan by degrees (instead of --csv or --best):');
  cmd.action(async (raw: RawExportOptions) => {
    checkExportFlagModes(raw, givenFlags(cmd));
    await runExport(io, raw, gpuTokens, (name) => cmd.getOptionValueSource(name) === 'cli');
  });
  return cmd;
}

function clusterTokens(cluster: string): string[] {
  // "A40:8, A100:1" → ['A40', '8', 'A100', '1']
  return cluster.split(',').map((s) => s.trim()).filter(Boolean).flatMap((part) => {
    const m = /^(.+):(\d+)$/.exec(part);
    if (!m) throw new FasopError(`cannot read the gpu_cluster cell '${cluster}'`, 'pass --gpus TYPE NODES ... explicitly');
    return [m[1]!, m[2]!];
  });
}

export async function runExport(io: CliIo, raw: RawExportOptions, gpuTokens: string[] | undefined, fromCli: (option: string) => boolean): Promise<void> {
  const explicit = ['tp', 'dp', 'pp', 'mbs'].filter((k) => raw[k as 'tp'] !== undefined);
  const modes = [raw.csv !== undefined || raw.rank !== undefined, Boolean(raw.best), explicit.length > 0].filter(Boolean).length;
  if (modes !== 1) {
    throw new FasopError('choose the plan one way: --csv FILE [--rank N], --best, or --tp N --dp N --pp N --mbs N',
      'e.g. fasop export --csv main_logs/llama70b.csv --rank 1 --format megatron');
  }
  const exportOf = (p: ExportablePlan, req: SearchRequest, plan: ResolvedPlan | undefined, estimator: Estimator | undefined, source: Record<string, unknown>, why?: string) => exportPlan(p, {
    model: req.model, gpusPerNode: req.gpusPerNode, plan, estimator, torchtitanDp: raw.torchtitanDp,
    recipe: req.estimator === 'fasop' ? req.recipe?.name : undefined, source, ...(why ? { unavailable: why } : {}),
  });
  const out = async (...args: Parameters<typeof exportOf>) => io.out(formatExport(await exportOf(...args), raw.format));

  if (raw.csv !== undefined || raw.rank !== undefined) {
    if (raw.csv === undefined) throw new FasopError('--rank needs --csv FILE', 'pass the results CSV, e.g. --csv main_logs/llama70b.csv --rank 1');
    const path = resolve(io.cwd, raw.csv);
    const rank = raw.rank === undefined ? 1 : intFlag(raw.rank, '--rank');
    const rows = readPlanCsvFile(path);
    const hits = rows.filter((r) => r.rank === rank).sort((a, b) => a.index - b.index);
    if (hits.length === 0) throw missingRank(rows, rank, raw.csv);
    const row = hits[0]!;
    const at = `rank ${rank} of ${raw.csv}`;
    // the row is the plan: search flags that would shape another plan do nothing here
    const idle = CSV_IDLE.filter(fromCli).map((k) => (k === 'sequenceParallel' && raw.sequenceParallel === false ? '--no-sequence-parallel' : flagOf(k)));
    if (idle.length) {
      throw new FasopError(`${idle.join(', ')} ${idle.length === 1 ? 'does' : 'do'} nothing with --csv: the plan comes from the CSV row (${at})`,
        `drop ${idle.length === 1 ? 'it' : 'them'}, or search again with ${idle.length === 1 ? 'it' : 'them'} and export from the new CSV`);
    }
    const catalog = loadCatalog(raw.catalog);
    const csvTokens = clusterTokens(row.record.gpu_cluster_str);
    if (gpuTokens) {
      const norm = (t: string[]) => clusterString(parseGpuTokens(t, catalog).sort((a, b) => a.type.localeCompare(b.type)));
      const mine = norm(gpuTokens);
      if (mine !== norm(csvTokens)) {
        throw new FasopError(`--gpus ${gpuTokens.join(' ')} (${mine}) is not the cluster of ${at}, which runs on ${row.record.gpu_cluster_str}`,
          `drop --gpus (export takes the cluster from the CSV), or search again with --gpus ${gpuTokens.join(' ')} and export from the new CSV`);
      }
    }
    const csvEstimator = row.record.estimator === 'fasop' ? 'fasop' : 'reference';
    if (fromCli('estimator') && raw.estimator !== csvEstimator) {
      throw new FasopError(`--estimator ${raw.estimator} disagrees with ${at}, which the ${csvEstimator} estimator priced`,
        `drop --estimator (export takes ${csvEstimator} from the CSV), or search again with --estimator ${raw.estimator}`);
    }
    if (row.record.is_oom) {
      const fit = rows.filter((r) => !r.record.is_oom).sort((a, b) => a.rank - b.rank || a.index - b.index)[0];
      io.err(`[NOTICE] rank ${rank} of ${raw.csv} is estimated to run out of GPU memory (${row.record.oom_gpumem.toFixed(2)} GiB per GPU); ` +
        (fit ? `the best plan that fits is rank ${fit.rank}: --rank ${fit.rank}` : 'no plan in this file fits'));
    }
    // Flags the user did not give come from the CSV: cluster, gbs, estimator, recipe, model.
    const adj: RawExportOptions = { ...raw, gbs: String(row.record.gbs), paretoGbsMax: undefined, estimator: csvEstimator };
    // the sequence length the plan was estimated at (files fasop wrote carry it); a different one is another plan
    const csvSeq = row.record.seq_length;
    if (csvSeq !== null) {
      if (raw.seqLength !== undefined && intFlag(raw.seqLength, '--seq-length') !== csvSeq) {
        throw new FasopError(`--seq-length ${raw.seqLength} disagrees with ${raw.csv}, whose rank ${rank} was estimated at seq_length ${csvSeq}`,
          `drop --seq-length (export takes ${csvSeq} from the CSV), or search again at --seq-length ${raw.seqLength}`);
      }
      adj.seqLength = String(csvSeq);
    }
    Object.assign(adj, csvRecipe(io, raw, row.record.cost_source, csvEstimator, at, fromCli));
    // the model: the CSV's model column names it (fasop's files); --model-type / --model-config must agree
    const csvModel = row.model;
    const catalogModels = Object.keys(catalog.models);
    const modelGiven = fromCli('modelType') || raw.modelConfig !== undefined;
    if (!modelGiven) {
      // files without the model column (the original's) name the model by their file name
      const stem = basename(path).replace(/\.csv$/i, '').split('_')[0]!;
      const byName = catalogModels.includes(stem) ? stem : adj.modelType;
      if (csvModel && !catalogModels.includes(csvModel)) {
        throw new FasopError(`${at} was searched with model ${csvModel}, which is not in the catalog (a --model-config model); without the flag export would use ${byName}`,
          `pass the search's --model-config FILE (the config.json of ${csvModel})`);
      }
      adj.modelType = csvModel || byName;
    }
    const resolved = resolveSearchOptions(adj, csvTokens);
    if (csvModel && resolved.request.model.name !== csvModel) {
      const flag = raw.modelConfig !== undefined ? `--model-config ${raw.modelConfig} (model ${resolved.request.model.name})` : `--model-type ${raw.modelType}`;
      throw new FasopError(`${flag} is not the model of ${at}, which was searched with model ${csvModel}`,
        catalogModels.includes(csvModel) ? `pass --model-type ${csvModel}, or drop the flag (export takes the model from the CSV)` : `pass the search's --model-config FILE (the config.json of ${csvModel})`);
    }
    const req = resolved.request;
    const record = row.record;
    const placement = record.placement.map((t) => canonicalType(resolved.catalog, t));
    const p: ExportablePlan = { ...record, placement };
    const source = { mode: 'csv', csv: raw.csv, rank, index: row.index, ...(hits.length > 1 ? { tiedRows: hits.map((h) => h.index) } : {}) };
    // the exported partition is re-estimated with the search flags when the plan resolves (profiles found)
    let plan: ResolvedPlan | undefined;
    let estimator: Estimator | undefined;
    let why: string | undefined;
    if (record.partition.reduce((a, b) => a + b, 0) === 8 * req.model.num_layers + 2) try {
      estimator = getEstimator(req.estimator);
      const profiles = ProfileDb.open(resolved.profileDir);
      plan = resolvePlansOf(req, resolved.catalog, profiles, { ...record, execution: executionOf(record) }, placement)[0]!;
    } catch (err) {
      if (!(err instanceof FasopError)) throw err;
      why = `the plan could not be resolved for re-estimation: ${err.message}`;
      plan = undefined;
    }
    await out(p, req, plan, estimator, source, why);
    return;
  }

  const resolved = resolveSearchOptions(raw, gpuTokens);
  const req = resolved.request;
  const profiles = ProfileDb.open(resolved.profileDir);
  const estimator = getEstimator(req.estimator);
  const ctx = { catalog: resolved.catalog, profiles, estimator };

  if (raw.best) {
    const records = await search(req, ctx);
    const ranked = rankRecords(records);
    const candidates = ranked.filter((r) => raw.allowOom || !r.record.is_oom);
    if (!candidates.length) throw new FasopError(`all ${records.length} plans are estimated to run out of GPU memory`, 'add nodes, use a smaller model or gbs, or pass --allow-oom');
    // the best plan the chosen launcher runs: plans it cannot express (a recompute count torchtitan has no
    // pattern for, FSDP with pipeline stages in Megatron-LM) are passed over, and a notice names them
    const launcher = raw.format === 'megatron' ? 'Megatron-LM' : raw.format === 'torchtitan' ? 'torchtitan' : 'either launcher';
    const passed: Array<{ rank: number; why: string; hint: string }> = [];
    for (const chosen of candidates) {
      const rec = chosen.record;
      const plan = resolvePlansOf(req, resolved.catalog, profiles, { ...rec, execution: executionOf(rec) }, rec.placement)[0]!;
      const source = { mode: 'best', rank: chosen.rank, plans: records.length, oomSkipped: ranked.indexOf(chosen) - passed.length, ...(passed.length ? { launcherSkipped: passed.map((x) => x.rank) } : {}) };
      let r: Awaited<ReturnType<typeof exportPlan>>;
      try {
        r = await exportOf(rec, req, plan, estimator, source);
      } catch (err) {
        if (!(err instanceof FasopError)) throw err;
        passed.push({ rank: chosen.rank, why: err.message, hint: err.hint });
        continue;
      }
      const refusal = raw.format === 'json' ? undefined : r.refused[raw.format];
      if (refusal) {
        passed.push({ rank: chosen.rank, why: refusal.message, hint: refusal.hint });
        continue;
      }
      if (passed.length) {
        io.err(`[NOTICE] ${launcher} cannot run the ${passed.length === 1 ? 'plan' : `${passed.length} plans`} ranked above this one (rank ${passed[0]!.rank}: ${passed[0]!.why}); ` +
          `exporting rank ${chosen.rank}, the best plan ${launcher} runs`);
      }
      io.out(formatExport(r, raw.format));
      return;
    }
    throw new FasopError(`${launcher} ${candidates.length === 1 ? `cannot run the one plan${raw.allowOom ? '' : ' that fits'}` : `can run none of the ${candidates.length} plans${raw.allowOom ? '' : ' that fit'}`} (rank ${passed[0]!.rank}: ${passed[0]!.why})`, passed[0]!.hint || 'export with another --format');
  }

  const missing = ['tp', 'dp', 'pp', 'mbs'].filter((k) => !explicit.includes(k));
  if (missing.length) throw new FasopError(`explicit degrees need ${missing.map((k) => `--${k}`).join(', ')} too`, 'pass --tp N --dp N --pp N --mbs N');
  const want = { tp: intFlag(raw.tp, '--tp'), dp: intFlag(raw.dp, '--dp'), pp: intFlag(raw.pp, '--pp'), mbs: intFlag(raw.mbs, '--mbs'), gbs: req.gbsValues[0]! };
  const best = await resolveBestPlacement(req, ctx, want);
  await out(best.record, req, best.plan, estimator, { mode: 'explicit' });
}

/** Search flags that shape the plan (or the search) rather than price the one a CSV row holds. */
const CSV_IDLE = ['gbs', 'dataset', 'trainTokens', 'epochs', 'pareto', 'paretoGbsMax', 'ppPartitionMethod',
  'recompute', 'recomputeLayers', 'dpSharding', 'shardGroup', 'sequenceParallel', 'virtualStages', 'cp', 'plain'] as const;

const RECIPE_FLAGS = (['recipe', 'optimizer', 'launch', 'tpRuntime'] as const).map((k) => [k, flagOf(k)] as const);

/**
 * The recipe a CSV row was priced under (its cost_source's `recipe NAME`): taken when no recipe flag
 * is given; recipe flags that give another recipe are refused (the plan was ranked under the CSV's).
 */
function csvRecipe(io: CliIo, raw: RawExportOptions, costSource: string, estimator: string, at: string, fromCli: (option: string) => boolean): Partial<RawExportOptions> {
  const given = RECIPE_FLAGS.filter(([k]) => fromCli(k));
  const named = /(?:^|;\s*)recipe ([^;\s]+)/.exec(costSource)?.[1];
  const typed = given.map(([k, flag]) => `${flag} ${raw[k]}`).join(' ');
  if (estimator === 'reference') {
    if (given.length) {
      throw new FasopError(`${given.map(([, f]) => f).join(', ')} ${given.length === 1 ? 'does' : 'do'} nothing with --csv: ${at} was priced by the reference estimator, which has no training recipe`,
        `drop ${given.length === 1 ? 'it' : 'them'}`);
    }
    return {};
  }
  // a fasop row without the recipe note: the flags (or the default) price it, as before
  if (named === undefined) return {};
  if (!RECIPE_AXES.has(named)) {
    throw new FasopError(`${at} was priced under recipe '${named.length > 60 ? `${named.slice(0, 60)}…` : named}', which fasop export cannot select`,
      `export a plan of a fasop search CSV (recipes: ${[...RECIPE_AXES.keys()].join(', ')})`);
  }
  if (given.length) {
    // --optimizer, --launch, --tp-runtime change one axis of --recipe, or else of the CSV's recipe
    const mine = recipeOfOptions({ ...raw, recipe: fromCli('recipe') ? raw.recipe : named }).name;
    if (mine !== named) {
      throw new FasopError(`${typed}${given.length === 1 && given[0]![0] === 'recipe' ? '' : ` (recipe ${mine})`} disagrees with ${at}, which was priced under recipe ${named}`,
        `drop ${given.map(([, f]) => f).join(', ')} (export takes ${named} from the CSV), or search again under ${mine} and export from the new CSV`);
    }
    return {};
  }
  if (named !== raw.recipe) io.err(`[NOTICE] ${at} was priced under recipe ${named} (its cost_source): exporting under ${named}, not the default ${raw.recipe}`);
  return { recipe: named, optimizer: undefined, launch: undefined, tpRuntime: undefined };
}

/** No row has this rank: out of the file's range, or skipped because tied rows share the smallest rank. */
function missingRank(rows: readonly CsvPlanRow[], rank: number, csv: string): FasopError {
  if (!rows.length) return new FasopError(`no row of rank ${rank} in ${csv}`, 'the CSV has no rows: pass a results CSV with plans');
  const ranks = [...new Set(rows.map((r) => r.rank))].sort((a, b) => a - b);
  const lo = ranks[0]!;
  const hi = ranks.at(-1)!;
  if (rank < lo || rank > hi) return new FasopError(`no row of rank ${rank} in ${csv}`, `pass a rank from ${lo} to ${hi}`);
  const below = ranks.filter((r) => r < rank).at(-1)!;
  const above = ranks.find((r) => r > rank)!;
  const tied = rows.filter((r) => r.rank === below).length;
  return new FasopError(`no row of rank ${rank} in ${csv}: tied rows share the smallest rank, and ${tied} rows tie at rank ${below}, so the next rank is ${above}`,
    `pass --rank ${below} (the first of the tied rows) or --rank ${above}`);
}

/** Placement cells hold GPU type names (ours) or instance names (the original's node_type); anything else is an error. */
function canonicalType(catalog: Catalog, name: string): string {
  if (ownGet(catalog.gpus, name)) return name;
  const hit = Object.entries(catalog.gpus).find(([, g]) => g.instance.name === name);
  if (!hit) {
    throw new FasopError(`the plan's placement names GPU type '${name.length > 60 ? `${name.slice(0, 60)}…` : name}', which is not in the catalog`,
      `use a CSV whose placement holds catalog types (${Object.keys(catalog.gpus).sort().join(', ')}), or add the type with --catalog FILE`);
  }
  return hit[0];
}
