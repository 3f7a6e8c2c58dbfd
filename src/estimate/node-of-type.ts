/** The first node of a GPU type in a placement, looked up once per (nodes array, type). */
import type { ClusterNode } from './plan.js';

const firstByType = new WeakMap<readonly ClusterNode[], Map<string, ClusterNode | undefined>>();

/** nodes.find((x) => x.gpu.name === gpu): the same node, without a scan per call. */
export function nodeOfType(nodes: readonly ClusterNode[], gpu: string): ClusterNode | undefined {
  let byType = firstByType.get(nodes);
  if (!byType) firstByType.set(nodes, (byType = new Map()));
  if (byType.has(gpu)) return byType.get(gpu);
  const node = nodes.find((x) => x.gpu.name === gpu);
  byType.set(gpu, node);
  return node;
}
