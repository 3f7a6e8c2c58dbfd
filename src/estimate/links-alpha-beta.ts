/**
 * The corrected model's links: latency + bandwidth (α–β), from the profiler's measurements when the
 * catalog has them, else from the datasheet figures. Bandwidths in the catalog are bits/s; here
 * bytes/s. All functions are pure.
 */
import type { GpuSpec } from '../catalog/schema.js';
import { intraTier } from './links.js';
import type { ClusterNode } from './plan.js';

/** Latency assumed where nothing was measured (NCCL's small-message latency is 5–20 µs). */
export const DEFAULT_INTRA_LATENCY_S = 10e-6;
export const DEFAULT_INTER_LATENCY_S = 20e-6;

export interface Link {
  latency_s: number;
  bandwidth_Bps: number;
  source: 'measured' | 'tier' | 'datasheet';
  /** measured medians [bytes, seconds], ascending, on `samplesGroup` GPUs (the profiler's table) */
  samples?: readonly (readonly [number, number])[];
  samplesGroup?: number;
}

/** Time between the measured samples (linear between neighbours); undefined outside their range. */
function interpolated_s(samples: readonly (readonly [number, number])[] | undefined, bytes: number): number | undefined {
  if (!samples || samples.length < 2 || bytes < samples[0]![0] || bytes > samples[samples.length - 1]![0]) return undefined;
  let i = 1;
  while (samples[i]![0] < bytes) i++;
  const [x0, y0] = samples[i - 1]!;
  const [x1, y1] = samples[i]!;
  return y0 + ((bytes - x0) / (x1 - x0)) * (y1 - y0);
}

/** Beyond the largest sample: its time plus the rest at the bandwidth of the last two samples (the bandwidth-bound end). */
function extrapolated_s(samples: readonly (readonly [number, number])[] | undefined, bytes: number): number | undefined {
  if (!samples || samples.length < 2) return undefined;
  const [x1, y1] = samples[samples.length - 1]!;
  const [x0, y0] = samples[samples.length - 2]!;
  if (bytes <= x1 || y1 <= y0) return undefined;
  return y1 + ((bytes - x1) * (y1 - y0)) / (x1 - x0);
}

function sampled_s(samples: readonly (readonly [number, number])[] | undefined, bytes: number): number | undefined {
  return interpolated_s(samples, bytes) ?? extrapolated_s(samples, bytes);
}

export function linkTime_s(link: Link, bytes: number): number {
  if (bytes <= 0) return 0;
  return sampled_s(link.samples, bytes) ?? link.latency_s + bytes / link.bandwidth_Bps;
}

/** The samples of a measured link in seconds, converted once per catalog entry (links are built in the search's loop). */
const samplesInSeconds = new WeakMap<readonly [number, number][], readonly (readonly [number, number])[]>();
function samplesOf(m: { samples_us?: [number, number][] | undefined }): readonly (readonly [number, number])[] | undefined {
  const us = m.samples_us;
  if (!us) return undefined;
  let s = samplesInSeconds.get(us);
  if (!s) {
    s = us.map(([b, t]) => [b, t * 1e-6] as const);
    samplesInSeconds.set(us, s);
  }
  return s;
}

/** How the runtime issues work (TrainingRecipe.launch): links measured as captured replays serve 'cuda-graph'. */
export type Launch = 'eager' | 'cuda-graph';

/** The measured links for a launch mode: the captured ones for 'cuda-graph' when measured, else the eager ones. */
function measuredLinks(gpu: GpuSpec, launch: Launch) {
  const m = gpu.measured;
  if (!m) return undefined;
  return launch === 'cuda-graph' && m.captured ? m.captured : m;
}

/** Point-to-point inside one node between two ranks. */
export function intraP2p(node: ClusterNode, ra: number, rb: number, launch: Launch = 'eager'): Link {
  const m = measuredLinks(node.gpu, launch);
  if (m) return { latency_s: m.p2p.latency_us * 1e-6, bandwidth_Bps: m.p2p.bandwidth_GBps * 1e9, source: 'measured', samples: samplesOf(m.p2p), samplesGroup: 2 };
  const tier = intraTier(node, 'sendrecv_bps', ra, rb);
  if (tier !== undefined) return { latency_s: DEFAULT_INTRA_LATENCY_S, bandwidth_Bps: tier / 8, source: 'tier' };
  return { latency_s: DEFAULT_INTRA_LATENCY_S, bandwidth_Bps: node.intraNode_bps / 8, source: 'datasheet' };
}

/** Bus bandwidth of an all-reduce among `group` GPUs of one node. */
export function intraAllreduce(gpu: GpuSpec, intraNode_bps: number, group: number, launch: Launch = 'eager'): Link {
  const m = measuredLinks(gpu, launch);
  if (m) {
    const bus = m.allreduce.busBandwidth_GBps ?? m.allreduce.bandwidth_GBps; // 2 GPUs: bus = alg
    return { latency_s: m.allreduce.latency_us * 1e-6, bandwidth_Bps: bus * 1e9, source: 'measured', samples: samplesOf(m.allreduce), samplesGroup: gpu.measured!.gpuCount };
  }
  const tiers = gpu.intraNodeTiers?.allreduce_bps;
  if (tiers) {
    const bw = group <= 2 ? tiers.nvlinkPair : group <= 4 ? tiers.pcieSwitch : tiers.crossSwitch;
    return { latency_s: DEFAULT_INTRA_LATENCY_S, bandwidth_Bps: bw / 8, source: 'tier' };
  }
  return { latency_s: DEFAULT_INTRA_LATENCY_S, bandwidth_Bps: intraNode_bps / 8, source: 'datasheet' };
}

/**
 * One flow between two nodes when `flows` flows leave the node at once. A GPU gets at most its share
 * of the node's network (interNode_bps / the type's node size: one rail per GPU on p5-class nodes),
 * and concurrent flows share the node's NIC.
 */
export function interNode(a: ClusterNode, b: ClusterNode, flows: number): Link {
  const nic = Math.min(a.interNode_bps, b.interNode_bps) / 8;
  const share = Math.max(1, flows, Math.min(a.gpu.gpusPerNode, b.gpu.gpusPerNode));
  return { latency_s: DEFAULT_INTER_LATENCY_S, bandwidth_Bps: nic / share, source: 'datasheet' };
}

/**
 * The inter-node hop of a collective ring with `ringRanks` of its ranks on the sending node: NCCL
 * opens one channel per NIC rail, so the ring crosses on up to `ringRanks` rails, each one GPU's
 * share of the node's network (nccl-tests' multi-node bus bandwidth is the node's NIC total when
 * every GPU of the node is in the ring).
 */
export function interNodeRing(a: ClusterNode, b: ClusterNode, ringRanks: number): Link {
  const nic = Math.min(a.interNode_bps, b.interNode_bps) / 8;
  const rails = Math.max(1, Math.min(a.gpu.gpusPerNode, b.gpu.gpusPerNode));
  return { latency_s: DEFAULT_INTER_LATENCY_S, bandwidth_Bps: (nic * Math.min(rails, Math.max(1, ringRanks))) / rails, source: 'datasheet' };
}

/** All-reduce time: the measured samples where they cover the size and the group, else the ring formula latency + 2(n−1)/n · bytes / bus bandwidth. */
export function allreduceTime_s(link: Link, bytes: number, group: number): number {
  if (group <= 1 || bytes <= 0) return 0;
  const measured = group === link.samplesGroup ? sampled_s(link.samples, bytes) : undefined;
  return measured ?? link.latency_s + ((2 * (group - 1)) / group) * (bytes / link.bandwidth_Bps);
}
