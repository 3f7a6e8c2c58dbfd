// Boots the ilp worker from TypeScript sources: worker threads do not inherit tsx's loader on
// Node 20, so register it here first. Compiled builds (dist/) start ilp-worker.js directly.
import { register } from 'tsx/esm/api';

register();
await import('./ilp-worker.ts');
