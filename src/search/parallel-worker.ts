/**
 * One worker of the parallel search (parallel.ts): rebuilds the request from the raw options, runs
 * the search estimating only its own strategies, and sends their results at the end of each chunk.
 * It waits while it is more than `window` chunks ahead of what thread 0 has passed on.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { isFasopError } from '../errors.js';
import { getEstimator } from '../estimate/index.js';
import { ProfileDb } from '../profiles/db.js';
import { resolveSearchOptions } from '../request/options.js';
import { chunkOf, ownerOf, type ShardInput, type ShardMessage } from './parallel.js';
import { ResultPacker, type ShardItem } from './wire.js';
import { searchEvents } from './search.js';

async function run(d: ShardInput): Promise<void> {
  const post = (m: ShardMessage) => parentPort!.postMessage(m);
  const { request, catalog, profileDir } = resolveSearchOptions(d.source.raw, d.source.gpuTokens);
  const profiles = ProfileDb.open(profileDir);
  const estimator = getEstimator(request.estimator);
  const ctl = new Int32Array(d.control);
  let batch: ShardItem[] = [];
  // slim estimates go packed: the calling thread reads them without a structured clone
  const packer = d.slimEstimates ? new ResultPacker() : undefined;
  const flush = () => {
    const packed = packer?.take();
    if (packed) parentPort!.postMessage({ type: 'packed', packed } satisfies ShardMessage, [packed.f64.buffer as ArrayBuffer]);
    if (batch.length) post({ type: 'results', items: batch });
    batch = [];
  };
  let chunk = -1;
  const only = (index: number, slot: number, slots: number) => {
    const c = chunkOf(index, d.chunk);
    if (c !== chunk) {
      // a new chunk: what this thread has of the earlier ones goes out first, then it waits while too far ahead
      chunk = c;
      flush();
      for (;;) {
        const seen = Atomics.load(ctl, 0);
        if (Atomics.load(ctl, 1) === 1 || c <= seen + d.window) break;
        Atomics.wait(ctl, 0, seen, 1000);
      }
    }
    return ownerOf(slot, slots, d.threads, d.group) === d.shard;
  };
  for await (const ev of searchEvents(request, { catalog, profiles, estimator, only })) {
    if (Atomics.load(ctl, 1) === 1) return;
    if (ev.type !== 'result' && ev.type !== 'oom') continue;
    const item: ShardItem = ev.type === 'result' ? { index: ev.index, record: ev.record, estimate: ev.estimate } : { index: ev.index, oom: ev.oom };
    if (packer) packer.add(item);
    else batch.push(item);
  }
  flush();
  post({ type: 'end' });
}

if (parentPort) {
  const d = workerData as ShardInput;
  if (d.nice !== undefined) {
    try {
      setPriority(0, d.nice);
    } catch {
      // not permitted here: the thread keeps its priority
    }
  }
  run(d).catch((err: unknown) => {
    const m: ShardMessage = isFasopError(err)
      ? { type: 'error', message: err.message, hint: err.hint, fasop: true }
      : { type: 'error', message: `internal error in a search thread: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, fasop: false };
    parentPort!.postMessage(m);
  });
}
