/**
 * The partitioner registry: every method answers the same question — the partition minimising
 * F(P) = (m − 1)·max stage + Σ stage (objective.ts) — with the same tie-break (the
 * lexicographically smallest sizes among optima tied within TIE_REL).
 */
import { bruteforcePartition, type BruteforceOptions } from './bruteforce.js';
import { dpPartition, type DpOptions } from './dp.js';
import { ilpPartition, type IlpOptions } from './ilp.js';
import type { PartitionProblem, PartitionResult } from './types.js';

export type PartitionMethod = 'dp' | 'ilp' | 'bruteforce';

export interface PartitionerOptions extends DpOptions, BruteforceOptions, IlpOptions {}

export type Partitioner = (p: PartitionProblem, opts?: PartitionerOptions) => PartitionResult | Promise<PartitionResult>;

export const partitioners: Record<PartitionMethod, Partitioner> = {
  dp: (p, opts) => dpPartition(p, opts),
  ilp: (p, opts) => ilpPartition(p, opts),
  bruteforce: (p, opts) => bruteforcePartition(p, opts),
};

export { evaluatePartition, TIE_REL, type PartitionEvaluation } from './objective.js';
export { dpPartition, type DpOptions, type DpStats } from './dp.js';
export { binomial, bruteforcePartition, compositions, BRUTEFORCE_MAX_COMPOSITIONS, type BruteforceOptions } from './bruteforce.js';
export { ilpPartition, closeIlpWorker, type IlpOptions, type IlpResult } from './ilp.js';
export { referenceDpPartition } from './reference-dp.js';
export { groupProblem, expandSizes, type UnitStarts } from './units.js';
export { evenSplit } from './even.js';
export type { PartitionProblem, PartitionResult } from './types.js';
