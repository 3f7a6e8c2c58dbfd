import { readFileSync } from 'node:fs';
import { FasopError } from '../errors.js';
import type { PlanRecord } from '../search/record.js';

/**
 * A minimal reader of fasop's / the original's results CSV (SPEC §13.2), only for
 * `fasop export --csv FILE --rank N`. Scoped on purpose: RFC 4180 quoting ("" escapes, quoted
 * commas and newlines) and Python-list cells like "[81, 80, 80]" and "['A40', 'A40']".
 * Replace with src/report/csv-read.ts once that shared reader is merged.
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i++; } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); field = '';
      rows.push(row); row = [];
    } else field += c;
  }
  if (quoted) throw new FasopError('the CSV ends inside a quoted field', 'check that the file is complete');
  if (field !== '' || row.length > 0) { row.push(field); rows.push(row); }
  return rows.filter((r) => !(r.length === 1 && r[0] === ''));
}

/** A Python list literal of numbers or quoted strings: "[81, 80]", "['A40', 'A40']", "[]". */
export function parsePyList(cell: string, what: string): Array<number | string> {
  const s = cell.trim();
  if (!s.startsWith('[') || !s.endsWith(']')) throw new FasopError(`${what} is not a list: '${cell}'`, 'pass a results CSV written by fasop or the original FASOP');
  const body = s.slice(1, -1).trim();
  if (body === '') return [];
  const out: Array<number | string> = [];
  const re = /\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([^,\s]+))\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while (end < body.length && (m = re.exec(body)) !== null) {
    end = re.lastIndex;
    if (m[1] !== undefined || m[2] !== undefined) out.push((m[1] ?? m[2])!.replace(/\\(.)/g, '$1'));
    else {
      const v = Number(m[3]);
      if (!Number.isFinite(v)) throw new FasopError(`${what} has a non-number '${m[3]}'`, 'pass a results CSV written by fasop or the original FASOP');
      out.push(v);
    }
    if (m[0] === '') break;
  }
  if (end !== body.length) throw new FasopError(`${what} could not be read: '${cell}'`, 'pass a results CSV written by fasop or the original FASOP');
  return out;
}

/** One CSV row as a plan record (the original's columns; ours when present) plus its rank/index. */
export interface CsvPlanRow {
  index: number;
  rank: number;
  record: PlanRecord;
  /** true when the file has our `placement` column (else placement comes from node_type) */
  hasPlacement: boolean;
}

const REQUIRED = ['index', 'gbs', 'mbs', 'tp', 'dp', 'pp', 'node_type', 'gpu_cluster', 'partition', 'partition_layers', 'step_time(s)', 'is_oom', 'rank'];

export function readPlanCsv(text: string, origin: string): CsvPlanRow[] {
  const rows = parseCsv(text);
  if (rows.length === 0) throw new FasopError(`${origin} is empty`, 'pass a results CSV written by fasop search');
  const header = rows[0]!;
  const missing = REQUIRED.filter((c) => !header.includes(c));
  if (missing.length) throw new FasopError(`${origin} lacks the column(s) ${missing.join(', ')}`, 'pass a results CSV written by fasop search or the original FASOP');
  const col = (r: string[], name: string) => r[header.indexOf(name)] ?? '';
  const int = (r: string[], name: string, line: number) => {
    const v = Number(col(r, name));
    if (!Number.isSafeInteger(v)) throw new FasopError(`${origin} line ${line}: ${name} is not a whole number ('${col(r, name)}')`, 'pass an unmodified results CSV');
    return v;
  };
  const num = (r: string[], name: string) => (header.includes(name) ? Number(col(r, name)) : NaN);
  return rows.slice(1).map((r, i) => {
    const line = i + 2;
    const list = (name: string) => parsePyList(col(r, name), `${origin} line ${line} ${name}`);
    const nodeType = list('node_type').map(String);
    const hasPlacement = header.includes('placement') && col(r, 'placement') !== '';
    const partitionLayers = col(r, 'partition_layers').trim() === '' ? null : list('partition_layers').map(Number);
    const record: PlanRecord = {
      gbs: int(r, 'gbs', line), mbs: int(r, 'mbs', line), tp: int(r, 'tp', line), dp: int(r, 'dp', line), pp: int(r, 'pp', line),
      node_type: nodeType,
      gpu_cluster_str: col(r, 'gpu_cluster'),
      partition: list('partition').map(Number),
      partition_layers: partitionLayers,
      step_time: num(r, 'step_time(s)'),
      throughput: num(r, 'throughput(samples/s)'),
      price_per_step: num(r, 'price_per_step($)'),
      is_oom: col(r, 'is_oom') === 'True',
      oom_gpumem: num(r, 'oom_gpumem(GB)'),
      iterations: num(r, 'iterations'),
      total_time_seconds: num(r, 'total_time(s)'),
      total_time_hours: num(r, 'total_time(h)'),
      cost: num(r, 'cost($)'),
      placement: hasPlacement ? list('placement').map(String) : nodeType,
      estimator: header.includes('estimator') ? col(r, 'estimator') : '',
      partition_method: header.includes('partition_method') ? col(r, 'partition_method') : '',
      cost_source: header.includes('cost_source') ? col(r, 'cost_source') : '',
    };
    return { index: int(r, 'index', line), rank: int(r, 'rank', line), record, hasPlacement };
  });
}

export function readPlanCsvFile(path: string): CsvPlanRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FasopError(`cannot read ${path}: ${(err as Error).message}`, 'pass the path of a results CSV (fasop search writes main_logs/{model}.csv)');
  }
  return readPlanCsv(text, path);
}
