import { FasopError } from '../errors.js';

/**
 * From fasop's node-level partition to whole decoder layers (SPEC §6: n = 8L+2 nodes; node 0 =
 * embed, layer ℓ = nodes 1+8ℓ … 8+8ℓ, node 8L+1 = lm_head).
 *
 * Stage boundary j (between stage j and j+1) sits before node b_j (the first node of stage j+1).
 * Layer boundaries sit before nodes 1+8ℓ, ℓ = 0 … L. Rounding rule:
 *   - b_j on a layer boundary: kept (exact);
 *   - otherwise the nearest layer boundary in nodes; a tie (b_j − 1 ≡ 4 mod 8: the cut falls
 *     between a layer's attention half and its MLP half) rounds down, i.e. the split layer goes
 *     whole to the later stage;
 *   - then every stage keeps at least one decoder layer (a forward then a backward clamp pass;
 *     a moved boundary is marked `clamped`). The one exception: an embedding-only first stage or
 *     a head-only last stage that fasop itself chose (an exact boundary at node 1 or 8L+1) is
 *     kept, since Megatron's layout (`E|…`) and torchtitan's module lists both accept it.
 * The embedding always belongs to stage 0 and lm_head (final norm, output layer, loss) to the last.
 */
export interface BoundaryRounding {
  /** boundary between stage `boundary` and stage `boundary + 1` */
  boundary: number;
  /** first node of the later stage in fasop's partition */
  fromNode: number;
  /** first node of the later stage after rounding (= 1 + 8·layer) */
  toNode: number;
  /** first decoder layer of the later stage after rounding */
  layer: number;
  how: 'exact' | 'nearest' | 'tie' | 'clamped';
}

export interface LayerPartition {
  /** decoder layers per stage */
  layersPerStage: number[];
  /** the node partition of those layers (8·layers + embed on stage 0 + lm_head on the last) */
  nodePartition: number[];
  /** true when fasop's node partition already cut only between layers */
  exact: boolean;
  boundaries: BoundaryRounding[];
}

export const TIE_RULE = 'nearest layer boundary by graph operator count; a cut exactly in the middle of a layer (between o_proj and the MLP) rounds down, so the split layer goes to the later stage; every stage keeps >= 1 decoder layer';

/** Node partition (nodes per stage) of a layer partition. */
export function layerToNodePartition(layersPerStage: readonly number[]): number[] {
  const last = layersPerStage.length - 1;
  return layersPerStage.map((l, s) => 8 * l + (s === 0 ? 1 : 0) + (s === last ? 1 : 0));
}

/** Round a node partition of a model with `numLayers` decoder layers to whole layers. */
export function roundToLayers(nodePartition: readonly number[], numLayers: number): LayerPartition {
  const pp = nodePartition.length;
  const L = numLayers;
  const n = 8 * L + 2;
  if (pp < 1 || nodePartition.some((x) => !Number.isInteger(x) || x < 1) || nodePartition.reduce((a, b) => a + b, 0) !== n) {
    throw new FasopError(`partition [${nodePartition.join(', ')}] is not ${pp} positive stage sizes summing to ${n} nodes (8·${L}+2)`,
      'check the model (--model-type) against the plan: its node count must be 8·layers + 2');
  }
  if (pp > L) throw new FasopError(`${pp} stages cannot each hold a layer of a ${L}-layer model`, 'use pp <= layers');
  const from: number[] = [];
  let acc = 0;
  for (let j = 0; j < pp - 1; j++) from.push((acc += nodePartition[j]!));
  const how: BoundaryRounding['how'][] = [];
  const layer = from.map((b, j) => {
    const r = (b - 1) % 8;
    const down = (b - 1 - r) / 8;
    if (r === 0) { how[j] = 'exact'; return down; }
    if (r === 4) { how[j] = 'tie'; return down; }
    how[j] = 'nearest';
    return r < 4 ? down : down + 1;
  });
  // Minimum layers per stage: 1, except an exact embedding-only first / head-only last stage.
  const minLayers = Array.from({ length: pp }, (_, s): number => {
    if (s === 0 && pp > 1 && how[0] === 'exact' && layer[0] === 0) return 0;
    if (s === pp - 1 && pp > 1 && how[pp - 2] === 'exact' && layer[pp - 2] === L) return 0;
    return 1;
  });
  if (minLayers.reduce((a, b) => a + b, 0) > L) minLayers.fill(1); // cannot happen when pp <= L, kept for safety
  const before = [...layer];
  for (let j = 0; j < pp - 1; j++) layer[j] = Math.max(layer[j]!, (j === 0 ? 0 : layer[j - 1]!) + minLayers[j]!);
  for (let j = pp - 2; j >= 0; j--) layer[j] = Math.min(layer[j]!, (j === pp - 2 ? L : layer[j + 1]!) - minLayers[j + 1]!);
  layer.forEach((l, j) => { if (l !== before[j]) how[j] = 'clamped'; });
  const starts = [0, ...layer, L];
  const layersPerStage = Array.from({ length: pp }, (_, s) => starts[s + 1]! - starts[s]!);
  return {
    layersPerStage,
    nodePartition: layerToNodePartition(layersPerStage),
    exact: how.every((h) => h === 'exact'),
    boundaries: from.map((b, j) => ({ boundary: j, fromNode: b, toNode: 1 + 8 * layer[j]!, layer: layer[j]!, how: how[j]! })),
  };
}

/** First and last decoder layer of each stage (last < first for a stage without layers). */
export function stageLayerRanges(layersPerStage: readonly number[]): Array<[number, number]> {
  let start = 0;
  return layersPerStage.map((k) => {
    const r: [number, number] = [start, start + k - 1];
    start += k;
    return r;
  });
}
