import { dirname, join, resolve } from 'node:path';
import { Command } from 'commander';
import { FasopError } from '../errors.js';
import { getEstimator } from '../estimate/index.js';
import { ProfileDb } from '../profiles/db.js';
import { checkPlainName, confinedPath } from '../guard/output-path.js';
import { ensureWritableDir, LineFile, writeFileAtomic } from '../report/atomic.js';
import { ProgressLine, summaryLines, verboseLines } from '../report/console.js';
import { formatCsv, rankRecords } from '../report/csv.js';
import { jsonlMeta, jsonlParetoMeta, jsonlRecord } from '../report/jsonl.js';
import { clusterString } from '../search/cluster.js';
import type { PlanRecord } from '../search/record.js';
import { searchEvents, type SearchEvent } from '../search/search.js';
import { runExhaustive } from './exhaustive.js';
import { checkSearchFlagModes, givenFlags } from './flag-modes.js';
import type { CliIo } from './io.js';
import { addSearchOptions, resolveSearchOptions, type RawSearchOptions } from './search-options.js';

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
  const profiles = ProfileDb.open(resolved.profileDir, { model: resolved.request.model });
  const estimator = getEstimator(req.estimator);

  if (raw.exhaustive) {
    await runExhaustive(io, raw, resolved, profiles, estimator);
    return;
  }

  // Every path is decided and checked before any work, so a bad flag never leaves a partial file.
  const outputDir = raw.outputDir ? resolve(io.cwd, raw.outputDir) : join(io.cwd, 'main_logs');
  const ts = timestamp();
  const gpuStr = req.gpus.map((g) => `${g.type}${g.nodes}`).join('_');
  const stem = `${req.model.name}_${gpuStr}_gbs${req.gbsValues.length > 1 ? raw.gbs : req.gbsValues[0]}_${ts}`;
  const exp = `${req.model.name}${req.gpus.length > 1 ? '_heterogeneous' : ''}${req.pareto ? '_pareto' : ''}${raw.addExpName}`;
  const csvPath = raw.saveCsv ? confinedPath(outputDir, `${exp}.csv`, '--add-exp-name') : undefined;
  const chartPath = req.pareto && raw.makePareto && csvPath
    ? (raw.paretoTitle ? confinedPath(outputDir, `${raw.paretoTitle}.png`, '--pareto-title') : csvPath.replace(/\.csv$/, '.png'))
    : undefined;
  const logPath = raw.logFile ? resolve(io.cwd, raw.logFile) : raw.verbose ? join(outputDir, `${stem}.log`) : undefined;
  const jsonlPath = raw.parsing ? (raw.parsingFile ? resolve(io.cwd, raw.parsingFile) : join(outputDir, `${stem}.jsonl`)) : undefined;
  // The folder of a file the user names must exist; the output directory is created on demand,
  // once the request has been checked (so that an error leaves no new folder behind).
  const dirs = new Set([csvPath, logPath, jsonlPath].filter((p): p is string => p !== undefined).map((p) => dirname(p)));
  for (const dir of dirs) {
    if (dir !== outputDir) ensureWritableDir(dir, dir === dirname(jsonlPath ?? '') ? '--parsing-file (create the folder first)' : '--log-file (create the folder first)', false);
  }

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
  const progress = new ProgressLine((s) => io.err(s.replace(/\n$/, '')), io.errIsTty && !raw.verbose);
  const started = Date.now();
  const records: PlanRecord[] = [];
  try {
    // Errors in the request surface here (before any output file is opened).
    const events = searchEvents(req, { catalog, profiles, estimator });
    const first = await events.next();
    if (dirs.has(outputDir)) ensureWritableDir(outputDir, '--output-dir');
    if (logPath) {
      log = new LineFile(logPath);
      out(`[LOG] Output will be saved to: ${logPath}`);
    }
    if (jsonlPath) {
      jsonlFile = new LineFile(jsonlPath);
      out(`[PARSING] Real-time results will be saved to: ${jsonlPath}`);
    }
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
      `  Dataset samples: ${req.dataset.samples.toLocaleString('en-US')}`,
      `  GBS: ${req.gbsValues.join(', ')}, Seq len: ${req.model.seq_length}`,
      `  Iterations: ${req.gbsValues.map((g) => Math.floor(req.dataset.samples / g).toLocaleString('en-US')).join(', ')}`,
      `PP Partition Method: ${raw.ppPartitionMethod}`,
      `Profiles: ${profiles.dir}`,
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
      } else {
        idxInPlacement += 1;
        records.push(ev.record);
        if (ev.record.is_oom) oom += 1;
        else valid += 1;
        jsonl(jsonlRecord(ev.index, ev.record));
        const now = Date.now();
        if (raw.verbose) out(verboseLines(idxInPlacement, placementTotal, ev.record, (now - last) / 1000));
        last = now;
        progress.update(records.length, total, valid, oom);
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
  if (csvPath) writeFileAtomic(csvPath, formatCsv(records));
  else out('[INFO] CSV save skipped (--no-save-csv)');
  out('');
  out(summaryLines(rankRecords(records), seconds, csvPath));
  if (chartPath && csvPath && hooks.makePareto) await hooks.makePareto(io, csvPath, raw.paretoTitle, req.model.name, chartPath);
  if (jsonlPath) out(`[PARSING] Results saved to: ${jsonlPath} (${records.length} entries)`);
  if (log !== undefined) {
    io.out(`[LOG] Log saved to: ${logPath}`);
    log.close();
  }
}

