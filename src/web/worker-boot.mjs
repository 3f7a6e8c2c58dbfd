// Boots the search worker when fasop runs from its TypeScript sources (tsx): a worker thread does
// not inherit tsx's loader on Node 20, so register it here, then load worker.ts. From dist/, the
// server starts the compiled worker.js directly and this file is not used.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.__entry);
