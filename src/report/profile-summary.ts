import type { ProfileTable } from '../profiles/profile.js';
import { COL, FIRST_LAYER_COL, LAST_LAYER_COL, layerSum } from '../model/graph.js';

const f = (x: number, w: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'nan').padStart(w);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const layerOf = (row: number[]) => layerSum(row);

/**
 * The original's profile viewer (known_cost/load.py): PROFILE SUMMARY, LAYER BREAKDOWN, SCALING
 * RATIOS and QUICK REFERENCE, from raw forward ms (no ×3). Profiles from our own profiler also get
 * a BACKWARD section, the extra operators and the whole-layer check.
 */
export function formatProfileSummary(title: string, tables: ProfileTable[]): string {
  const out: string[] = [];
  const sorted = [...tables].sort((a, b) => a.tp - b.tp);
  const eq90 = '='.repeat(90);
  const eq85 = '='.repeat(85);
  out.push(eq90, ` PROFILE SUMMARY (ms)  ${title}`, ' [forward times of the graph operators: embed, one decoder layer (its 8 operators below), lm_head]', eq90);
  out.push(`${'TP'.padEnd(5)}${'mbs'.padEnd(6)}│${'embed'.padStart(11)}${'layer'.padStart(11)}${'lm_head'.padStart(11)} │${'total'.padStart(11)}`);
  out.push(`${'─'.repeat(11)}┼${'─'.repeat(34)}┼${'─'.repeat(11)}`);
  sorted.forEach((t, i) => {
    if (i > 0) out.push(`${'─'.repeat(11)}┼${'─'.repeat(34)}┼${'─'.repeat(11)}`);
    t.forward_ms.forEach((row, r) => {
      const layer = layerOf(row);
      out.push(`${String(t.tp).padEnd(5)}${String(t.mbs[r]).padEnd(6)}│ ${f(row[COL.embed]!, 10)} ${f(layer, 10)} ${f(row[COL.lm_head]!, 10)} │ ${f(row[COL.embed]! + layer + row[COL.lm_head]!, 10)}`);
    });
  });
  out.push('', eq85, ' LAYER BREAKDOWN (ms)',
    ' [Q=attn_q, K=attn_k, V=attn_v, O=attn_o, gate=mlp_gate, act=mlp_act_fn, up=mlp_up, down=mlp_down]', eq85);
  const cols = ['Q', 'K', 'V', 'O', 'gate', 'act', 'up', 'down'];
  out.push(`${'TP'.padEnd(4)}${'mbs'.padEnd(4)}${cols.map((c) => c.padStart(9)).join('')}`);
  out.push('─'.repeat(85));
  for (const t of sorted) {
    t.forward_ms.forEach((row, r) => {
      out.push(`${String(t.tp).padEnd(4)}${String(t.mbs[r]).padEnd(4)}${row.slice(FIRST_LAYER_COL, LAST_LAYER_COL + 1).map((v) => ` ${f(v, 8)}`).join('')}`);
    });
  }

  const withBackward = sorted.filter((t) => t.backward_ms);
  if (withBackward.length > 0) {
    out.push('', eq85, ' MEASURED BACKWARD (ms) and backward/forward ratio',
      ' [layer: its 8 operators; layer fwd, layer f+b: the whole layer measured; parts/whole: the 8 operators and the extra ones, forward + backward, over the whole]', eq85);
    out.push(`${'TP'.padEnd(4)}${'mbs'.padEnd(5)}${'embed'.padStart(10)}${'layer'.padStart(10)}${'lm_head'.padStart(10)}${'bwd/fwd'.padStart(10)}${'layer fwd'.padStart(11)}${'layer f+b'.padStart(11)}${'parts/whole'.padStart(13)}`);
    out.push('─'.repeat(85));
    for (const t of withBackward) {
      t.backward_ms!.forEach((row, r) => {
        const fwd = t.forward_ms[r]!;
        const extrasF = t.extraForward_ms ? sum(layerExtras(t, t.extraForward_ms[r]!)) : 0;
        const extrasB = t.extraBackward_ms ? sum(layerExtras(t, t.extraBackward_ms[r]!)) : 0;
        const partsFb = layerOf(fwd) + layerOf(row) + extrasF + extrasB;
        const whole = t.layerFwdBwd_ms?.[r];
        out.push(
          `${String(t.tp).padEnd(4)}${String(t.mbs[r]).padEnd(5)}${f(row[COL.embed]!, 10)}${f(layerOf(row), 10)}${f(row[COL.lm_head]!, 10)}` +
            `${f(layerOf(row) / layerOf(fwd), 10, 3)}${f(t.layerForward_ms?.[r] ?? NaN, 11)}${f(whole ?? NaN, 11)}` +
            `${f(whole ? partsFb / whole : NaN, 13, 3)}`,
        );
      });
    }
  }
  const withExtras = sorted.filter((t) => t.extraForward_ms && t.extraNames.length > 0);
  if (withExtras.length > 0) {
    out.push('', eq85, ' OPERATORS THE ORIGINAL FORMAT OMITS (ms, forward / backward; --estimator fasop folds them into the graph operators)', eq85);
    const names = withExtras[0]!.extraNames;
    out.push(`${'TP'.padEnd(4)}${'mbs'.padEnd(5)}${names.map((n) => n.slice(0, 15).padStart(16)).join('')}`);
    for (const t of withExtras) {
      t.extraForward_ms!.forEach((row, r) => {
        const b = t.extraBackward_ms?.[r];
        out.push(`${String(t.tp).padEnd(4)}${String(t.mbs[r]).padEnd(5)}${row.map((v, j) => `${v.toFixed(2)}/${b ? b[j]!.toFixed(2) : '-'}`.padStart(16)).join('')}`);
      });
    }
  }

  const base = sorted.find((t) => t.tp === 1) ?? sorted[0];
  if (base) {
    const baseLayer = layerOf(base.forward_ms[0]!);
    out.push('', eq85, ` SCALING RATIOS (baseline: TP=${base.tp}, mbs=${base.mbs[0]})`, eq85);
    out.push(`${'TP'.padEnd(4)}${'mbs'.padEnd(5)}${'layer_ratio'.padStart(12)}${'vs TP=1'.padStart(12)}${'vs mbs=1'.padStart(12)}`);
    for (const t of sorted) {
      t.forward_ms.forEach((row, r) => {
        const layer = layerOf(row);
        const tp1 = sorted.find((x) => x.tp === 1);
        const tp1r = tp1?.mbs.indexOf(t.mbs[r]!) ?? -1;
        const vsTp1 = tp1 && tp1r >= 0 ? layerOf(tp1.forward_ms[tp1r]!) / layer : NaN;
        out.push(`${String(t.tp).padEnd(4)}${String(t.mbs[r]).padEnd(5)}${f(layer / baseLayer, 12, 3)}${f(vsTp1, 12, 3)}${f(layer / layerOf(t.forward_ms[0]!), 12, 3)}`);
      });
    }
    out.push('', eq85, ' QUICK REFERENCE', eq85);
    out.push(`  baseline layer time (TP=${base.tp}, mbs=${base.mbs[0]}): ${baseLayer.toFixed(2)} ms`);
    out.push(`  files: ${sorted.length}`, `  TP values: [${sorted.map((t) => t.tp).join(', ')}]`);
    out.push(`  mbs values: [${[...new Set(sorted.flatMap((t) => t.mbs))].sort((a, b) => a - b).join(', ')}]`);
    const m = base.meta;
    if (m['gpu_name'] || m['date']) out.push(`  measured on: ${m['gpu_name'] ?? base.gpu}, ${m['date'] ?? ''}, torch ${m['torch_version'] ?? '?'}, seq ${m['seq_length'] ?? '?'}`);
  }
  return out.join('\n');
}

/** Extra columns that belong to a decoder layer (not the model-level final_norm / loss). */
function layerExtras(t: ProfileTable, row: number[]): number[] {
  return row.flatMap((v, j) => {
    const name = t.extraNames[j] ?? '';
    if (/^(final_norm|loss)$/.test(name)) return [];
    return [name === 'residual_add' ? 2 * v : v];
  });
}
