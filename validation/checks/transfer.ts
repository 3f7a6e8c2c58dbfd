/**
 * How well a GPU's per-model profiles are predicted from ANOTHER GPU's measurements by the roofline
 * derivation (src/profiles/derive.ts): each decoder layer's forward (and, where the file has it,
 * backward) time per model, TP degree and micro-batch. The source is its operator profile (by
 * shape, shape-table.ts) or, with --from-files, its per-model profiles of the same model and TP
 * (derive-table.ts, as `--substitute-profile` uses them). Files with extra nodes (ours) are compared
 * on the eight layer columns plus the layer's extras; the original's files (eight columns, forward
 * only, measured on real TP groups) on the eight columns.
 *
 * Usage: node --import tsx validation/checks/transfer.ts TARGET_GPU [PROFILE_DIR] [--source GPU] [--from-files]
 *        (default PROFILE_DIR profiles/; the operator profile is read from profiles/ops_<source>.json,
 *        the source's per-model files from PROFILE_DIR)
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getGpu, getModel, loadCatalog } from '../../src/catalog/catalog.js';
import { flopsOfLayerForward } from '../../src/model/flops.js';
import { LAYER_COLUMNS, NODE_COLUMNS } from '../../src/model/graph.js';
import { rooflineOf } from '../../src/profiles/derive.js';
import { derivedProfileTable } from '../../src/profiles/derive-table.js';
import { readOperatorProfile } from '../../src/profiles/operators.js';
import { parseProfileName, readProfileFile } from '../../src/profiles/profile.js';
import { shapeProfileTable } from '../../src/profiles/shape-table.js';

/** Extra nodes of one layer and how often each runs per layer. */
const LAYER_EXTRAS: Record<string, number> = { attn_core: 1, rope: 1, input_norm: 1, post_attn_norm: 1, residual_add: 2, mlp_mul: 1 };
const ORIGINAL_SEQ = 1024;

export interface TransferRow { model: string; tp: number; mbs: number; forwardFlops: number; measuredForward_ms: number; predictedForward_ms: number; measuredBackward_ms?: number; predictedBackward_ms?: number }

export function transferRows(dir: string, target: string, source: string, opsDir: string, fromFiles = false): TransferRow[] {
  const catalog = loadCatalog();
  const ops = fromFiles ? undefined : readOperatorProfile(join(opsDir, `ops_${source}.json`));
  const derive = { from: rooflineOf(getGpu(catalog, source)), to: rooflineOf(getGpu(catalog, target)) };
  const cols = LAYER_COLUMNS.map((c) => NODE_COLUMNS.indexOf(c));
  const rows: TransferRow[] = [];
  for (const file of readdirSync(dir).sort()) {
    const name = parseProfileName(file);
    if (!name || name.gpu !== target || name.format !== 'npz' || !Object.hasOwn(catalog.models, name.model)) continue;
    const t = readProfileFile(join(dir, file));
    const seq = typeof t.meta['seq_length'] === 'number' ? t.meta['seq_length'] : ORIGINAL_SEQ;
    const model = { ...getModel(catalog, name.model), seq_length: seq };
    const withExtras = t.extraNames.length > 0;
    const srcFile = join(dir, file.replace(`_${target}_`, `_${source}_`));
    if (fromFiles && !existsSync(srcFile)) continue;
    const fromTable = fromFiles ? derivedProfileTable(readProfileFile(srcFile), { model, gpu: target, ...derive, by: 'transfer check' }) : undefined;
    t.mbs.forEach((mbs, r) => {
      const row = fromTable ? fromTable.mbs.indexOf(mbs) : 0;
      if (row < 0) return;
      const p = fromTable ?? shapeProfileTable(ops!, { model, gpu: target, tp: name.tp, mbs, derive });
      const layer = (m: number[][] | undefined, extra: number[][] | undefined, names: string[], row: number) =>
        cols.reduce((a, c) => a + m![row]![c]!, 0) + (withExtras ? names.reduce((a, n, j) => a + (LAYER_EXTRAS[n] ?? 0) * extra![row]![j]!, 0) : 0);
      rows.push({
        model: name.model, tp: name.tp, mbs, forwardFlops: flopsOfLayerForward(model, mbs) / name.tp,
        measuredForward_ms: layer(t.forward_ms, t.extraForward_ms, t.extraNames, r),
        predictedForward_ms: layer(p.forward_ms, p.extraForward_ms, p.extraNames, row),
        ...(t.backward_ms ? {
          measuredBackward_ms: layer(t.backward_ms, t.extraBackward_ms, t.extraNames, r),
          predictedBackward_ms: layer(p.backward_ms, p.extraBackward_ms, p.extraNames, row),
        } : {}),
      });
    });
  }
  return rows;
}

const pct = (pred: number, meas: number) => (100 * (pred - meas)) / meas;

function summary(xs: number[]): string {
  if (!xs.length) return 'n/a';
  const abs = xs.map(Math.abs);
  return `mean |error| ${(abs.reduce((a, b) => a + b, 0) / abs.length).toFixed(1)} %, max ${Math.max(...abs).toFixed(1)} %, mean signed ${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1)} % (${xs.length} layers)`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const si = args.indexOf('--source');
  const source = si >= 0 ? args.splice(si, 2)[1]! : 'H200';
  const fi = args.indexOf('--from-files');
  const fromFiles = fi >= 0 && args.splice(fi, 1).length > 0;
  const target = args[0] ?? 'H100';
  const here = fileURLToPath(new URL('../../profiles', import.meta.url));
  const dir = args[1] ?? here;
  if (!existsSync(dir)) throw new Error(`no folder ${dir}`);
  const rows = transferRows(dir, target, source, here, fromFiles);
  if (rows.length === 0) throw new Error(`no ${target} per-model profile in ${dir}${fromFiles ? ` with a ${source} file of the same model and TP` : ''}`);
  const peak_TFLOPS = getGpu(loadCatalog(), target).bf16Dense_TFLOPS;
  console.log(`| model | TP | mbs | forward measured (ms) | its TFLOP/s (of ${peak_TFLOPS} dense) | predicted | error | backward measured (ms) | predicted | error |`);
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const b = r.measuredBackward_ms === undefined ? '| — | — | — |' : `| ${r.measuredBackward_ms.toFixed(3)} | ${r.predictedBackward_ms!.toFixed(3)} | ${pct(r.predictedBackward_ms!, r.measuredBackward_ms).toFixed(1)} % |`;
    const tflops = r.forwardFlops / r.measuredForward_ms / 1e9;
    console.log(`| ${r.model} | ${r.tp} | ${r.mbs} | ${r.measuredForward_ms.toFixed(3)} | ${tflops.toFixed(1)} (${((100 * tflops) / peak_TFLOPS).toFixed(0)} %) | ${r.predictedForward_ms.toFixed(3)} | ${pct(r.predictedForward_ms, r.measuredForward_ms).toFixed(1)} % ${b}`);
  }
  const what = `${target} from ${source}${fromFiles ? '\'s per-model files' : '\'s operator profile'}`;
  console.log(`\n${what}: forward ${summary(rows.map((r) => pct(r.predictedForward_ms, r.measuredForward_ms)))}`);
  const bw = rows.filter((r) => r.measuredBackward_ms !== undefined).map((r) => pct(r.predictedBackward_ms!, r.measuredBackward_ms!));
  if (bw.length) console.log(`${what}: backward ${summary(bw)}`);
  for (const m of [...new Set(rows.map((r) => `${r.model} tp${r.tp}`))]) {
    const rs = rows.filter((r) => `${r.model} tp${r.tp}` === m);
    console.log(`  ${m}: forward ${summary(rs.map((r) => pct(r.predictedForward_ms, r.measuredForward_ms)))}`);
  }
}
