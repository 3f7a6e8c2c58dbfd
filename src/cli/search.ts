import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Command } from 'commander';
import { iterationsFor, type TrainingBudget } from '../catalog/catalog.js';
import type { DatasetSpec } from '../catalog/schema.js';
import { RECIPES } from '../estimate/recipe.js';
import { planExtras, type PlanExtras } from '../report/plan-extras.js';
import { claimNewFile, originalCsvStem, resultStem, writeNewFile } from '../report/result-names.js';
import { EXIT_NO_PLAN_FITS, ExitStatus } from './exit.js';
import { FasopError } from '../errors.js';
import { getEstimator } from '../estimate/index.js';
import { ProfileDb } from '../profiles/db.js';
import { checkPlainName, confinedPath } from '../guard/output-path.js';
import { checkDistinctFiles, ensureWritableDir, LineFile, writeFileAtomic } from '../guard/write.js';
import { ProgressLine, summaryLines, verboseLines } from '../report/console.js';
import { csvChunks, rankRecords, type RankedRecord } from '../report/csv.js';
import { ResultTable } from '../report/result-table.js';
import { jsonlMeta, jsonlOom, jsonlParetoMeta, jsonlRecord } from '../report/jsonl.js';
import { clusterString } from '../request/cluster.js';
import type { PlanRecord } from '../search/record.js';
import { defaultWorkers, parallelSearchEvents, PARALLEL_MIN_PLANS } from '../search/parallel.js';
import { perStrategy, toRecord, type OomRecord, type SearchEvent } from '../search/search.js';
import { resolvePlans } from '../plan/resolve.js';
import { formatOomCsv } from '../report/oom-csv.js';
import { runExhaustive } from './exhaustive.js';
import { checkSearchFlagModes, givenFlags } from './flag-modes.js';
import type { CliIo } from './io.js';
import { addSearchOptions, intFlag, resolveSearchOptions, type RawSearchOptions } from './search-options.js';

function timestamp(d = new Date()): string {
  const p = (x: number) => String(x).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** `fasop search` (also `fasop --gpus ...`): enumerate, estimate, rank, write the original's outputs. */
export function searchCommand(io: CliIo, gpuTokens: string[] | undefined, hooks: SearchHooks = {}): Command {
  return addSearchOptions(new Command('search'))
    .description('search every TP/PP/DP/micro-batch plan and layer partition for a cluster; rank by total training time')
    .action(async (raw: RawSearchOptions, cmd: Command) => {
      checkSearchFlagModes(raw, givenFlags(cmd), gpuTokens !== undefined);
      await runSearch(io, raw, gpuTokens, hooks);
    });
}

/** Extension points that later features (Pareto chart) plug into without touching this file's flow. */
export interface SearchHooks {
  onlyMakePareto?: (io: CliIo, csvPath: string, title: string | undefined) => Promise<void> | void;
  makePareto?: (io: CliIo, csvPath: string, title: string | undefined, modelType: string, pngPath: string) => Promise<void> | void;
}

export async function runSearch(io: CliIo, raw: RawSearchOptions, gpuTokens: string[] | undefined, hooks: SearchHooks): Promise<void> {
  // Names that become file names are checked first: nothing is written outside the output folder.
  checkPlainName(raw.addExpName, '--add-exp-name', true);
  if (raw.paretoTitle !== undefined) checkPlainName(raw.paretoTitle, '--pareto-title');
  if (raw.onlyMakePareto !== undefined) {
    if (!hooks.onlyMakePareto) throw new FasopError('--only-make-pareto is not available in this build', 'update fasop');
    await hooks.onlyMakePareto(io, resolve(io.cwd, raw.onlyMakePareto), raw.paretoTitle);
    return;
  }
  const resolved = resolveSearchOptions(raw, gpuTokens);
  const { request: req, catalog } = resolved;
  const profiles = ProfileDb.open(resolved.profileDir);
  const estimator = getEstimator(req.estimator);
  const workers = raw.workers === undefined ? defaultWorkers() : intFlag(raw.workers, '--workers', { max: 256 });

  if (raw.exhaustive) {
    await runExhaustive(io, raw, resolved, profiles, estimator);
    return;
  }

  // Every path is decided and checked before any work, so a bad flag never leaves a partial file.
  const outputDir = raw.outputDir ? resolve(io.cwd, raw.outputDir) : join(io.cwd, 'main_logs');
  const ts = timestamp();
  const gpuStr = req.gpus.map((g) => `${g.type}${g.nodes}`).join('_');
  const stem = `${req.model.name}_${gpuStr}_gbs${req.gbsValues.length > 1 ? raw.gbs : req.gbsValues[0]}_${ts}`;
  // the original's names (replaced by every run) in its mode or when asked; else one new file per run
  const originalNames = raw.originalNames ?? req.estimator === 'reference';
  const csvStem = originalNames
    ? originalCsvStem(req.model.name, req.gpus.length > 1, req.pareto, raw.addExpName)
    : resultStem(req.model.name, req.gpus, req.gbsValues, req.pareto, raw.addExpName);
  const csvPath = raw.saveCsv ? confinedPath(outputDir, `${csvStem}.csv`, '--add-exp-name') : undefined;
  const titledChart = req.pareto && raw.makePareto && raw.paretoTitle ? confinedPath(outputDir, `${raw.paretoTitle}.png`, '--pareto-title') : undefined;
  let logPath = raw.logFile ? resolve(io.cwd, raw.logFile) : raw.verbose ? join(outputDir, `${stem}.log`) : undefined;
  let jsonlPath = raw.parsing ? (raw.parsingFile ? resolve(io.cwd, raw.parsingFile) : join(outputDir, `${stem}.jsonl`)) : undefined;
  // The folder of a file the user names must exist; the output directory is created on demand,
  // once the request has been checked (so that an error leaves no new folder behind).
  const dirs = new Set([csvPath, logPath, jsonlPath].filter((p): p is string => p !== undefined).map((p) => dirname(p)));
  for (const dir of dirs) {
    if (dir !== outputDir) ensureWritableDir(dir, dir === dirname(jsonlPath ?? '') ? '--parsing-file' : '--log-file', false);
  }
  const chartPng = req.pareto && raw.makePareto ? titledChart ?? (originalNames ? csvPath?.replace(/\.csv$/, '.png') : undefined) : undefined;
  checkDistinctFiles([
    ...(raw.logFile && logPath ? [{ path: logPath, flag: '--log-file' }] : []),
    ...(raw.parsingFile && jsonlPath ? [{ path: jsonlPath, flag: '--parsing-file' }] : []),
  ], [
    ...(csvPath && originalNames ? [{ path: csvPath, what: 'the results CSV' }] : []),
    ...(csvPath && originalNames && raw.listOom ? [{ path: csvPath.replace(/\.csv$/, '_oom.csv'), what: 'the out-of-memory list' }] : []),
    ...(chartPng ? [{ path: chartPng, what: 'the chart' }, { path: chartPng.replace(/\.png$/i, '.svg'), what: 'the chart' }] : []),
    ...profiles.list().map((e) => ({ path: e.path, what: 'a profile' })),
    ...(raw.modelConfig ? [{ path: raw.modelConfig, what: '--model-config' }] : []),
    ...raw.catalog.map((f) => ({ path: f, what: '--catalog' })),
    ...(raw.hostProfile ? [{ path: raw.hostProfile, what: '--host-profile' }] : []),
  ]);

  let log: LineFile | undefined;
  const out = (text: string) => {
    io.out(text);
    log?.write(text.endsWith('\n') ? text : `${text}\n`);
  };
  let jsonlFile: LineFile | undefined;
  const jsonl = (line: string) => {
    if (jsonlFile === undefined) return;
    jsonlFile.write(`${line}\n`); // one write per line: a reader never sees half a record
    out(line);
  };
  const progress = new ProgressLine((s) => io.err(s.replace(/\n$/, '')), raw.verbose ? 'off' : io.errIsTty ? 'tty' : 'lines');
  const started = Date.now();
  // every result, compactly, for the ranked CSV and the summary
  const table = new ResultTable();
  // strategies none of whose executions fits (perStrategy): counted, listed with --list-oom, the leanest kept to explain
  const notFit = { count: 0, untimed: 0 };
  const oomRows: OomRecord[] = [];
  const leanest: OomRecord[] = [];
  try {
    // Errors in the request surface here (before any output file is opened).
    let threadsLine = '';
    const events = parallelSearchEvents(req, { catalog, profiles, estimator }, {
      workers,
      source: { raw, gpuTokens: gpuTokens ?? [] },
      // the reports read of an estimate only what planExtras does
      slimEstimates: true,
      onThreads: (threads, plans) => {
        const asked = raw.workers === undefined ? 'all cores' : `--workers ${workers}`;
        threadsLine = threads > 1 || workers === 1
          ? `Threads: ${threads} (${asked})`
          : `Threads: 1 (${plans.toLocaleString('en-US')} plans; the search splits over threads from ${PARALLEL_MIN_PLANS.toLocaleString('en-US')} plans)`;
      },
    });
    const first = await events.next();
    if (dirs.has(outputDir)) ensureWritableDir(outputDir, '--output-dir');
    // default log and JSONL names are claimed exclusively: runs started in the same second get _2, _3, …
    if (logPath) {
      if (raw.logFile) log = new LineFile(logPath);
      else {
        const claimed = claimNewFile(outputDir, stem, '.log');
        logPath = claimed.path;
        log = new LineFile(claimed.path, claimed.fd);
      }
      out(`[LOG] Output will be saved to: ${logPath}`);
    }
    if (jsonlPath) {
      if (raw.parsingFile) jsonlFile = new LineFile(jsonlPath);
      else {
        const claimed = claimNewFile(outputDir, stem, '.jsonl');
        jsonlPath = claimed.path;
        jsonlFile = new LineFile(claimed.path, claimed.fd);
      }
      out(`[PARSING] Real-time results will be saved to: ${jsonlPath}`);
    }
    for (const line of resolved.notices) out(line);
    if (req.pareto && resolved.gpuPerNodeDefaulted) out('[PARETO] --gpu-per-node not given: using 8 GPUs per node for Pareto experiments');
    const nodes = req.gpus.reduce((a, g) => a + g.nodes, 0);
    out([
      `GPU Cluster: ${clusterString(req.gpus)}, Total nodes: ${nodes} (${nodes * req.gpusPerNode} GPUs, ${req.gpusPerNode} per node)`,
      `Heterogeneous: ${req.gpus.length > 1 ? 'True' : 'False'}`,
      `Dataset: ${req.dataset.name}, GBS: ${req.gbsValues.join(', ')}`,
      '',
      '='.repeat(60),
      `Model: ${req.model.name}, Precision: ${req.precision}, Estimator: ${req.estimator}`,
      `Dataset: ${req.dataset.name} (${req.dataset.description})`,
      ...budgetLines(resolved.budget, resolved.catalogDataset, req.model.seq_length),
      `  GBS: ${req.gbsValues.join(', ')}, Seq len: ${req.model.seq_length}`,
      `  Iterations: ${req.gbsValues.map((g) => iterationsFor(req.dataset, g).toLocaleString('en-US')).join(', ')}`,
      `PP Partition Method: ${raw.ppPartitionMethod}`,
      `Profiles: ${profiles.dir}`,
      ...(threadsLine ? [threadsLine] : []),
      '='.repeat(60),
      '',
    ].join('\n'));
    if (req.gbsValues.length > 1) out(`[PARETO] GBS pivoting enabled: [${req.gbsValues.join(', ')}]`);

    let total = 0;
    let placementTotal = 0;
    let idxInPlacement = 0;
    let valid = 0;
    let oom = 0;
    let last = Date.now();
    const handle = (ev: SearchEvent | void) => {
      if (!ev) return;
      if (ev.type === 'pareto_meta') {
        total = ev.pareto_total_count;
        jsonl(jsonlParetoMeta(ev.pareto_total_count, ev.gbs_values, ev.model_type, ev.gpu_cluster));
        out(`[PARETO] Total combinations across all GBS values: ${ev.pareto_total_count}`);
      } else if (ev.type === 'meta') {
        const count = ev.total_count * ev.placements.length;
        if (!req.pareto) total += count;
        placementTotal = ev.total_count;
        jsonl(jsonlMeta(count, ev.gbs, ev.cluster));
        if (raw.verbose) {
          out(`Available TP values: [${ev.tpCandidates.join(', ')}]`);
          out(`[SEARCH] Total combinations: ${count}${ev.placements.length > 1 ? ` (${ev.total_count} per placement x ${ev.placements.length} placements)` : ''}`);
          out(`[SEARCH] PP Partition Method: ${raw.ppPartitionMethod}`);
        }
      } else if (ev.type === 'placement') {
        idxInPlacement = 0;
        if (raw.verbose) out(`Device placement: [${ev.nodes.map((t: string) => `'${t}'`).join(', ')}]`);
      } else if (ev.type === 'oom') {
        idxInPlacement += 1;
        oom += 1;
        notFit.count += 1;
        if (ev.oom.timedExecutions === 0) notFit.untimed += 1;
        if (raw.listOom) oomRows.push(ev.oom);
        keepLeanest(leanest, ev.oom);
        if (jsonlFile !== undefined) jsonl(jsonlOom(ev.index, ev.oom));
        progress.update(table.length + notFit.count, total, valid, oom);
      } else {
        idxInPlacement += 1;
        table.add(ev.record, planExtras(ev.record, ev.estimate, req.model.num_layers));
        if (ev.record.is_oom) oom += 1;
        else valid += 1;
        if (jsonlFile !== undefined) jsonl(jsonlRecord(ev.index, ev.record)); // not formatted when not written
        const now = Date.now();
        if (raw.verbose) out(verboseLines(idxInPlacement, placementTotal, ev.record, (now - last) / 1000));
        last = now;
        progress.update(table.length + notFit.count, total, valid, oom);
      }
    };
    handle(first.value);
    if (!first.done) for await (const ev of events) handle(ev);
  } catch (err) {
    log?.close(true);
    throw err;
  } finally {
    progress.finish();
    jsonlFile?.close();
  }

  const seconds = (Date.now() - started) / 1000;
  const order = req.estimator === 'reference' ? 'time' : 'fits-first';
  const csvText = () => csvChunks(table, { order, fillLayers: req.estimator !== 'reference', context: { model: req.model.name, dataset: req.dataset.name, ...(resolved.budget.tokens !== undefined ? { trainTokens: resolved.budget.tokens } : {}) } });
  let savedCsv: string | undefined;
  if (csvPath) {
    if (originalNames) {
      if (existsSync(csvPath)) out(`[CSV] Replacing the earlier ${csvPath} (the original's file name; --no-original-names keeps every result)`);
      writeFileAtomic(csvPath, csvText());
      savedCsv = csvPath;
    } else {
      savedCsv = writeNewFile(outputDir, csvStem, '.csv', csvText());
    }
  } else out('[INFO] CSV save skipped (--no-save-csv)');
  let listed: string | undefined;
  if (raw.listOom && savedCsv) {
    const text = formatOomCsv(oomRows);
    const stem = `${basename(savedCsv, '.csv')}_oom`;
    if (originalNames) {
      listed = join(outputDir, `${stem}.csv`);
      writeFileAtomic(listed, text);
    } else listed = writeNewFile(outputDir, stem, '.csv', text);
  }
  out('');
  const noFitExit = req.estimator === 'reference' ? undefined : EXIT_NO_PLAN_FITS;
  // nothing fits and nothing was kept: the leanest plan is estimated once, to say what it needs
  let shown: RankedRecord[];
  let shownExtras: PlanExtras[] = [];
  let counts: { results: number; fitting: number } | undefined;
  if (table.fits > 0) {
    // the summary names the best plan that fits: rank 1 of the fits-first order (the first fit of the time order)
    const { order: ranked, rank } = table.ranked(order);
    let p = 0;
    while (table.isOom(ranked[p]!)) p += 1;
    const i = ranked[p]!;
    const record = table.record(i);
    shown = [{ index: i, record, rank: rank[p]! }];
    shownExtras[i] = table.extras(i, record)!;
    counts = { results: table.length, fitting: table.fits };
  } else if (table.length > 0) {
    const all = Array.from({ length: table.length }, (_, i) => table.record(i));
    shownExtras = all.map((r, i) => table.extras(i, r)!);
    shown = rankRecords(all, order);
  } else {
    const all: PlanRecord[] = [];
    for (const lean of leanest) {
      const [plan] = resolvePlans({ ...req, gbsValues: [lean.gbs], pareto: false, executions: [lean.execution] }, catalog, profiles, { ...lean, execution: lean.execution }, lean.placement);
      const est = await estimator(plan!);
      const rec = toRecord(plan!, est, lean.placement, lean.gpu_cluster_str, req);
      all.push(rec);
      shownExtras.push(planExtras(rec, est, req.model.num_layers));
    }
    shown = rankRecords(all, order);
  }
  out(summaryLines(shown, seconds, savedCsv, {
    ...(counts ? { counts } : {}),
    ...(perStrategy(req) ? { notFit: { ...notFit, ...(listed ? { listed } : {}) } } : {}),
    searched: (req.executions ?? []).map((e) => ({ dp_sharding: e.dpSharding, recompute: e.recompute, sequence_parallel: e.sequenceParallel })),
    extras: shownExtras,
    gpusPerNode: req.gpusPerNode,
    cluster: req.gpus,
    leanerRecipes: req.estimator === 'reference' ? [] : leanerRecipes(req.recipe?.stateBytesPerParam ?? RECIPES['megatron-mixed']!.stateBytesPerParam),
    ...(noFitExit !== undefined ? { noFitExitCode: noFitExit } : {}),
  }));
  if (savedCsv && table.fits > 0) out(`Next: fasop export --csv ${savedCsv} --rank 1 --format megatron${req.pareto ? `   |   chart: fasop --only-make-pareto ${savedCsv}` : ''}`);
  if (req.pareto && raw.makePareto && savedCsv && hooks.makePareto) {
    await hooks.makePareto(io, savedCsv, raw.paretoTitle, req.model.name, titledChart ?? savedCsv.replace(/\.csv$/, '.png'));
  }
  if (jsonlPath) out(`[PARSING] Results saved to: ${jsonlPath} (${table.length} entries)`);
  if (log !== undefined) {
    io.out(`[LOG] Log saved to: ${logPath}`);
    log.close();
  }
  if (noFitExit !== undefined && (table.length > 0 || notFit.count > 0) && table.fits === 0) throw new ExitStatus(noFitExit);
}

/** How many of the leanest plans that do not fit are estimated when nothing fits, to name the leanest. */
const LEANEST_ESTIMATED = 16;

/** Keep the plans of the lowest memory floor (or peak) against their limit, at most LEANEST_ESTIMATED. */
function keepLeanest(kept: OomRecord[], r: OomRecord): void {
  const ratio = (x: OomRecord) => x.overRatio;
  if (kept.length >= LEANEST_ESTIMATED && ratio(r) >= ratio(kept[kept.length - 1]!)) return;
  let i = kept.length;
  while (i > 0 && ratio(kept[i - 1]!) > ratio(r)) i -= 1;
  kept.splice(i, 0, r);
  if (kept.length > LEANEST_ESTIMATED) kept.pop();
}

/** Recipes that keep fewer bytes of state per parameter than `bytes`: `a or b (8 B/param of state instead of 18)`. */
function leanerRecipes(bytes: number): string[] {
  const byBytes = new Map<number, string[]>();
  for (const r of Object.values(RECIPES)) if (r.stateBytesPerParam < bytes) byBytes.set(r.stateBytesPerParam, [...(byBytes.get(r.stateBytesPerParam) ?? []), r.name]);
  return [...byBytes].sort((a, b) => a[0] - b[0]).map(([b, names]) => `${names.join(' or ')} (${b} B/param of state instead of ${bytes})`);
}

/** The training budget as the header prints it. */
function budgetLines(b: TrainingBudget, dataset: DatasetSpec, seqLength: number): string[] {
  const n = (x: number) => x.toLocaleString('en-US');
  if (b.from === 'samples') return [`  Dataset samples: ${n(dataset.samples)}${b.epochs !== 1 ? ` × ${b.epochs} epochs = ${n(b.samples)}` : ''} (one sample = one sequence of ${seqLength} tokens)`];
  const head = b.from === 'train-tokens'
    ? `  Training budget: ${n(b.tokens!)} tokens (--train-tokens)`
    : `  Training budget: ${n(b.tokens!)} tokens = ${b.epochs} epoch${b.epochs === 1 ? '' : 's'} of ${dataset.name}'s ${n(dataset.tokens!)} tokens (${b.source})`;
  return [head, `  = ${n(b.samples)} sequences of ${seqLength} tokens`];
}
