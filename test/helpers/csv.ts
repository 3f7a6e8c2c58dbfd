import { readFileSync } from 'node:fs';

/** A results CSV as rows of raw cells by column name (tests compare the text, not parsed values). */
export type CsvRow = Record<string, string>;

function splitLine(line: string): string[] {
  const cells: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) { cells.push(cur); cur = ''; } else cur += ch;
  }
  cells.push(cur);
  return cells;
}

export function parseCsvText(text: string): CsvRow[] {
  const [head, ...lines] = text.trim().split('\n');
  const cols = splitLine(head!);
  return lines.map((l) => Object.fromEntries(splitLine(l).map((c, i) => [cols[i]!, c])));
}

export function readCsvFile(path: string): CsvRow[] {
  return parseCsvText(readFileSync(path, 'utf8'));
}
