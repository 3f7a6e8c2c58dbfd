/**
 * The search, in a worker thread: the server's event loop (and so the page) stays responsive, and
 * Stop is `worker.terminate()`, which really stops it. Input (workerData): the CLI's raw options,
 * already checked by the server. Output: batches of results serialised here (wire.ts ResultBatch),
 * then `end` or `error`.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { isFasopError } from '../errors.js';
import { getEstimator } from '../estimate/index.js';
import { ProfileDb } from '../profiles/db.js';
import { defaultWorkers, parallelSearchEvents } from '../search/parallel.js';
import { FasopError } from '../errors.js';
import { resolveSearchOptions, type RawSearchOptions } from '../request/options.js';
import { encodeResults, wirePlan, type ResultBatch, type WirePlan } from './wire.js';

export interface WorkerInput {
  raw: RawSearchOptions;
  gpuTokens: string[];
  /** refuse (as an error before `ready`) a search with more plans */
  maxPlans: number;
}

export type WorkerMessage =
  | { type: 'ready'; total: number }
  | { type: 'meta'; meta: Record<string, unknown> }
  | { type: 'results'; batch: ResultBatch }
  | { type: 'end' }
  | { type: 'error'; error: string; hint: string; bug?: boolean };

const FLUSH_MS = 40;
/** Nice value of the search thread (Linux: per thread; 0 is the server's). */
const SEARCH_NICE = 10;
const FLUSH_COUNT = 500;

async function run(input: WorkerInput): Promise<void> {
  const post = (m: WorkerMessage) => parentPort!.postMessage(m);
  const { request, catalog, profileDir } = resolveSearchOptions(input.raw, input.gpuTokens);
  const profiles = ProfileDb.open(profileDir);
  const estimator = getEstimator(request.estimator);
  let batch: WirePlan[] = [];
  let last = Date.now();
  const flush = () => {
    if (batch.length) {
      // serialised here, off the server's thread; the typed arrays are moved, not copied
      const b = encodeResults(batch);
      parentPort!.postMessage({ type: 'results', batch: b } satisfies WorkerMessage, [b.cost.buffer, b.throughput.buffer, b.oom.buffer]);
    }
    batch = [];
    last = Date.now();
  };
  // The CLI's own checks (request, profiles, "no plan fits") happen at the first event, here, off
  // the server's thread; the server answers the POST once `ready` (or `error`) arrives.
  // the same parallel search as the CLI's, its threads as nice as this one, over all cores but one:
  // that one stays for the server's thread (API calls, streams)
  let total = 0;
  const events = parallelSearchEvents(request, { catalog, profiles, estimator }, {
    workers: Math.max(1, defaultWorkers() - 1),
    source: { raw: input.raw, gpuTokens: input.gpuTokens },
    nice: SEARCH_NICE,
    // the page reads the records only: threads send each estimate's stage memory, not its breakdown
    slimEstimates: true,
    // refused before any thread starts
    onThreads: (_threads, plans) => {
      total = plans;
      if (total > input.maxPlans) {
        throw new FasopError(`this search has ${total} plans; the viewer runs at most ${input.maxPlans} (it keeps every plan to replay to pages)`,
          'use fewer nodes or GPU types, or run it with `fasop search --parsing --parsing-file FILE` and follow FILE with `fasop serve --watch FILE`');
      }
    },
  });
  const first = await events.next();
  post({ type: 'ready', total });
  const rest = async function* () {
    if (!first.done) yield first.value;
    yield* events;
  };
  for await (const ev of rest()) {
    if (ev.type === 'result') {
      batch.push(wirePlan(ev.index, ev.record));
      if (batch.length >= FLUSH_COUNT || Date.now() - last >= FLUSH_MS) flush();
    } else if (ev.type === 'oom') {
      // a strategy that does not fit: counted on the page, with no time or cost
      const o = ev.oom;
      batch.push(wirePlan(ev.index, { gbs: o.gbs, mbs: o.mbs, tp: o.tp, dp: o.dp, pp: o.pp, node_type: o.placement, gpu_cluster_str: o.gpu_cluster_str, is_oom: true, oom_gpumem: o.peak_GiB }));
      if (batch.length >= FLUSH_COUNT || Date.now() - last >= FLUSH_MS) flush();
    } else if (ev.type === 'meta') {
      flush();
      post({ type: 'meta', meta: { gbs: ev.gbs, cluster: ev.cluster, count: ev.total_count * ev.placements.length } });
    }
  }
  flush();
  post({ type: 'end' });
}

if (parentPort) {
  // Linux nice values are per thread: the search yields the CPU to the server's thread (API calls, streams).
  try {
    setPriority(0, SEARCH_NICE);
  } catch {
    // not permitted here: the search runs at the server's priority
  }
  run(workerData as WorkerInput).catch((err: unknown) => {
    const m: WorkerMessage = isFasopError(err)
      ? { type: 'error', error: err.message, hint: err.hint }
      : { type: 'error', error: `internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, hint: 'this is a bug in fasop; please report it', bug: true };
    parentPort!.postMessage(m);
  });
}
