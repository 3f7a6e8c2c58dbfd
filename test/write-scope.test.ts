/**
 * fasop writes only into its output folder and the paths the user names: runs with HOME, TMPDIR
 * and the working directory in a sandbox, comparing the whole sandbox tree before and after
 * (the original deleted every file under $HOME/tmp and wrote under $PWD).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { BIN, ensureBuilt } from './helpers/build.js';
import { REF_PROFILES } from './helpers/cli.js';
import { diffTrees, snapshotTree } from './helpers/tree.js';

before(() => ensureBuilt());

function sandbox() {
  const root = mkdtempSync(join(tmpdir(), 'fasop-sandbox-'));
  const home = join(root, 'home');
  const work = join(root, 'work');
  const tmp = join(root, 'tmp');
  const profiles = join(root, 'profiles');
  for (const d of [join(home, 'tmp', 'keep'), work, tmp, profiles, join(root, 'named')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(home, 'tmp', 'precious.txt'), 'the original deleted this');
  writeFileSync(join(home, 'tmp', 'keep', 'nested.bin'), 'and this');
  writeFileSync(join(work, 'notes.txt'), 'unrelated file in the working directory');
  for (const tp of [1, 2, 4, 8]) symlinkSync(join(REF_PROFILES, `llama70b_A40_${tp}.npz`), join(profiles, `llama70b_A40_${tp}.npz`));
  const run = (args: string[], stdin?: string) => spawnSync(process.execPath, [BIN, ...args], {
    cwd: work,
    input: stdin,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, HOME: home, TMPDIR: tmp, TMP: tmp, TEMP: tmp, PWD: home },
  });
  return { root, home, work, tmp, profiles, run };
}

test('searches write only main_logs/, --output-dir and the named files; $HOME, $TMPDIR, profiles untouched', () => {
  const s = sandbox();
  const P = ['--profile-dir', s.profiles];
  const beforeRuns = snapshotTree(s.root);
  const runs: string[][] = [
    ['--gpus', 'A40', '2', ...P],
    ['--gpus', 'A40', '2', '--gbs', '16', '--verbose', '--parsing', ...P],
    ['--gpus', 'A40', '1', '--output-dir', 'out', '--parsing', ...P],
    // missing parents are made one at a time
    ['--gpus', 'A40', '1', '--output-dir', 'deep/er/out', ...P],
    ['--gpus', 'A40', '1', '--no-save-csv', '--parsing', '--parsing-file', join(s.root, 'named', 'r.jsonl'), '--log-file', join(s.root, 'named', 'r.log'), ...P],
    ['--gpus', 'A40', '2', 'A100', '1', '--substitute-profile', 'A100=A40', '--pareto', '--no-save-csv', ...P],
    ['--gpus', 'A40', '2', '--exhaustive', '--mbs', '1', '--tp', '1', '--dp', '1', '--pp', '8', ...P],
    ['profiles', ...P],
    ['--gpus', 'A40', '2', '--gbs', 'x', ...P],
  ];
  for (const args of runs) {
    const r = s.run(args);
    // 3: the search finished and no plan fits (llama70b on A40×1 or ×2 runs out of memory)
    assert.ok(args.includes('x') ? r.status === 2 : r.status === 0 || r.status === 3, `${args.join(' ')}: status ${r.status} ${r.stderr}`);
  }
  const diffs = diffTrees(beforeRuns, snapshotTree(s.root));
  const allowed = (d: string) => /^created work\/main_logs(\/llama70b_A40x2_gbs(32|16)\.csv|\/llama70b_A402_gbs16_\d{8}_\d{6}\.(jsonl|log))?$/.test(d)
    || /^created work\/out(\/llama70b_A40x1_gbs32\.csv|\/llama70b_A401_gbs32_\d{8}_\d{6}\.jsonl)?$/.test(d)
    || /^created named\/r\.(jsonl|log)$/.test(d)
    || /^created work\/deep(\/er(\/out(\/llama70b_A40x1_gbs32\.csv)?)?)?$/.test(d);
  assert.deepEqual(diffs.filter((d) => !allowed(d)), [], 'only the outputs appeared');
  for (const must of ['created work/main_logs/llama70b_A40x2_gbs32.csv', 'created work/out/llama70b_A40x1_gbs32.csv', 'created work/deep/er/out/llama70b_A40x1_gbs32.csv', 'created named/r.jsonl', 'created named/r.log']) {
    assert.ok(diffs.includes(must), `${must} (got ${diffs.join(', ')})`);
  }
});

test('a failing run (bad profile found late, unwritable output) creates and deletes nothing', () => {
  const s = sandbox();
  writeFileSync(join(s.root, 'bad-profiles.txt'), 'x');
  const beforeRuns = snapshotTree(s.root);
  for (const args of [
    ['--gpus', 'A40', '2', '--profile-dir', join(s.root, 'bad-profiles.txt')],
    ['--gpus', 'A40', '2', '--profile-dir', s.profiles, '--output-dir', join(s.root, 'bad-profiles.txt', 'out')],
    // an existing file as the output folder, and a folder that cannot be made (Node's recursive mkdir hangs under /proc)
    ['--gpus', 'A40', '2', '--profile-dir', s.profiles, '--output-dir', join(s.root, 'bad-profiles.txt')],
    ['--gpus', 'A40', '2', '--profile-dir', s.profiles, '--output-dir', '/proc/fasop-no-such-folder/out'],
    // an earlier file that is not a fasop log is not truncated by --log-file
    ['--gpus', 'A40', '2', '--profile-dir', s.profiles, '--log-file', join(s.work, 'notes.txt')],
    ['--gpus', 'A40', '2', '--profile-dir', s.profiles, '--parsing', '--parsing-file', join(s.root, 'no', 'such', 'dir', 'x.jsonl')],
    ['--gpus', 'A40', '2', '--profile-dir', s.profiles, '--exhaustive'],
    ['--gpus', 'A40', '200', '--gbs', '1', '--profile-dir', s.profiles, '--parsing', '--verbose'],
    ['--gpus', 'A40', '2', 'A100', '1', '--profile-dir', s.profiles],
  ]) {
    const r = s.run(args, 'not a terminal\n');
    assert.equal(r.status, 2, r.stderr);
  }
  assert.deepEqual(diffTrees(beforeRuns, snapshotTree(s.root)), []);
});
