import { basename } from 'node:path';
import { FasopError } from '../errors.js';
import { nullRecord } from '../guard/lookup.js';
import { writeFileAtomic } from '../guard/write.js';
import { MAX_PROFILE_BYTES, readFileCapped, ReadFailure } from '../guard/read.js';
import type { NpyArray, NpyValue } from './npy.js';
import { parseNpy } from './npy.js';
import { parseNpz, writeNpz } from './npz.js';

/** The ten operator columns of the original's profile format, in file order. */
export { NODE_COLUMNS, LAYER_COLUMNS, type NodeColumn } from '../model/graph.js';
import { NODE_COLUMNS } from '../model/graph.js';

/**
 * One profile file: per-operator times of one model on one GPU type at one TP degree, one row
 * per micro-batch size. All times are milliseconds for ONE micro-batch on ONE GPU.
 */
export interface ProfileTable {
  file: string;
  /** 'operators': built from an operator profile by shape (shape-table.ts), not read from a file of its own */
  format: 'npz' | 'npy-legacy' | 'operators';
  model: string;
  gpu: string;
  tp: number;
  /** micro-batch size of each row */
  mbs: number[];
  /** forward time per row × NODE_COLUMNS (the original's `data` array), ms */
  forward_ms: number[][];
  /** measured backward time per row × NODE_COLUMNS, ms (our profiler; absent in the original's files) */
  backward_ms?: number[][];
  /** nodes the original's format omits (attention core, norms, RoPE, residual adds, loss, ...) */
  extraNames: string[];
  extraForward_ms?: number[][];
  extraBackward_ms?: number[][];
  /** whole decoder layer, measured as one module: the check that the parts add up */
  layerForward_ms?: number[];
  layerFwdBwd_ms?: number[];
  /** scalar metadata (gpu_name, torch_version, date, seq_length, ...) */
  meta: Record<string, string | number>;
  /** legacy 1-D per-layer file: [embedding, layer..., post_process] ms per sample */
  legacyPerSample_ms?: number[];
  /** tables built from an operator profile: how (profile, derivation), what was extrapolated, why a per-model file was not used */
  shapeSource?: { words: string; derivedFrom?: string; outside: string[]; note?: string; load?: { slowdown: number; gemmShare: number } };
  /** a per-model profile of another GPU scaled to this one (derive-table.ts): which, and the cost_source words */
  derivedFrom?: { gpu: string; words: string };
  /** every array of the file that this reader does not interpret, kept so a rewrite loses nothing */
  other: Record<string, NpyArray>;
}

/** `{model}_{gpu}_{tp}.npz|npy`, tp without leading zeros (`_08` is not TP 8). */
const NAME_RE = /^(.+)_([^_]+)_([1-9]\d*)\.(npz|npy)$/;

/** Largest operator time a profile may hold, ms per micro-batch: a day; more is a broken file, not a measurement. */
export const MAX_OP_MS = 86_400_000;
/** Most micro-batch rows of a profile table. */
export const MAX_PROFILE_ROWS = 4096;

export interface ProfileName { model: string; gpu: string; tp: number; format: 'npz' | 'npy' }

/** Parse `{model}_{gpu}_{tp}.npz|npy`; undefined when the name does not have that shape. */
export function parseProfileName(fileName: string): ProfileName | undefined {
  const m = NAME_RE.exec(fileName);
  if (!m) return undefined;
  const tp = Number(m[3]);
  if (!Number.isSafeInteger(tp) || tp < 1) return undefined;
  return { model: m[1]!, gpu: m[2]!, tp, format: m[4] as 'npz' | 'npy' };
}

export function profileFileName(model: string, gpu: string, tp: number): string {
  return `${model}_${gpu}_${tp}.npz`;
}

function bad(file: string, problem: string): FasopError {
  return new FasopError(`profile ${file}: ${problem}`,
    'regenerate it with the profiler (docs/profiles.md) or remove it from the profile directory');
}

function matrix(file: string, name: string, arr: NpyArray | undefined, rows: number | undefined, cols: number): number[][] | undefined {
  if (!arr) return undefined;
  if (arr.kind !== 'number' || !/[fiu]\d$/.test(arr.dtype)) throw bad(file, `array '${name}' has dtype ${arr.dtype}, expected a float array`);
  if (arr.shape.length !== 2 || arr.shape[1] !== cols || (rows !== undefined && arr.shape[0] !== rows)) {
    throw bad(file, `array '${name}' has shape (${arr.shape.join(', ')}), expected (${rows ?? 'rows'}, ${cols})`);
  }
  const r = arr.shape[0]!;
  if (r === 0) throw bad(file, `array '${name}' has no rows`);
  if (r > MAX_PROFILE_ROWS) throw bad(file, `array '${name}' has ${r} rows, more than the limit of ${MAX_PROFILE_ROWS}`);
  const out: number[][] = [];
  for (let i = 0; i < r; i++) {
    const row = Array.from(arr.data.subarray(i * cols, (i + 1) * cols));
    const j = row.findIndex((v) => !Number.isFinite(v) || v < 0);
    if (j >= 0) throw bad(file, `array '${name}' row ${i} column ${j} is ${row[j]} (costs must be finite and >= 0)`);
    const k = row.findIndex((v) => v > MAX_OP_MS);
    if (k >= 0) throw bad(file, `array '${name}' row ${i} column ${k} is ${row[k]} ms, more than a day (the limit is ${MAX_OP_MS} ms)`);
    out.push(row);
  }
  return out;
}

function vector(file: string, name: string, arr: NpyArray | undefined, len: number): number[] | undefined {
  if (!arr) return undefined;
  if (arr.kind !== 'number' || arr.shape.length !== 1 || arr.shape[0] !== len) {
    throw bad(file, `array '${name}' must be a numeric vector of length ${len}, got ${arr.dtype} (${arr.shape.join(', ')})`);
  }
  const v = Array.from(arr.data);
  if (v.some((x) => !Number.isFinite(x) || x < 0)) throw bad(file, `array '${name}' has a negative or non-finite value`);
  if (v.some((x) => x > MAX_OP_MS)) throw bad(file, `array '${name}' has a value above ${MAX_OP_MS} (more than a day in ms)`);
  return v;
}

const KNOWN = new Set(['data', 'backward', 'mbs', 'extra_names', 'extra_forward', 'extra_backward', 'layer_forward', 'layer_fwdbwd']);

/** Interpret the arrays of one .npz as a profile table (validating shapes, dtypes and values). */
export function profileFromArrays(file: string, name: ProfileName, arrays: Map<string, NpyArray>): ProfileTable {
  const forward = matrix(file, 'data', arrays.get('data'), undefined, NODE_COLUMNS.length);
  if (!forward) throw bad(file, `no array 'data' (found: ${[...arrays.keys()].join(', ') || 'none'})`);
  const rows = forward.length;
  let mbs: number[] = forward.map((_, r) => 2 ** r);
  const mbsArr = arrays.get('mbs');
  if (mbsArr) {
    const v = vector(file, 'mbs', mbsArr, rows)!;
    if (v.some((x, i) => !Number.isInteger(x) || x < 1 || (i > 0 && x <= v[i - 1]!))) {
      throw bad(file, `array 'mbs' must hold increasing positive integers, got [${v.join(', ')}]`);
    }
    mbs = v;
  }
  const namesArr = arrays.get('extra_names');
  let extraNames: string[] = [];
  if (namesArr) {
    if (namesArr.kind !== 'string' || namesArr.shape.length !== 1) throw bad(file, `array 'extra_names' must be a 1-D string array`);
    extraNames = namesArr.data;
  }
  const meta = nullRecord<string | number>();
  const other = nullRecord<NpyArray>();
  for (const [key, arr] of arrays) {
    if (KNOWN.has(key)) continue;
    if (arr.shape.length === 0) meta[key] = arr.data[0] as string | number;
    other[key] = arr;
  }
  if (typeof meta['tp'] === 'number' && meta['tp'] !== name.tp) {
    throw bad(file, `the file name says TP ${name.tp} but its 'tp' array says ${meta['tp']}`);
  }
  for (const [key, said] of [['gpu', name.gpu], ['model', name.model]] as const) {
    if (key in meta && meta[key] !== said) throw bad(file, `the file name says ${key} ${said} but its '${key}' array says ${JSON.stringify(meta[key])}`);
  }
  return {
    file,
    format: 'npz',
    model: name.model,
    gpu: name.gpu,
    tp: name.tp,
    mbs,
    forward_ms: forward,
    backward_ms: matrix(file, 'backward', arrays.get('backward'), rows, NODE_COLUMNS.length),
    extraNames,
    extraForward_ms: matrix(file, 'extra_forward', arrays.get('extra_forward'), rows, extraNames.length),
    extraBackward_ms: matrix(file, 'extra_backward', arrays.get('extra_backward'), rows, extraNames.length),
    layerForward_ms: vector(file, 'layer_forward', arrays.get('layer_forward'), rows),
    layerFwdBwd_ms: vector(file, 'layer_fwdbwd', arrays.get('layer_fwdbwd'), rows),
    meta,
    other,
  };
}

/** Read and validate one profile file; every problem is a FasopError naming the file. */
export function readProfileFile(path: string): ProfileTable {
  const file = basename(path);
  const name = parseProfileName(file);
  if (!name) throw bad(path, `the name does not have the form {model}_{gpu}_{tp}.npz`);
  let bytes: Uint8Array;
  try {
    bytes = readFileCapped(path, MAX_PROFILE_BYTES);
  } catch (err) {
    if (!(err instanceof ReadFailure)) throw err;
    throw new FasopError(`cannot read profile ${path}: ${err.code}${err.detail === err.code ? '' : ` (${err.detail})`}`,
      'replace it with a regular .npz file written by the profiler (docs/profiles.md), or remove it from the profile directory');
  }
  if (bytes.length === 0) throw bad(path, 'the file is empty');
  if (name.format === 'npy') {
    let arr: NpyArray;
    try {
      arr = parseNpy(bytes);
    } catch (err) {
      throw bad(path, (err as Error).message);
    }
    if (arr.shape.length === 2) return profileFromArrays(path, name, new Map([['data', arr]]));
    const v = vector(path, '(legacy)', arr, arr.shape[0] ?? 0);
    if (!v || v.length < 3) throw bad(path, `a legacy .npy must be a 1-D array of at least 3 layer costs`);
    return {
      file: path, format: 'npy-legacy', model: name.model, gpu: name.gpu, tp: name.tp, mbs: [1],
      forward_ms: [], extraNames: [], meta: {}, other: {}, legacyPerSample_ms: v,
    };
  }
  let arrays: Map<string, NpyArray>;
  try {
    arrays = parseNpz(bytes);
  } catch (err) {
    throw bad(path, (err as Error).message);
  }
  return profileFromArrays(path, name, arrays);
}

function flat(m: number[][]): NpyValue {
  return { dtype: 'f8', shape: [m.length, m[0]?.length ?? 0], data: m.flat() };
}

function npyToValue(arr: NpyArray): NpyValue {
  return arr.kind === 'string'
    ? { dtype: 'U', shape: arr.shape, data: arr.data }
    : { dtype: /i\d|u\d/.test(arr.dtype) ? 'i8' : 'f8', shape: arr.shape, data: arr.data };
}

/** The arrays of a table, ready for writeNpz (unknown arrays included unchanged). */
export function profileToArrays(t: ProfileTable): Record<string, NpyValue> {
  const out: Record<string, NpyValue> = {};
  for (const [k, v] of Object.entries(t.other)) out[k] = npyToValue(v);
  out['data'] = flat(t.forward_ms);
  out['mbs'] = { dtype: 'i8', shape: [t.mbs.length], data: t.mbs };
  if (t.backward_ms) out['backward'] = flat(t.backward_ms);
  if (t.extraNames.length > 0) out['extra_names'] = { dtype: 'U', shape: [t.extraNames.length], data: t.extraNames };
  if (t.extraForward_ms) out['extra_forward'] = flat(t.extraForward_ms);
  if (t.extraBackward_ms) out['extra_backward'] = flat(t.extraBackward_ms);
  if (t.layerForward_ms) out['layer_forward'] = { dtype: 'f8', shape: [t.layerForward_ms.length], data: t.layerForward_ms };
  if (t.layerFwdBwd_ms) out['layer_fwdbwd'] = { dtype: 'f8', shape: [t.layerFwdBwd_ms.length], data: t.layerFwdBwd_ms };
  return out;
}

/** Write a profile table as .npz atomically (temporary file, then rename). */
export function writeProfileFile(path: string, t: ProfileTable): void {
  writeFileAtomic(path, writeNpz(profileToArrays(t)));
}

/** The model a profile is used for: the dimensions its own metadata may record. */
export interface ProfiledModel {
  name: string;
  seq_length: number;
  hidden_size: number;
  num_layers: number;
  vocab_size: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  intermediate_size: number;
}

/** Metadata keys a profile may record, and the model field each must equal. */
const MODEL_FIELDS: readonly [string, keyof ProfiledModel][] = [
  ['model', 'name'], ['seq_length', 'seq_length'], ['hidden_size', 'hidden_size'], ['num_layers', 'num_layers'],
  ['num_hidden_layers', 'num_layers'], ['vocab_size', 'vocab_size'], ['num_attention_heads', 'num_attention_heads'],
  ['num_key_value_heads', 'num_key_value_heads'], ['intermediate_size', 'intermediate_size'],
];

/**
 * What a profile's own recorded model, sequence length or dimensions say that differs from the model
 * it is about to cost ("seq_length 4096, but model llama70b has seq_length 1024"), or undefined.
 */
export function profileMismatch(t: ProfileTable, model: ProfiledModel): string | undefined {
  for (const [key, field] of MODEL_FIELDS) {
    if (key in t.meta && t.meta[key] !== model[field]) {
      return `${key} ${JSON.stringify(t.meta[key])}, but model ${model.name} has ${field} ${model[field]}`;
    }
  }
  return undefined;
}
