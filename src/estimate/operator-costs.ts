/** Operator costs by shape live with the operator profile they read (profiles/operator-costs.ts). */
export * from '../profiles/operator-costs.js';
