/**
 * Pipeline boundaries: what sending one node's output across each boundary costs, and each stage's
 * compute and sends for a partition, as the policy prices them. Pure functions.
 */
import { columnOfNode, outputVolumeByColumn } from '../model/graph.js';
import type { TypeCosts } from './compute.js';
import { idOf, idOfName, TupleCache } from './keyed-cache.js';
import { LINK_KEY, linkKey } from './node-window.js';
import { roundingOf } from './f32.js';
import { interNode, intraP2p, linkTime_s, type Link } from './links-alpha-beta.js';
import { boundaryStreams, cpOf, originalBoundaryBandwidth_bps, slowest } from './links.js';
import type { ResolvedPlan } from './plan.js';
import type { EstimatorPolicy } from './policy.js';
import type { TrainingRecipe } from './recipe.js';

/** FFN and K/V widths of the policy: the original's 4h and full-width K/V, or the model's own. */
export function widthsOf(plan: ResolvedPlan, policy: EstimatorPolicy): { ffn: number; gqa: boolean } {
  return policy.widths === '4h-mha' ? { ffn: 4 * plan.model.hidden_size, gqa: false } : { ffn: plan.model.intermediate_size, gqa: true };
}

/** Switch for the boundary-link cache (tests compare cached with uncached searches). */
export const boundaryLinkCache = { enabled: true };

const linkCache = new TupleCache<readonly unknown[], Link>();

/** The α–β link a boundary uses, cached: it depends only on the nodes of its two stages (by content where it can), tp, cp, dp, GPUs per node, launch and, by placement, j. */
function boundaryLink(plan: ResolvedPlan, recipe: TrainingRecipe, j: number): Link {
  if (!boundaryLinkCache.enabled) return boundaryLinkOf(plan, recipe, j);
  const cp = cpOf(plan);
  const G = plan.tp * cp * plan.dp;
  const owner = linkKey(plan.nodes, plan.gpusPerNode, j * G, (j + 2) * G, j, plan.tp, cp, plan.dp, plan.gpusPerNode, idOfName(recipe.launch));
  return linkCache.get(owner, LINK_KEY) ?? linkCache.set(owner, LINK_KEY.slice(), boundaryLinkOf(plan, recipe, j));
}

/** Each boundary's link (boundaryLink) by placement (its nodes array), tp, cp, dp, GPUs per node and launch: filled as boundaries ask, shared by the plans of every pp and micro-batch. */
const placementLinks = new TupleCache<readonly unknown[], Array<Link | undefined>>();
/** placementLinks' lookup key, rewritten per call (an entry keeps a copy). */
const PLACEMENT_LINKS_KEY: number[] = new Array<number>(5).fill(0);

function boundaryLinksOf(plan: ResolvedPlan, recipe: TrainingRecipe): Array<Link | undefined> {
  const key = PLACEMENT_LINKS_KEY;
  key[0] = plan.tp;
  key[1] = cpOf(plan);
  key[2] = plan.dp;
  key[3] = plan.gpusPerNode;
  key[4] = idOfName(recipe.launch);
  return placementLinks.get(plan.nodes, key) ?? placementLinks.set(plan.nodes, key.slice(), []);
}

/** The α–β link a boundary uses: the slowest of its tp·cp·dp parallel streams (compared at a typical activation size). */
function boundaryLinkOf(plan: ResolvedPlan, recipe: TrainingRecipe, j: number): Link {
  const probe = 64 * 2 ** 20;
  const links = boundaryStreams(plan, j).map(({ ra, rb, na, nb }) => (na === nb
    ? intraP2p(plan.nodes[na]!, ra, rb, recipe.launch)
    : interNode(plan.nodes[na]!, plan.nodes[nb]!, Math.min(plan.tp * cpOf(plan) * plan.dp, plan.gpusPerNode))));
  return slowest(links, (l) => linkTime_s(l, probe));
}

/** cost[j][column]: seconds to send one micro-batch's output of a node of that column across boundary j. */
export function boundaryCosts(plan: ResolvedPlan, policy: EstimatorPolicy, recipe: TrainingRecipe): number[][] {
  const cp = cpOf(plan);
  // each column's output volume, computed where a row is (no closure: no context allocated per call)
  let vols: number[] | undefined;
  // a row depends on the link and the volumes only: placements whose boundary takes the same link share it
  const key = [idOf(policy), idOf(recipe), idOf(plan.model), plan.tp, cp, plan.mbs];
  const out: number[][] = [];
  // neighbouring boundaries mostly take the same link (within one run of equal nodes): its row is looked up once
  let lastLink: Link | undefined;
  let lastRow: number[] = [];
  const links = policy.links !== 'bandwidth-only' && boundaryLinkCache.enabled ? boundaryLinksOf(plan, recipe) : undefined;
  for (let j = 0; j < plan.pp - 1; j++) {
    if (policy.links === 'bandwidth-only') {
      out.push(bandwidthRow(policy, (vols ??= volumesOf(plan, policy, cp)), originalBoundaryBandwidth_bps(plan, j)));
    } else {
      const link = links ? (links[j] ??= boundaryLink(plan, recipe, j)) : boundaryLink(plan, recipe, j);
      if (link !== lastLink) lastRow = rowCache.get(link, key) ?? rowCache.set(link, key, linkRow(recipe, (vols ??= volumesOf(plan, policy, cp)), link));
      lastLink = link;
      out.push(lastRow);
    }
  }
  return out;
}

/** Each column's output volume (elements) of one micro-batch: with context parallelism each of the parallel streams carries its rank's s/cp tokens. */
function volumesOf(plan: ResolvedPlan, policy: EstimatorPolicy, cp: number): number[] {
  const model = cp > 1 ? { ...plan.model, seq_length: plan.model.seq_length / cp } : plan.model;
  return outputVolumeByColumn(model, plan.mbs, plan.tp, widthsOf(plan, policy));
}

/** A boundary's row under the original's bandwidth-only links: bf16, 16 bits per element. */
function bandwidthRow(policy: EstimatorPolicy, vols: readonly number[], bw: number): number[] {
  const round = roundingOf(policy);
  return vols.map((v) => round(round(16 * v) / bw));
}

/** A boundary's row on an α–β link. */
function linkRow(recipe: TrainingRecipe, vols: readonly number[], link: Link): number[] {
  return vols.map((v) => linkTime_s(link, v * recipe.activationBytes));
}

/** Boundary cost rows by link and what sets the volumes (policy, recipe, model, tp, cp, micro-batch). Shared: callers must not change them. */
const rowCache = new TupleCache<Link, number[]>();

const boundaryCache = new TupleCache<readonly unknown[], number[][]>();

/**
 * boundaryCosts once per placement (its nodes array) and what they depend on besides: policy,
 * recipe, model, degrees, micro-batch. Shared by the plans' executions: callers must not change it.
 */
export function sharedBoundaryCosts(plan: ResolvedPlan, policy: EstimatorPolicy, recipe: TrainingRecipe): number[][] {
  const key = [idOf(policy), idOf(recipe), idOf(plan.model), plan.tp, plan.dp, plan.execution?.cp ?? 1, plan.mbs, plan.pp, plan.gpusPerNode];
  return boundaryCache.get(plan.nodes, key) ?? boundaryCache.set(plan.nodes, key, boundaryCosts(plan, policy, recipe));
}

/** Each stage's compute and priced sends for one partition (the 1F1B simulator's input, and minmax's). */
export interface StageLists {
  forward_s: number[];
  backward_s: number[];
  /** forward + backward of one micro-batch */
  compute_s: number[];
  forwardSend_s: number[];
  backwardSend_s: number[];
  /** minmax's communication term of each stage */
  comm_s: number[];
}

/**
 * Stage lists of a partition. 'first-and-last' (the original, SPEC §8.1): stage 0's forward send with
 * the embed's volume, the last stage's backward send with its first node's, each middle stage's
 * minmax term with its own first node's; 'every-boundary': boundary j's cost (the volume of the last
 * node before the cut) is stage j's forward send and stage j+1's backward send.
 */
export function stageLists(costs: readonly TypeCosts[], boundary: readonly (readonly number[])[], sizes: readonly number[], n: number, policy: EstimatorPolicy): StageLists {
  const S = sizes.length;
  const l: StageLists = { forward_s: [], backward_s: [], compute_s: [], forwardSend_s: new Array<number>(S).fill(0), backwardSend_s: new Array<number>(S).fill(0), comm_s: new Array<number>(S).fill(0) };
  const thirds = policy.backward === 'twice-forward';
  let a = 0;
  for (let s = 0; s < S; s++) {
    const c = costs[s]!;
    if (thirds) {
      let acc = 0;
      for (let k = a; k < a + sizes[s]!; k++) acc += c.node_s[k]!;
      l.compute_s.push(acc);
      l.forward_s.push(acc / 3);
      l.backward_s.push((2 * acc) / 3);
    } else {
      let f = 0;
      let b = 0;
      for (let k = a; k < a + sizes[s]!; k++) {
        f += c.forward_s[k]!;
        b += c.backward_s[k]!;
      }
      l.forward_s.push(f);
      l.backward_s.push(b);
      l.compute_s.push(f + b);
    }
    if (S > 1) {
      if (policy.boundaries === 'first-and-last') {
        if (s === 0) l.forwardSend_s[s] = boundary[0]![columnOfNode(0, n)]!;
        else if (s < S - 1) l.comm_s[s] = boundary[s - 1]![columnOfNode(a, n)]!;
        else l.backwardSend_s[s] = boundary[S - 2]![columnOfNode(a, n)]!;
      } else if (s < S - 1) {
        const x = boundary[s]![columnOfNode(a + sizes[s]! - 1, n)]!;
        l.forwardSend_s[s] = x;
        l.backwardSend_s[s + 1] = x;
      }
    }
    a += sizes[s]!;
  }
  if (policy.boundaries === 'every-boundary') for (let s = 0; s < S; s++) l.comm_s[s] = l.forwardSend_s[s]! + l.backwardSend_s[s]!;
  return l;
}

/**
 * Every stage's time (stageTime_s) of a partition, without building its stage lists: the same sums
 * in the same order as stageLists, for minmax's many trial partitions.
 */
export function stageTimes_s(costs: readonly TypeCosts[], boundary: readonly (readonly number[])[], sizes: readonly number[], n: number, policy: EstimatorPolicy): number[] {
  const S = sizes.length;
  const out = new Array<number>(S);
  const thirds = policy.backward === 'twice-forward';
  const firstAndLast = policy.boundaries === 'first-and-last';
  let a = 0;
  let sendIn = 0; // every-boundary: the backward send of stage s (boundary s−1's cost)
  for (let s = 0; s < S; s++) {
    const c = costs[s]!;
    const end = a + sizes[s]!;
    let compute: number;
    if (thirds) {
      let acc = 0;
      for (let k = a; k < end; k++) acc += c.node_s[k]!;
      compute = acc;
    } else {
      let f = 0;
      let b = 0;
      for (let k = a; k < end; k++) {
        f += c.forward_s[k]!;
        b += c.backward_s[k]!;
      }
      compute = f + b;
    }
    if (firstAndLast) {
      // stage 0's and the last stage's sends are not in their minmax term (comm_s stays 0)
      out[s] = compute + (S > 1 && s > 0 && s < S - 1 ? boundary[s - 1]![columnOfNode(a, n)]! : 0);
    } else {
      const sendOut = S > 1 && s < S - 1 ? boundary[s]![columnOfNode(end - 1, n)]! : 0;
      out[s] = compute + sendOut + sendIn;
      sendIn = sendOut;
    }
    a = end;
  }
  return out;
}

/** A stage's time as minmax balances it: compute plus its communication term. */
export function stageTime_s(l: StageLists, s: number, policy: EstimatorPolicy): number {
  return policy.boundaries === 'first-and-last' ? l.compute_s[s]! + l.comm_s[s]! : l.compute_s[s]! + l.forwardSend_s[s]! + l.backwardSend_s[s]!;
}
