/**
 * The GEMMs of profiler/clock_state.py's file against the per-model profiles of the same GPU: per
 * model, TP and micro-batch, the layer's seven linear columns (forward; backward) summed, as the
 * per-model profile timed them, as the shipped operator profile (ops_GPU.json) prices them, and as
 * each method and pass of clock_state.py timed them.
 *
 * Usage: node --import tsx validation/checks/gemm_timings.ts FILE [GPU]   (GPU default: the file's, H100 or H200)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getModel, loadCatalog } from '../../src/catalog/catalog.js';
import { operatorCost } from '../../src/estimate/operator-costs.js';
import { decoderShapes } from '../../src/model/shapes.js';
import { readOperatorProfile } from '../../src/profiles/operators.js';
import { NODE_COLUMNS, readProfileFile } from '../../src/profiles/profile.js';

interface Row { pass: string; model: string; tp: number; mbs: number; column: string; [k: string]: number | string }

const LINEAR = ['attn_q', 'attn_k', 'attn_v', 'attn_o', 'mlp_gate', 'mlp_up', 'mlp_down'];

function main(): void {
  const file = process.argv[2];
  if (!file) throw new Error('usage: gemm_timings.ts FILE [GPU]');
  const data = JSON.parse(readFileSync(file, 'utf8')) as { gpu: string; rows: Row[]; passes: Record<string, unknown> };
  const gpu = process.argv[3] ?? (data.gpu.includes('H200') ? 'H200' : 'H100');
  const dir = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'profiles');
  const cols = LINEAR.map((c) => NODE_COLUMNS.indexOf(c as (typeof NODE_COLUMNS)[number]));
  const measured = new Map<string, { f: number; b: number }>();
  for (const r of data.rows) {
    const key = `${r.model} ${r.tp}`;
    if (measured.has(`${key} 1`)) continue;
    const t = readProfileFile(join(dir, `${r.model}_${gpu}_${r.tp}.npz`));
    t.mbs.forEach((mbs, i) => measured.set(`${key} ${mbs}`, {
      f: cols.reduce((a, c) => a + t.forward_ms[i]![c]!, 0), b: cols.reduce((a, c) => a + t.backward_ms![i]![c]!, 0),
    }));
  }
  const sums = new Map<string, Record<string, number>>();
  for (const r of data.rows) {
    const key = `${r.model} ${r.tp} ${r.mbs}`;
    const s = sums.get(key) ?? {};
    for (const m of ['burst', 'spaced']) for (const d of ['forward', 'backward']) {
      const k = `${r.pass} ${m} ${d}`;
      s[k] = (s[k] ?? 0) + Number(r[`${m}_${d}_ms`]);
    }
    sums.set(key, s);
  }
  // the shipped operator profile's price of the same columns
  const ops = readOperatorProfile(join(dir, `ops_${gpu}.json`));
  const catalog = loadCatalog();
  for (const [key, s] of sums) {
    const [model, tp, mbs] = key.split(' ');
    const layer = decoderShapes(getModel(catalog, model!), { tp: Number(tp), mbs: Number(mbs), seq: 1024 }).layer.filter((x) => LINEAR.includes(x.name));
    s['grid forward'] = layer.reduce((a, x) => a + operatorCost(ops, x).forward_ms * x.count, 0);
    s['grid backward'] = layer.reduce((a, x) => a + operatorCost(ops, x).backward_ms * x.count, 0);
  }
  const kinds = ['grid', 'cool burst', 'cool spaced', 'warm burst', 'warm spaced'];
  const pct = (x: number, y: number) => (100 * (x - y)) / y;
  const errs: Record<string, number[]> = {};
  console.log(`| model | tp | mbs | profile fwd / bwd (ms) | ${kinds.map((k) => `${k} fwd / bwd error`).join(' | ')} |`);
  console.log(`|---|---|---|---|${kinds.map(() => '---').join('|')}|`);
  for (const [key, s] of sums) {
    const m = measured.get(key);
    if (!m) continue;
    const cells = kinds.map((k) => {
      const ef = pct(s[`${k} forward`]!, m.f);
      const eb = pct(s[`${k} backward`]!, m.b);
      (errs[k] ??= []).push(Math.abs(ef), Math.abs(eb));
      return `${ef.toFixed(1)} / ${eb.toFixed(1)} %`;
    });
    console.log(`| ${key.split(' ').join(' | ')} | ${m.f.toFixed(3)} / ${m.b.toFixed(3)} | ${cells.join(' | ')} |`);
  }
  for (const k of kinds) {
    const e = errs[k] ?? [];
    console.log(`${k}: mean |error| ${(e.reduce((a, x) => a + x, 0) / e.length).toFixed(1)} %, max ${Math.max(...e).toFixed(1)} %, within 5 %: ${e.filter((x) => x <= 5).length} of ${e.length} (forward and backward of each layer)`);
  }
  console.log(`passes: ${JSON.stringify(data.passes)}`);
}

main();
