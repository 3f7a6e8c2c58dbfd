/**
 * A per-model profile of one GPU derived for another (`--substitute-profile GPU=OTHER` where OTHER
 * has no operator profile): each node column and extra operator of every micro-batch row is scaled
 * by the roofline factor of the operators it holds (derive.ts), at that row's shapes, forward and
 * backward separately.
 */
import type { ModelSpec } from '../catalog/schema.js';
import { NODE_COLUMNS } from '../model/graph.js';
import { decoderShapes, type OperatorShape } from '../model/shapes.js';
import { derivationNote, derivedTime_ms, workOf, type Roofline } from './derive.js';
import type { ProfileTable } from './profile.js';
import { COLUMN_OF, EXTRA_OF } from './shape-table.js';

export interface DeriveTableRequest {
  model: ModelSpec;
  /** the GPU the table prices */
  gpu: string;
  from: Roofline;
  to: Roofline;
  /** what asked for the derivation, for cost_source (e.g. "--substitute-profile A100=A40") */
  by: string;
}

/** A column's operators, each with its weight (calls × share of the column). */
type Parts = { shape: OperatorShape; weight: number }[];

/** The operators behind each node column and each extra operator of the per-model format, at one row's shapes. */
function partsOf(model: ModelSpec, tp: number, mbs: number, extraNames: readonly string[]): { columns: Parts[]; extras: Parts[] } {
  const shapes = decoderShapes(model, { tp, mbs, seq: model.seq_length });
  const columns: Parts[] = NODE_COLUMNS.map(() => []);
  for (const s of shapes.layer) for (const { column, share } of COLUMN_OF[s.name] ?? []) columns[column]!.push({ shape: s, weight: share * s.count });
  for (const s of shapes.first) columns[0]!.push({ shape: s, weight: s.count });
  const lm = shapes.last.find((s) => s.name === 'lm_head')!;
  columns[NODE_COLUMNS.indexOf('lm_head')]!.push({ shape: lm, weight: 1 });
  const byName = new Map([...shapes.layer, ...shapes.last].map((s) => [s.name, s]));
  const extras = extraNames.map((e) => (EXTRA_OF[e] ?? []).flatMap((n) => (byName.has(n) ? [{ shape: byName.get(n)!, weight: 1 }] : [])));
  return { columns, extras };
}

/** Roofline work of a column's operators, summed (a column never mixes a GEMM with an element-wise operator). */
function workOfParts(parts: Parts, dir: 'forward' | 'backward'): { flops: number; bytes: number } {
  if (parts.length === 0) return { flops: 0, bytes: 1 }; // nothing priced there by shape: taken as bandwidth-bound
  return parts.reduce((a, p) => {
    const w = workOf(p.shape)[dir];
    return { flops: a.flops + p.weight * w.flops, bytes: a.bytes + p.weight * w.bytes };
  }, { flops: 0, bytes: 0 });
}

/**
 * Each column's fixed part in a matrix of rows: its time extrapolated to no micro-batch along the
 * line of the file's two smallest rows, within [0, the smallest row's time].
 */
function fixedParts(mbs: readonly number[], m: readonly (readonly number[])[]): number[] {
  if (m.length < 2) return m[0]!.map(() => 0);
  return m[0]!.map((t0, c) => {
    const slope = (m[1]![c]! - t0) / (mbs[1]! - mbs[0]!);
    return Math.min(t0, Math.max(0, t0 - slope * mbs[0]!));
  });
}

/** `t` (OTHER's per-model profile of the model at some tp) derived for `req.gpu`. */
export function derivedProfileTable(t: ProfileTable, req: DeriveTableRequest): ProfileTable {
  const rows = t.mbs.map((mbs) => partsOf(req.model, t.tp, mbs, t.extraNames));
  const scale = (m: number[][] | undefined, dir: 'forward' | 'backward', pick: (r: (typeof rows)[number]) => Parts[]) => {
    if (!m) return undefined;
    const fixed = fixedParts(t.mbs, m);
    return m.map((row, r) => row.map((ms, c) => derivedTime_ms(ms, fixed[c]!, workOfParts(pick(rows[r]!)[c]!, dir), req.from, req.to)));
  };
  const forward_ms = scale(t.forward_ms, 'forward', (r) => r.columns)!;
  const backward_ms = scale(t.backward_ms, 'backward', (r) => r.columns);
  const extraForward_ms = scale(t.extraForward_ms, 'forward', (r) => r.extras);
  const extraBackward_ms = scale(t.extraBackward_ms, 'backward', (r) => r.extras);
  return {
    file: t.file,
    format: t.format,
    model: t.model,
    gpu: req.gpu,
    tp: t.tp,
    mbs: t.mbs,
    forward_ms,
    ...(backward_ms ? { backward_ms } : {}),
    extraNames: t.extraNames,
    ...(extraForward_ms ? { extraForward_ms } : {}),
    ...(extraBackward_ms ? { extraBackward_ms } : {}),
    meta: { gpu: req.gpu, model: t.model, tp: t.tp, seq_length: req.model.seq_length, derived_from: req.from.gpu },
    other: {},
    derivedFrom: { gpu: req.from.gpu, words: `${derivationNote(req.from, req.to)} from ${t.file.split('/').pop()} (${req.by})` },
  };
}
