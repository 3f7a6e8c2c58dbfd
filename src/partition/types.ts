/**
 * The contract every pipeline partitioner implements.
 *
 * A plan's model is a sequence of n units, the nodes of the problem: its graph operators (embed,
 * 8 per decoder layer, lm_head) or its decoder layers (units.ts groups them). A partition cuts the
 * sequence into `pp` contiguous, non-empty stages; stage s runs on GPUs of its own type, so a
 * unit's cost depends on the stage that runs it.
 */
export interface PartitionProblem {
  /** nodeCost_s[s][k]: forward+backward seconds of unit k when stage s runs it (pp rows × n). */
  nodeCost_s: readonly (readonly number[])[];
  /**
   * boundaryCost_s(k, j): seconds to send the output of unit k (the last unit of stage j) across
   * boundary j (between stage j and j+1), j = 0 … pp−2. The backward gradient has the same volume.
   */
  boundaryCost_s: (k: number, j: number) => number;
  /** number of micro-batches m per step (≥ 1) */
  microBatches: number;
}

/** Stage sizes (unit counts, Σ = n) and the objective value the method optimised. */
export interface PartitionResult {
  sizes: number[];
  objective: number;
}
