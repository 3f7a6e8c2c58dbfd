/**
 * How well the operator profile predicts the per-model profiles of the same GPU: each decoder
 * layer's forward and backward time (the profile's eight layer columns plus the nodes the
 * original's format omits: norms, RoPE, attention core, residual adds, gated product), per model,
 * TP degree and micro-batch, predicted from the operator file by shape.
 *
 * Usage: node --import tsx validation/checks/operator_layers.ts [GPU]   (default H200; reads profiles/)
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getModel, loadCatalog } from '../../src/catalog/catalog.js';
import { costOf } from '../../src/estimate/operator-costs.js';
import { decoderShapes } from '../../src/model/shapes.js';
import { readOperatorProfile } from '../../src/profiles/operators.js';
import { LAYER_COLUMNS, NODE_COLUMNS, readProfileFile } from '../../src/profiles/profile.js';

/**
 * Operators that run between the per-model profile's nodes (autograd's sums of a tensor's two
 * gradients): in its whole-layer time, not in the sum of its nodes, which are timed one by one.
 */
const BETWEEN_NODES: ReadonlySet<string> = new Set(['residual_grad_sum']);

/** Extra nodes of one layer and how often each runs per layer. */
const LAYER_EXTRAS: Record<string, number> = { attn_core: 1, rope: 1, input_norm: 1, post_attn_norm: 1, residual_add: 2, mlp_mul: 1 };

export interface LayerRow {
  model: string;
  tp: number;
  mbs: number;
  measuredForward_ms: number;
  predictedForward_ms: number;
  measuredBackward_ms: number;
  predictedBackward_ms: number;
  /** what the layer's backward adds between its nodes (BETWEEN_NODES), in the whole layer's time only */
  predictedBetweenNodes_ms: number;
  /** the whole layer timed as one module (forward, forward + backward), when recorded */
  wholeForward_ms?: number;
  wholeFwdBwd_ms?: number;
  extrapolated: boolean;
}

/** Per-layer rows for every model/tp profile of `gpu` found in `dir`. */
export function layerRows(dir: string, gpu: string, models = ['llama1b', 'llama8b', 'llama70b'], tps = [1, 2, 4, 8]): LayerRow[] {
  const ops = readOperatorProfile(join(dir, `ops_${gpu}.json`));
  const catalog = loadCatalog();
  const rows: LayerRow[] = [];
  const cols = LAYER_COLUMNS.map((c) => NODE_COLUMNS.indexOf(c));
  for (const name of models) {
    const model = getModel(catalog, name);
    for (const tp of tps) {
      const path = join(dir, `${name}_${gpu}_${tp}.npz`);
      if (!existsSync(path)) continue;
      const t = readProfileFile(path);
      const seq = Number(t.meta['seq_length']);
      t.mbs.forEach((mbs, r) => {
        const extra = (m: number[][] | undefined) =>
          t.extraNames.reduce((a, n, j) => a + (LAYER_EXTRAS[n] ?? 0) * (m?.[r]?.[j] ?? NaN), 0);
        const sumCols = (m: number[][]) => cols.reduce((a, c) => a + m[r]![c]!, 0);
        const layer = decoderShapes(model, { tp, mbs, seq }).layer;
        const cost = costOf(ops, layer.filter((x) => !BETWEEN_NODES.has(x.name)));
        const between = costOf(ops, layer.filter((x) => BETWEEN_NODES.has(x.name)));
        rows.push({
          model: name, tp, mbs,
          measuredForward_ms: sumCols(t.forward_ms) + extra(t.extraForward_ms),
          predictedForward_ms: cost.forward_ms,
          measuredBackward_ms: sumCols(t.backward_ms!) + extra(t.extraBackward_ms),
          predictedBackward_ms: cost.backward_ms,
          predictedBetweenNodes_ms: between.forward_ms + between.backward_ms,
          wholeForward_ms: t.layerForward_ms?.[r],
          wholeFwdBwd_ms: t.layerFwdBwd_ms?.[r],
          extrapolated: cost.outside.length + between.outside.length > 0,
        });
      });
    }
  }
  return rows;
}

export const pctErr = (pred: number, meas: number) => (100 * (pred - meas)) / meas;

export interface Summary { n: number; meanAbs_pct: number; max_pct: number; worst: string }

export function summarize(rows: LayerRow[], pick: (r: LayerRow) => [number, number] | undefined): Summary {
  let n = 0;
  let sum = 0;
  let max = 0;
  let worst = '';
  for (const r of rows) {
    const p = pick(r);
    if (!p || !Number.isFinite(p[1])) continue;
    const e = Math.abs(pctErr(p[0], p[1]));
    n++;
    sum += e;
    if (e > max) {
      max = e;
      worst = `${r.model} tp${r.tp} mbs${r.mbs}`;
    }
  }
  return { n, meanAbs_pct: sum / Math.max(n, 1), max_pct: max, worst };
}

function main(): void {
  const gpu = process.argv[2] ?? 'H200';
  const dir = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'profiles');
  const rows = layerRows(dir, gpu);
  const f = (x: number, w = 8, d = 3) => x.toFixed(d).padStart(w);
  console.log('model     tp  mbs  fwd meas  fwd pred   err%   bwd meas  bwd pred   err%  f+b whole  f+b pred   err%');
  for (const r of rows) {
    const fb = r.predictedForward_ms + r.predictedBackward_ms + r.predictedBetweenNodes_ms;
    console.log(`${r.model.padEnd(9)}${String(r.tp).padStart(3)}${String(r.mbs).padStart(5)}  ${f(r.measuredForward_ms)}  ${f(r.predictedForward_ms)} ${f(pctErr(r.predictedForward_ms, r.measuredForward_ms), 6, 1)}   ` +
      `${f(r.measuredBackward_ms)}  ${f(r.predictedBackward_ms)} ${f(pctErr(r.predictedBackward_ms, r.measuredBackward_ms), 6, 1)}  ` +
      `${f(r.wholeFwdBwd_ms ?? NaN, 9)}  ${f(fb)} ${f(pctErr(fb, r.wholeFwdBwd_ms ?? NaN), 6, 1)}${r.extrapolated ? '  (extrapolated)' : ''}`);
  }
  const show = (label: string, s: Summary) => console.log(`${label.padEnd(34)} n=${s.n}  mean |err| ${s.meanAbs_pct.toFixed(1)} %  max ${s.max_pct.toFixed(1)} % (${s.worst})`);
  show('forward vs sum of parts', summarize(rows, (r) => [r.predictedForward_ms, r.measuredForward_ms]));
  show('backward vs sum of parts', summarize(rows, (r) => [r.predictedBackward_ms, r.measuredBackward_ms]));
  show('forward vs whole layer', summarize(rows, (r) => (r.wholeForward_ms ? [r.predictedForward_ms, r.wholeForward_ms] : undefined)));
  show('fwd+bwd vs whole layer', summarize(rows, (r) => (r.wholeFwdBwd_ms ? [r.predictedForward_ms + r.predictedBackward_ms + r.predictedBetweenNodes_ms, r.wholeFwdBwd_ms] : undefined)));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
