import { inFlightMicroBatches, peakMoment, partsTotal, type MemoryParts } from '../estimate/memory-bytes.js';
import type { StageBreakdown } from '../estimate/plan.js';
import type { PlanRecord } from '../search/record.js';
import type { RankedRecord } from './csv.js';
import type { PlanExtras } from './plan-extras.js';

/** `[41,41,...,34]` for more than 5 stages, `[162, 162, 162, 156]` otherwise (SPEC §13.4). */
export function shortPartition(p: readonly number[]): string {
  if (p.length === 0) return 'partition=None';
  return p.length <= 5 ? `[${p.join(', ')}]` : `[${p[0]},${p[1]},...,${p[p.length - 1]}]`;
}

export function verbosePrefix(idx: number, total: number, r: Pick<PlanRecord, 'mbs' | 'pp' | 'dp' | 'tp'>): string {
  return `[${String(idx).padStart(3)}/${total}] MBS=${String(r.mbs).padStart(2)} PP=${String(r.pp).padStart(2)} DP=${String(r.dp).padStart(2)} TP=${r.tp}`;
}

/** The two verbose lines of one plan (the original's, with its \r progress folded). */
export function verboseLines(idx: number, total: number, r: PlanRecord, seconds: number): string {
  const prefix = verbosePrefix(idx, total, r);
  const p = r.partition;
  const mean = p.reduce((a, b) => a + b, 0) / p.length;
  const imbal = ((Math.max(...p) - Math.min(...p)) / mean) * 100;
  const bi = p.indexOf(Math.max(...p));
  const pad = ' '.repeat(`[${String(idx).padStart(3)}/${total}] `.length);
  return `${prefix} | complete! ${seconds.toFixed(2)}s\n${pad}${shortPartition(p).padEnd(23)} | imbal=${imbal.toFixed(2).padStart(5)}% b=${bi} | step=${r.step_time.toFixed(4)}s`;
}

/** What the summary knows beyond the ranked records (all optional: the original's summary needs none). */
export interface SummaryContext {
  /** extras of each record, by the record's evaluation index */
  extras?: readonly PlanExtras[];
  /** GPUs per node of the search */
  gpusPerNode?: number;
  /** the searched cluster, to suggest a larger one */
  cluster?: readonly { type: string; nodes: number }[];
  /** recipes that keep fewer bytes of state per parameter than the one searched, e.g. `bf16-adamw (8 B/param)` */
  leanerRecipes?: readonly string[];
  /** exit status printed when nothing fits */
  noFitExitCode?: number;
  /** strategies (on a placement) none of whose executions fits, kept out of `ranked`; `untimed` of them known by their memory floor alone */
  notFit?: { count: number; untimed: number; listed?: string };
  /** the executions searched, as record columns (techniques not worth suggesting again) */
  searched?: readonly Pick<PlanRecord, 'dp_sharding' | 'recompute' | 'sequence_parallel'>[];
  /** how many results there are and how many fit, when `ranked` holds only some of them (at least the best that fits) */
  counts?: { results: number; fitting: number };
}

const gib = (x: number) => `${x.toFixed(2)} GiB`;

/** Micro-batches per step of a plan (gbs / (mbs·dp)). */
function microBatches(r: PlanRecord): number {
  return r.gbs / (r.mbs * r.dp);
}

/** Every part of one plan, one item a line (gbs, sub-cluster, GPUs, TP/PP/DP, micro batch, layers, memory). */
export function planLines(b: PlanRecord, x: PlanExtras | undefined, gpusPerNode: number | undefined): string[] {
  const gpus = b.tp * b.cp * b.dp * b.pp;
  const nodes = b.node_type.length;
  const layers = x?.layersPerStage ?? b.partition_layers;
  return [
    `  Batch: gbs ${b.gbs} = micro-batch ${b.mbs} × ${microBatches(b)} micro-batch${microBatches(b) === 1 ? '' : 'es'} × DP ${b.dp}`,
    `  GPUs: ${b.gpu_cluster_str} — ${gpus} GPUs (${nodes} node${nodes === 1 ? '' : 's'}${gpusPerNode ? ` × ${gpusPerNode}` : ''})`,
    `  Parallelism: TP=${b.tp}, PP=${b.pp}, DP=${b.dp}, MBS=${b.mbs}${b.cp > 1 ? `, CP=${b.cp}` : ''}`,
    ...executionLine(b),
    // only a plan cut inside layers (the reference estimator's operator partitions) shows its graph operators
    `  Layers per stage: ${layers ? `[${layers.join(', ')}]` : 'n/a'}${x?.layersRounded ? ` (rounded to whole layers, as fasop export runs it: the plan cuts inside layers, graph operators per stage [${b.partition.join(', ')}])` : ''}`,
    x && Number.isFinite(x.memoryLimit_GiB)
      ? `  Memory: ${gib(x.peakMemory_GiB)} of ${gib(x.memoryLimit_GiB)} usable per GPU (fullest GPU, stage ${x.tightestStage})`
      : `  Peak memory: ${gib(b.oom_gpumem)}`,
  ];
}

/** The plan's techniques, when it runs any: recompute, sharding, sequence parallelism, virtual stages. */
function executionLine(b: PlanRecord): string[] {
  const parts: string[] = [];
  if (b.recompute && b.recompute !== 'none') parts.push(`recompute ${b.recompute}${b.recompute_layers ? ` (${b.recompute_layers} layer${b.recompute_layers === 1 ? '' : 's'} per stage)` : ''}`);
  const hybrid = b.dp_sharding === 'parameters' && b.shard_group ? `HSDP (parameters sharded over groups of ${b.shard_group} dp ranks, ${b.dp / b.shard_group} replicas)` : undefined;
  if (b.dp_sharding && b.dp_sharding !== 'none') parts.push(hybrid ?? { optimizer: 'distributed optimizer (ZeRO-1)', gradients: 'ZeRO-2 (optimizer states and gradients sharded)', parameters: 'FSDP (parameters sharded)' }[b.dp_sharding] ?? b.dp_sharding);
  if (b.sequence_parallel) parts.push('sequence parallel');
  if (b.virtual_stages > 1) parts.push(`interleaved 1F1B, ${b.virtual_stages} virtual stages per rank`);
  return parts.length ? [`  Execution: ${parts.join(', ')}`] : [];
}

/** The final summary (SPEC §13.5, extended): every part of the best plan, or why nothing fits. */
export function summaryLines(ranked: readonly RankedRecord[], seconds: number, csvPath: string | undefined, ctx: SummaryContext = {}): string {
  const nf = ctx.notFit;
  const fitting = ctx.counts?.fitting ?? ranked.filter((r) => !r.record.is_oom).length;
  const results = ctx.counts?.results ?? ranked.length;
  const out = [`Finished in ${seconds.toFixed(2)} seconds`, nf
    ? `Total configurations evaluated: ${fitting + nf.count} (${fitting} fit in memory, each with its fastest execution; ${nf.count} do not, ${nf.untimed} of them known by their memory floor and not timed)`
    : `Total configurations evaluated: ${results}`];
  if (csvPath) out.push(`CSV file saved at: ${csvPath}`);
  if (nf && nf.count > 0) out.push(nf.listed ? `Plans out of memory listed at: ${nf.listed}` : 'Plans out of memory are not in the CSV (--list-oom lists them)');
  const fits = ranked.filter((r) => !r.record.is_oom);
  const best = fits.reduce<RankedRecord | undefined>((a, r) => (!a || r.record.total_time_seconds < a.record.total_time_seconds ? r : a), undefined);
  if (!best) {
    out.push('', 'No valid (non-OOM) configurations found.', ...noFitLines(ranked, ctx));
    return out.join('\n');
  }
  const b = best.record;
  out.push(
    '',
    `Best configuration (non-OOM; rank ${best.rank}, ${fitting} of ${nf ? fitting + nf.count : results} plans fit in memory):`,
    ...planLines(b, ctx.extras?.[best.index], ctx.gpusPerNode),
    `  Step time: ${b.step_time.toFixed(4)}s`,
    `  Total training time: ${b.total_time_seconds.toFixed(2)}s (${b.total_time_hours.toFixed(2)}h) for ${b.iterations.toLocaleString('en-US')} iterations`,
    `  Estimated cost: $${b.cost.toFixed(2)}`,
  );
  // plans priced by shape (operator profile) or derived from another GPU's files say so
  if (b.cost_source && /operator profile|derived from/.test(b.cost_source)) out.push(`  Priced by: ${b.cost_source}`);
  return out.join('\n');
}

/** Why nothing fits: what the leanest plan needs per GPU against what the GPU has, and what would help. */
export function noFitLines(ranked: readonly RankedRecord[], ctx: SummaryContext): string[] {
  if (ranked.length === 0) return [];
  const ratio = (r: RankedRecord) => {
    const x = ctx.extras?.[r.index];
    return x && Number.isFinite(x.memoryLimit_GiB) ? x.peakMemory_GiB / x.memoryLimit_GiB : NaN;
  };
  const lean = ranked.reduce((a, r) => (ratio(r) < ratio(a) || Number.isNaN(ratio(a)) ? r : a), ranked[0]!);
  const x = ctx.extras?.[lean.index];
  const l = lean.record;
  const lines: string[] = [];
  if (!x || !Number.isFinite(x.memoryLimit_GiB)) {
    lines.push(`  Every plan is estimated to run out of GPU memory; the leanest needs ${gib(Math.min(...ranked.map((r) => r.record.oom_gpumem)))} per GPU.`);
  } else {
    const r = x.peakMemory_GiB / x.memoryLimit_GiB;
    lines.push(
      `  Every plan is estimated to run out of GPU memory. The leanest, TP=${l.tp} PP=${l.pp} DP=${l.dp} MBS=${l.mbs} on ${l.gpu_cluster_str} (${l.tp * l.cp * l.dp * l.pp} GPUs),`,
      `  needs ${gib(x.peakMemory_GiB)} on its fullest GPU (stage ${x.tightestStage}), which has ${gib(x.memoryLimit_GiB)} usable: ${r.toFixed(2)}× too much.`,
      // priced by shape (an operator profile, possibly derived for another GPU): say so, as for the best plan
      ...(l.cost_source && /operator profile/.test(l.cost_source) ? [`  Priced by: ${l.cost_source}`] : []),
      '  What would make it fit:',
    );
    if (ctx.cluster && ctx.cluster.length > 0) {
      const bigger = ctx.cluster.map((g) => `${g.type} ${Math.max(g.nodes + 1, Math.ceil(g.nodes * r))}`).join(' ');
      lines.push(`    - more GPUs: weights, gradients and optimizer state divide over them; at least ~${r.toFixed(2)}× the nodes, e.g. --gpus ${bigger} (a lower bound: search it to check)`);
    }
    for (const recipe of ctx.leanerRecipes ?? []) lines.push(`    - a training recipe that keeps less state per parameter: --recipe ${recipe}`);
    if (l.estimator === 'fasop') {
      const tried = (f: (r: Pick<PlanRecord, 'dp_sharding' | 'recompute' | 'sequence_parallel'>) => boolean) => ranked.some((x) => f(x.record)) || (ctx.searched ?? []).some(f);
      const untried = [!tried((r) => r.dp_sharding !== 'none') && '--dp-sharding optimizer (the distributed optimizer divides master weights and Adam states over DP)',
        !tried((r) => r.recompute === 'full') && '--recompute full (keeps each layer\'s input only)',
        !tried((r) => r.sequence_parallel) && '--sequence-parallel (splits the norms\' activations over TP)'].filter(Boolean);
      if (untried.length) lines.push(`    - the techniques large runs use, searched with: ${untried.join(', ')}; comma lists search several, e.g. --recompute none,full`);
    }
    lines.push('    - a smaller model (--model-type), or GPUs with more memory');
  }
  if (ctx.noFitExitCode !== undefined) lines.push(`  Exit status ${ctx.noFitExitCode}: no plan fits (docs/outputs.md).`);
  return lines;
}

/** `95 s`, `12m 05s`, `3h 02m`: a duration for an ETA. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 100) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 100) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/** How progress is shown: redrawn in place (terminal), one line per interval (log, pipe), or not at all. */
export type ProgressMode = 'tty' | 'lines' | 'off';

/** The text of one progress report: plans done, rate, ETA. */
export function progressText(done: number, total: number, valid: number, oom: number, elapsed_s: number): string {
  const pct = total > 0 ? ((100 * done) / total).toFixed(0) : '0';
  const rate = done / Math.max(0.001, elapsed_s);
  const eta = rate > 0 ? (total - done) / rate : NaN;
  return `[fasop] ${done}/${total} plans (${pct}%) | fit ${valid} | OOM ${oom} | ${rate.toFixed(rate < 10 ? 1 : 0)} plans/s | ETA ${formatDuration(eta)}`;
}

/**
 * Progress of a search on stderr. On a terminal: one line redrawn in place, at most every 100 ms,
 * shown after 1 s. Elsewhere: one plain line every `intervalMs` (default 10 s), so a log or a CI job
 * shows that the search is alive and how long it has left.
 */
export class ProgressLine {
  private lastDraw: number;
  private readonly started: number;
  private shown = false;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private last: [number, number, number, number] | undefined;

  constructor(private readonly write: (s: string) => void, private readonly mode: ProgressMode | boolean, opts: { intervalMs?: number; now?: () => number } = {}) {
    this.now = opts.now ?? Date.now;
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.started = this.now();
    this.lastDraw = this.started;
    if (mode === true) this.mode = 'tty';
    if (mode === false) this.mode = 'off';
    // off a terminal a timer keeps the lines coming while one plan takes long (an exact partition in a worker)
    if (this.mode === 'lines' && opts.now === undefined) {
      this.timer = setInterval(() => { if (this.last) this.update(...this.last); }, this.intervalMs);
      this.timer.unref();
    }
  }

  update(done: number, total: number, valid: number, oom: number): void {
    if (this.mode === 'off') return;
    this.last = [done, total, valid, oom];
    const now = this.now();
    const text = () => progressText(done, total, valid, oom, (now - this.started) / 1000);
    if (this.mode === 'lines') {
      if (now - this.lastDraw < this.intervalMs || done >= total) return;
      this.lastDraw = now;
      this.write(`${text()}\n`);
      return;
    }
    if (now - this.started < 1000 || (now - this.lastDraw < 100 && done < total)) return;
    this.lastDraw = now;
    this.shown = true;
    this.write(`\r\x1b[2K${text()}`);
  }

  finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.mode === 'tty' && this.shown) this.write('\r\x1b[2K');
  }
}

/** What the memory breakdown needs besides the stages: the schedule and how the OOM check reads the limit. */
export interface MemoryBreakdownContext {
  /** micro-batches per step */
  microBatches: number;
  /** model chunks per pipeline rank (1: plain 1F1B) */
  virtualStages: number;
  /** the policy's OOM margin: a stage is out of memory when total × margin exceeds its usable limit */
  oomMargin: number;
  /** nominal memory of each GPU type the plan uses (catalog memory_GB), by type name */
  nominal_GB?: Readonly<Record<string, number>>;
}

/** The in-flight activations of one stage: micro-batches held (whole-stage units) and bytes (or GiB) per micro-batch. */
function inFlightOf(parts: Readonly<MemoryParts>, pp: number, s: number, ctx: Pick<MemoryBreakdownContext, 'microBatches' | 'virtualStages'>): { inFlight: number; perMicroBatch: number } {
  const inFlight = inFlightMicroBatches(pp, s, ctx.microBatches, ctx.virtualStages);
  return { inFlight, perMicroBatch: inFlight > 0 ? parts.activations / inFlight : 0 };
}

/**
 * The byte model's memory per GPU of every stage, part by part (GiB), summing to the stage's total:
 * the state and its communication buffers, plus the larger of the in-flight peak and the optimizer
 * step (the other shown in parentheses, not counted), and the OOM margin against the usable limit.
 */
export function memoryBreakdownLines(stages: readonly StageBreakdown[], ctx: MemoryBreakdownContext): string[] {
  if (!stages.some((s) => s.memoryParts_GiB)) return [];
  const pp = stages.length;
  const g = (x: number, w: number) => x.toFixed(2).padStart(w);
  const paren = (x: number, w: number, counted: boolean) => (counted ? `${x.toFixed(2)} ` : `(${x.toFixed(2)})`).padStart(w);
  const heads = ['stage', 'weights', 'grads', 'master', 'optimizer', 'comm_buffers', 'in_flight', 'per_mb', 'activations', 'recompute', 'logits_loss', 'grads_later', 'opt_temp', 'reserve', 'total / usable'];
  const lines = [
    '  memory per GPU by part, GiB (docs/estimator.md, "Memory breakdown"; (x): held at another moment than the stage\'s peak, not in its total):',
    `  ${heads.join('  ')}`,
  ];
  let anyRing = false;
  stages.forEach((st, s) => {
    const p = st.memoryParts_GiB;
    if (!p) return;
    const inFlightPeak = peakMoment(p) === 'in-flight';
    const { inFlight, perMicroBatch } = inFlightOf(p, pp, s, ctx);
    const comm = p.buffers + p.gradBuckets + (inFlightPeak ? p.ringBuffers : 0);
    if (p.ringBuffers > 0) anyRing = true;
    const total = partsTotal(p);
    const reserve = total * (ctx.oomMargin - 1);
    const w = heads.map((h) => h.length);
    const cells = [
      String(s).padStart(w[0]!), g(p.weights, w[1]!), g(p.grads, w[2]!), g(p.master, w[3]!), g(p.optimizer, w[4]!), g(comm, w[5]!),
      (Number.isInteger(inFlight) ? String(inFlight) : inFlight.toFixed(2)).padStart(w[6]!), paren(perMicroBatch, w[7]!, inFlightPeak),
      paren(p.activations, w[8]!, inFlightPeak), paren(p.recomputeBuffer, w[9]!, inFlightPeak), paren(p.logits, w[10]!, inFlightPeak),
      paren(p.gradsNotYetAllocated, w[11]!, inFlightPeak), paren(p.transient, w[12]!, !inFlightPeak), g(reserve, w[13]!),
      `${g(total + reserve, 6)} / ${st.memoryLimit_GiB.toFixed(2)}`,
    ];
    lines.push(`  ${cells.join('  ')}`);
  });
  const v = ctx.virtualStages;
  lines.push(
    `  in_flight: micro-batches whose activations the stage holds at its peak, ${v > 1 ? `interleaved 1F1B (v = ${v}): min(m·v, 2(pp−s−1) + (v−1)·pp + 1) chunk-micro-batches of 1/v of the stage each, in whole-stage units` : '1F1B: min(pp − s, m)'} (m = ${ctx.microBatches}); per_mb: activations / in_flight, what one micro-batch saves for backward (logits apart)`,
    '  comm_buffers: FSDP\'s gathered layers, DDP\'s gradient buckets while accumulating' + (anyRing ? ', one layer\'s CP ring buffers or an unfused attention\'s score buffer' : '') + '; logits_loss: the last stage\'s logits at the cross-entropy\'s peak (one micro-batch: its backward follows its forward) and the pipeline\'s retained outputs',
    '  grads_later: gradients the first backward allocates, not yet held at the in-flight peak; opt_temp: the optimizer step\'s temporaries (after the activations are freed)',
  );
  const types = [...new Set(stages.map((s) => s.gpu))];
  const nominal = types.map((t) => (ctx.nominal_GB?.[t] !== undefined ? `${t} ${ctx.nominal_GB[t]} GB nominal` : undefined)).filter(Boolean);
  lines.push(
    `  reserve: the OOM check's margin, (margin − 1) × total with margin ${ctx.oomMargin.toFixed(2)}${ctx.oomMargin === 1 ? ' (none added)' : ''}; usable: the catalog's memoryLimit_GiB${nominal.length ? ` (${nominal.join(', ')})` : ''}, what the check compares total + reserve with; the CUDA context, NCCL's own buffers and the allocator's cached free blocks are not modelled`,
  );
  // the fullest GPU relative to its limit (as the summary's plan line names it)
  const load = (st: StageBreakdown) => (st.memoryParts_GiB ? (partsTotal(st.memoryParts_GiB) * ctx.oomMargin) / st.memoryLimit_GiB : -Infinity);
  const fullest = stages.reduce((best, st, s) => (load(st) > load(stages[best]!) ? s : best), 0);
  if (stages[fullest]!.memoryParts_GiB) {
    const st = stages[fullest]!;
    const t = partsTotal(st.memoryParts_GiB!) * ctx.oomMargin;
    lines.push(`  fullest GPU: stage ${fullest}, ${t.toFixed(2)} of ${st.memoryLimit_GiB.toFixed(2)} GiB usable (${t <= st.memoryLimit_GiB ? `${(st.memoryLimit_GiB - t).toFixed(2)} GiB free` : `${(t - st.memoryLimit_GiB).toFixed(2)} GiB over: out of memory`}); peak moment: ${peakMoment(st.memoryParts_GiB!) === 'in-flight' ? 'the in-flight activations' : 'the optimizer step'}`);
  }
  return lines;
}

