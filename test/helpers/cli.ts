import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';

export const SHARED = resolve(import.meta.dirname, '../../../shared/reference');
export const REF_PROFILES = join(SHARED, 'profiles');
export const REF_OUTPUTS = join(SHARED, 'outputs');

export interface CliRun { code: number; out: string; err: string; cwd: string }

/** Run the CLI in-process in a fresh temporary working directory. */
export async function runCli(argv: string[], cwd = mkdtempSync(join(tmpdir(), 'fasop-test-'))): Promise<CliRun> {
  let out = '';
  let err = '';
  const io: CliIo = {
    out: (t) => { out += t.endsWith('\n') ? t : `${t}\n`; },
    err: (t) => { err += t.endsWith('\n') ? t : `${t}\n`; },
    errIsTty: false,
    inIsTty: false,
    cwd,
  };
  const code = await main(argv, io);
  return { code, out, err, cwd };
}

export function tmp(prefix = 'fasop-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The results CSV a search printed that it saved (`CSV file saved at: PATH`). */
export function savedCsvPath(stdout: string): string {
  const m = /^CSV file saved at: (.+)$/m.exec(stdout);
  if (!m) throw new Error(`the search printed no CSV path:\n${stdout.slice(-2000)}`);
  return m[1]!;
}
