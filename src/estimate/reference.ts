/**
 * The original FASOP's cost model (SPEC.md §6–12), float32 rounding points included (Appendix A,
 * mode A), so that `--estimator reference` reproduces its numbers. Every function is pure.
 */
import { columnOfNode, nodeCount, outputVolumeByColumn, paramsByColumn } from '../model/graph.js';
import type { ProfileTable } from '../profiles/profile.js';
import { f32 } from './f32.js';
import { intraTier, nodeOfRank, rankOf, referenceBoundaryBandwidth_bps } from './links.js';
import type { ResolvedPlan } from './plan.js';

const PROFILE_MBS = [1, 2, 4, 8, 16, 32];

/** Profile row for micro-batch b (SPEC §3.3): next profiled size up, clamped to the last row. */
export function referenceProfileRow(b: number, rows: number): number {
  let row = PROFILE_MBS.indexOf(b);
  if (row < 0) {
    row = PROFILE_MBS.findIndex((x) => x >= b);
    if (row < 0) row = PROFILE_MBS.length - 1;
  }
  return Math.min(row, rows - 1);
}

/** Per-column fwd+bwd seconds: f32(3·X/1000) of the row for b (SPEC §6, A1). */
export function referenceColumnCosts(profile: ProfileTable, b: number): number[] {
  const row = profile.forward_ms[referenceProfileRow(b, profile.forward_ms.length)]!;
  return row.map((x) => f32((3 * x) / 1000));
}

/** Node cost vector (n entries) from the 10 column costs. */
export function nodeCostVector(columnCosts: number[], n: number): Float64Array {
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) out[k] = columnCosts[columnOfNode(k, n)]!;
  return out;
}

/** The GPUs hosting stage s: nodes of ranks [s·tp·dp, (s+1)·tp·dp). */
export function stageNodeIndices(plan: ResolvedPlan, s: number): number[] {
  const per = plan.tp * plan.dp;
  const first = nodeOfRank(plan, s * per);
  const last = nodeOfRank(plan, (s + 1) * per - 1);
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

/**
 * GPU type whose profile times stage s. One type: that type. Several (a stage that spans nodes of
 * different types): the slowest of them, since the slowest replica sets the pace. Never another
 * GPU's profile.
 */
export function stageGpuType(plan: ResolvedPlan, s: number, layerCost: (gpu: string) => number): string {
  const types = [...new Set(stageNodeIndices(plan, s).map((i) => plan.nodes[i]!.gpu.name))];
  return types.reduce((a, b) => (layerCost(b) > layerCost(a) ? b : a));
}

/** cost_c (SPEC §7): seconds to send node k's output across boundary j; one value per column. */
export function referenceBoundaryCosts(plan: ResolvedPlan): number[][] {
  const vols = outputVolumeByColumn(plan.model, plan.mbs, plan.tp, { ffn: 4 * plan.model.hidden_size, gqa: false });
  const out: number[][] = [];
  for (let j = 0; j < plan.pp - 1; j++) {
    const bw = referenceBoundaryBandwidth_bps(plan, j);
    out.push(vols.map((v) => f32(f32(16 * v) / bw)));
  }
  return out; // out[j][column]
}

export interface StageLists {
  comp: number[];
  comm: number[];
  forSend: number[];
  backSend: number[];
}

/** §8.1 stage lists at node level: compute, minmax comm, and the simulator's two priced sends. */
export function referenceStageLists(
  sizes: number[],
  stageCosts: Float64Array[],
  costC: number[][],
  n: number,
): StageLists {
  const S = sizes.length;
  const comp: number[] = [];
  const comm = new Array<number>(S).fill(0);
  const forSend = new Array<number>(S).fill(0);
  const backSend = new Array<number>(S).fill(0);
  let a = 0;
  for (let s = 0; s < S; s++) {
    const c = stageCosts[s]!;
    let acc = 0;
    for (let k = a; k < a + sizes[s]!; k++) acc += c[k]!;
    comp.push(acc);
    if (S > 1) {
      if (s === 0) forSend[s] = costC[0]![columnOfNode(0, n)]!;
      else if (s < S - 1) comm[s] = costC[s - 1]![columnOfNode(a, n)]!;
      else backSend[s] = costC[S - 2]![columnOfNode(a, n)]!;
    }
    a += sizes[s]!;
  }
  return { comp, comm, forSend, backSend };
}

/** Parameters of stage 0 (float64), which the original charges to every stage's DP all-reduce. */
function stage0Params(plan: ResolvedPlan, firstStageSize: number): number {
  const n = nodeCount(plan.model);
  const params = paramsByColumn(plan.model, plan.tp, 4 * plan.model.hidden_size, false);
  let p = 0;
  for (let k = 0; k < firstStageSize; k++) p += params[columnOfNode(k, n)]!;
  return p;
}

/** DP gradient all-reduce per stage (SPEC §11.1), with the original's loop behaviour. */
export function referenceDpCosts(plan: ResolvedPlan, sizes: number[], stageIsA100: boolean[]): number[] {
  const { tp, dp, gpusPerNode: M } = plan;
  if (dp === 1) return sizes.map(() => 0);
  const P0 = stage0Params(plan, sizes[0]!);
  let B = Infinity;
  for (let k = 0; k < dp; k++) {
    const rc = rankOf(plan, 0, k, tp - 1);
    const rn = rankOf(plan, 0, (k + 1) % dp, tp - 1);
    const nc = nodeOfRank(plan, rc);
    const nn = nodeOfRank(plan, rn);
    let bw: number;
    if (nc === nn) {
      const node = plan.nodes[nc]!;
      const tiers = node.gpu.intraNodeTiers?.allreduce_bps;
      if (tiers) {
        const g = tp * dp;
        // The original leaves g ∈ {3,5,6,7} at a 40 bit/s placeholder (a 2e10-second step):
        // those groups get the tier of the switch they span instead.
        bw = g <= 2 ? tiers.nvlinkPair : g <= 4 ? tiers.pcieSwitch : tiers.crossSwitch;
      } else {
        bw = node.intraNode_bps;
      }
    } else {
      bw = Math.min(plan.nodes[nc]!.interNode_bps, plan.nodes[nn]!.interNode_bps);
    }
    B = Math.min(B, f32(bw));
  }
  const volume = f32(2 * (dp - 1) * 16 * P0);
  return sizes.map((_, s) => {
    let b = B;
    if (tp * dp >= M) b = f32(b / f32(tp));
    else if (tp > 1 && !stageIsA100[s]) b = f32(b / f32(M / dp));
    return f32(f32(1 / f32(dp * b)) * volume);
  });
}

/** Embedding / LM-head sync (SPEC §11.2): charged whenever pp > 1, last replica's link. */
export function referenceEmbeddingCost(plan: ResolvedPlan): number {
  const { tp, dp, pp, gpusPerNode: M } = plan;
  if (pp === 1) return 0;
  const i = dp - 1;
  let slowest = Infinity;
  for (let t = 0; t < tp; t++) {
    const ra = rankOf(plan, 0, i, t);
    const rb = rankOf(plan, pp - 1, i, t);
    const na = nodeOfRank(plan, ra);
    const nb = nodeOfRank(plan, rb);
    let bw: number;
    if (na !== nb) bw = Math.min(f32(plan.nodes[na]!.interNode_bps), f32(plan.nodes[nb]!.interNode_bps));
    else bw = intraTier(plan.nodes[na]!, 'allreduce_bps', ra, rb) ?? plan.nodes[na]!.intraNode_bps;
    slowest = Math.min(slowest, f32(bw));
  }
  const band = f32(slowest / Math.min(dp, M));
  const { hidden_size: h, vocab_size: v } = plan.model;
  return f32(f32(f32(1 / f32(2 * band)) * f32(2 * h * v * plan.precision)) / tp);
}

/** Activation elements per column (SPEC §12; integer // tp; lm_head counts b·s·h). */
function activationByColumn(plan: ResolvedPlan): number[] {
  const { hidden_size: h, seq_length: s } = plan.model;
  const { mbs: b, tp } = plan;
  const bsh = b * s * h;
  const q = Math.floor(bsh / tp);
  const ffn = Math.floor((4 * bsh) / tp);
  return [bsh, q, q, q, bsh, ffn, ffn, ffn, bsh, bsh];
}

/** Peak memory per stage in GiB (SPEC §12): 18 B/param, activations in elements × in-flight. */
export function referenceStageMemory_GiB(plan: ResolvedPlan, sizes: number[], microBatches: number): number[] {
  const n = nodeCount(plan.model);
  const inFlight = microBatches > plan.pp ? plan.pp : microBatches;
  const params = paramsByColumn(plan.model, plan.tp, 4 * plan.model.hidden_size, true);
  const acts = activationByColumn(plan);
  const out: number[] = [];
  let a = 0;
  for (const size of sizes) {
    let P = 0;
    let A = 0;
    for (let k = a; k < a + size; k++) {
      const c = columnOfNode(k, n);
      P += params[c]!;
      A = f32(A + f32(f32(acts[c]!) * inFlight));
    }
    out.push(f32(f32(18 * P) + A) / 2 ** 30);
    a += size;
  }
  return out;
}

/**
 * Node whose memory limit applies to stage s (SPEC §12). The original's mapping where it is
 * defined; where it crashes (pp > N with N ∤ pp, or ⌊N/pp⌋ = 1) the nodes that host the stage.
 */
export function referenceMemoryNodes(plan: ResolvedPlan, s: number): number[] {
  const N = plan.nodes.length;
  const { pp } = plan;
  if (pp > N) {
    const j = Math.floor(s / Math.floor(pp / N));
    if (j < N) return [j];
  } else if (pp === N) {
    return [s];
  } else {
    const k = Math.floor(N / pp);
    if (k > 1) return [(s + 1) * k - 2];
  }
  return stageNodeIndices(plan, s);
}


