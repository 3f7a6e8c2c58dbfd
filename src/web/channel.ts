import type { ServerResponse } from 'node:http';
import { paretoFrontier } from '../report/pareto.js';
import { encodeResults, type ResultBatch, type WirePlan } from './wire.js';

interface CostThroughput {
  cost: number;
  throughput: number;
  is_oom: boolean;
}

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

/** Bytes of result events a run keeps for replay; beyond it, results stream live only (docs/errors.md, Limits). */
export const EVENT_LOG_CAP_BYTES = 64 * 1024 * 1024;
/** Bytes queued for one client before the server waits for it to read (its 'drain'). */
const CLIENT_HIGH_WATER_BYTES = 256 * 1024;
/** A client that has not read anything for this long while data waits for it is dropped. */
export const SLOW_CLIENT_MS = 30_000;
/**
 * Bytes written to all clients together in one event-loop turn; the rest follows in the next turns,
 * so a replay to a new page or a batch sent to many pages never holds up the API calls.
 */
export const FANOUT_BYTES_PER_TURN = 1024 * 1024;

interface Client {
  res: ServerResponse;
  /** next log chunk to send */
  pos: number;
  /** when the client last had nothing queued (or drained) */
  readAt: number;
}

/**
 * One search (or one pass over a watched file) as an SSE event log. Every client reads the one
 * shared log through its own cursor, at its own pace: the log is encoded once and its buffers are
 * written to every client as they are, a client that does not read only stops its own cursor (and
 * is dropped after SLOW_CLIENT_MS), so memory is the log (capped at EVENT_LOG_CAP_BYTES of results)
 * plus a bounded queue per client. Writing happens in later event-loop turns, at most
 * FANOUT_BYTES_PER_TURN per turn. A page that connects or reconnects late, during the run or after
 * it, gets the run replayed from its start.
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
  /** the current frontier points only: a point off the frontier never comes back onto it */
  private frontier: CostThroughput[] = [];
  private readonly log: Buffer[] = [];
  private logSize = 0;
  private resultBytes = 0;
  private capped = false;
  private readonly clients = new Set<Client>();
  private seq = 0;
  private fanOutQueued = false;
  /** the client that the next fan-out turn starts with (turns take clients round robin) */
  private nextClient = 0;

  private readonly logCapBytes: number;
  private readonly slowClientMs: number;

  constructor(id: number, mode: 'search' | 'watch', info: Record<string, unknown>, limits: { logCapBytes?: number; slowClientMs?: number } = {}) {
    this.logCapBytes = limits.logCapBytes ?? EVENT_LOG_CAP_BYTES;
    this.slowClientMs = limits.slowClientMs ?? SLOW_CLIENT_MS;
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
    return { done: this.done, total: this.total, valid: this.valid, oom: this.oom, frontier: this.frontier.length };
  }

  /** Bytes the replay log holds (tests check the cap). */
  logBytes(): number {
    return this.logSize;
  }

  setTotal(total: number): void {
    this.total = total;
    this.push('total', { run: this.id, total });
  }

  /** Add results: one log chunk per batch; beyond the cap they go to caught-up clients only. */
  addResults(plans: readonly WirePlan[]): void {
    this.addBatch(encodeResults(plans));
  }

  /** addResults for a batch already serialised (by the search thread). */
  addBatch(b: ResultBatch): void {
    const n = b.json.length;
    if (!n) return;
    let chunk = '';
    const points: CostThroughput[] = [];
    for (let i = 0; i < n; i++) {
      this.done += 1;
      if (b.oom[i]) this.oom += 1;
      else {
        this.valid += 1;
        points.push({ cost: b.cost[i]!, throughput: b.throughput[i]!, is_oom: false });
      }
      chunk += this.formatJson('result', b.json[i]!);
    }
    if (points.length) this.frontier = frontierPoints([...this.frontier, ...points]);
    const buf = Buffer.from(chunk, 'utf8');
    if (!this.capped && this.resultBytes + buf.length > this.logCapBytes) {
      this.capped = true;
      this.append(this.format('warning', { run: this.id, message: `more than ${this.logCapBytes} bytes of results: later results are sent live but not kept for pages that connect later`, replay_capped_at: this.done - n }));
    }
    if (this.capped) this.live(buf);
    else {
      this.resultBytes += buf.length;
      this.appendBuffer(buf);
    }
  }

  push(event: string, data: unknown): void {
    this.append(this.format(event, data));
  }

  /** The final event: every stream of a search ends once it has been sent. */
  finish(status: Exclude<RunStatus, 'running' | 'idle'>, extra: Record<string, unknown> = {}): void {
    if (!this.running) return;
    this.status = status;
    this.endedAt = Date.now();
    this.push(status, { run: this.id, ...this.progress(), elapsed_s: this.elapsedS(), ...extra });
  }

  /** A new client: it reads the log from the start, then live events. */
  attach(res: ServerResponse): void {
    const c: Client = { res, pos: 0, readAt: Date.now() };
    this.clients.add(c);
    res.on('drain', () => {
      c.readAt = Date.now();
      this.scheduleFanOut();
    });
    res.on('close', () => this.clients.delete(c));
    this.scheduleFanOut();
  }

  /** Watch mode: the file started over; its pages follow the next run (which replays to them). */
  moveClientsTo(next: Run): void {
    const clients = [...this.clients];
    this.clients.clear();
    for (const c of clients) {
      c.res.removeAllListeners('close');
      c.res.removeAllListeners('drain');
      next.attach(c.res);
    }
  }

  /** End every stream (server shutdown), after writing what each can still take. */
  closeClients(): void {
    for (const c of [...this.clients]) {
      this.pump(c, Infinity);
      if (!c.res.writableEnded) c.res.end();
    }
    this.clients.clear();
  }

  clientCount(): number {
    return this.clients.size;
  }

  private format(event: string, data: unknown): string {
    return this.formatJson(event, JSON.stringify(data));
  }

  private formatJson(event: string, json: string): string {
    this.seq += 1;
    return `id: ${this.id}.${this.seq}\nevent: ${event}\ndata: ${json}\n\n`;
  }

  private append(text: string): void {
    this.appendBuffer(Buffer.from(text, 'utf8'));
  }

  private appendBuffer(buf: Buffer): void {
    this.log.push(buf);
    this.logSize += buf.length;
    this.dropSlowClients();
    this.scheduleFanOut();
  }

  /** Drop the clients that have had data waiting, unread, for longer than slowClientMs. */
  private dropSlowClients(): void {
    const now = Date.now();
    for (const c of this.clients) {
      if (c.res.writableLength === 0) c.readAt = now;
      else if (now - c.readAt > this.slowClientMs) {
        this.clients.delete(c);
        c.res.destroy();
      }
    }
  }

  private scheduleFanOut(): void {
    if (this.fanOutQueued || this.clients.size === 0) return;
    this.fanOutQueued = true;
    setImmediate(() => this.fanOut());
  }

  /** One turn of writing: clients round robin, FANOUT_BYTES_PER_TURN in all; more turns while the budget runs out. */
  private fanOut(): void {
    this.fanOutQueued = false;
    const clients = [...this.clients];
    let budget = FANOUT_BYTES_PER_TURN;
    for (let k = 0; k < clients.length && budget > 0; k++) {
      const i = (this.nextClient + k) % clients.length;
      budget -= this.pump(clients[i]!, budget);
      if (budget <= 0) this.nextClient = i;
    }
    // clients stopped by their queue's high-water mark resume on 'drain'
    if (budget <= 0) this.scheduleFanOut();
  }

  /**
   * Results past the cap: to clients that have read everything and are keeping up; others miss
   * them. A client a little behind (the log's last events not yet written to it) catches up first,
   * within one turn's budget for all clients together.
   */
  private live(buf: Buffer): void {
    let budget = FANOUT_BYTES_PER_TURN;
    for (const c of [...this.clients]) {
      if (c.pos < this.log.length && budget > 0) budget -= this.pump(c, budget);
      if (c.pos === this.log.length && !c.res.destroyed && c.res.writableLength < CLIENT_HIGH_WATER_BYTES) c.res.write(buf);
    }
  }

  /**
   * Send a client what it has not read yet, while its queue is short and up to `budget` bytes; end
   * it after a search's final event. Returns the bytes written.
   */
  private pump(c: Client, budget: number): number {
    const res = c.res;
    if (res.destroyed || res.writableEnded) {
      this.clients.delete(c);
      return 0;
    }
    if (res.writableLength === 0) c.readAt = Date.now();
    else if (Date.now() - c.readAt > this.slowClientMs) {
      this.clients.delete(c);
      res.destroy();
      return 0;
    }
    let sent = 0;
    while (c.pos < this.log.length && res.writableLength < CLIENT_HIGH_WATER_BYTES && sent < budget) {
      const b = this.log[c.pos++]!;
      res.write(b);
      sent += b.length;
    }
    if (c.pos === this.log.length && !this.running && this.mode === 'search') {
      this.clients.delete(c);
      res.end();
    }
    return sent;
  }
}

/** The points on the frontier (the chart's rule, src/report/pareto.ts): input order is kept for ties. */
function frontierPoints(points: readonly CostThroughput[]): CostThroughput[] {
  return paretoFrontier(points, (p) => ({ cost: p.cost, throughput: p.throughput, isOom: p.is_oom })).frontier;
}

/** Plans on the cost-vs-throughput frontier (the same skyline as the chart and the CLI). */
export function frontierCount(points: readonly CostThroughput[]): number {
  return paretoFrontier(points, (p) => ({ cost: p.cost, throughput: p.throughput, isOom: p.is_oom })).frontier.length;
}
