import { FasopError } from '../errors.js';
import type { Estimator, EstimatorName } from '../search/search.js';
import { estimateFasop } from './estimate-fasop.js';
import { estimateReference } from './estimate-reference.js';

/** The estimator for a name: `reference` reproduces the original; `fasop` is the corrected model. */
export function getEstimator(name: EstimatorName): Estimator {
  switch (name) {
    case 'reference':
      return (plan) => estimateReference(plan);
    case 'fasop':
      return (plan) => estimateFasop(plan);
    default:
      throw new FasopError(`unknown estimator '${String(name)}'`, 'use --estimator reference or --estimator fasop');
  }
}
