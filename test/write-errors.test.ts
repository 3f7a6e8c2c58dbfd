/**
 * Write errors are the user's environment, not bugs: a full disk (ENOSPC), a path this user may
 * not write (EACCES) or a failing device (EIO) is one line naming the path and a fix, exit 2, and
 * every earlier result file stays as it was (the CSV is written to a temporary file and renamed,
 * and the temporary file is removed on failure). EACCES is real: the CLI runs as an unprivileged
 * user (nobody, through setpriv, when the tests run as root). EIO comes from a preload that makes
 * the writes to one path fail (test/helpers/fail-writes.mjs) in the real CLI, run from dist/.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isFasopError } from '../src/errors.js';
import { nonEmptyPath } from '../src/guard/output-path.js';
import { LineFile, writeFileAtomic } from '../src/guard/write.js';
import { BIN, REPO, ensureBuilt } from './helpers/build.js';
import { REF_PROFILES, runCli, tmp } from './helpers/cli.js';
import { diffTrees, snapshotTree } from './helpers/tree.js';

test('write errors: a line file on /dev/full and an atomic write under a file are one FasopError each', () => {
  const f = new LineFile('/dev/full');
  assert.throws(() => f.write('x\n'), (e: unknown) => isFasopError(e) && /cannot write \/dev\/full: ENOSPC \(no space left on the device\)/.test(e.message));
  const dir = tmp('fasop-write-');
  writeFileSync(join(dir, 'a-file'), 'x');
  assert.throws(() => writeFileAtomic(join(dir, 'a-file', 'out.csv'), 'data'), (e: unknown) => isFasopError(e) && /cannot write .*a-file\/out\.csv: ENOTDIR/.test(e.message));
  assert.deepEqual(readdirSync(dir), ['a-file'], 'no temporary file left');
  // a sysctl file that is read-only refuses writes even to root
  assert.throws(() => new LineFile('/proc/sys/kernel/ostype'), (e: unknown) => isFasopError(e) && /^cannot write \/proc\/sys\/kernel\/ostype: EACCES \(permission denied\)$/.test(e.message) && /write permission/.test(e.hint));
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

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const FAIL_WRITES = join(REPO, 'test', 'helpers', 'fail-writes.mjs');
const EARLIER_CSV = 'index,gbs\n0,32 (earlier result)\n';
const EARLIER_PNG = 'earlier chart';
const EARLIER_LOG = '[LOG] Output will be saved to: main_logs/run.log\n';
const EARLIER_JSONL = '{"type": "meta", "total_count": 53, "gbs": 32, "cluster": {"A40": 4}}\n{"earlier": true}\n';
/** A results CSV of an earlier run under the new names (not this run's output, so not a collision). */
const OTHER_CSV = 'llama8b_H100x1_gbs32.csv';
const SEARCH = ['--gpus', 'A40', '8', '--pareto', '--make-pareto', '--original-names', '--profile-dir', REF_PROFILES];

/** A folder this test owns that the CLI's user may enter but not write: root's 0755 (as root, the CLI runs as nobody), else 0555. */
function readOnlyForCli(dir: string): void {
  chmodSync(dir, asRoot ? 0o755 : 0o555);
}

/** A folder the CLI's user may write. */
function writableForCli(dir: string): void {
  chmodSync(dir, 0o777);
}

/** A world for one case: `out/` with an earlier CSV and chart, and `w/`, which the CLI's user may write. */
function world(): { root: string; out: string; w: string } {
  const root = tmp('fasop-write-err-');
  chmodSync(root, 0o755);
  const out = join(root, 'out');
  const w = join(root, 'w');
  mkdirSync(out);
  mkdirSync(w);
  writeFileSync(join(out, 'llama70b_pareto.csv'), EARLIER_CSV);
  writeFileSync(join(out, 'llama70b_pareto.png'), EARLIER_PNG);
  writableForCli(out);
  writableForCli(w);
  return { root, out, w };
}

interface WriteCase {
  id: string;
  /** set up the world and return the CLI's arguments */
  args: (wd: { root: string; out: string; w: string }) => string[];
  /** run as an unprivileged user (as root: nobody) */
  unprivileged?: boolean;
  /** fault injection: writes to paths matching `path` fail with `code` */
  fail?: { path: string; code: 'EIO' | 'EACCES' };
  expect: RegExp;
  fix: RegExp;
  /** what the run may change in the world (by default nothing) */
  changes?: string[];
}

const CASES: WriteCase[] = [
  {
    id: 'output-dir-permission',
    unprivileged: true,
    args: ({ out }) => { readOnlyForCli(out); return [...SEARCH, '--output-dir', out]; },
    expect: /^output directory .*\/out is not writable \(EACCES\)$/,
    fix: /^give this user write permission on .*\/out, or pass a folder it may write to with --output-dir$/,
  },
  {
    id: 'log-file-permission',
    unprivileged: true,
    args: ({ out, w }) => {
      // an earlier log of fasop's (any other file is refused before the write is tried)
      writeFileSync(join(w, 'run.log'), `${EARLIER_LOG}an earlier log\n`);
      chmodSync(join(w, 'run.log'), 0o444);
      return [...SEARCH, '--output-dir', out, '--log-file', join(w, 'run.log')];
    },
    expect: /^cannot write .*\/w\/run\.log: EACCES \(permission denied\)$/,
    fix: /^give this user write permission there, or choose a location it may write to \(--output-dir, --log-file, --parsing-file\); earlier result files were left as they were$/,
  },
  {
    id: 'parsing-file-permission',
    unprivileged: true,
    args: ({ out, w }) => {
      writeFileSync(join(w, 'run.jsonl'), EARLIER_JSONL);
      chmodSync(join(w, 'run.jsonl'), 0o444);
      return [...SEARCH, '--output-dir', out, '--parsing', '--parsing-file', join(w, 'run.jsonl')];
    },
    expect: /^cannot write .*\/w\/run\.jsonl: EACCES \(permission denied\)$/,
    fix: /^give this user write permission there/,
  },
  {
    id: 'csv-io-error',
    fail: { path: '/out/\\.llama70b_pareto\\.csv\\.tmp-', code: 'EIO' },
    args: ({ out }) => [...SEARCH, '--output-dir', out],
    expect: /^cannot write .*\/out\/llama70b_pareto\.csv: EIO \(input\/output error\)$/,
    fix: /^the device reported a failure: check the disk \(or network share\), then retry or choose another location \(--output-dir, --log-file, --parsing-file\); earlier result files were left as they were$/,
  },
  {
    id: 'chart-io-error',
    fail: { path: '/out/llama70b_pareto\\.png\\.tmp-', code: 'EIO' },
    args: ({ out }) => [...SEARCH, '--output-dir', out],
    expect: /^cannot write .*\/out\/llama70b_pareto\.png: EIO \(input\/output error\)$/,
    fix: /^the device reported a failure/,
    // the CSV is this run's result, written before the chart; the earlier chart stays
    changes: ['changed out/llama70b_pareto.csv'],
  },
  {
    id: 'parsing-file-io-error',
    fail: { path: '/w/run\\.jsonl$', code: 'EIO' },
    args: ({ out, w }) => [...SEARCH, '--output-dir', out, '--parsing', '--parsing-file', join(w, 'run.jsonl')],
    expect: /^cannot write .*\/w\/run\.jsonl: EIO \(input\/output error\)$/,
    fix: /^the device reported a failure/,
    // the line file itself is opened (empty) before its first write fails
    changes: ['created w/run.jsonl'],
  },
  {
    id: 'log-file-io-error',
    fail: { path: '/w/run\\.log$', code: 'EIO' },
    args: ({ out, w }) => [...SEARCH, '--output-dir', out, '--log-file', join(w, 'run.log')],
    expect: /^cannot write .*\/w\/run\.log: EIO \(input\/output error\)$/,
    fix: /^the device reported a failure/,
    changes: ['created w/run.log'],
  },
  {
    id: 'log-file-is-the-csv',
    args: ({ out }) => [...SEARCH, '--output-dir', out, '--log-file', join(out, 'llama70b_pareto.csv')],
    expect: /^--log-file .*\/out\/llama70b_pareto\.csv is the same file as the results CSV \(.*\/out\/llama70b_pareto\.csv\)$/,
    fix: /^name another file for --log-file: every output needs a file of its own, and no input is written over$/,
  },
  {
    id: 'log-file-links-to-the-chart',
    args: ({ out, w }) => {
      symlinkSync(join(out, 'llama70b_pareto.png'), join(w, 'run.log'));
      return [...SEARCH, '--output-dir', out, '--log-file', join(w, 'run.log')];
    },
    expect: /^--log-file .*\/w\/run\.log is the same file as the chart \(.*\/out\/llama70b_pareto\.png\)$/,
    fix: /^name another file for --log-file/,
  },
  {
    id: 'parsing-file-is-the-log-file',
    args: ({ out, w }) => [...SEARCH, '--output-dir', out, '--log-file', join(w, 'run.txt'), '--parsing', '--parsing-file', join(w, 'run.txt')],
    expect: /^--parsing-file .*\/w\/run\.txt is the same file as --log-file \(.*\/w\/run\.txt\)$/,
    fix: /^name another file for --parsing-file/,
  },
  {
    id: 'parsing-file-is-a-profile',
    args: ({ root, out }) => {
      const prof = join(root, 'prof');
      mkdirSync(prof);
      for (const tp of [1, 2, 4, 8]) copyFileSync(join(REF_PROFILES, `llama70b_A40_${tp}.npz`), join(prof, `llama70b_A40_${tp}.npz`));
      // SEARCH without its --profile-dir (a flag given twice is an error)
      return [...SEARCH.slice(0, -2), '--profile-dir', prof, '--output-dir', out, '--parsing', '--parsing-file', join(prof, 'llama70b_A40_4.npz')];
    },
    expect: /^--parsing-file .*\/prof\/llama70b_A40_4\.npz is the same file as a profile \(.*\/prof\/llama70b_A40_4\.npz\)$/,
    fix: /^name another file for --parsing-file/,
  },
  {
    // Node 20's mkdirSync(…, { recursive: true }) loops forever under /proc: a hang fails the spawn's timeout
    id: 'output-dir-in-proc',
    args: () => [...SEARCH, '--output-dir', '/proc/fasop-no-such-folder'],
    expect: /^cannot create output directory \/proc\/fasop-no-such-folder: ENOENT \(\/proc accepts no new folders\)$/,
    fix: /^pass a folder on an ordinary file system with --output-dir$/,
  },
  {
    id: 'output-dir-in-sys',
    args: () => [...SEARCH, '--output-dir', '/sys/fasop-no-such-folder/out'],
    expect: /^cannot create output directory \/sys\/fasop-no-such-folder\/out: making \/sys\/fasop-no-such-folder failed with (EPERM \(operation not permitted\)|EACCES \(permission denied\))$/,
    fix: /^give this user write permission on \/sys, or pass a folder it may write to with --output-dir$/,
  },
  {
    id: 'output-dir-is-a-file',
    args: ({ out }) => [...SEARCH, '--output-dir', join(out, 'llama70b_pareto.csv')],
    expect: /^output directory .*\/out\/llama70b_pareto\.csv is a file, not a folder$/,
    fix: /^give a folder with --output-dir \(a missing one is created\)$/,
  },
  {
    id: 'output-dir-under-a-file',
    args: ({ out }) => [...SEARCH, '--output-dir', join(out, 'llama70b_pareto.csv', 'sub', 'dir')],
    expect: /^output directory .*\/out\/llama70b_pareto\.csv\/sub\/dir is not writable \(ENOTDIR\): .*\/out\/llama70b_pareto\.csv is a file, not a folder$/,
    fix: /^give a folder with --output-dir \(a missing one is created\)$/,
  },
  {
    id: 'log-file-is-an-earlier-csv',
    args: ({ out, w }) => {
      writeFileSync(join(w, OTHER_CSV), EARLIER_CSV);
      return [...SEARCH, '--output-dir', out, '--log-file', join(w, OTHER_CSV)];
    },
    expect: /^--log-file .*\/w\/llama8b_H100x1_gbs32\.csv is an existing file that is not a fasop log$/,
    fix: /^name a new file for --log-file, or remove .*\/w\/llama8b_H100x1_gbs32\.csv first: --log-file replaces only an earlier file of its own kind$/,
  },
  {
    id: 'parsing-file-is-an-earlier-csv',
    args: ({ out, w }) => {
      writeFileSync(join(w, OTHER_CSV), EARLIER_CSV);
      return [...SEARCH, '--output-dir', out, '--parsing', '--parsing-file', join(w, OTHER_CSV)];
    },
    expect: /^--parsing-file .*\/w\/llama8b_H100x1_gbs32\.csv is an existing file that is not a fasop --parsing JSONL$/,
    fix: /^name a new file for --parsing-file, or remove .*\/w\/llama8b_H100x1_gbs32\.csv first/,
  },
  {
    id: 'parsing-file-is-an-earlier-log',
    args: ({ out, w }) => {
      writeFileSync(join(w, 'run.log'), EARLIER_LOG);
      return [...SEARCH, '--output-dir', out, '--parsing', '--parsing-file', join(w, 'run.log')];
    },
    expect: /^--parsing-file .*\/w\/run\.log is an existing file that is not a fasop --parsing JSONL$/,
    fix: /^name a new file for --parsing-file/,
  },
];

/** Run the real launcher for a case: as nobody through setpriv (as root) and/or with the fault preload. */
function runCase(c: WriteCase, args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const node = [...(c.fail ? ['--import', FAIL_WRITES] : []), BIN, ...args];
  const env = { ...process.env, HOME: cwd, ...(c.fail ? { FASOP_FAIL_WRITE_PATH: c.fail.path, FASOP_FAIL_WRITE_CODE: c.fail.code } : {}) };
  const [cmd, argv] = c.unprivileged && asRoot
    ? ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, ...node]]
    : [process.execPath, node];
  const r = spawnSync(cmd, argv as string[], { cwd, env, encoding: 'utf8', timeout: 90_000 });
  if (r.error) throw r.error;
  return r;
}

for (const c of CASES) {
  test(`write errors: ${c.id} is one line naming the path and a fix, exit 2, earlier results intact`, { timeout: 120_000 }, () => {
    ensureBuilt();
    const wd = world();
    const args = c.args(wd);
    const before = snapshotTree(wd.root);
    const r = runCase(c, args, wd.w);
    assert.equal(r.status, 2, `exit status; stderr: ${r.stderr}`);
    const m = /^fasop: error: (.+) — fix: (.+)\n$/.exec(r.stderr);
    assert.ok(m, `one line 'fasop: error: … — fix: …' on stderr, got:\n${r.stderr}`);
    assert.match(m[1]!, c.expect);
    assert.match(m[2]!, c.fix);
    assert.doesNotMatch(r.stderr + r.stdout, /\n\s+at .+:\d+:\d+/, 'no stack trace');
    assert.deepEqual(diffTrees(before, snapshotTree(wd.root)), c.changes ?? [], 'what changed on disk');
    assert.equal(readFileSync(join(wd.out, 'llama70b_pareto.png'), 'utf8'), EARLIER_PNG, 'the earlier chart is intact');
    if (!c.changes?.includes('changed out/llama70b_pareto.csv')) assert.equal(readFileSync(join(wd.out, 'llama70b_pareto.csv'), 'utf8'), EARLIER_CSV, 'the earlier CSV is intact');
    else assert.match(readFileSync(join(wd.out, 'llama70b_pareto.csv'), 'utf8'), /^[a-z_]+,/, 'the CSV is this run\'s, whole');
    assert.ok(!existsSync(join(wd.out, 'llama70b_pareto.svg')), 'no chart half written');
  });
}

test('write errors: an earlier fasop log or JSONL named again is replaced; an empty file is taken as new', { timeout: 120_000 }, async () => {
  const dir = tmp('fasop-replace-');
  const log = join(dir, 'run.log');
  const jsonl = join(dir, 'run.jsonl');
  const empty = join(dir, 'empty.log');
  writeFileSync(log, `${EARLIER_LOG}an earlier log\n`);
  writeFileSync(jsonl, EARLIER_JSONL);
  writeFileSync(empty, '');
  const small = ['--gpus', 'A40', '2', '--profile-dir', REF_PROFILES, '--no-save-csv', '--output-dir', join(dir, 'out')];
  const r = await runCli([...small, '--log-file', log, '--parsing', '--parsing-file', jsonl], dir);
  assert.ok(r.code === 0 || r.code === 3, r.err);
  const logText = readFileSync(log, 'utf8');
  assert.ok(logText.startsWith(`[LOG] Output will be saved to: ${log}\n`), logText.slice(0, 200));
  assert.doesNotMatch(logText, /an earlier log/);
  const jsonlText = readFileSync(jsonl, 'utf8');
  assert.match(jsonlText, /^\{"type": "meta", "total_count": \d+, "gbs": 32, "cluster": \{"A40": 2\}\}\n/);
  assert.doesNotMatch(jsonlText, /"earlier"/);
  const r2 = await runCli([...small, '--log-file', empty], dir);
  assert.ok(r2.code === 0 || r2.code === 3, r2.err);
  assert.ok(readFileSync(empty, 'utf8').startsWith('[LOG] Output will be saved to: '));
});

test('write errors: an empty --output-dir, --log-file or --parsing-file is refused, never a fallback to the default', () => {
  for (const [flag, what] of [['--output-dir', 'a folder'], ['--log-file', 'a file'], ['--parsing-file', 'a file']] as const) {
    assert.throws(() => nonEmptyPath(flag, what)(''), (e: unknown) => isFasopError(e) && e.oneLine() === `fasop: error: ${flag} is empty — fix: give ${what}, or leave the flag out`);
    assert.equal(nonEmptyPath(flag, what)('x'), 'x');
  }
});

test('write errors: the CLI refuses an empty path flag with one line, exit 2, and writes nothing', { timeout: 120_000 }, async () => {
  for (const [args, flag, what] of [
    [['--output-dir', ''], '--output-dir', 'a folder'],
    [['--log-file', ''], '--log-file', 'a file'],
    [['--parsing', '--parsing-file', ''], '--parsing-file', 'a file'],
  ] as const) {
    const cwd = tmp('fasop-empty-');
    const r = await runCli(['--gpus', 'A40', '2', '--profile-dir', REF_PROFILES, ...args], cwd);
    assert.equal(r.code, 2, `${flag}: ${r.err}`);
    assert.equal(r.err, `fasop: error: ${flag} is empty — fix: give ${what}, or leave the flag out\n`);
    assert.deepEqual(readdirSync(cwd), [], `${flag}: nothing written (no main_logs/)`);
  }
});

test('write errors: docs/errors.md has a row for every case of this file', () => {
  const doc = readFileSync(join(REPO, 'docs', 'errors.md'), 'utf8');
  const ids = [...doc.matchAll(/^\| `([a-z][a-z0-9-]*)` \|.*\| write-errors\.test\.ts \|$/gm)].map((x) => x[1]!);
  assert.deepEqual(ids, CASES.map((c) => c.id));
});
