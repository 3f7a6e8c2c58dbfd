/**
 * An operator profile by shape, as `profiler/operators.py` writes it (ops_<GPU>.json; the format is
 * docs/operator-profiles.md). Reading is the only I/O here: a regular file under a size cap, checked
 * against a schema, each problem a FasopError naming the file.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { z } from 'zod';
import { FasopError } from '../errors.js';

/** Largest operator profile accepted, bytes (the H200 file is about 1 MB). */
export const MAX_OPERATOR_PROFILE_BYTES = 32 * 2 ** 20;

export { TABLE_AXES, type TableName } from '../model/operator-families.js';
import { TABLE_AXES, type TableName } from '../model/operator-families.js';

const FB = ['forward_ms', 'backward_ms'] as const;
/** Measured fields of each table, ms. */
export const TABLE_FIELDS: Record<TableName, readonly string[]> = {
  linear: ['forward_ms', 'input_grad_ms', 'weight_grad_ms'],
  linear_unaligned: ['forward_ms', 'input_grad_ms', 'weight_grad_ms'],
  attention: FB, attention_flash: FB, rmsnorm: FB, layernorm: FB, add: FB, silu: FB, gelu: FB, mul: FB, rope: FB,
  embedding: FB, cross_entropy: FB, vocab_parallel_cross_entropy: FB,
  head_merge: ['copy_ms'], qkv_grad_stack: ['copy_ms'], bias_grad: ['reduce_ms'],
  adamw_bf16_states: ['step_ms'], adamw_fp32_master: ['step_ms'],
};

const tableSchema = z.object({
  axes: z.array(z.string()),
  fields: z.array(z.string()),
  points: z.array(z.array(z.number().finite().nonnegative())).min(1),
});
export type OperatorTable = z.infer<typeof tableSchema>;

const profileSchema = z.object({
  format: z.literal('fasop-operator-profile'),
  version: z.literal(1),
  gpu: z.string().min(1),
  gpu_name: z.string().min(1),
  driver_version: z.string(),
  cuda_version: z.string(),
  torch_version: z.string().min(1),
  date: z.string().min(1),
  dtype: z.literal('bf16'),
  quick: z.boolean().optional(),
  wall_s: z.number().nonnegative().optional(),
  tables: z.record(z.string(), tableSchema),
  sustained_load: z.object({
    rows: z.array(z.object({ gemm_share: z.number().min(0).max(1), gemm_slowdown: z.number().positive().nullable() })).min(1),
  }).optional(),
});

/** A GEMM's time under sustained load over its spaced time, at a GEMM share of the work (the profiler's `load` family). */
export interface LoadPoint { share: number; slowdown: number }

export interface OperatorProfile {
  path: string;
  gpu: string;
  gpuName: string;
  driverVersion: string;
  cudaVersion: string;
  torchVersion: string;
  date: string;
  tables: Partial<Record<TableName, OperatorTable>>;
  /** measured GEMM slowdowns by GEMM share, ascending in share (absent: not measured) */
  sustainedLoad?: LoadPoint[];
}

const FIX = 'regenerate it with python3 profiler/operators.py --out profiles (docs/operator-profiles.md)';

function bad(path: string, problem: string): FasopError {
  return new FasopError(`operator profile ${path}: ${problem}`, FIX);
}

/** Check one table's axes, fields and every point's arity and positivity of its axis values. */
function checkTable(path: string, name: TableName, t: OperatorTable): void {
  const axes = TABLE_AXES[name];
  const fields = TABLE_FIELDS[name];
  if (t.axes.join() !== axes.join()) throw bad(path, `table ${name} has axes [${t.axes.join(', ')}], expected [${axes.join(', ')}]`);
  if (t.fields.join() !== fields.join()) throw bad(path, `table ${name} has fields [${t.fields.join(', ')}], expected [${fields.join(', ')}]`);
  const width = axes.length + fields.length;
  const seen = new Set<string>();
  t.points.forEach((p, i) => {
    const key = p.slice(0, axes.length).join('x');
    if (seen.has(key)) throw bad(path, `table ${name} has two points at ${axes.join('×')} = ${key}`);
    seen.add(key);
    if (p.length !== width) throw bad(path, `table ${name} point ${i} has ${p.length} numbers, expected ${width}`);
    const j = p.findIndex((v, k) => k < axes.length && v <= 0);
    if (j >= 0) throw bad(path, `table ${name} point ${i}: axis ${axes[j]} is ${p[j]} (must be > 0)`);
    if (p.slice(axes.length).some((v) => v <= 0)) throw bad(path, `table ${name} point ${i} has a time <= 0`);
  });
}

/** Parse an operator profile document (already read as text). */
export function parseOperatorProfile(text: string, path: string): OperatorProfile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw bad(path, `not valid JSON (${(e as Error).message})`);
  }
  const r = profileSchema.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw bad(path, `${i.path.join('.') || '(top)'}: ${i.message}`);
  }
  if (r.data.quick) throw bad(path, 'it was written with --quick (a run check, not a profile)');
  const tables: Partial<Record<TableName, OperatorTable>> = {};
  for (const [name, t] of Object.entries(r.data.tables)) {
    if (!(name in TABLE_AXES)) throw bad(path, `unknown table '${name}' (known: ${Object.keys(TABLE_AXES).join(', ')})`);
    checkTable(path, name as TableName, t);
    tables[name as TableName] = t;
  }
  const load = r.data.sustained_load?.rows.flatMap((x) => (x.gemm_slowdown === null ? [] : [{ share: x.gemm_share, slowdown: x.gemm_slowdown }]))
    .sort((a, b) => a.share - b.share);
  return {
    path, gpu: r.data.gpu, gpuName: r.data.gpu_name, driverVersion: r.data.driver_version,
    cudaVersion: r.data.cuda_version, torchVersion: r.data.torch_version, date: r.data.date, tables,
    ...(load?.length ? { sustainedLoad: load } : {}),
  };
}

/** Read an operator profile: a regular file of at most MAX_OPERATOR_PROFILE_BYTES. */
export function readOperatorProfile(path: string): OperatorProfile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new FasopError(`cannot read operator profile ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, `check the path; ${FIX}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw bad(path, 'not a regular file');
    if (st.size > MAX_OPERATOR_PROFILE_BYTES) throw bad(path, `${st.size} bytes, more than the ${MAX_OPERATOR_PROFILE_BYTES} accepted`);
    if (st.size === 0) throw bad(path, 'the file is empty');
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return parseOperatorProfile(buf.subarray(0, off).toString('utf8'), path);
  } finally {
    closeSync(fd);
  }
}
