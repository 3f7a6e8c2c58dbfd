import { f32 } from './f32.js';
import type { ClusterNode, ResolvedPlan } from './plan.js';

/** Context-parallel degree of a plan (1 without context parallelism). */
export function cpOf(plan: Pick<ResolvedPlan, 'execution'>): number {
  return plan.execution?.cp ?? 1;
}

/**
 * Global rank of (pipeline stage p, data-parallel replica d, tensor rank t, context rank c):
 * t + tp·c + tp·cp·d + tp·cp·dp·p, Megatron-LM's default order tp-cp-ep-dp-pp (parallel_state.py).
 */
export function rankOf(plan: Pick<ResolvedPlan, 'tp' | 'dp' | 'execution'>, p: number, d: number, t: number, c = 0): number {
  const tc = plan.tp * cpOf(plan);
  return t + plan.tp * c + tc * d + tc * plan.dp * p;
}

export function nodeOfRank(plan: Pick<ResolvedPlan, 'gpusPerNode'>, rank: number): number {
  return Math.floor(rank / plan.gpusPerNode);
}

/** One of the tp·cp·dp parallel streams across pipeline boundary j: its two ranks and their nodes. */
export interface BoundaryStream { ra: number; rb: number; na: number; nb: number }

export function boundaryStreams(plan: Pick<ResolvedPlan, 'tp' | 'dp' | 'gpusPerNode' | 'execution'>, j: number): BoundaryStream[] {
  const out: BoundaryStream[] = [];
  const cp = cpOf(plan);
  for (let d = 0; d < plan.dp; d++) {
    for (let c = 0; c < cp; c++) {
      for (let t = 0; t < plan.tp; t++) {
        const ra = rankOf(plan, j, d, t, c);
        const rb = rankOf(plan, j + 1, d, t, c);
        out.push({ ra, rb, na: nodeOfRank(plan, ra), nb: nodeOfRank(plan, rb) });
      }
    }
  }
  return out;
}

type TierKind = 'sendrecv_bps' | 'allreduce_bps';

/** A40-style intra-node tier between two ranks: NVLink pair (r//2), PCIe switch (r//4), across switches. */
export function intraTier(node: ClusterNode, kind: TierKind, ra: number, rb: number): number | undefined {
  const tiers = node.gpu.intraNodeTiers?.[kind];
  if (!tiers) return undefined;
  if (Math.floor(ra / 2) === Math.floor(rb / 2)) return tiers.nvlinkPair;
  if (Math.floor(ra / 4) === Math.floor(rb / 4)) return tiers.pcieSwitch;
  return tiers.crossSwitch;
}

/** The item that takes longest by `time_s` (the first of equals): the slowest link of a set of parallel streams. */
export function slowest<T>(items: readonly T[], time_s: (x: T) => number): T {
  let worst = items[0]!;
  let worstTime = time_s(worst);
  for (let i = 1; i < items.length; i++) {
    const t = time_s(items[i]!);
    if (t > worstTime) { worst = items[i]!; worstTime = t; }
  }
  return worst;
}

/**
 * The original's pipeline p2p bandwidth (bits/s) for boundary j (SPEC §7.2): the slowest of the
 * tp parallel streams of every DP replica. Inter-node: min NIC / dp / tp / 1.05 (tp·dp streams
 * share the NIC); intra-node: intra / 3.5, or the A40 tier.
 */
export function originalBoundaryBandwidth_bps(plan: ResolvedPlan, j: number): number {
  const onePointZeroFive = f32(1.05);
  const bws = boundaryStreams(plan, j).map(({ ra: rc, rb: rp, na: nc, nb: np }) => {
    if (nc !== np) {
      const inter = Math.min(f32(plan.nodes[nc]!.interNode_bps), f32(plan.nodes[np]!.interNode_bps));
      return f32(f32(f32(inter / plan.dp) / plan.tp) / onePointZeroFive);
    }
    const node = plan.nodes[nc]!;
    return f32(intraTier(node, 'sendrecv_bps', rc, rp) ?? f32(f32(node.intraNode_bps) / 3.5));
  });
  return slowest(bws, (bw) => -bw);
}

/** The GPUs hosting stage s: nodes of ranks [s·tp·cp·dp, (s+1)·tp·cp·dp). */
/** The first and last node (indices into plan.nodes) that stage s's ranks occupy. */
export function stageNodeRange(plan: Pick<ResolvedPlan, 'tp' | 'dp' | 'gpusPerNode' | 'execution'>, s: number): { first: number; last: number } {
  const per = plan.tp * cpOf(plan) * plan.dp;
  return { first: nodeOfRank(plan, s * per), last: nodeOfRank(plan, (s + 1) * per - 1) };
}

export function stageNodeIndices(plan: Pick<ResolvedPlan, 'tp' | 'dp' | 'gpusPerNode' | 'execution'>, s: number): number[] {
  const { first, last } = stageNodeRange(plan, s);
  const out = new Array<number>(last - first + 1);
  for (let i = 0; i < out.length; i++) out[i] = first + i;
  return out;
}
