import { Worker } from 'node:worker_threads';
import { resolveSearchOptions } from '../request/options.js';
import { FasopError } from '../errors.js';
import { clusterString } from '../request/cluster.js';
import { Run } from './channel.js';
import { bodyToRawOptions } from '../request/form.js';
import type { WorkerInput, WorkerMessage } from './worker.js';

/** Most plans of one search started from the page (the replay log stays within EVENT_LOG_CAP_BYTES). */
export const MAX_WEB_PLANS = 100_000;

/** Thrown when a second search is asked for while one runs (HTTP 409). */
export class BusyError extends FasopError {}

/**
 * Runs at most one search at a time, each in its own worker thread, and records it as a Run (the
 * SSE event log). The request is checked here first with the CLI's resolver, so a bad form gets the
 * CLI's message as a 400 before any thread starts.
 */
export class SearchRunner {
  private nextId = 1;
  current: Run | undefined;
  private worker: Worker | undefined;
  private exited: Promise<void> | undefined;
  private stopping = false;

  constructor(private readonly opts: { profileDir: string; catalogFiles: readonly string[] }) {}

  /** between a POST and the worker's `ready` */
  private starting = false;

  get busy(): boolean {
    return this.starting || this.current?.running === true;
  }

  /** True while a worker thread exists (tests check that Stop ends it). */
  get workerAlive(): boolean {
    return this.worker !== undefined;
  }

  /**
   * Check the request with the CLI's resolver, then start its worker, which runs the CLI's own
   * search checks (profiles, "no plan fits", the plan cap) off this thread: the POST is answered
   * once the worker says `ready` (202) or gives the user's error (400), and the server keeps
   * answering other calls meanwhile.
   */
  async start(body: unknown): Promise<Run> {
    if (this.busy) {
      const r = this.current;
      throw new BusyError(r?.running ? `a search is already running (run ${r.id}: ${r.done} of ${r.total} plans estimated)` : 'a search is starting',
        'wait for it to finish or press Stop (POST /api/search/stop), then start the new one; one search runs at a time per server');
    }
    const { raw, gpuTokens, body: parsed } = bodyToRawOptions(body, this.opts.profileDir, this.opts.catalogFiles);
    const { request } = resolveSearchOptions(raw, gpuTokens);
    this.starting = true;
    try {
      const worker = this.newWorker({ raw, gpuTokens, maxPlans: MAX_WEB_PLANS });
      const early: WorkerMessage[] = [];
      let run: Run | undefined;
      let onReady: ((total: number) => void) | undefined;
      let onFail: ((err: Error) => void) | undefined;
      const ready = new Promise<number>((resolve, reject) => {
        onReady = resolve;
        onFail = reject;
      });
      worker.on('message', (m: WorkerMessage) => {
        if (run) return this.onMessage(run, m);
        if (m.type === 'ready') onReady!(m.total);
        else if (m.type === 'error') onFail!(m.bug ? new Error(m.error) : new FasopError(m.error, m.hint));
        else early.push(m);
      });
      worker.on('error', (err) => onFail!(err));
      worker.on('exit', () => onFail!(new Error('search worker exited before the search started')));
      let total: number;
      try {
        total = await ready;
      } catch (err) {
        await worker.terminate();
        throw err;
      }
      run = new Run(this.nextId++, 'search', {
        model_type: request.model.name,
        gpu_cluster: clusterString(request.gpus),
        dataset: request.dataset.name,
        gbs_values: request.gbsValues,
        gpus_per_node: request.gpusPerNode,
        partition_method: parsed.partitionMethod,
        estimator: request.estimator,
        pareto: request.pareto,
        total,
      });
      run.total = total;
      this.current = run;
      this.watch(run, worker);
      for (const m of early) this.onMessage(run, m);
      return run;
    } finally {
      this.starting = false;
    }
  }

  private newWorker(input: WorkerInput): Worker {
    const here = import.meta.url;
    return here.endsWith('.ts')
      ? new Worker(new URL('./worker-boot.mjs', here), { workerData: { ...input, __entry: new URL('./worker.ts', here).href } })
      : new Worker(new URL('./worker.js', here), { workerData: input });
  }

  private onMessage(run: Run, m: WorkerMessage): void {
    if (run !== this.current || !run.running || this.stopping) return;
    if (m.type === 'results') run.addBatch(m.batch);
    else if (m.type === 'meta') run.push('meta', { run: run.id, ...m.meta });
    else if (m.type === 'end') run.finish('done');
    else if (m.type === 'error') {
      run.error = { error: m.error, hint: m.hint };
      run.finish('error', run.error);
    }
  }

  private watch(run: Run, worker: Worker): void {
    this.worker = worker;
    worker.on('error', (err) => {
      run.error = { error: `search worker failed: ${err.message}`, hint: 'this is a bug in fasop; please report it' };
      run.finish('error', run.error);
    });
    this.exited = new Promise((resolve) => {
      worker.on('exit', () => {
        if (this.worker === worker) this.worker = undefined;
        if (run.running && !this.stopping) {
          run.error = { error: 'search worker exited before the end of the search', hint: 'this is a bug in fasop; please report it' };
          run.finish('error', run.error);
        }
        resolve();
      });
    });
  }

  /** Stop the running search: terminate its thread, then close its streams with `stopped`. */
  async stop(): Promise<boolean> {
    const run = this.current;
    if (!run?.running || this.stopping) return false;
    this.stopping = true;
    try {
      const w = this.worker;
      if (w) {
        await w.terminate();
        await this.exited;
      }
      // `stopped` goes out once the thread is gone: no result can follow it.
      run.finish('stopped');
    } finally {
      this.stopping = false;
    }
    return true;
  }

  async close(): Promise<void> {
    await this.stop();
    this.current?.closeClients();
  }
}
