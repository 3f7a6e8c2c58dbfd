import type { PlanRecord } from '../search/record.js';
import type { RankedRecord } from './csv.js';

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

/** The final summary (SPEC §13.5). */
export function summaryLines(ranked: readonly RankedRecord[], seconds: number, csvPath: string | undefined): string {
  const out = [`Finished in ${seconds.toFixed(2)} seconds`, `Total configurations evaluated: ${ranked.length}`];
  if (csvPath) out.push(`CSV file saved at: ${csvPath}`);
  const best = ranked.find((r) => !r.record.is_oom);
  if (!best) {
    out.push('', 'No valid (non-OOM) configurations found.');
  } else {
    const b = best.record;
    out.push(
      '',
      'Best configuration (non-OOM):',
      `  TP=${b.tp}, DP=${b.dp}, PP=${b.pp}, MBS=${b.mbs}`,
      `  Step time: ${b.step_time.toFixed(4)}s`,
      `  Total training time: ${b.total_time_seconds.toFixed(2)}s (${b.total_time_hours.toFixed(2)}h)`,
      `  Peak memory: ${b.oom_gpumem.toFixed(2)}GB`,
      `  Estimated cost: $${b.cost.toFixed(2)}`,
    );
    // plans priced by shape (operator profile, possibly derived for another GPU) say so
    if (b.cost_source && /operator profile/.test(b.cost_source)) out.push(`  Priced by: ${b.cost_source}`);
  }
  return out.join('\n');
}

/** A progress line for a terminal: redrawn in place, at most every 100 ms, shown after 1 s. */
export class ProgressLine {
  private lastDraw = 0;
  private readonly started = Date.now();
  private shown = false;

  constructor(private readonly write: (s: string) => void, private readonly enabled: boolean) {}

  update(done: number, total: number, valid: number, oom: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.started < 1000 || (now - this.lastDraw < 100 && done < total)) return;
    this.lastDraw = now;
    this.shown = true;
    const pct = total > 0 ? ((100 * done) / total).toFixed(0) : '0';
    const rate = done / Math.max(0.001, (now - this.started) / 1000);
    const eta = rate > 0 ? (total - done) / rate : 0;
    this.write(`\r\x1b[2K[fasop] ${done}/${total} plans (${pct}%) | valid ${valid} | OOM ${oom} | ${rate.toFixed(0)} plans/s | ETA ${eta.toFixed(1)}s`);
  }

  finish(): void {
    if (this.enabled && this.shown) this.write('\r\x1b[2K');
  }
}
