import { Worker } from 'node:worker_threads';
import { resolveSearchOptions } from '../request/options.js';
import { FasopError } from '../errors.js';
import { getEstimator } from '../estimate/index.js';
import { ProfileDb } from '../profiles/db.js';
import { clusterString } from '../request/cluster.js';
import { countPlans, planJobs, searchEvents } from '../search/search.js';
import { Run } from './channel.js';
import { bodyToRawOptions } from '../request/form.js';
import type { WorkerInput, WorkerMessage } from './worker.js';

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

  get busy(): boolean {
    return this.current?.running === true;
  }

  /** True while a worker thread exists (tests check that Stop ends it). */
  get workerAlive(): boolean {
    return this.worker !== undefined;
  }

  async start(body: unknown): Promise<Run> {
    if (this.busy) {
      const r = this.current!;
      throw new BusyError(`a search is already running (run ${r.id}: ${r.done} of ${r.total} plans estimated)`,
        'wait for it to finish or press Stop (POST /api/search/stop), then start the new one; one search runs at a time per server');
    }
    const { raw, gpuTokens, body: parsed } = bodyToRawOptions(body, this.opts.profileDir, this.opts.catalogFiles);
    const resolved = resolveSearchOptions(raw, gpuTokens);
    const { request, catalog } = resolved;
    const profiles = ProfileDb.open(resolved.profileDir);
    const estimator = getEstimator(request.estimator);
    // The CLI's own checks (request, profiles, "no plan fits"): run the search up to its first event.
    const gen = searchEvents(request, { catalog, profiles, estimator });
    await gen.next();
    await gen.return(undefined);
    const total = countPlans(planJobs(request, profiles, catalog));
    if (this.busy) throw new BusyError('a search is already running', 'wait for it to finish or press Stop');

    const run = new Run(this.nextId++, 'search', {
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
    this.spawn(run, { raw, gpuTokens });
    return run;
  }

  private spawn(run: Run, input: WorkerInput): void {
    const here = import.meta.url;
    const worker = here.endsWith('.ts')
      ? new Worker(new URL('./worker-boot.mjs', here), { workerData: { ...input, __entry: new URL('./worker.ts', here).href } })
      : new Worker(new URL('./worker.js', here), { workerData: input });
    this.worker = worker;
    worker.on('message', (m: WorkerMessage) => {
      if (run !== this.current || !run.running || this.stopping) return;
      if (m.type === 'results') run.addResults(m.plans);
      else if (m.type === 'meta') run.push('meta', { run: run.id, ...m.meta });
      else if (m.type === 'end') run.finish('done');
      else if (m.type === 'error') {
        run.error = { error: m.error, hint: m.hint };
        run.finish('error', run.error);
      }
    });
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
