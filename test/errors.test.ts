/**
 * Every user-caused error of `fasop search` / `fasop profiles` (docs/errors.md, one test per row):
 * exit status 2, exactly one stderr line `fasop: error: <problem> — fix: <hint>`, no stack trace,
 * nothing created, changed or deleted on disk (a previous CSV in main_logs/ stays byte-identical).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, ftruncateSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { BIN, ensureBuilt, REPO } from './helpers/build.js';
import { REF_PROFILES, runCli } from './helpers/cli.js';
import { npzBytes, refData, refProfileBytes } from './helpers/profiles.js';
import { diffTrees, snapshotTree } from './helpers/tree.js';
import type { NpyValue } from '../src/profiles/npy.js';
import { storedNpz, withDeclaredSize, withFlippedByte } from './helpers/zip.js';

/** A test world: cwd/ (with a previous CSV), fixtures/ (profiles, configs), all in one temp dir. */
const world = mkdtempSync(join(tmpdir(), 'fasop-errors-'));
const cwd = join(world, 'cwd');
const fx = join(world, 'fixtures');
const PREVIOUS_CSV = 'index,gbs\n0,32 (a previous run: must survive every error)\n';

function profDir(name: string, files: Record<string, Uint8Array | string>, tps: number[] = [1, 2, 8]): string {
  const dir = join(fx, name);
  mkdirSync(dir, { recursive: true });
  for (const tp of tps) writeFileSync(join(dir, `llama70b_A40_${tp}.npz`), refProfileBytes(tp));
  for (const [f, b] of Object.entries(files)) writeFileSync(join(dir, f), b);
  return dir;
}

const data4 = () => refData(4);
const f8 = (rows: number[][]): NpyValue => ({ dtype: 'f8', shape: [rows.length, rows[0]!.length], data: rows.flat() });
const withCell = (v: number) => { const d = data4(); d[2]![3] = v; return d; };

const json = (name: string, value: unknown) => {
  const p = join(fx, name);
  writeFileSync(p, typeof value === 'string' ? value : JSON.stringify(value));
  return p;
};

/** A special file (FIFO, link to a device) in the fixtures, made once. */
const special = (name: string, make: (p: string) => void) => {
  const p = join(fx, name);
  if (!existsSync(p)) make(p);
  return p;
};
const fifo = (name: string) => special(name, (p) => execFileSync('mkfifo', [p]));
const toDevZero = (name: string) => special(name, (p) => symlinkSync('/dev/zero', p));
const sparse = (name: string, bytes: number) => special(name, (p) => { const fd = openSync(p, 'w'); ftruncateSync(fd, bytes); closeSync(fd); });
/** The llama70b A40 TP4 profile with metadata arrays, stored as np.savez writes it. */
const tagged = (meta: Record<string, string | number>) => storedNpz({
  data: f8(data4()),
  ...Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, typeof v === 'number' ? { dtype: 'i8', shape: [], data: [v] } : { dtype: 'U', shape: [], data: [v] }])),
} as Record<string, NpyValue>);
/** A results CSV: the original's header and its first row of s1, with cells replaced. */
const HEADER = 'index,gbs,mbs,tp,dp,pp,node_type,gpu_cluster,partition,partition_layers,step_time(s),throughput(samples/s),price_per_step($),is_oom,oom_gpumem(GB),iterations,total_time(s),total_time(h),cost($),rank';
const ROW = ['0', '32', '1', '1', '1', '8', "\"['A40', 'A40']\"", 'A40:2', '"[82, 80, 82, 80, 82, 80, 82, 74]"', '', '6.8', '4.69', '0.12', 'False', '61.8', '322', '2195.7', '0.61', '39.7', '1'];
const csvWith = (name: string, cells: Record<number, string>) => json(name, `${HEADER}\n${ROW.map((c, i) => cells[i] ?? c).join(',')}\n`);

const LLAMA_CFG = { model_type: 'llama', hidden_size: 2048, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 8192, vocab_size: 128256, max_position_embeddings: 131072 };

interface Case { id: string; args: () => string[]; expect: RegExp; fix?: RegExp }

const P = () => ['--profile-dir', REF_PROFILES];
const G = ['--gpus', 'A40', '2'];

// The rows of docs/errors.md, in its order. `expect` matches the problem part of the message.
export const CASES: Case[] = [
  // cluster, catalog names
  { id: 'gpus-missing', args: () => [...P()], expect: /--gpus is required/ },
  { id: 'gpus-empty', args: () => ['--gpus', ...P()], expect: /--gpus is empty/ },
  { id: 'gpus-odd', args: () => ['--gpus', 'A40', ...P()], expect: /TYPE NODES pairs, got 1 token/ },
  { id: 'gpus-odd-3', args: () => ['--gpus', 'A40', '2', 'A100', ...P()], expect: /TYPE NODES pairs, got 3 token/ },
  { id: 'gpus-zero', args: () => ['--gpus', 'A40', '0', ...P()], expect: /node count for A40 must be a whole number >= 1, got '0'/ },
  { id: 'gpus-negative', args: () => ['--gpus', 'A40', '-1', ...P()], expect: /got '-1'/ },
  { id: 'gpus-fraction', args: () => ['--gpus', 'A40', '1.5', ...P()], expect: /got '1.5'/ },
  { id: 'gpus-word', args: () => ['--gpus', 'A40', 'two', ...P()], expect: /got 'two'/ },
  { id: 'gpus-count-first', args: () => ['--gpus', '4', 'A40', ...P()], expect: /expected a GPU type at position 1, got the number '4'/ },
  { id: 'gpus-duplicate', args: () => ['--gpus', 'A40', '2', 'a40', '2', ...P()], expect: /GPU type A40 is given twice/ },
  { id: 'gpu-unknown', args: () => ['--gpus', 'Z99', '2', ...P()], expect: /unknown GPU type 'Z99'/ },
  { id: 'gpus-too-many-nodes', args: () => ['--gpus', 'A40', '100001', ...P()], expect: /100001 nodes; fasop searches at most 100000/ },
  { id: 'search-too-large', args: () => ['--gpus', 'A40', '6000', 'A100', '1', ...P()], expect: /the search is too large/ },
  { id: 'model-unknown', args: () => [...G, '--model-type', 'gpt5', ...P()], expect: /unknown model 'gpt5'/ },
  { id: 'dataset-unknown', args: () => [...G, '--dataset', 'wiki', ...P()], expect: /unknown dataset 'wiki'/ },
  { id: 'gpu-inherited-proto', args: () => ['--gpus', '__proto__', '1', ...P()], expect: /unknown GPU type '__proto__'/ },
  { id: 'gpu-inherited-constructor', args: () => ['--gpus', 'constructor', '1', ...P()], expect: /unknown GPU type 'constructor'/ },
  { id: 'dataset-inherited', args: () => [...G, '--dataset', 'constructor', ...P()], expect: /unknown dataset 'constructor'/ },
  { id: 'model-inherited', args: () => [...G, '--model-type', 'toString', ...P()], expect: /unknown model 'toString'/ },
  { id: 'substitute-inherited', args: () => ['--gpus', 'A40', '2', 'A100', '1', '--substitute-profile', 'A100=__proto__', ...P()], expect: /unknown GPU type '__proto__'/ },
  { id: 'catalog-formula-name', args: () => [...G, '--catalog', json('cat-formula.json', { gpus: { "=cmd|'-C calc'!A0": {} } }), ...P()], expect: /cat-formula\.json is invalid: .*GPU type names must start with a letter or digit/ },
  // batch sizes and degrees
  { id: 'gbs-zero', args: () => [...G, '--gbs', '0', ...P()], expect: /--gbs must be a whole number from 1 to 65536, got '0'/ },
  { id: 'gbs-word', args: () => [...G, '--gbs', 'abc', ...P()], expect: /--gbs must be a whole number .* got 'abc'/ },
  { id: 'gbs-fraction', args: () => [...G, '--gbs', '32.5', ...P()], expect: /got '32.5'/ },
  { id: 'gbs-too-large', args: () => [...G, '--gbs', '65537', ...P()], expect: /got '65537'/ },
  { id: 'gbs-above-dataset', args: () => [...G, '--gbs', '16384', '--dataset', 'squad', ...P()], expect: /--gbs 16384 is larger than dataset squad \(10334 samples\)/ },
  { id: 'pareto-gbs-max-zero', args: () => [...G, '--pareto-gbs-max', '0', ...P()], expect: /--pareto-gbs-max must be a whole number/ },
  { id: 'pareto-gbs-max-above-dataset', args: () => [...G, '--pareto-gbs-max', '16384', ...P()], expect: /--pareto-gbs-max 16384 is larger than dataset squad/ },
  { id: 'no-plan-fits', args: () => ['--gpus', 'A40', '200', '--gbs', '1', ...P()], expect: /no plan fits: A40:200 × 4 GPUs per node with gbs 1/ },
  { id: 'gpn-zero', args: () => [...G, '--gpu-per-node', '0', ...P()], expect: /--gpu-per-node must be a whole number from 1 to 64, got '0'/ },
  { id: 'gpn-too-large', args: () => [...G, '--gpu-per-node', '65', ...P()], expect: /got '65'/ },
  { id: 'gpn-word', args: () => [...G, '--gpu-per-node', 'eight', ...P()], expect: /got 'eight'/ },
  { id: 'gpn-no-profiled-tp', args: () => [...G, '--gpu-per-node', '3', '--profile-dir', profDir('tp248', {}, [2, 4, 8])], expect: /no plan fits: A40:2 × 3 GPUs per node .* profiled TPs \(2, 4, 8\)/ },
  { id: 'precision-bad', args: () => [...G, '--precision', '8', ...P()], expect: /--precision must be 16 or 32, got 8/ },
  { id: 'method-unknown', args: () => [...G, '--pp-partition-method', 'greedy', ...P()], expect: /argument 'greedy' is invalid\. Allowed choices are/ },
  { id: 'bruteforce-beyond-reach', args: () => [...G, '--pp-partition-method', 'bruteforce', '--parsing', '--verbose', ...P()], expect: /--pp-partition-method bruteforce would enumerate C\(79, 7\) ≈ 2\.90e\+9 partitions of 80 decoder layers for pp 8, more than its limit of 2000000/, fix: /dp .* or fewer GPUs \(5 stages at most here\)/ },
  { id: 'dp-original-beyond-reach', args: () => [...G, '--estimator', 'reference', '--pp-partition-method', 'dp-original', '--parsing', ...P()], expect: /dp-original on 642 graph operators and pp 8 needs ~2\.1e\+9 steps/ },
  { id: 'plain-with-technique', args: () => [...G, '--plain', '--recompute', 'full', ...P()], expect: /--plain searches the plain DP × TP × PP space; it cannot be combined with --recompute/ },
  { id: 'list-oom-no-csv', args: () => [...G, '--list-oom', '--no-save-csv', ...P()], expect: /--list-oom writes an _oom\.csv beside the results CSV, which --no-save-csv turns off/ },
  { id: 'each-execution-reference', args: () => [...G, '--each-execution', '--estimator', 'reference', ...P()], expect: /--each-execution shapes the corrected estimator's search/ },
  { id: 'flag-unknown', args: () => [...G, '--gpu-per-nodes', '4', ...P()], expect: /unknown option '--gpu-per-nodes'/ },
  { id: 'flag-value-missing', args: () => [...G, ...P(), '--gbs'], expect: /option '--gbs <n>' argument missing/ },
  { id: 'exhaustive-not-tty', args: () => [...G, '--exhaustive', ...P()], expect: /--exhaustive needs --mbs, --tp, --dp, --pp when stdin is not a terminal/ },
  { id: 'exhaustive-bad-plan', args: () => [...G, '--exhaustive', '--mbs', '1', '--tp', '3', '--dp', '1', '--pp', '8', ...P()], expect: /plan tp=3 dp=1 pp=8 mbs=1 gbs=32 is not a plan of this cluster: tp·dp·pp = 24 but the cluster has 8 GPUs/ },
  // profiles
  { id: 'profile-gpu-missing', args: () => ['--gpus', 'A100', '2', ...P()], expect: /no profile for model llama70b on GPU A100 in .* \(looked for llama70b_A100_\{tp\}\.npz\)/ },
  { id: 'profile-model-missing', args: () => [...G, '--model-type', 'llama1b', ...P()], expect: /no profile for model llama1b on GPU A40 .*llama1b_A40_\{tp\}\.npz/ },
  { id: 'profile-hetero-missing', args: () => ['--gpus', 'A40', '2', 'A100', '1', ...P()], expect: /no profile for model llama70b on GPU A100/ },
  { id: 'substitute-malformed', args: () => ['--gpus', 'A40', '2', 'A100', '1', '--substitute-profile', 'A100:A40', ...P()], expect: /--substitute-profile must be GPU=OTHER, got 'A100:A40'/ },
  { id: 'substitute-not-in-gpus', args: () => [...G, '--substitute-profile', 'A100=A40', ...P()], expect: /A100 is not in --gpus/ },
  { id: 'substitute-self', args: () => [...G, '--substitute-profile', 'A40=A40', ...P()], expect: /cannot substitute itself/ },
  { id: 'substitute-unprofiled', args: () => ['--gpus', 'A40', '2', 'A100', '1', '--substitute-profile', 'A100=A10', ...P()], expect: /no profile for model llama70b on GPU A10 \(substitute for A100\)/ },
  // A40 has per-model files only (the original's), no operator profile: a substitute from them prices sequence 1024 and no CP
  { id: 'substitute-file-seq', args: () => ['--gpus', 'A100', '1', '--substitute-profile', 'A100=A40', '--profile-dir', REF_PROFILES, '--model-type', 'llama70b', '--seq-length', '2048'], expect: /--substitute-profile A100=A40: profile .*llama70b_A40_1\.npz is at sequence length 1024, the request at 2048/ },
  { id: 'substitute-file-cp', args: () => ['--gpus', 'A100', '1', '--substitute-profile', 'A100=A40', '--profile-dir', REF_PROFILES, '--model-type', 'llama70b', '--cp', '2'], expect: /--substitute-profile A100=A40: context parallelism 2 cannot be priced from .*llama70b_A40_1\.npz, which times whole sequences/ },
  { id: 'profile-dir-missing', args: () => [...G, '--profile-dir', join(fx, 'no-such-dir')], expect: /profile directory .*no-such-dir does not exist or is not a directory \(ENOENT\)/ },
  { id: 'profile-dir-is-file', args: () => [...G, '--profile-dir', json('plain-file.txt', 'x')], expect: /plain-file\.txt does not exist or is not a directory \(ENOTDIR\)/ },
  { id: 'profile-dir-empty', args: () => [...G, '--profile-dir', profDir('empty', {}, [])], expect: /no profile for model llama70b on GPU A40/ },
  { id: 'profile-bad-name', args: () => [...G, '--profile-dir', profDir('badname', { 'llama70b-A40.npz': refProfileBytes(4) })], expect: /llama70b-A40\.npz: the name does not have the form/ },
  { id: 'profile-empty', args: () => [...G, '--profile-dir', profDir('empty4', { 'llama70b_A40_4.npz': new Uint8Array() })], expect: /llama70b_A40_4\.npz: the file is empty/ },
  { id: 'profile-truncated', args: () => [...G, '--profile-dir', profDir('trunc4', { 'llama70b_A40_4.npz': refProfileBytes(4).subarray(0, refProfileBytes(4).length >> 1) })], expect: /llama70b_A40_4\.npz: not a readable \.npz/ },
  { id: 'profile-not-npz', args: () => [...G, '--profile-dir', profDir('text4', { 'llama70b_A40_4.npz': 'this is not a zip file\n' })], expect: /llama70b_A40_4\.npz: not a readable \.npz/ },
  { id: 'profile-no-data', args: () => [...G, '--profile-dir', profDir('nodata4', { 'llama70b_A40_4.npz': npzBytes({ other: f8(data4()) }) })], expect: /llama70b_A40_4\.npz: no array 'data' \(found: other\)/ },
  { id: 'profile-wrong-dtype', args: () => [...G, '--profile-dir', profDir('dtype4', { 'llama70b_A40_4.npz': npzBytes({ data: { dtype: 'U', shape: [2, 10], data: Array(20).fill('1.0') } }) })], expect: /array 'data' has dtype <U3, expected a float array/ },
  { id: 'profile-wrong-shape', args: () => [...G, '--profile-dir', profDir('shape4', { 'llama70b_A40_4.npz': npzBytes({ data: f8(data4().map((r) => r.slice(0, 9))) }) })], expect: /array 'data' has shape \(4, 9\), expected \(rows, 10\)/ },
  { id: 'profile-1d', args: () => [...G, '--profile-dir', profDir('vec4', { 'llama70b_A40_4.npz': npzBytes({ data: { dtype: 'f8', shape: [10], data: data4()[0]! } }) })], expect: /array 'data' has shape \(10\), expected \(rows, 10\)/ },
  { id: 'profile-no-rows', args: () => [...G, '--profile-dir', profDir('rows4', { 'llama70b_A40_4.npz': npzBytes({ data: { dtype: 'f8', shape: [0, 10], data: [] } }) })], expect: /array 'data' has no rows/ },
  { id: 'profile-nan', args: () => [...G, '--profile-dir', profDir('nan4', { 'llama70b_A40_4.npz': npzBytes({ data: f8(withCell(NaN)) }) })], expect: /array 'data' row 2 column 3 is NaN \(costs must be finite and >= 0\)/ },
  { id: 'profile-negative', args: () => [...G, '--profile-dir', profDir('neg4', { 'llama70b_A40_4.npz': npzBytes({ data: f8(withCell(-0.5)) }) })], expect: /row 2 column 3 is -0\.5/ },
  { id: 'profile-infinite', args: () => [...G, '--profile-dir', profDir('inf4', { 'llama70b_A40_4.npz': npzBytes({ data: f8(withCell(Infinity)) }) })], expect: /row 2 column 3 is Infinity/ },
  { id: 'profile-mbs-bad', args: () => [...G, '--profile-dir', profDir('mbs4', { 'llama70b_A40_4.npz': npzBytes({ data: f8(data4()), mbs: { dtype: 'i8', shape: [4], data: [1, 4, 2, 8] } }) })], expect: /array 'mbs' must hold increasing positive integers, got \[1, 4, 2, 8\]/ },
  { id: 'profile-fifo', args: () => [...G, '--profile-dir', profDir('fifo4', {}, [1, 2, 8]) && (fifo(join('fifo4', 'llama70b_A40_4.npz')), join(fx, 'fifo4'))], expect: /cannot read profile .*fifo4\/llama70b_A40_4\.npz: ENOTREG \(not a regular file/ },
  { id: 'profile-dev-zero', args: () => [...G, '--profile-dir', profDir('zero4', {}, [1, 2, 8]) && (toDevZero(join('zero4', 'llama70b_A40_4.npz')), join(fx, 'zero4'))], expect: /cannot read profile .*zero4\/llama70b_A40_4\.npz: ENOTREG/ },
  { id: 'profile-too-large', args: () => [...G, '--profile-dir', profDir('big4', {}, [1, 2, 8]) && (sparse(join('big4', 'llama70b_A40_4.npz'), 65 * 1024 * 1024), join(fx, 'big4'))], expect: /cannot read profile .*big4\/llama70b_A40_4\.npz: EFBIG \(68157440 bytes, more than the limit of 67108864\)/ },
  { id: 'profile-crc', args: () => [...G, '--profile-dir', profDir('crc4', { 'llama70b_A40_4.npz': withFlippedByte(storedNpz({ data: f8(data4()) }), 'data.npy', 200) })], expect: /member 'data\.npy' fails its CRC-32 check/ },
  { id: 'profile-member-too-large', args: () => [...G, '--profile-dir', profDir('bomb4', { 'llama70b_A40_4.npz': withDeclaredSize(npzBytes({ data: f8(data4()) }), 'data.npy', 200_000_000) })], expect: /member 'data\.npy' would inflate to 200000000 bytes, more than the limit of 16777216/ },
  { id: 'profile-member-lies', args: () => [...G, '--profile-dir', profDir('lie4', { 'llama70b_A40_4.npz': withDeclaredSize(npzBytes({ data: f8(data4()) }), 'data.npy', 100) })], expect: /member 'data\.npy' inflates to more than its declared 100 bytes/ },
  { id: 'profile-huge-value', args: () => [...G, '--profile-dir', profDir('huge4', { 'llama70b_A40_4.npz': npzBytes({ data: f8(withCell(1e308)) }) })], expect: /row 2 column 3 is 1e\+308 ms, more than a day/ },
  { id: 'profile-gpu-mismatch', args: () => [...G, '--profile-dir', profDir('gpu4', { 'llama70b_A40_4.npz': tagged({ gpu: 'H200', tp: 4 }) })], expect: /the file name says gpu A40 but its 'gpu' array says "H200"/ },
  { id: 'profile-model-mismatch', args: () => [...G, '--profile-dir', profDir('model4', { 'llama70b_A40_4.npz': tagged({ model: 'llama8b' }) })], expect: /the file name says model llama70b but its 'model' array says "llama8b"/ },
  { id: 'profile-seq-mismatch', args: () => [...G, '--profile-dir', profDir('seq4', { 'llama70b_A40_4.npz': tagged({ seq_length: 4096 }) })], expect: /was measured with seq_length 4096, but model llama70b has seq_length 1024/ },
  { id: 'profile-dims-mismatch', args: () => [...G, '--profile-dir', profDir('dims4', { 'llama70b_A40_4.npz': tagged({ hidden_size: 4096 }) })], expect: /was measured with hidden_size 4096, but model llama70b has hidden_size 8192/ },
  { id: 'profile-name-case', args: () => [...G, '--profile-dir', profDir('case', { 'llama70b_a40_1.npz': refProfileBytes(1), 'llama70b_a40_2.npz': refProfileBytes(2) }, [])], expect: /profile file .*llama70b_a40_1\.npz is named for llama70b on a40, not llama70b on A40 \(names are case-sensitive\)/ },
  { id: 'profile-name-leading-zero', args: () => [...G, '--profile-dir', profDir('zero-tp', { 'llama70b_A40_08.npz': refProfileBytes(8) })], expect: /llama70b_A40_08\.npz: the name does not have the form/ },
  { id: 'profile-tp-mismatch', args: () => [...G, '--profile-dir', profDir('tp4', { 'llama70b_A40_4.npz': npzBytes({ data: f8(data4()), tp: { dtype: 'i8', shape: [], data: [2] } }) })], expect: /the file name says TP 4 but its 'tp' array says 2/ },
  // model configs and catalogs
  { id: 'model-config-missing', args: () => [...G, '--model-config', join(fx, 'nope.json'), ...P()], expect: /cannot read model config .*nope\.json: ENOENT/ },
  { id: 'model-config-not-json', args: () => [...G, '--model-config', json('broken.json', '{"model_type": "llama",'), ...P()], expect: /model config .*broken\.json is not valid JSON/ },
  { id: 'model-config-not-object', args: () => [...G, '--model-config', json('array.json', [1, 2]), ...P()], expect: /array\.json is not a JSON object/ },
  { id: 'model-config-unsupported', args: () => [...G, '--model-config', json('bert.json', { model_type: 'bert', hidden_size: 768 }), ...P()], expect: /unsupported model_type 'bert'/ },
  { id: 'model-config-moe', args: () => [...G, '--model-config', json('mixtral.json', { ...LLAMA_CFG, model_type: 'mixtral', num_local_experts: 8 }), ...P()], expect: /mixture-of-experts models \('mixtral', num_local_experts\) are not supported/ },
  { id: 'model-config-field', args: () => [...G, '--model-config', json('nolayers.json', { ...LLAMA_CFG, num_hidden_layers: undefined }), ...P()], expect: /field 'num_hidden_layers' is missing or not a positive integer/ },
  { id: 'model-config-heads', args: () => [...G, '--model-config', json('heads.json', { ...LLAMA_CFG, num_key_value_heads: 7 }), ...P()], expect: /num_attention_heads must be a multiple of num_key_value_heads/ },
  { id: 'model-config-no-profile', args: () => [...G, '--model-config', json('tiny.json', LLAMA_CFG), ...P()], expect: /no profile for model llama-16L-2048h on GPU A40 .*no operator profile/ },
  { id: 'model-config-type-object', args: () => [...G, '--model-config', json('type-obj.json', { ...LLAMA_CFG, model_type: { toString: 1 } }), ...P()], expect: /field 'model_type' must be a string, got \{"toString":1\}/ },
  { id: 'model-config-tie-string', args: () => [...G, '--model-config', json('tie.json', { ...LLAMA_CFG, tie_word_embeddings: 'true' }), ...P()], expect: /field 'tie_word_embeddings' must be true or false, got "true"/ },
  { id: 'model-config-heads-hidden', args: () => [...G, '--model-config', json('heads-hidden.json', { ...LLAMA_CFG, hidden_size: 2050, num_attention_heads: 32, num_key_value_heads: 8 }), ...P()], expect: /hidden_size must be a multiple of num_attention_heads/ },
  { id: 'model-config-too-many-layers', args: () => [...G, '--model-config', json('deep.json', { ...LLAMA_CFG, num_hidden_layers: 10_000_000 }), ...P()], expect: /num_layers must be at most 1024/ },
  { id: 'model-config-fifo', args: () => [...G, '--model-config', fifo('config-fifo.json'), ...P()], expect: /cannot read model config .*config-fifo\.json: ENOTREG/ },
  { id: 'catalog-dev-zero', args: () => [...G, '--catalog', toDevZero('cat-zero.json'), ...P()], expect: /cannot read catalog file .*cat-zero\.json: ENOTREG/ },
  { id: 'seq-length-bad', args: () => [...G, '--model-config', json('tiny2.json', LLAMA_CFG), '--seq-length', 'long', ...P()], expect: /--seq-length must be a whole number >= 1, got 'long'/, fix: /pass e\.g\. --seq-length 4096$/ },
  { id: 'cp-zero', args: () => [...G, '--cp', '0', ...P()], expect: /--cp must be a whole number from 1 to 1024, got '0'/, fix: /pass e\.g\. --cp 2$/ },
  { id: 'seq-length-beyond-positions', args: () => [...G, '--model-type', 'llama70b', '--seq-length', '200000', ...P()], expect: /model llama70b: sequence length 200000 is beyond the model's 131072 positions/ },
  { id: 'seq-length-beyond-config-positions', args: () => [...G, '--model-config', json('short.json', { ...LLAMA_CFG, max_position_embeddings: 4096 }), '--seq-length', '8192', ...P()], expect: /short\.json: sequence length 8192 is beyond the model's 4096 positions/ },
  { id: 'seq-length-beyond-grid', args: () => ['--gpus', 'H200', '1', '--model-config', json('long.json', { ...LLAMA_CFG, max_position_embeddings: 1048576 }), '--seq-length', '262144'], expect: /sequence length 262144 is beyond the reach of operator profile .*ops_H200\.json \(attention measured up to 32768, priced up to 4x that: 131072\)/ },
  { id: 'catalog-missing', args: () => [...G, '--catalog', join(fx, 'none.json'), ...P()], expect: /cannot read catalog file .*none\.json: ENOENT/ },
  { id: 'catalog-not-json', args: () => [...G, '--catalog', json('cat-broken.json', '{gpus: {}}'), ...P()], expect: /catalog file .*cat-broken\.json is not valid JSON/ },
  { id: 'catalog-invalid', args: () => [...G, '--catalog', json('cat-neg.json', { gpus: { X1: { memory_GB: -1 } } }), ...P()], expect: /catalog file .*cat-neg\.json is invalid: .*memory_GB must be > 0/ },
  { id: 'catalog-unknown-key', args: () => [...G, '--catalog', json('cat-key.json', { gpu: {} }), ...P()], expect: /cat-key\.json is invalid: .*Unrecognized key.*"gpu"/ },
  { id: 'host-profile-missing', args: () => [...G, '--recipe', 'bf16-adamw', '--host-profile', join(fx, 'none.json'), ...P()], expect: /cannot read host profile .*none\.json \(ENOENT\)/ },
  { id: 'host-profile-not-json', args: () => [...G, '--recipe', 'bf16-adamw', '--host-profile', json('host-broken.json', '{"entries": '), ...P()], expect: /host profile .*host-broken\.json is not valid JSON/ },
  { id: 'host-launch-us-no-speed', args: () => [...G, '--recipe', 'bf16-adamw', '--host-launch-us', '6.2', ...P()], expect: /the CPU issue figures of recipe bf16-adamw \(.*\) were measured without a host speed, so they cannot be scaled to another host/ },
  { id: 'host-launch-us-bad', args: () => [...G, '--recipe', 'bf16-adamw', '--host-launch-us', 'fast', ...P()], expect: /--host-launch-us must be a positive number of microseconds, got 'fast'/ },
  { id: 'dtensor-profile-broken', args: () => [...G, '--recipe', 'bf16-adamw-graph-dtensor', '--profile-dir', join(profDir('dtp/graph', { 'dtensor_tp_A40.json': '{"entries": 3}' }), '..')], expect: /DTensor TP profile .*dtensor_tp_A40\.json has no "entries" object/ },
  { id: 'host-profile-no-dtensor', args: () => [...G, '--recipe', 'bf16-adamw-dtensor', '--host-profile', json('host-megatron.json', { entries: { 'llama1b tp1 procs1': { forwardPerLayer_ms: 1, backwardPerLayer_ms: 2, forwardFixed_ms: 1, backwardFixed_ms: 1 }, 'llama1b tp2 procs2': { forwardPerLayer_ms: 1, backwardPerLayer_ms: 2, forwardFixed_ms: 1, backwardFixed_ms: 1 } } }), ...P()], expect: /host profile .*host-megatron\.json has no DTensor tp > 1 entry/ },
  { id: 'host-profile-eager-only', args: () => [...G, '--recipe', 'megatron-mixed-graph', '--host-profile', json('host-ok.json', { entries: { 'llama1b tp1 procs1': { forwardPerLayer_ms: 1, backwardPerLayer_ms: 2, forwardFixed_ms: 1, backwardFixed_ms: 1 } } }), ...P()], expect: /--host-profile applies to recipes whose runtime issues kernels one by one; recipe megatron-mixed-graph has no CPU issue term/ },
  // outputs
  { id: 'only-make-pareto-columns', args: () => ['--only-make-pareto', json('old.csv', 'index,gbs,mbs,tp,dp,pp,is_oom\n0,32,1,1,1,8,False\n')], expect: /old\.csv lacks the columns throughput\(samples\/s\), cost\(\$\), total_time\(s\)/ },
  { id: 'csv-long-cell', args: () => ['--only-make-pareto', csvWith('long.csv', { 8: `"[${'1'.repeat(200_000)} x]"` })], expect: /long\.csv, line 2: column partition holds "1{60}"… \(200002 characters\), not a whole number$/ },
  { id: 'csv-negative-cost', args: () => ['--only-make-pareto', csvWith('neg.csv', { 18: '-39.7' })], expect: /neg\.csv, line 2: column cost\(\$\) is "-39\.7": times, costs and rates cannot be negative/ },
  { id: 'csv-huge-tp', args: () => ['--only-make-pareto', csvWith('tp.csv', { 3: '1e20' })], expect: /tp\.csv, line 2: column tp is "1e20", outside 1 … 2147483647/ },
  { id: 'csv-fifo', args: () => ['--only-make-pareto', fifo('results-fifo.csv')], expect: /cannot read CSV file .*results-fifo\.csv \(ENOTREG/ },
  { id: 'export-unknown-gpu', args: () => ['export', '--csv', csvWith('z99.csv', { 6: "\"['H100', 'Z99']\"" }), ...P()], expect: /the plan's placement names GPU type 'H100', which is not in the catalog|GPU type 'Z99', which is not in the catalog/ },
  { id: 'export-inherited-cluster', args: () => ['export', '--csv', csvWith('proto.csv', { 7: '__proto__:2' }), ...P()], expect: /unknown GPU type '__proto__'/ },
  { id: 'pareto-title-escape', args: () => [...G, '--pareto', '--make-pareto', '--pareto-title', '../../escaped', ...P()], expect: /--pareto-title "\.\.\/\.\.\/escaped" contains a path separator/ },
  { id: 'pareto-title-subfolder', args: () => [...G, '--pareto', '--make-pareto', '--pareto-title', 'nodir/x', ...P()], expect: /--pareto-title "nodir\/x" contains a path separator/ },
  { id: 'exp-name-escape', args: () => [...G, '--add-exp-name', '/../../x', ...P()], expect: /--add-exp-name "\/\.\.\/\.\.\/x" contains a path separator/ },
  { id: 'exp-name-subfolder', args: () => [...G, '--add-exp-name', '/sub/x', '--log-file', join(fx, 'run.log'), ...P()], expect: /--add-exp-name "\/sub\/x" contains a path separator/ },
  { id: 'parsing-file-disk-full', args: () => [...G, '--parsing', '--parsing-file', '/dev/full', ...P()], expect: /cannot write \/dev\/full: ENOSPC \(no space left on the device\)/ },
  { id: 'log-file-disk-full', args: () => [...G, '--log-file', '/dev/full', ...P()], expect: /cannot write \/dev\/full: ENOSPC \(no space left on the device\)/ },
  { id: 'log-file-fifo', args: () => [...G, '--log-file', fifo('log-fifo'), ...P()], expect: /cannot write .*log-fifo: it is a FIFO/ },
  { id: 'model-type-with-config', args: () => [...G, '--model-type', 'llama8b', '--model-config', json('tiny3.json', LLAMA_CFG), ...P()], expect: /--model-type and --model-config both name the model/ },
  { id: 'degrees-without-exhaustive', args: () => [...G, '--mbs', '2', ...P()], expect: /--mbs chooses the one plan of --exhaustive; a full search tries every degree/ },
  { id: 'exhaustive-with-pareto', args: () => [...G, '--exhaustive', '--pareto', '--mbs', '1', '--tp', '1', '--dp', '1', '--pp', '8', ...P()], expect: /--exhaustive prints one plan and writes no file; --pareto would do nothing/ },
  { id: 'make-pareto-without-pareto', args: () => [...G, '--make-pareto', ...P()], expect: /--make-pareto draws the chart of a --pareto search/ },
  { id: 'make-pareto-no-csv', args: () => [...G, '--pareto', '--make-pareto', '--no-save-csv', ...P()], expect: /--make-pareto draws the chart from the results CSV, which --no-save-csv turns off/ },
  { id: 'pareto-title-without-chart', args: () => [...G, '--pareto-title', 'mine', ...P()], expect: /--pareto-title names the chart of --make-pareto or --only-make-pareto/ },
  { id: 'only-make-pareto-with-search-flags', args: () => ['--only-make-pareto', json('some.csv', 'x'), '--gpus', 'A40', '2', '--gbs', '64'], expect: /--only-make-pareto draws the chart of an existing CSV; --gpus, --gbs would do nothing with it/ },
  { id: 'export-allow-oom-without-best', args: () => ['export', '--tp', '1', '--dp', '1', '--pp', '8', '--mbs', '1', '--allow-oom', ...G, ...P()], expect: /--allow-oom applies only to --best/ },
  { id: 'output-dir-unwritable', args: () => [...G, '--output-dir', join(json('a-file', 'x'), 'out'), ...P()], expect: /output directory .*a-file\/out is not writable \(ENOTDIR\)/ },
  { id: 'parsing-file-folder-missing', args: () => [...G, '--parsing', '--parsing-file', join(fx, 'missing-folder', 'run.jsonl'), ...P()], expect: /output folder .*missing-folder does not exist/ },
  { id: 'log-file-folder-missing', args: () => [...G, '--log-file', join(fx, 'missing-folder', 'run.log'), ...P()], expect: /output folder .*missing-folder does not exist/ },
  { id: 'parsing-file-without-parsing', args: () => [...G, '--parsing-file', 'run.jsonl', ...P()], expect: /--parsing-file requires --parsing/ },
  // flags that would do nothing or keep one value of several
  { id: 'flag-repeated', args: () => [...G, '--gbs', '32', '--gbs', '64', ...P()], expect: /--gbs is given 2 times \(32, 64\); only one would count/ },
  { id: 'gbs-with-sweep', args: () => [...G, '--pareto', '--pareto-gbs-max', '8', '--gbs', '64', ...P()], expect: /--pareto-gbs-max sweeps gbs 1, 2, 4, … in place of --gbs/ },
  { id: 'exhaustive-original-names', args: () => [...G, '--exhaustive', '--mbs', '1', '--tp', '1', '--dp', '8', '--pp', '1', '--original-names', ...P()], expect: /--exhaustive prints one plan and writes no file; --original-names would do nothing/ },
  { id: 'recompute-layers-above-model', args: () => [...G, '--recompute', 'full', '--recompute-layers', '81', ...P()], expect: /--recompute-layers 81 is more than the model's 80 decoder layers/ },
  { id: 'virtual-stages-no-divisor', args: () => [...G, '--virtual-stages', '3', ...P()], expect: /--virtual-stages 3: interleaving v virtual stages needs the model's 80 layers divisible by pp·v/ },
  { id: 'virtual-stages-one-no-divisor', args: () => [...G, '--virtual-stages', '2,3', ...P()], expect: /--virtual-stages 3: interleaving v virtual stages needs the model's 80 layers divisible by pp·v/ },
  { id: 'epochs-bad', args: () => [...G, '--epochs', '2e7', ...P()], expect: /--epochs must be a number above 0 and at most 1000000/ },
  { id: 'gbs-above-epochs', args: () => [...G, '--epochs', '0.001', '--gbs', '64', ...P()], expect: /--gbs 64 is larger than the training budget \(dataset squad's 10334 samples × --epochs 0\.001 = 10\)/, fix: /more --epochs/ },
  { id: 'catalog-limit-above-memory', args: () => [...G, '--catalog', json('cat-limit.json', { gpus: { X2: { ...JSON.parse(readFileSync(join(REPO, 'src', 'catalog', 'data', 'gpus.json'), 'utf8')).gpus.A40, memoryLimit_GiB: 200 } } }), ...P()], expect: /cat-limit\.json is invalid: .*memoryLimit_GiB .* must be at most the GPU's memory_GB/ },
  { id: 'gpus-with-profiles', args: () => ['profiles', '--gpus', 'A40', '--profile-dir', REF_PROFILES], expect: /--gpus does nothing with 'fasop profiles'/, fix: /--gpu TYPE/ },
  { id: 'gpus-with-validate', args: () => ['validate', fx, '--gpus', 'A40', '2'], expect: /--gpus does nothing with 'fasop validate'/ },
  // fasop profiles
  { id: 'profiles-dir-missing', args: () => ['profiles', '--profile-dir', join(fx, 'no-such-dir')], expect: /profile directory .*no-such-dir does not exist/ },
  { id: 'profiles-none-match', args: () => ['profiles', '--profile-dir', REF_PROFILES, '--gpu', 'H100'], expect: /no profile files on GPU H100 in / },
];

const ONE_LINE = /^fasop: error: (.+) — fix: (.+)$/;

function previousOutputs(): void {
  mkdirSync(join(cwd, 'main_logs'), { recursive: true });
  for (const name of ['llama70b.csv', 'llama70b_heterogeneous.csv', 'tiny.csv']) writeFileSync(join(cwd, 'main_logs', name), PREVIOUS_CSV);
}

describe('user errors: one line, exit 2, nothing written', () => {
  before(() => {
    mkdirSync(fx, { recursive: true });
    previousOutputs();
  });

  for (const c of CASES) {
    test(c.id, async () => {
      const args = c.args(); // fixtures are created here, before the snapshot
      previousOutputs(); // (a failed case must not make the next ones fail)
      const beforeRun = snapshotTree(world);
      const run = await runCli(args, cwd);
      assert.equal(run.code, 2, `exit status; stderr: ${run.err}`);
      const lines = run.err.trimEnd().split('\n');
      assert.equal(lines.length, 1, `exactly one stderr line, got:\n${run.err}`);
      const m = ONE_LINE.exec(lines[0]!);
      assert.ok(m, `'fasop: error: … — fix: …', got: ${lines[0]}`);
      assert.match(m[1]!, c.expect);
      assert.ok(m[2]!.length > 5, 'a fix is named');
      if (c.fix) assert.match(m[2]!, c.fix);
      assert.doesNotMatch(run.err + run.out, /\n\s+at .+:\d+:\d+/, 'no stack trace');
      assert.deepEqual(diffTrees(beforeRun, snapshotTree(world)), [], 'nothing created, changed or deleted');
      assert.equal(readFileSync(join(cwd, 'main_logs', 'llama70b.csv'), 'utf8'), PREVIOUS_CSV);
    });
  }

  test('docs/errors.md has a row for every case, and every row names the test that proves it', () => {
    const doc = readFileSync(join(REPO, 'docs', 'errors.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `([a-z][a-z0-9-]*)` \|.*\| ([a-z-]+\.test\.ts) \|$/gm)].map((x) => ({ id: x[1]!, file: x[2]! }));
    assert.equal(rows.length, [...doc.matchAll(/^\| `([a-z][a-z0-9-]*)` \|/gm)].length, 'every error row names its test file');
    assert.deepEqual(rows.filter((r) => r.file === 'errors.test.ts').map((r) => r.id), CASES.map((c) => c.id));
    // rows proved elsewhere quote the test's title; it must be a test in that file
    const quoted = [...doc.matchAll(/^\|.*\| ([a-z-]+\.test\.ts): "([^"]+)" \|$/gm)];
    assert.ok(quoted.length >= 10, 'the bounds table names its tests');
    for (const [, file, title] of quoted) {
      const src = readFileSync(join(REPO, 'test', file!), 'utf8');
      const titles = [...src.matchAll(/\btest\((['`])((?:\\.|(?!\1).)*)\1/g)].map((m) => m[2]!.replace(/\\(.)/g, '$1'));
      assert.ok(titles.some((t) => t.includes(title!)), `${file} has a test "${title}" (its tests: ${titles.join(' | ')})`);
    }
  });
});

describe('user errors through the real launcher (bin/fasop.js, a child process)', () => {
  before(() => ensureBuilt());
  const spawned = ['gpus-zero', 'gpu-unknown', 'profile-truncated', 'profile-nan', 'flag-unknown', 'output-dir-unwritable', 'model-config-not-json', 'gbs-word'];
  for (const id of spawned) {
    test(`${id} (spawned)`, () => {
      const c = CASES.find((x) => x.id === id)!;
      const args = c.args();
      const beforeRun = snapshotTree(world);
      const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, HOME: join(world, 'home') } });
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^fasop: error: .+ — fix: .+\n$/);
      assert.match(r.stderr, c.expect);
      assert.deepEqual(diffTrees(beforeRun, snapshotTree(world)), []);
    });
  }
});
