import type { ServerResponse } from 'node:http';
import { paretoFrontier } from '../report/pareto.js';

interface CostThroughput {
  cost: number;
  throughput: number;
  is_oom: boolean;
}
import type { WirePlan } from './wire.js';

export type RunStatus = 'idle' | 'running' | 'done' | 'stopped' | 'error';
/** Events after which a search's stream ends (the page then calls EventSource.close()). */
export const FINAL_EVENTS = ['done', 'stopped', 'error', 'idle'] as const;

export interface Progress {
  done: number;
  total: number;
  valid: number;
  oom: number;
  frontier: number;
}

/**
 * One search (or one pass over a watched file) as an SSE event log: every event is kept, so a page
 * that connects (or reconnects) late gets the whole run replayed from its start, then live events.
 */
export class Run {
  readonly id: number;
  readonly mode: 'search' | 'watch';
  status: RunStatus = 'running';
  readonly startedAt = Date.now();
  endedAt: number | undefined;
  total = 0;
  done = 0;
  valid = 0;
  oom = 0;
  readonly info: Record<string, unknown>;
  /** set when the run ended with an error */
  error: { error: string; hint: string } | undefined;
  private readonly points: CostThroughput[] = [];
  private readonly log: string[] = [];
  private readonly clients = new Set<ServerResponse>();
  private seq = 0;

  constructor(id: number, mode: 'search' | 'watch', info: Record<string, unknown>) {
    this.id = id;
    this.mode = mode;
    this.info = info;
    this.push('start', { run: id, mode, started_at: this.startedAt, ...info });
  }

  get running(): boolean {
    return this.status === 'running';
  }

  elapsedS(): number {
    return ((this.endedAt ?? Date.now()) - this.startedAt) / 1000;
  }

  progress(): Progress {
    return { done: this.done, total: this.total, valid: this.valid, oom: this.oom, frontier: frontierCount(this.points) };
  }

  setTotal(total: number): void {
    this.total = total;
    this.push('total', { run: this.id, total });
  }

  /** Add results; one write per batch to each client. */
  addResults(plans: readonly WirePlan[]): void {
    if (!plans.length) return;
    let chunk = '';
    for (const p of plans) {
      this.done += 1;
      if (p.is_oom) this.oom += 1;
      else this.valid += 1;
      this.points.push({ cost: p.cost ?? NaN, throughput: p.throughput ?? NaN, is_oom: p.is_oom });
      chunk += this.format('result', p);
    }
    this.broadcast(chunk);
  }

  push(event: string, data: unknown): void {
    this.broadcast(this.format(event, data));
  }

  /** The final event: every stream of a search ends after it. */
  finish(status: Exclude<RunStatus, 'running' | 'idle'>, extra: Record<string, unknown> = {}): void {
    if (!this.running) return;
    this.status = status;
    this.endedAt = Date.now();
    this.push(status, { run: this.id, ...this.progress(), elapsed_s: this.elapsedS(), ...extra });
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  /** Replay the log to a new client; keep it for live events while the run goes on. */
  attach(res: ServerResponse): void {
    if (this.log.length) res.write(this.log.join(''));
    if (!this.running && this.mode === 'search') {
      res.end();
      return;
    }
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
  }

  /** Watch mode: the file started over; its pages follow the next run (which replays to them). */
  moveClientsTo(next: Run): void {
    const clients = [...this.clients];
    this.clients.clear();
    for (const res of clients) {
      res.removeAllListeners('close');
      next.attach(res);
    }
  }

  /** End every stream (server shutdown). */
  closeClients(): void {
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  clientCount(): number {
    return this.clients.size;
  }

  private format(event: string, data: unknown): string {
    this.seq += 1;
    const text = `id: ${this.id}.${this.seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    this.log.push(text);
    return text;
  }

  private broadcast(text: string): void {
    for (const res of this.clients) res.write(text);
  }
}

/** Plans on the cost-vs-throughput frontier (the same skyline as the chart and the CLI). */
export function frontierCount(points: readonly CostThroughput[]): number {
  return paretoFrontier(points, (p) => ({ cost: p.cost, throughput: p.throughput, isOom: p.is_oom })).frontier.length;
}
