import type { Estimate } from '../estimate/plan.js';
import { roundToLayers } from '../model/layer-rounding.js';
import type { PlanRecord } from '../search/record.js';

/** What the reports add to a plan record, read off its estimate (all memory in GiB). */
export interface PlanExtras {
  /** GPUs the plan uses: tp × cp × dp × pp */
  gpus: number;
  /** the most memory any one GPU of the plan needs */
  peakMemory_GiB: number;
  /** usable memory of that GPU (the catalog's memoryLimit_GiB) */
  memoryLimit_GiB: number;
  /** the stage (0-based) whose GPUs are fullest relative to their limit */
  tightestStage: number;
  /** decoder layers per pipeline stage as a launcher runs them (whole layers) */
  layersPerStage: number[] | null;
  /** true when layersPerStage had to round a stage boundary that cut inside a layer */
  layersRounded: boolean;
}

/** The extras of one estimated plan of a model with `numLayers` decoder layers. */
export function planExtras(record: PlanRecord, est: Estimate, numLayers: number): PlanExtras {
  const stages = est.breakdown.stages;
  let tightest = 0;
  stages.forEach((s, i) => {
    const t = stages[tightest]!;
    if (s.memory_GiB / s.memoryLimit_GiB > t.memory_GiB / t.memoryLimit_GiB) tightest = i;
  });
  const peak = stages.length ? stages[tightest]! : undefined;
  let layersPerStage: number[] | null = record.partition_layers;
  let layersRounded = false;
  if (!layersPerStage) {
    try {
      layersPerStage = roundToLayers(record.partition, numLayers).layersPerStage;
      layersRounded = true;
    } catch {
      layersPerStage = null; // a partition that is not 8·layers+2 nodes (cannot come from a search)
    }
  }
  return {
    gpus: record.tp * record.cp * record.dp * record.pp,
    peakMemory_GiB: peak ? peak.memory_GiB : record.oom_gpumem,
    memoryLimit_GiB: peak ? peak.memoryLimit_GiB : NaN,
    tightestStage: tightest,
    layersPerStage,
    layersRounded,
  };
}

/** How plans are ranked: by total time only (the original), or every plan that fits first. */
export type RankOrder = 'time' | 'fits-first';
