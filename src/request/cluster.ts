import { getGpu, type Catalog } from '../catalog/catalog.js';
import type { GpuSpec } from '../catalog/schema.js';
import { FasopError } from '../errors.js';

/** One entry of `--gpus`: a GPU type and a number of NODES of that type. */
export interface NodeGroup {
  type: string;
  nodes: number;
}

const GPUS_HINT = 'write --gpus TYPE NODES [TYPE NODES ...], e.g. --gpus A40 8 A100 1 (NODES = whole nodes of --gpu-per-node GPUs each)';

/** Parse `--gpus` tokens (pairs of GPU type and node count) into canonical catalog names. */
export function parseGpuTokens(tokens: readonly string[], catalog: Catalog): NodeGroup[] {
  if (tokens.length === 0) throw new FasopError('--gpus is empty', GPUS_HINT);
  if (tokens.length % 2 !== 0) throw new FasopError(`--gpus needs TYPE NODES pairs, got ${tokens.length} token(s): ${tokens.join(' ')}`, GPUS_HINT);
  const groups: NodeGroup[] = [];
  for (let i = 0; i < tokens.length; i += 2) {
    const typeToken = tokens[i]!;
    const countToken = tokens[i + 1]!;
    if (/^[+-]?\d+$/.test(typeToken)) throw new FasopError(`--gpus: expected a GPU type at position ${i + 1}, got the number '${typeToken}'`, GPUS_HINT);
    const gpu = getGpu(catalog, typeToken);
    if (!/^\d+$/.test(countToken) || Number(countToken) < 1 || !Number.isSafeInteger(Number(countToken))) {
      throw new FasopError(`--gpus: node count for ${gpu.name} must be a whole number >= 1, got '${countToken}'`, GPUS_HINT);
    }
    if (groups.some((g) => g.type === gpu.name)) {
      throw new FasopError(`--gpus: GPU type ${gpu.name} is given twice`, `give each type once with its total node count, e.g. --gpus ${gpu.name} ${Number(countToken) * 2}`);
    }
    groups.push({ type: gpu.name, nodes: Number(countToken) });
  }
  return groups;
}

/** `A40:8, A100:1` — the original's gpu_cluster string. */
export function clusterString(groups: readonly NodeGroup[]): string {
  return groups.map((g) => `${g.type}:${g.nodes}`).join(', ');
}

/** `{"A40": 8}` — the cluster as the JSONL meta line writes it. */
export function clusterObject(groups: readonly NodeGroup[]): Record<string, number> {
  return Object.fromEntries(groups.map((g) => [g.type, g.nodes]));
}

/**
 * Node placements (SPEC §4.3): types in lexicographic order, C_T nodes each; with several types,
 * every cyclic rotation of that list.
 */
export function placements(groups: readonly NodeGroup[]): string[][] {
  const sorted = [...groups].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  const nodes = sorted.flatMap((g) => Array<string>(g.nodes).fill(g.type));
  if (groups.length === 1) return [nodes];
  return nodes.map((_, i) => [...nodes.slice(i), ...nodes.slice(0, i)]);
}

/**
 * `--pareto` sub-clusters (SPEC §4.4): every vector of node counts 0..C_T per type (CLI order,
 * first type outermost, counts ascending), all-zero skipped; zero entries dropped.
 */
export function subClusters(groups: readonly NodeGroup[]): NodeGroup[][] {
  const out: NodeGroup[][] = [];
  const counts = new Array<number>(groups.length).fill(0);
  const visit = (level: number) => {
    if (level === groups.length) {
      if (counts.some((c) => c > 0)) out.push(groups.map((g, i) => ({ type: g.type, nodes: counts[i]! })).filter((g) => g.nodes > 0));
      return;
    }
    for (let c = 0; c <= groups[level]!.nodes; c++) {
      counts[level] = c;
      visit(level + 1);
    }
  };
  visit(0);
  return out;
}

/** Cluster price in USD per second: Σ (price per node-hour / 3600) × nodes, in cluster order. */
export function pricePerSecond_usd(groups: readonly NodeGroup[], gpus: (type: string) => GpuSpec, pareto: boolean): number {
  let acc = 0;
  for (const g of groups) {
    const gpu = gpus(g.type);
    const price = pareto && gpu.pareto?.pricePerNodeHour_usd !== undefined ? gpu.pareto.pricePerNodeHour_usd : gpu.instance.pricePerNodeHour_usd;
    acc += (price / 3600) * g.nodes;
  }
  return acc;
}

/** gbs sweep of `--pareto-gbs-max G`: 1, 2, 4, … ≤ G. */
export function gbsSweep(max: number): number[] {
  const out: number[] = [];
  for (let g = 1; g <= max; g *= 2) out.push(g);
  return out;
}
