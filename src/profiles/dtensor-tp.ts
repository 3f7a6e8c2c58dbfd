/**
 * What PyTorch DTensor tensor parallelism adds to the GPU's work beside the Megatron-style TP that the
 * operator profiles describe, as `profiler/dtensor_tp.sh` measures it (dtensor_tp_<GPU>.json beside
 * the profiles): per micro-batch, per layer and fixed (embedding, lm_head, loss); per step, per layer
 * and fixed (the optimizer over DTensor parameters). Parsing is the only I/O here.
 */
import { MAX_JSON_BYTES, readFileCapped, ReadFailure } from '../guard/read.js';
import { MAX_OP_MS } from './profile.js';
import { FasopError } from '../errors.js';

/** One model at one TP degree: rows by micro-batch size, ascending. */
export interface DtensorTpExtras {
  model: string;
  tp: number;
  mbs: number[];
  /** ms per micro-batch per layer */
  perLayer_ms: number[];
  /** ms per micro-batch, once per model (embedding, lm_head, loss) */
  fixed_ms: number[];
  /** ms per step per layer */
  stepPerLayer_ms: number[];
  /** ms per step, once per model */
  stepFixed_ms: number[];
  source: string;
}

const FIX = 'measure it on a 2-GPU machine: OUT=DIR bash profiler/dtensor_tp.sh, and put DIR/dtensor_tp_<GPU>.json in the profile folder';
const ROW_FIELDS = ['perLayer_ms', 'fixed_ms', 'stepPerLayer_ms', 'stepFixed_ms'] as const;

/** Parse a dtensor_tp_<GPU>.json document into its entries (FasopError naming the problem otherwise). */
export function parseDtensorTp(text: string, path: string): DtensorTpExtras[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new FasopError(`DTensor TP profile ${path} is not valid JSON (${(e as Error).message})`, FIX);
  }
  const raw = (doc as { entries?: unknown } | null)?.entries;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new FasopError(`DTensor TP profile ${path} has no "entries" object`, FIX);
  return Object.entries(raw as Record<string, unknown>).map(([key, value]) => {
    const v = value as { model?: unknown; tp?: unknown; rows?: unknown } | null;
    if (typeof v?.model !== 'string' || !Number.isInteger(v.tp) || (v.tp as number) < 2 || !Array.isArray(v.rows) || v.rows.length === 0) {
      throw new FasopError(`DTensor TP profile ${path}: entry "${key}" needs a model, a tp of 2 or more and rows`, FIX);
    }
    const rows = [...(v.rows as Record<string, unknown>[])].sort((a, b) => Number(a?.['mbs']) - Number(b?.['mbs']));
    const out: DtensorTpExtras = { model: v.model, tp: v.tp as number, mbs: [], perLayer_ms: [], fixed_ms: [], stepPerLayer_ms: [], stepFixed_ms: [], source: path };
    for (const r of rows) {
      const b = r?.['mbs'];
      if (!Number.isInteger(b) || (b as number) < 1 || out.mbs.includes(b as number)) {
        throw new FasopError(`DTensor TP profile ${path}: entry "${key}" has a row without a distinct whole mbs`, FIX);
      }
      out.mbs.push(b as number);
      for (const f of ROW_FIELDS) {
        const x = r[f];
        if (typeof x !== 'number' || !Number.isFinite(x) || Math.abs(x) > MAX_OP_MS) throw new FasopError(`DTensor TP profile ${path}: entry "${key}" mbs ${b} has no valid ${f} (got ${JSON.stringify(x)})`, FIX);
        out[f].push(x);
      }
    }
    return out;
  });
}

/** Read a dtensor_tp_<GPU>.json file; undefined when it does not exist. */
export function readDtensorTp(path: string): DtensorTpExtras[] | undefined {
  let text: string;
  try {
    text = readFileCapped(path, MAX_JSON_BYTES).toString('utf8');
  } catch (e) {
    if (!(e instanceof ReadFailure)) throw e;
    if (e.code === 'ENOENT') return undefined;
    throw new FasopError(`cannot read DTensor TP profile ${path} (${e.code}${e.detail === e.code ? '' : `: ${e.detail}`})`, FIX);
  }
  return parseDtensorTp(text, path);
}
