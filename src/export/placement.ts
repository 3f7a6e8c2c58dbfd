/**
 * Which node runs which pipeline stage, and what the launchers cannot say about it.
 *
 * fasop numbers ranks rank(p, d, c, t) = t + tp·c + tp·cp·d + tp·cp·dp·p, nodes in placement
 * order with gpusPerNode ranks each. Megatron-LM's default process-group order `tp-cp-ep-dp-pp`
 * and torchtitan's device mesh [pp, dp_replicate, dp_shard, cp, tp] number ranks the same way (tp
 * fastest, then cp, dp, pp slowest), and torchrun gives node `--node-rank i` the global ranks
 * i·nproc_per_node … (i+1)·nproc_per_node − 1. So starting placement node i with node rank i
 * realises fasop's placement.
 */
export interface NodeAssignment {
  nodeRank: number;
  gpu: string;
  firstRank: number;
  lastRank: number;
  /** pipeline stages with ranks on this node */
  stages: number[];
}

export interface StageAssignment {
  stage: number;
  firstRank: number;
  lastRank: number;
  nodeRanks: number[];
  gpus: string[];
}

export interface PlacementReport {
  heterogeneous: boolean;
  gpuTypes: string[];
  rankFormula: string;
  nodes: NodeAssignment[];
  stages: StageAssignment[];
  /** what an upstream launcher cannot express for this plan (empty when homogeneous) */
  lost: string[];
}

export function placementReport(p: { tp: number; dp: number; pp: number; cp?: number }, placement: readonly string[], gpusPerNode: number): PlacementReport {
  const per = p.tp * (p.cp ?? 1) * p.dp;
  const nodeOf = (rank: number) => Math.floor(rank / gpusPerNode);
  const stages: StageAssignment[] = Array.from({ length: p.pp }, (_, s) => {
    const first = s * per;
    const last = (s + 1) * per - 1;
    const nodeRanks = Array.from({ length: nodeOf(last) - nodeOf(first) + 1 }, (_, i) => nodeOf(first) + i);
    return { stage: s, firstRank: first, lastRank: last, nodeRanks, gpus: [...new Set(nodeRanks.map((i) => placement[i] ?? '?'))] };
  });
  const nodes: NodeAssignment[] = placement.map((gpu, i) => ({
    nodeRank: i,
    gpu,
    firstRank: i * gpusPerNode,
    lastRank: (i + 1) * gpusPerNode - 1,
    stages: stages.filter((s) => s.nodeRanks.includes(i)).map((s) => s.stage),
  }));
  const gpuTypes = [...new Set(placement)];
  const heterogeneous = gpuTypes.length > 1;
  const lost: string[] = [];
  if (heterogeneous) {
    lost.push(
      'Neither Megatron-LM nor torchtitan takes a GPU type per pipeline stage: both run the same program on every rank and give stage p the ranks tp·cp·dp·p … tp·cp·dp·(p+1)−1. The stage-to-GPU-type assignment fasop estimated holds only if the job scheduler starts placement node i with --node-rank i (table below); any other node order runs the same layer partition on other GPUs, and the estimate no longer applies.',
      'The layer partition itself is kept exactly: the layout string and module_fqns_per_model_part express unequal per-stage layer counts.',
      'Both launchers use one micro-batch size, one TP degree and one --nproc-per-node on every node, as fasop assumes; per-GPU-type memory limits are not checked by the launchers.',
    );
    for (const s of stages) {
      if (s.gpus.length > 1) lost.push(`Stage ${s.stage} spans nodes of different GPU types (${s.gpus.join(', ')}); fasop times it at the slowest of them, and its replicas run in lockstep at that pace.`);
    }
  }
  return { heterogeneous, gpuTypes, rankFormula: 'rank(p, d, c, t) = t + tp·c + tp·cp·d + tp·cp·dp·p; node rank i holds ranks i·gpusPerNode … (i+1)·gpusPerNode − 1', nodes, stages, lost };
}
