/**
 * The search over several threads, with output identical to one thread. A job's strategies are
 * dealt out in groups, round robin (of every 2T − 1 groups of its strategy list, one to the calling
 * thread and two to each worker: ownerOf), so a strategy is estimated by one thread on every
 * placement of its job (what the placement memo and the cost caches reuse stays on that thread).
 * The calling thread is thread 0: it runs the search itself, estimating its own strategies and
 * taking every other plan's result from the thread that owns it, in index order (a reorder buffer),
 * so that every event comes out in the one-thread order. Workers send results per chunk of plan
 * indices, and run at most a window of chunks ahead. Each worker opens the catalog and profiles
 * from the same raw options (they are what can be sent to a thread) and estimates its own strategies.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Catalog } from '../catalog/catalog.js';
import { FasopError } from '../errors.js';
import type { Estimator } from '../estimate/index.js';
import type { ProfileDb } from '../profiles/db.js';
import type { RawSearchOptions } from '../request/options.js';
import { validateRequest, type SearchRequest } from '../request/request.js';
import { compactRecord } from './intern.js';
import { ResultUnpacker, type PackedResults, type ShardItem } from './wire.js';
import { countPlans, planJobs, searchEvents, type SearchEvent } from './search.js';

/** Below this many plans the search runs on the calling thread alone: a thread's start-up (module loading, profiles) would cost more than it saves. */
export const PARALLEL_MIN_PLANS = 3000;
/** Plan indices per chunk: a worker sends its results once per chunk and waits on chunks passed. */
export const CHUNK_PLANS = 64;
/** Consecutive strategies of a job dealt to one thread. */
export const GROUP_STRATEGIES = 4;
/** How many chunks a worker may run ahead of the ones already passed on (bounds the reorder buffer). */
export const WINDOW_CHUNKS = 32;

/** What a worker needs to rebuild the same request: the options as typed. */
export interface SearchSource {
  raw: RawSearchOptions;
  gpuTokens: string[];
}

export interface ParallelOptions {
  /** threads to use at most (the calling one included); default os.availableParallelism() */
  workers?: number;
  source: SearchSource;
  /** below this many plans, one thread (default PARALLEL_MIN_PLANS) */
  minPlans?: number;
  /** nice value of the worker threads (Linux, per thread); unset: inherited */
  nice?: number;
  /** told once, before the first event, how many threads the search uses for how many plans */
  onThreads?: (threads: number, plans: number) => void;
  /**
   * Estimates from other threads keep of each stage its memory and limit only (what planExtras
   * reads), and no other breakdown; they come packed (wire.ts), not cloned. Records are unchanged.
   */
  slimEstimates?: boolean;
}

/** Input of one worker (parallel-worker.ts). */
export interface ShardInput {
  source: SearchSource;
  shard: number;
  threads: number;
  chunk: number;
  group: number;
  window: number;
  /** Int32 [0]: the highest chunk passed on by thread 0; [1]: 1 when the search stops */
  control: SharedArrayBuffer;
  nice?: number;
  slimEstimates?: boolean;
}

export type ShardMessage =
  | { type: 'results'; items: ShardItem[] }
  /** with slimEstimates: the results packed (wire.ts) */
  | { type: 'packed'; packed: PackedResults }
  | { type: 'end' }
  | { type: 'error'; message: string; hint?: string; fasop: boolean };

/** Threads for a search of `plans` plans with at most `workers` threads. */
export function threadsFor(plans: number, workers: number, minPlans = PARALLEL_MIN_PLANS): number {
  if (plans < minPlans) return 1;
  return Math.max(1, Math.min(workers, Math.ceil(plans / CHUNK_PLANS)));
}

/**
 * The thread that owns a job's strategy at this (0-based) slot of its list of `slots`, on every
 * placement: of every 2T − 1 groups, one goes to the calling thread (it also merges, records and
 * reports) and two to each worker; groups are smaller in jobs of few strategies, down to one.
 */
export function ownerOf(slot: number, slots: number, threads: number, group = GROUP_STRATEGIES): number {
  if (threads === 1) return 0;
  const cycle = 2 * threads - 1;
  const size = Math.max(1, Math.min(group, Math.floor(slots / cycle)));
  const k = Math.floor(slot / size) % cycle;
  return k === 0 ? 0 : Math.ceil(k / 2);
}

/** The chunk of a (1-based) plan index. */
export function chunkOf(index: number, chunk = CHUNK_PLANS): number {
  return Math.floor((index - 1) / chunk);
}

export function defaultWorkers(): number {
  return availableParallelism();
}

function spawn(input: ShardInput): Worker {
  const here = import.meta.url;
  // from the TypeScript sources (tsx) the worker needs tsx's loader registered first
  return here.endsWith('.ts')
    ? new Worker(new URL('../web/worker-boot.mjs', here), { workerData: { ...input, __entry: new URL('./parallel-worker.ts', here).href } })
    : new Worker(new URL('./parallel-worker.js', here), { workerData: input });
}

/** A record cloned from a thread shares its repeated parts again, as this thread's do (unpacked ones already do). */
const compactRecordOf = (it: ShardItem): ShardItem => ('oom' in it ? it : { ...it, record: compactRecord(it.record) });

/** One worker's results as they arrive, taken in order. */
class ShardQueue {
  private items: ShardItem[] = [];
  private head = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly unpacker = new ResultUnpacker();

  constructor(readonly worker: Worker) {
    worker.on('message', (m: ShardMessage) => {
      if (m.type === 'packed') this.unpacker.unpack(m.packed, this.items);
      else if (m.type === 'results') for (const it of m.items) this.items.push(compactRecordOf(it));
      else if (m.type === 'end') this.ended = true;
      else this.failure = m.fasop ? new FasopError(m.message, m.hint ?? '') : new Error(m.message);
      this.notify();
    });
    worker.on('error', (err) => {
      this.failure = err;
      this.notify();
    });
    worker.on('exit', () => {
      if (!this.ended && !this.failure) this.failure = new Error('a search thread exited before the end of the search');
      this.notify();
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async take(): Promise<ShardItem> {
    for (;;) {
      if (this.head < this.items.length) {
        const it = this.items[this.head]!;
        this.items[this.head++] = undefined as unknown as ShardItem;
        if (this.head > 4096) {
          this.items = this.items.slice(this.head);
          this.head = 0;
        }
        return it;
      }
      if (this.failure) throw this.failure;
      if (this.ended) throw new Error('a search thread ended before sending all its plans');
      await new Promise<void>((r) => { this.wake = r; });
    }
  }
}

/**
 * searchEvents over up to `opts.workers` threads: the same events in the same order. Small searches
 * (fewer than `minPlans` plans) run on the calling thread alone.
 */
export async function* parallelSearchEvents(
  req: SearchRequest,
  ctx: { catalog: Catalog; profiles: ProfileDb; estimator: Estimator; signal?: AbortSignal },
  opts: ParallelOptions,
): AsyncGenerator<SearchEvent> {
  validateRequest(req);
  const plans = countPlans(planJobs(req, ctx.profiles, ctx.catalog));
  const threads = threadsFor(plans, opts.workers ?? defaultWorkers(), opts.minPlans);
  opts.onThreads?.(threads, plans);
  if (threads === 1) {
    yield* searchEvents(req, ctx);
    return;
  }
  const control = new SharedArrayBuffer(8);
  const ctl = new Int32Array(control);
  Atomics.store(ctl, 0, -1);
  const queues = Array.from({ length: threads - 1 }, (_, w) => new ShardQueue(spawn({
    source: opts.source, shard: w + 1, threads, chunk: CHUNK_PLANS, group: GROUP_STRATEGIES, window: WINDOW_CHUNKS, control,
    ...(opts.nice !== undefined ? { nice: opts.nice } : {}),
    ...(opts.slimEstimates ? { slimEstimates: true } : {}),
  })));
  // indices owned by workers, in order, whose results come before the next event of this thread
  let pending: Array<{ index: number; owner: number }> = [];
  let passed = -1;
  const only = (index: number, slot: number, slots: number) => {
    const owner = ownerOf(slot, slots, threads);
    if (owner === 0) return true;
    pending.push({ index, owner });
    return false;
  };
  const pass = (index: number) => {
    const c = chunkOf(index);
    if (c > passed) {
      passed = c;
      Atomics.store(ctl, 0, c);
      Atomics.notify(ctl, 0);
    }
  };
  const owed = async function* (): AsyncGenerator<SearchEvent> {
    const due = pending;
    pending = [];
    for (const { index, owner } of due) {
      const it = await queues[owner - 1]!.take();
      if (it.index !== index) throw new Error(`parallel search: expected plan ${index}, a thread sent plan ${it.index}`);
      pass(index);
      yield 'oom' in it ? { type: 'oom', index, oom: it.oom } : { type: 'result', index, record: it.record, estimate: it.estimate };
    }
  };
  try {
    for await (const ev of searchEvents(req, { ...ctx, only })) {
      yield* owed();
      if (ev.type === 'result' || ev.type === 'oom') pass(ev.index);
      yield ev;
    }
    if (!ctx.signal?.aborted) yield* owed();
  } finally {
    Atomics.store(ctl, 1, 1);
    Atomics.notify(ctl, 0);
    await Promise.all(queues.map((q) => q.worker.terminate()));
  }
}
