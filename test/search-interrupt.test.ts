/**
 * Ctrl-C during a long search (SIGINT to `node bin/fasop.js`): the previous CSV stays
 * byte-identical, the JSONL is valid line by line, no temporary file is left, the exit status is
 * not 0. Without a SIGINT handler Node ends at once (a handler could not even run: the search
 * loop never yields to the event loop); the CSV is only ever written at the end, to a temporary
 * file that is then renamed over the old one.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { BIN, ensureBuilt } from './helpers/build.js';
import { REF_PROFILES } from './helpers/cli.js';

const PREVIOUS = 'index,gbs\n0,512 (the previous results: must survive Ctrl-C)\n';
// ~4 s and ~8000 JSONL lines on a 2-core machine; SIGINT is sent after the first 20 lines
const LONG = ['--gpus', 'A40', '32', 'A100', '32', '--substitute-profile', 'A100=A40', '--gbs', '512', '--dataset', 'c4', '--parsing', '--profile-dir', REF_PROFILES];

before(() => ensureBuilt());

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n');
}

test('SIGINT mid-search: previous CSV intact, JSONL valid up to its last line, no temp files, non-zero exit', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'fasop-sigint-'));
  const logs = join(cwd, 'main_logs');
  mkdirSync(logs);
  writeFileSync(join(logs, 'llama70b_heterogeneous.csv'), PREVIOUS);
  const child = spawn(process.execPath, [BIN, ...LONG], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: cwd } });
  let stdout = '';
  child.stdout.on('data', (d) => { stdout += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  let jsonl: string | undefined;
  const deadline = Date.now() + 60_000;
  let sent = false;
  while (Date.now() < deadline && child.exitCode === null) {
    jsonl = readdirSync(logs).find((f) => f.endsWith('.jsonl'));
    if (jsonl && lines(join(logs, jsonl)).length > 20) {
      child.kill('SIGINT');
      sent = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const { code, signal } = await exited;
  assert.ok(sent, `the search ended before SIGINT could be sent (exit ${code}); make it longer`);
  assert.ok(signal === 'SIGINT' || (code !== null && code !== 0), `exit status: code ${code}, signal ${signal}`);
  assert.doesNotMatch(stdout, /CSV file saved|Results saved to/, 'the search was really interrupted');
  assert.equal(readFileSync(join(logs, 'llama70b_heterogeneous.csv'), 'utf8'), PREVIOUS);
  const text = readFileSync(join(logs, jsonl!), 'utf8');
  assert.ok(text.endsWith('\n'), 'the JSONL ends with a complete line');
  const records = text.trimEnd().split('\n').map((l, i) => {
    assert.doesNotThrow(() => JSON.parse(l), `line ${i + 1} is JSON: ${l.slice(0, 80)}`);
    return JSON.parse(l);
  });
  assert.equal(records[0].type, 'meta');
  assert.ok(records.length >= 20, `${records.length} lines`);
  assert.deepEqual(readdirSync(logs).filter((f) => /tmp/.test(f)), [], 'no temporary files');
  assert.deepEqual(readdirSync(cwd).sort(), ['main_logs']);
});
