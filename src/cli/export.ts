import { basename } from 'node:path';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { FasopError } from '../errors.js';
import { getEstimator } from '../estimate/index.js';
import type { ResolvedPlan } from '../estimate/plan.js';
import { readPlanCsvFile } from '../export/csv-row.js';
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
import { checkExportFlagModes, givenFlags } from './flag-modes.js';
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
    if (hits.length === 0) {
      const ranks = rows.map((r) => r.rank);
      throw new FasopError(`no row of rank ${rank} in ${raw.csv}`, rows.length ? `ranks go from ${Math.min(...ranks)} to ${Math.max(...ranks)}` : 'the CSV has no rows');
    }
    const row = hits[0]!;
    if (row.record.is_oom) {
      const fit = rows.filter((r) => !r.record.is_oom).sort((a, b) => a.rank - b.rank || a.index - b.index)[0];
      io.err(`[NOTICE] rank ${rank} of ${raw.csv} is estimated to run out of GPU memory (${row.record.oom_gpumem.toFixed(2)} GiB per GPU); ` +
        (fit ? `the best plan that fits is rank ${fit.rank}: --rank ${fit.rank}` : 'no plan in this file fits'));
    }
    // Flags the user did not give come from the CSV: cluster, gbs, estimator, model (by file name).
    const adj: RawExportOptions = { ...raw, gbs: String(row.record.gbs), paretoGbsMax: undefined };
    // the sequence length the plan was estimated at (files fasop wrote carry it); a different one is another plan
    const csvSeq = row.record.seq_length;
    if (csvSeq !== null) {
      if (raw.seqLength !== undefined && intFlag(raw.seqLength, '--seq-length') !== csvSeq) {
        throw new FasopError(`--seq-length ${raw.seqLength} disagrees with ${raw.csv}, whose rank ${rank} was estimated at seq_length ${csvSeq}`,
          `drop --seq-length (export takes ${csvSeq} from the CSV), or search again at --seq-length ${raw.seqLength}`);
      }
      adj.seqLength = String(csvSeq);
    }
    // a CSV without an estimator column was written by the original FASOP: its numbers are the reference's
    if (!fromCli('estimator')) adj.estimator = row.record.estimator === 'fasop' ? 'fasop' : 'reference';
    const tokens = gpuTokens ?? clusterTokens(row.record.gpu_cluster_str);
    let catalogModels: string[] = [];
    const resolved = (() => {
      const first = resolveSearchOptions(adj, tokens);
      catalogModels = Object.keys(first.catalog.models);
      if (fromCli('modelType') || raw.modelConfig) return first;
      const stem = basename(path).replace(/\.csv$/i, '').split('_')[0]!;
      return catalogModels.includes(stem) && stem !== first.request.model.name ? resolveSearchOptions({ ...adj, modelType: stem }, tokens) : first;
    })();
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
    throw new FasopError(`${launcher} can run none of the ${candidates.length} plans${raw.allowOom ? '' : ' that fit'} (rank ${passed[0]!.rank}: ${passed[0]!.why})`, passed[0]!.hint || 'export with another --format');
  }

  const missing = ['tp', 'dp', 'pp', 'mbs'].filter((k) => !explicit.includes(k));
  if (missing.length) throw new FasopError(`explicit degrees need ${missing.map((k) => `--${k}`).join(', ')} too`, 'pass --tp N --dp N --pp N --mbs N');
  const want = { tp: intFlag(raw.tp, '--tp'), dp: intFlag(raw.dp, '--dp'), pp: intFlag(raw.pp, '--pp'), mbs: intFlag(raw.mbs, '--mbs'), gbs: req.gbsValues[0]! };
  const best = await resolveBestPlacement(req, ctx, want);
  await out(best.record, req, best.plan, estimator, { mode: 'explicit' });
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
