/**
 * Write errors are the user's environment, not bugs: a full disk (ENOSPC) or an unwritable path is
 * one line, exit 2, and every earlier result file stays as it was (the CSV is written to a
 * temporary file and renamed, and the temporary file is removed on failure).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isFasopError } from '../src/errors.js';
import { LineFile, writeFileAtomic } from '../src/guard/write.js';
import { BIN, ensureBuilt } from './helpers/build.js';
import { REF_PROFILES, runCli, tmp } from './helpers/cli.js';

test('write errors: a line file on /dev/full and an atomic write under a file are one FasopError each', () => {
  const f = new LineFile('/dev/full');
  assert.throws(() => f.write('x\n'), (e: unknown) => isFasopError(e) && /cannot write \/dev\/full: ENOSPC \(no space left on the device\)/.test(e.message));
  const dir = tmp('fasop-write-');
  writeFileSync(join(dir, 'a-file'), 'x');
  assert.throws(() => writeFileAtomic(join(dir, 'a-file', 'out.csv'), 'data'), (e: unknown) => isFasopError(e) && /cannot write .*a-file\/out\.csv: ENOTDIR/.test(e.message));
  assert.deepEqual(readdirSync(dir), ['a-file'], 'no temporary file left');
});

/** A 64 KiB tmpfs, or undefined where this system does not let us mount one. */
function tinyDisk(): string | undefined {
  const dir = tmp('fasop-tiny-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' });
    return dir;
  } catch {
    return undefined;
  }
}

test('write errors: a full disk under --output-dir is one line, exit 2; the earlier CSV and chart survive byte for byte', { timeout: 120_000 }, async (t) => {
  const disk = tinyDisk();
  if (!disk) {
    t.skip('mounting a tmpfs is not permitted here');
    return;
  }
  try {
    const out = join(disk, 'out');
    mkdirSync(out);
    const earlier = 'index,gbs\n0,32 (earlier result)\n';
    writeFileSync(join(out, 'llama70b_pareto.csv'), earlier);
    writeFileSync(join(out, 'llama70b_pareto.png'), 'earlier chart');
    // fill the disk, leaving a few KiB: the new CSV does not fit
    let filler = 0;
    try {
      for (;; filler++) writeFileSync(join(disk, `filler-${filler}`), Buffer.alloc(4096));
    } catch { /* full */ }
    execFileSync('rm', [join(disk, `filler-${filler - 1}`)]);
    const r = await runCli(['--gpus', 'A40', '4', '--pareto', '--make-pareto', '--original-names', '--profile-dir', REF_PROFILES, '--output-dir', out], tmp());
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /^fasop: error: cannot write .*llama70b_pareto\.csv: ENOSPC \(no space left on the device\) — fix: .+\n$/);
    assert.equal(readFileSync(join(out, 'llama70b_pareto.csv'), 'utf8'), earlier);
    assert.equal(readFileSync(join(out, 'llama70b_pareto.png'), 'utf8'), 'earlier chart');
    assert.deepEqual(readdirSync(out).sort(), ['llama70b_pareto.csv', 'llama70b_pareto.png'], 'no temporary file left');
  } finally {
    execFileSync('umount', [disk]);
  }
});

test('write errors: standard output on /dev/full is one line on stderr and exit 2 (the real launcher)', { timeout: 120_000 }, () => {
  ensureBuilt();
  const cwd = tmp();
  const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" --gpus A40 2 --profile-dir "${REF_PROFILES}" > /dev/full`], { cwd, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^fasop: error: cannot write standard output: ENOSPC \(no space left on the device\) — fix: .+\n$/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});
