// A llama70b-like partition instance (n = 642) for the partition benchmark and tests.
// Node costs: A40 TP1 profile row 0 (mbs 1), forward ms × 3 / 1000 (SPEC §6); boundary costs:
// activation volume of the node type (SPEC §7.1, tp = 1) × 2 bytes / 12.5 GB/s.
export const LLAMA70B = { h: 8192, s: 1024, v: 128256, L: 80, b: 1 };
const VOLUME_FACTOR = { embed: 1, attn_q: 1, attn_k: 1, attn_v: 1, attn_o: 1, mlp_gate: 4, mlp_act_fn: 4, mlp_up: 4, mlp_down: 1 };
const LAYER = ['attn_q', 'attn_k', 'attn_v', 'attn_o', 'mlp_gate', 'mlp_act_fn', 'mlp_up', 'mlp_down'];

/** forward_ms row: the ten NODE_COLUMNS of a profile (embed, 8 layer columns, lm_head) */
export function llamaNodeCosts(forwardRow, L = LLAMA70B.L) {
  const c = [(3 * forwardRow[0]) / 1000];
  for (let l = 0; l < L; l++) for (let i = 1; i <= 8; i++) c.push((3 * forwardRow[i]) / 1000);
  c.push((3 * forwardRow[9]) / 1000);
  return c;
}

export function llamaNodeTypes(L = LLAMA70B.L) {
  const t = ['embed'];
  for (let l = 0; l < L; l++) t.push(...LAYER);
  t.push('lm_head');
  return t;
}

/**
 * @param costs per-node seconds (one row, used by every stage unless speedups given)
 * @param pp stages; m micro-batches; speedups[s] divides stage s's row (heterogeneous stages)
 */
export function llamaProblem(costs, pp, m, { bandwidthBps = 12.5e9, speedups } = {}) {
  const { h, s, v, b } = LLAMA70B;
  const L = (costs.length - 2) / 8;
  const types = llamaNodeTypes(L);
  const vol = types.map((t) => (t === 'lm_head' ? b * s * v : VOLUME_FACTOR[t] * b * s * h));
  const rows = [];
  for (let st = 0; st < pp; st++) {
    const f = speedups ? speedups[st % speedups.length] : 1;
    rows.push(costs.map((c) => c / f));
  }
  return { nodeCost_s: rows, boundaryCost_s: (k, _j) => (vol[k] * 2) / bandwidthBps, microBatches: m };
}
