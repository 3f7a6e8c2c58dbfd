/**
 * The search, in a worker thread: the server's event loop (and so the page) stays responsive, and
 * Stop is `worker.terminate()`, which really stops it. Input (workerData): the CLI's raw options,
 * already checked by the server. Output: batches of small records, then `end` or `error`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isFasopError } from '../errors.js';
import { getEstimator } from '../estimate/index.js';
import { ProfileDb } from '../profiles/db.js';
import { searchEvents } from '../search/search.js';
import { resolveSearchOptions, type RawSearchOptions } from '../cli/search-options.js';
import { wirePlan, type WirePlan } from './wire.js';

export interface WorkerInput {
  raw: RawSearchOptions;
  gpuTokens: string[];
}

export type WorkerMessage =
  | { type: 'meta'; meta: Record<string, unknown> }
  | { type: 'results'; plans: WirePlan[] }
  | { type: 'end' }
  | { type: 'error'; error: string; hint: string };

const FLUSH_MS = 40;
const FLUSH_COUNT = 500;

async function run(input: WorkerInput): Promise<void> {
  const post = (m: WorkerMessage) => parentPort!.postMessage(m);
  const { request, catalog, profileDir } = resolveSearchOptions(input.raw, input.gpuTokens);
  const profiles = ProfileDb.open(profileDir, { model: request.model });
  const estimator = getEstimator(request.estimator);
  let batch: WirePlan[] = [];
  let last = Date.now();
  const flush = () => {
    if (batch.length) post({ type: 'results', plans: batch });
    batch = [];
    last = Date.now();
  };
  for await (const ev of searchEvents(request, { catalog, profiles, estimator })) {
    if (ev.type === 'result') {
      batch.push(wirePlan(ev.index, ev.record));
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
  run(workerData as WorkerInput).catch((err: unknown) => {
    const m: WorkerMessage = isFasopError(err)
      ? { type: 'error', error: err.message, hint: err.hint }
      : { type: 'error', error: `internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, hint: 'this is a bug in fasop; please report it' };
    parentPort!.postMessage(m);
  });
}
