/**
 * The sum of operator costs (operator profile by shape) of each training run in
 * validation/results/shapes, against its measured phases and step: forward and backward of every
 * micro-batch, the recomputed forward for recompute runs, the optimizer step at the run's parameter
 * count. Usage: node --import tsx validation/checks/operator_runs.ts
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { costOf, lookup } from '../../src/estimate/operator-costs.js';
import { decoderShapes } from '../../src/model/shapes.js';
import { readOperatorProfile } from '../../src/profiles/operators.js';
const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const ops = readOperatorProfile(join(root, 'profiles', 'ops_H200.json'));
const dir = join(root, 'validation', 'results', 'shapes');
for (const f of readdirSync(dir).sort()) {
  const r = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8'));
  const md = r.model;
  const spec = { name: md.name, architecture: md.architecture, hidden_size: md.hidden_size, seq_length: md.seq_length, num_layers: md.num_layers,
    vocab_size: md.vocab_size, num_attention_heads: md.num_attention_heads, num_key_value_heads: md.num_key_value_heads,
    intermediate_size: md.intermediate_size, tie_word_embeddings: md.tie_word_embeddings };
  const s = decoderShapes(spec as never, { tp: 1, mbs: r.plan.mbs, seq: md.seq_length });
  const L = costOf(ops, s.layer), F = costOf(ops, s.first), E = costOf(ops, s.last);
  const m = r.plan.gbs / r.plan.mbs;
  const rc = r.recipe.recompute;
  const fwd = m * (md.num_layers * L.forward_ms + F.forward_ms + E.forward_ms);
  let bwd = m * (md.num_layers * L.backward_ms + F.backward_ms + E.backward_ms);
  if (rc === 'full') bwd += m * md.num_layers * L.forward_ms;
  if (rc === 'selective') bwd += m * md.num_layers * costOf(ops, s.layer.filter((o) => o.name === 'attn_core')).forward_ms;
  const n = r.measured.params_local_rank;
  const opt = lookup(ops.tables[r.recipe.master_weights === 'fp32' ? 'adamw_fp32_master' : 'adamw_bf16_states']!, [n], 'step_ms');
  const ph = r.measured.phase_ms_median_per_rank[0];
  const pct = (a: number, b: number) => `${(100 * (a - b) / b).toFixed(1)}%`;
  const step = fwd + bwd + opt.ms;
  console.log(f.replace('h200_tp1_pp1_dp1_', '').replace('.json', '').padEnd(55), `fwd ${fwd.toFixed(1)}/${ph.fwd.toFixed(1)} ${pct(fwd, ph.fwd)}`, `bwd ${bwd.toFixed(1)}/${ph.bwd.toFixed(1)} ${pct(bwd, ph.bwd)}`,
    `opt ${opt.ms.toFixed(1)}/${ph.opt.toFixed(1)}${opt.outside.length ? '(x)' : ''}`, `step ${step.toFixed(1)}/${r.measured.step_time_ms_median.toFixed(1)} ${pct(step, r.measured.step_time_ms_median)}`,
    [...L.outside, ...F.outside, ...E.outside].length ? 'EXTRAP ' + [...new Set([...L.outside, ...F.outside, ...E.outside])].join(';') : '');
}
