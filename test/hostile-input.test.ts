/**
 * Property tests of hostile input (seeded; FASOP_FUZZ_SEED replays a run): names that are Object
 * properties, long and huge values, truncated / inflated / CRC-broken archives, malformed CSV and
 * JSONL, output names with `..` and separators, and the web API. Every generated case must end in
 * a result or a FasopError (one line, exit 2 through the CLI), within a time and heap bound, and
 * a CLI run may write nothing outside its output folder nor change an earlier result file.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { getDataset, getGpu, getModel, loadCatalog, parseCatalogFile } from '../src/catalog/catalog.js';
import { modelFromHfConfig } from '../src/catalog/hf-config.js';
import { isFasopError } from '../src/errors.js';
import { readProfileFile } from '../src/profiles/profile.js';
import { csvField } from '../src/report/csv.js';
import { parseResultsCsv } from '../src/report/csv-read.js';
import { startServer } from '../src/web/server.js';
import { JsonlFollower, MAX_JSONL_LINE_BYTES } from '../src/web/watch.js';
import { REF_PROFILES, runCli, tmp } from './helpers/cli.js';
import { npzBytes, refData } from './helpers/profiles.js';
import { diffTrees, snapshotTree } from './helpers/tree.js';
import { storedNpz, withDeclaredSize } from './helpers/zip.js';

const SEED = process.env['FASOP_FUZZ_SEED'] ? Number(process.env['FASOP_FUZZ_SEED']) : (Date.now() ^ (process.pid << 8)) >>> 0;
const params = (numRuns: number) => ({ seed: SEED, numRuns, endOnFailure: true });

/** Bounds of one generated case: wall time and growth of the JS heap. */
const CASE_MS = 3000;
const CASE_HEAP_BYTES = 256 * 1024 * 1024;

/** Run one case: a value or a FasopError, within the bounds; anything else fails with the input. */
function bounded<T>(fn: () => T): T | undefined {
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  let out: T | undefined;
  try {
    out = fn();
  } catch (err) {
    if (!isFasopError(err)) throw err;
    assert.ok(!err.oneLine().includes('\n') && err.oneLine().length < 2000, `a short one-line message, got ${err.oneLine().length} characters`);
  }
  const ms = performance.now() - t0;
  assert.ok(ms < CASE_MS, `case took ${ms.toFixed(0)} ms (bound ${CASE_MS})`);
  assert.ok(process.memoryUsage().heapUsed - heap0 < CASE_HEAP_BYTES, 'heap growth within the bound');
  return out;
}

/** Names an attacker tries: every inherited property of objects and functions, and near misses. */
const INHERITED = [...new Set([...Object.getOwnPropertyNames(Object.prototype), ...Object.getOwnPropertyNames(Function.prototype), 'prototype', '__proto__'])];
const hostileName = fc.oneof(
  fc.constantFrom(...INHERITED),
  fc.constantFrom(...INHERITED).map((n) => n.toUpperCase()),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('=cmd|\'-C calc\'!A0', '+1', '-x', '@SUM(A1)', 'A40\u0000', 'A40 ', '../A40'),
);

const catalog = loadCatalog();

test(`hostile: inherited and odd names never reach a prototype in catalog look-ups (seed ${SEED})`, () => {
  fc.assert(fc.property(hostileName, (name) => {
    const gpu = bounded(() => getGpu(catalog, name));
    if (gpu) assert.ok(Object.hasOwn(catalog.gpus, gpu.name) && gpu.name.toUpperCase() === name.toUpperCase());
    const model = bounded(() => getModel(catalog, name));
    if (model) assert.ok(Object.hasOwn(catalog.models, model.name));
    const ds = bounded(() => getDataset(catalog, name));
    if (ds) assert.ok(Object.hasOwn(catalog.datasets, ds.name) && ds.name === name);
  }), params(500));
});

test(`hostile: configs and catalogs whose keys or values are inherited names (seed ${SEED})`, () => {
  const BASE = { model_type: 'llama', hidden_size: 2048, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 8192, vocab_size: 128256 };
  const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom({ toString: 1 }, { valueOf: 'x' }, 'true', 1e308, 10_000_000, -1));
  fc.assert(fc.property(fc.dictionary(fc.oneof(fc.constantFrom(...INHERITED, ...Object.keys(BASE), 'tie_word_embeddings', 'model_type'), fc.string({ maxLength: 8 })), value, { maxKeys: 4 }), (over) => {
    // JSON.parse makes `__proto__` an own key, as a config file read from disk would
    const cfg = JSON.parse(JSON.stringify({ ...BASE, ...over }));
    const m = bounded(() => modelFromHfConfig(cfg, 'hostile/config.json'));
    if (m) assert.ok(m.num_layers <= 1024 && m.hidden_size % m.num_attention_heads === 0 && typeof m.tie_word_embeddings === 'boolean');
    const cat = JSON.parse(JSON.stringify({ gpus: Object.fromEntries(Object.keys(over).map((k) => [k, catalog.gpus['A40']])), datasets: Object.fromEntries(Object.keys(over).map((k) => [k, { samples: 10 }])) }));
    const parsed = bounded(() => parseCatalogFile(cat, 'hostile.json'));
    if (parsed) for (const k of Object.keys(parsed.gpus ?? {})) assert.match(k, /^[A-Za-z0-9][A-Za-z0-9.+-]*$/);
  }), params(400));
});

test(`hostile: truncated, inflated, size-patched and CRC-broken archives (seed ${SEED})`, () => {
  const dir = tmp('fasop-hostile-npz-');
  const data = refData(4);
  const rows = { dtype: 'f8' as const, shape: [data.length, 10], data: data.flat() };
  const originals = [storedNpz({ data: rows }), npzBytes({ data: rows })];
  const original = readProfileFile((() => { const p = join(dir, 'llama70b_A40_4.npz'); writeFileSync(p, originals[0]!); return p; })()).forward_ms;
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('size' as const), size: fc.oneof(fc.nat(), fc.constantFrom(0, 1, 2 ** 31, 2 ** 32 - 2, 200_000_000)) }),
    fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
  );
  let n = 0;
  fc.assert(fc.property(fc.constantFrom(0, 1), fc.array(mutation, { minLength: 1, maxLength: 3 }), (which, muts) => {
    let b = Uint8Array.from(originals[which]!);
    for (const m of muts) {
      if (m.kind === 'flip') b[m.at % b.length] = b[m.at % b.length]! ^ (1 << m.bit);
      else if (m.kind === 'cut') b = b.subarray(0, m.at % (b.length + 1));
      else if (m.kind === 'size') { try { b = withDeclaredSize(b, 'data.npy', m.size); } catch { /* no such entry any more */ } }
      else b = Uint8Array.from([...b, ...m.bytes]);
    }
    const p = join(dir, `m${n++}`, 'llama70b_A40_4.npz');
    mkdirSync(join(p, '..'));
    writeFileSync(p, b);
    const t = bounded(() => readProfileFile(p));
    // a corrupted file is refused; one that still reads holds exactly the measured numbers
    if (t) assert.deepEqual(t.forward_ms, original);
  }), params(400));
});

test(`hostile: malformed CSV with long and odd cells parses in linear time with short errors (seed ${SEED})`, () => {
  const HEADER = 'index,gbs,mbs,tp,dp,pp,node_type,gpu_cluster,partition,partition_layers,step_time(s),throughput(samples/s),price_per_step($),is_oom,oom_gpumem(GB),iterations,total_time(s),total_time(h),cost($),rank';
  const ROW = ['0', '32', '1', '1', '1', '8', '"[\'A40\', \'A40\']"', 'A40:2', '"[82, 80, 82, 80, 82, 80, 82, 74]"', '', '6.8', '4.69', '0.12', 'False', '61.8', '322', '2195.7', '0.61', '39.7', '1'];
  const long = fc.tuple(fc.constantFrom('1', ' ', '[', ',', "'", '"', 'e', '9', 'x', '='), fc.integer({ min: 1, max: 300_000 })).map(([c, k]) => c.repeat(k));
  const cell = fc.oneof(long, fc.string({ maxLength: 30 }), fc.constantFrom('-1', '1e20', 'nan', 'inf', '-inf', '__proto__', 'constructor', '[1, 2,]', "['a', 'b'"));
  fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: ROW.length - 1 }), cell), { minLength: 1, maxLength: 3 }), fc.constantFrom('', '__proto__', 'constructor'), (cells, extraColumn) => {
    const row = [...ROW];
    for (const [i, c] of cells) row[i] = c;
    const text = `${HEADER}${extraColumn ? `,${extraColumn}` : ''}\n${row.join(',')}${extraColumn ? ',x' : ''}\n`;
    const rows = bounded(() => parseResultsCsv(text, 'hostile.csv', { required: [] }));
    if (rows) {
      for (const r of rows) {
        for (const k of ['gbs', 'mbs', 'tp', 'dp', 'pp'] as const) if (r[k] !== undefined) assert.ok(Number.isSafeInteger(r[k]) && r[k] >= 1);
        for (const k of ['costUsd', 'throughputSamplesPerS', 'totalTimeS'] as const) if (r[k] !== undefined) assert.ok(!(r[k] < 0));
        if (extraColumn) assert.equal(Object.getPrototypeOf(r.extra), Object.prototype, 'a column name never replaces a prototype');
      }
    }
  }), params(150));
});

test(`hostile: CSV cells that a spreadsheet would run are escaped; numbers stay numbers (seed ${SEED})`, () => {
  fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('=1+1', '+A1', '-1.5', '-2', '@x', '\tcmd', '-inf', '1e-05', '-cmd')), (text) => {
    const cellText = csvField(text);
    const [[back]] = parse(`${cellText}\n`, { relax_quotes: true }) as string[][];
    if (/^[=+\-@\t\r]/.test(text) && !/^[+-]?((\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|inf|nan)$/.test(text)) assert.equal(back, `'${text}`);
    else assert.equal(back ?? '', text.replace(/\r\n?/g, '\n') === text ? text : back);
  }), params(1000));
});

test(`hostile: JSONL lines of any shape and length never stop --watch; its memory stays bounded (seed ${SEED})`, () => {
  const dir = tmp('fasop-hostile-jsonl-');
  const line = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 80 }),
    fc.constantFrom('{"index": 1, "cost": NaN, "throughput": Infinity, "is_oom": false}', '{"__proto__": {"is_oom": true}, "cost": 1}', '{"type": "meta", "total_count": 1e308}', '{"type": "pareto_meta", "pareto_total_count": "x"}'),
    fc.integer({ min: 1, max: 3 }).map((k) => 'y'.repeat(k * 4 * 1024 * 1024)),
  );
  let n = 0;
  fc.assert(fc.property(fc.array(line, { maxLength: 6 }), fc.boolean(), (lines, endWithNewline) => {
    const file = join(dir, `w${n++}.jsonl`);
    writeFileSync(file, '');
    const f = new JsonlFollower(file);
    bounded(() => {
      for (const l of lines) {
        appendFileSync(file, `${l}\n`);
        f.poll();
      }
      if (!endWithNewline) appendFileSync(file, 'z'.repeat(1024));
      f.poll();
    });
    assert.ok((f as unknown as { pending: Buffer }).pending.length <= MAX_JSONL_LINE_BYTES);
    f.close();
  }), params(40));
});

test(`hostile: output names with .. and separators never write outside the output folder or change earlier results (seed ${SEED})`, { timeout: 300_000 }, async () => {
  const world = tmp('fasop-hostile-paths-');
  const cwd = join(world, 'cwd');
  const out = join(cwd, 'main_logs');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(world, 'outside.txt'), 'must survive');
  const EARLIER = { 'llama70b_old.csv': 'index,gbs\n0,32 (earlier result)\n', 'escaped.png': 'earlier chart' };
  for (const [f, t] of Object.entries(EARLIER)) writeFileSync(join(out, f), t);
  const part = fc.constantFrom('..', '.', '/', '\\', 'x', 'sub', '\u0000', '~', '%2e%2e', 'C:', ' ');
  const name = fc.oneof(fc.array(part, { minLength: 1, maxLength: 5 }).map((xs) => xs.join('')), fc.constantFrom('../../escaped', '/../../x', '/sub/x', 'nodir/x', '..', 'ok-name'));
  await fc.assert(fc.asyncProperty(name, fc.constantFrom('--add-exp-name', '--add-exp-name', '--pareto-title'), async (value, flag) => {
    const before = snapshotTree(world);
    const t0 = performance.now();
    const args = ['--gpus', 'A40', '2', '--profile-dir', REF_PROFILES, flag, value, ...(flag === '--pareto-title' ? ['--pareto', '--make-pareto'] : [])];
    const r = await runCli(args, cwd);
    assert.ok(performance.now() - t0 < 60_000, 'bounded time');
    // 0, or 3 when no plan fits (docs/outputs.md), or a one-line error
    assert.ok(r.code === 0 || r.code === 2 || r.code === 3, `exit ${r.code}: ${r.err}`);
    if (r.code === 2) assert.match(r.err, /^fasop: error: .+ — fix: .+\n$/);
    const changes = diffTrees(before, snapshotTree(world));
    for (const c of changes) {
      const rel = c.replace(/^(created|changed|deleted) /, '');
      assert.ok(rel.startsWith(join('cwd', 'main_logs') + '/') && !rel.slice('cwd/main_logs/'.length).includes('/'), `${c} is outside the output folder (${flag} ${JSON.stringify(value)})`);
      assert.ok(!c.startsWith('deleted'), c);
    }
    for (const [f, t] of Object.entries(EARLIER)) {
      const mine = flag === '--pareto-title' && `${value}.png` === f;
      if (!mine) assert.equal(readFileSync(join(out, f), 'utf8'), t, `earlier ${f} intact`);
    }
    for (const f of readdirSync(out)) if (!(f in EARLIER)) assert.ok(!f.startsWith('.'), `no temporary file left: ${f}`);
  }), { ...params(14) });
});

test(`hostile: random web API bodies get 202 or a 4xx with {error, hint}, never 500 (seed ${SEED})`, { timeout: 120_000 }, async () => {
  const s = await startServer({ port: 0, profileDir: REF_PROFILES });
  const post = (body: string) => new Promise<{ status: number; json: any }>((resolve, reject) => {
    const req = request(new URL('/api/search', s.url), { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode!, json: data ? JSON.parse(data) : {} }));
    });
    req.on('error', reject);
    req.end(body);
  });
  const gpu = fc.record({ type: hostileName, nodes: fc.oneof(fc.integer({ min: -2, max: 5000 }), fc.constantFrom('1', '1e9', '__proto__')) });
  const body = fc.oneof(
    fc.record({ gpus: fc.array(gpu, { maxLength: 3 }), model: hostileName, dataset: hostileName, gbs: fc.oneof(fc.integer(), fc.string({ maxLength: 5 })), pareto: fc.boolean() }, { requiredKeys: ['gpus'] }),
    fc.jsonValue({ maxDepth: 3 }),
    fc.dictionary(fc.constantFrom(...INHERITED), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
  );
  try {
    await fc.assert(fc.asyncProperty(body, async (b) => {
      const r = await post(JSON.stringify(b));
      assert.ok([202, 400, 409].includes(r.status), `${r.status} for ${JSON.stringify(b).slice(0, 200)}: ${JSON.stringify(r.json)}`);
      if (r.status !== 202) assert.ok(typeof r.json.error === 'string' && typeof r.json.hint === 'string');
      else await s.runner!.stop();
    }), params(60));
  } finally {
    await s.close();
  }
});
