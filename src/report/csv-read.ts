import { parse } from 'csv-parse/sync';
import { FasopError } from '../errors.js';
import { MAX_CSV_BYTES, readFileCapped, ReadFailure } from '../guard/read.js';

/** Longest record (one row, line breaks inside quotes included), characters: a 100000-node placement list fits. */
export const MAX_CSV_RECORD_CHARS = 8 * 1024 * 1024;
/** Most characters of a cell quoted in an error message. */
const QUOTE_CHARS = 60;
/** Largest whole number in a count column (gbs, mbs, tp, dp, pp, index, iterations, rank). */
export const MAX_CSV_INT = 2 ** 31 - 1;
/** A cell as an error message shows it: JSON-quoted, at most QUOTE_CHARS characters. */
export function quoteCell(cell: string): string {
  return cell.length > QUOTE_CHARS ? `${JSON.stringify(cell.slice(0, QUOTE_CHARS))}… (${cell.length} characters)` : JSON.stringify(cell);
}

/**
 * Reads a results CSV in the original FASOP's format (SPEC §13.2):
 *
 *   index,gbs,mbs,tp,dp,pp,node_type,gpu_cluster,partition,partition_layers,step_time(s),
 *   throughput(samples/s),price_per_step($),is_oom,oom_gpumem(GB),iterations,total_time(s),
 *   total_time(h),cost($),rank
 *
 * Columns are found by name, in any order. Extra columns are kept as strings in `extra`.
 * The columns the Pareto chart needs (REQUIRED_CHART_COLUMNS) must be present; the others are
 * optional and come back `undefined` when their column is absent. Number cells accept Python's
 * float spellings (`16.0`, `1e-05`, `nan`, `inf`); integer columns must hold whole numbers;
 * booleans are `True`/`False` (also `true`/`false`/`1`/`0`); lists are Python reprs
 * (`['A40', 'A40']`, `[41, 40]`); an empty cell or `None` in `partition_layers` is `null`.
 */

/** One row of a results CSV, typed. Units are in the names. */
export interface ResultRow {
  /** 0-based evaluation index (column `index`) */
  index?: number;
  gbs: number;
  mbs: number;
  tp: number;
  dp: number;
  pp: number;
  /** instance type per node (column `node_type`) */
  nodeType?: string[];
  /** e.g. `A40:8, A100:1` (column `gpu_cluster`) */
  gpuCluster?: string;
  /** node count per pipeline stage (column `partition`) */
  partition?: number[];
  /** layer count per pipeline stage, or null when the original wrote None (column `partition_layers`) */
  partitionLayers?: number[] | null;
  stepTimeS?: number;
  throughputSamplesPerS: number;
  pricePerStepUsd?: number;
  isOom: boolean;
  oomGpuMemGB?: number;
  iterations?: number;
  totalTimeS: number;
  totalTimeH?: number;
  costUsd: number;
  rank?: number;
  /** columns not in the original's header, by name, as written */
  extra: Record<string, string>;
  /** 1-based line of the file where this record starts (for messages) */
  line: number;
}

type Kind = 'int' | 'float' | 'bool' | 'str' | 'strList' | 'intList' | 'intListOrNull';

interface ColumnSpec {
  column: string;
  key: Exclude<keyof ResultRow, 'extra' | 'line'>;
  kind: Kind;
  /** smallest value an int column may hold (floats: never negative; NaN and inf are Python's spellings of "none") */
  min?: number;
}

/** The original's columns, in its order, with the field each one fills. */
export const RESULT_COLUMNS: readonly ColumnSpec[] = [
  { column: 'index', key: 'index', kind: 'int', min: 0 },
  { column: 'gbs', key: 'gbs', kind: 'int', min: 1 },
  { column: 'mbs', key: 'mbs', kind: 'int', min: 1 },
  { column: 'tp', key: 'tp', kind: 'int', min: 1 },
  { column: 'dp', key: 'dp', kind: 'int', min: 1 },
  { column: 'pp', key: 'pp', kind: 'int', min: 1 },
  { column: 'node_type', key: 'nodeType', kind: 'strList' },
  { column: 'gpu_cluster', key: 'gpuCluster', kind: 'str' },
  { column: 'partition', key: 'partition', kind: 'intList' },
  { column: 'partition_layers', key: 'partitionLayers', kind: 'intListOrNull' },
  { column: 'step_time(s)', key: 'stepTimeS', kind: 'float' },
  { column: 'throughput(samples/s)', key: 'throughputSamplesPerS', kind: 'float' },
  { column: 'price_per_step($)', key: 'pricePerStepUsd', kind: 'float' },
  { column: 'is_oom', key: 'isOom', kind: 'bool' },
  { column: 'oom_gpumem(GB)', key: 'oomGpuMemGB', kind: 'float' },
  { column: 'iterations', key: 'iterations', kind: 'int', min: 0 },
  { column: 'total_time(s)', key: 'totalTimeS', kind: 'float' },
  { column: 'total_time(h)', key: 'totalTimeH', kind: 'float' },
  { column: 'cost($)', key: 'costUsd', kind: 'float' },
  { column: 'rank', key: 'rank', kind: 'int', min: 1 },
];

/** Columns the Pareto chart cannot do without (frontier, annotation, axes). */
export const REQUIRED_CHART_COLUMNS: readonly string[] = [
  'gbs', 'mbs', 'tp', 'dp', 'pp', 'throughput(samples/s)', 'cost($)', 'is_oom', 'total_time(s)',
];

export interface ReadResultsOptions {
  /** columns that must be present; default REQUIRED_CHART_COLUMNS */
  required?: readonly string[];
}

/** Read and type a results CSV file. Every problem a user can cause is a FasopError. */
export function readResultsCsv(path: string, options: ReadResultsOptions = {}): ResultRow[] {
  return parseResultsCsv(readCsvText(path), path, options);
}

/** The text of a CSV file, read with the size cap; only a regular file. */
export function readCsvText(path: string): string {
  try {
    return readFileCapped(path, MAX_CSV_BYTES).toString('utf8');
  } catch (err) {
    if (!(err instanceof ReadFailure)) throw err;
    if (err.code === 'EISDIR') throw new FasopError(`CSV file not found: ${path} is a directory`, 'pass the path of a results .csv file');
    if (err.code === 'ENOENT') throw new FasopError(`CSV file not found: ${path}`, 'check the path; results CSVs are written to main_logs/ by a search');
    throw new FasopError(`cannot read CSV file ${path} (${err.code}${err.detail === err.code ? '' : `: ${err.detail}`})`, 'pass a results CSV that is a readable regular file');
  }
}

/** Parse results CSV text; `source` names it in messages. */
export function parseResultsCsv(text: string, source: string, options: ReadResultsOptions = {}): ResultRow[] {
  if (text.replace(/^\uFEFF/, '').trim() === '') {
    throw new FasopError(`CSV file ${source} is empty`, 'pass a results CSV written by a search (it starts with the header line index,gbs,mbs,...)');
  }
  let records: { record: string[]; info: { lines: number } }[];
  try {
    // csv-parse's line counts go wrong with CRLF (as Windows tools write): use LF.
    records = parse(text.replace(/\r\n?/g, '\n'), { bom: true, info: true, skip_empty_lines: true, relax_column_count: false, max_record_size: MAX_CSV_RECORD_CHARS }) as unknown as typeof records;
  } catch (err) {
    const m = (err as Error).message;
    throw new FasopError(`CSV file ${source} is not valid CSV: ${m.length > 200 ? `${m.slice(0, 200)}…` : m}`, 'pass a results CSV written by a search, unmodified');
  }
  const header = records[0]!.record.map((h) => h.trim());
  const position = new Map<string, number>();
  header.forEach((name, i) => {
    if (!position.has(name)) position.set(name, i);
  });
  const required = options.required ?? REQUIRED_CHART_COLUMNS;
  const missing = required.filter((c) => !position.has(c));
  if (missing.length > 0) {
    throw new FasopError(
      `CSV file ${source} lacks the column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (its header: ${header.join(',').slice(0, 200)})`,
      'pass a results CSV with the original\'s header (index,gbs,mbs,tp,dp,pp,...,cost($),rank)',
    );
  }
  const known = new Set(RESULT_COLUMNS.map((c) => c.column));
  const extraColumns = header.map((name, i) => ({ name, i })).filter(({ name }) => !known.has(name));
  const present = RESULT_COLUMNS.filter((c) => position.has(c.column));

  const rows: ResultRow[] = [];
  for (let r = 1; r < records.length; r++) {
    const { record, info } = records[r]!;
    // info.lines is the line where the record ends; step back over the line breaks inside it
    let inside = 0;
    for (const cell of record) for (let k = cell.indexOf('\n'); k >= 0; k = cell.indexOf('\n', k + 1)) inside += 1;
    const line = info.lines - inside;
    // Object.fromEntries defines own properties, so a column named __proto__ is just a column
    const row: Record<string, unknown> = { extra: Object.fromEntries(extraColumns.map(({ name, i }) => [name, record[i]!])), line };
    for (const spec of present) {
      const cell = record[position.get(spec.column)!]!;
      const value = parseCell(cell, spec, () => `CSV file ${source}, line ${line}: column ${spec.column}`);
      if (value !== undefined) row[spec.key] = value;
    }
    rows.push(row as unknown as ResultRow);
  }
  return rows;
}

const HINT = 'fix the cell, or regenerate the CSV with a search';
const BOOLS = new Map<string, boolean>([['true', true], ['false', false], ['1', true], ['0', false]]);

function parseCell(cell: string, spec: ColumnSpec, where: () => string): unknown {
  const s = cell.trim();
  switch (spec.kind) {
    case 'str':
      return cell;
    case 'float':
    case 'int': {
      const x = parsePyNumber(s);
      if (x === undefined) throw new FasopError(`${where()} is ${quoteCell(cell)}, not a number`, HINT);
      if (spec.kind === 'int' && !Number.isInteger(x)) {
        throw new FasopError(`${where()} is ${quoteCell(cell)}, not a whole number`, HINT);
      }
      if (spec.kind === 'int' && (x < (spec.min ?? 0) || x > MAX_CSV_INT)) {
        throw new FasopError(`${where()} is ${quoteCell(cell)}, outside ${spec.min ?? 0} … ${MAX_CSV_INT}`, HINT);
      }
      if (spec.kind === 'float' && x < 0) throw new FasopError(`${where()} is ${quoteCell(cell)}: times, costs and rates cannot be negative`, HINT);
      return x;
    }
    case 'bool': {
      const b = BOOLS.get(s.toLowerCase());
      if (b === undefined) throw new FasopError(`${where()} is ${quoteCell(cell)}, not True or False`, HINT);
      return b;
    }
    case 'strList':
      return parsePyList(s, where, (item) => item);
    case 'intList':
    case 'intListOrNull': {
      if (spec.kind === 'intListOrNull' && (s === '' || s === 'None')) return null;
      return parsePyList(s, where, (item) => {
        const x = parsePyNumber(item);
        if (x === undefined || !Number.isInteger(x)) {
          throw new FasopError(`${where()} holds ${quoteCell(item)}, not a whole number`, HINT);
        }
        return x;
      });
    }
  }
}

/** A Python float/int repr as a number (`16.0`, `1e-05`, `nan`, `inf`, `-inf`), else undefined. */
export function parsePyNumber(s: string): number | undefined {
  const t = s.trim();
  if (/^[+-]?(nan)$/i.test(t)) return Number.NaN;
  if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  // unambiguous (linear-time) pattern: the fraction digits only after the point
  if (!/^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/.test(t)) return undefined;
  return Number(t);
}

/**
 * A flat Python list repr (`['A40', 'A40']`, `[41, 40]`, `[]`) as its items: one left-to-right scan
 * (linear in the cell's length); quoted items may contain commas and backslash escapes.
 */
export function parsePyList<T>(s: string, where: () => string, item: (raw: string) => T): T[] {
  const fail = (what: string) => new FasopError(`${where()} is ${quoteCell(s)}, ${what}`, HINT);
  if (!s.startsWith('[') || !s.endsWith(']')) throw fail('not a list like [1, 2] or [\'A40\', \'A40\']');
  const end = s.length - 1;
  const out: T[] = [];
  let i = 1;
  const skipSpace = () => {
    while (i < end && /\s/.test(s[i]!)) i++;
  };
  skipSpace();
  if (i === end) return out;
  for (;;) {
    skipSpace();
    let raw: string;
    const q = s[i];
    if (q === "'" || q === '"') {
      let text = '';
      i++;
      for (;;) {
        if (i >= end) throw fail('not a flat list (an unclosed quote)');
        const c = s[i]!;
        if (c === '\\' && i + 1 < end) {
          text += s[i + 1];
          i += 2;
        } else if (c === q) {
          i++;
          break;
        } else {
          text += c;
          i++;
        }
      }
      raw = text;
    } else {
      const from = i;
      while (i < end && s[i] !== ',') i++;
      raw = s.slice(from, i).trim();
      if (raw === '') throw fail('not a flat list (an empty item)');
      if (/[[\]'"]/.test(raw)) throw fail('not a flat list');
    }
    out.push(item(raw));
    skipSpace();
    if (i === end) return out;
    if (s[i] !== ',') throw fail('not a flat list');
    i++;
  }
}
