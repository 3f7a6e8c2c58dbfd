/**
 * Fuzzing (seeded, bounded): random CLI argument vectors through main(), random --gpus token
 * lists, random and mutated catalog JSON and Hugging Face configs, random and corrupted .npz/.npy
 * bytes, and random small search requests. The only allowed outcomes are a result or a
 * FasopError; anything else fails and prints the input. Set FASOP_FUZZ_SEED to replay a run.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { loadCatalog, parseCatalogFile } from '../src/catalog/catalog.js';
import { modelFromHfConfig } from '../src/catalog/hf-config.js';
import type { CliIo } from '../src/cli/io.js';
import { main } from '../src/cli/main.js';
import { isFasopError } from '../src/errors.js';
import { getEstimator } from '../src/estimate/index.js';
import type { NpyValue } from '../src/profiles/npy.js';
import { ProfileDb } from '../src/profiles/db.js';
import { readProfileFile } from '../src/profiles/profile.js';
import { catalogDataDir } from '../src/paths.js';
import { parseGpuTokens } from '../src/request/cluster.js';
import { search, type SearchRequest } from '../src/search/search.js';
import { REF_PROFILES } from './helpers/cli.js';
import { npzBytes, refData, refProfileBytes } from './helpers/profiles.js';

const SEED = process.env['FASOP_FUZZ_SEED'] ? Number(process.env['FASOP_FUZZ_SEED']) : (Date.now() ^ (process.pid << 8)) >>> 0;
const counts: Record<string, number> = {};
const outcomes: Record<string, { ok: number; error: number }> = {};

/** Run `fn`; a FasopError or a value is fine, anything else fails the property (fast-check prints the input). */
function allowed<T>(name: string, fn: () => T): T | undefined {
  counts[name] = (counts[name] ?? 0) + 1;
  const o = (outcomes[name] ??= { ok: 0, error: 0 });
  try {
    const v = fn();
    o.ok += 1;
    return v;
  } catch (err) {
    if (isFasopError(err)) {
      o.error += 1;
      return undefined;
    }
    throw err;
  }
}

function params(runs: number) {
  return { seed: SEED, numRuns: runs, endOnFailure: true };
}

const catalog = loadCatalog();
const GPU_NAMES = Object.keys(catalog.gpus);
const work = mkdtempSync(join(tmpdir(), 'fasop-fuzz-'));

// ---------------------------------------------------------------------------------------------
test(`fuzz: --gpus token lists through parseGpuTokens (seed ${SEED})`, () => {
  const token = fc.oneof(
    fc.constantFrom(...GPU_NAMES, 'a40', 'h100', 'Z99', ''),
    fc.integer({ min: -3, max: 100_000 }).map(String),
    fc.constantFrom('1.5', '1e3', '0x10', ' 2', '+3', '-0', '٣', 'NaN', 'Infinity', '9007199254740993', '00'),
    fc.string({ maxLength: 6 }),
  );
  fc.assert(fc.property(fc.array(token, { maxLength: 9 }), (tokens) => {
    const groups = allowed('gpus', () => parseGpuTokens(tokens, catalog));
    if (groups) {
      assert.ok(groups.length > 0 && groups.every((g) => Number.isSafeInteger(g.nodes) && g.nodes >= 1 && g.type in catalog.gpus));
      assert.equal(new Set(groups.map((g) => g.type)).size, groups.length);
    }
  }), params(3000));
});

// ---------------------------------------------------------------------------------------------
test(`fuzz: catalog JSON through parseCatalogFile (seed ${SEED})`, () => {
  const shipped = ['gpus.json', 'models.json', 'datasets.json'].map((f) => JSON.parse(readFileSync(join(catalogDataDir(), f), 'utf8')));
  /** A shipped catalog with one value somewhere replaced by random JSON. */
  const mutated = fc.tuple(fc.constantFrom(...shipped), fc.nat(), fc.jsonValue({ maxDepth: 2 })).map(([doc, at, value]) => {
    const copy = structuredClone(doc);
    const paths: (string | number)[][] = [];
    const walk = (v: unknown, p: (string | number)[]) => {
      paths.push(p);
      if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, Array.isArray(v) ? Number(k) : k]);
    };
    walk(copy, []);
    const path = paths[at % paths.length]!;
    if (path.length === 0) return value;
    let parent: any = copy;
    for (const k of path.slice(0, -1)) parent = parent[k];
    parent[path.at(-1)!] = value;
    return copy;
  });
  fc.assert(fc.property(fc.oneof(mutated, fc.jsonValue({ maxDepth: 4 }), fc.anything({ maxDepth: 3 })), (json) => {
    allowed('catalog', () => parseCatalogFile(json, 'fuzz.json'));
  }), params(2000));
});

// ---------------------------------------------------------------------------------------------
test(`fuzz: Hugging Face configs through modelFromHfConfig (seed ${SEED})`, () => {
  const num = fc.oneof(fc.integer({ min: -5, max: 200_000 }), fc.double(), fc.constantFrom(0, 1, 2 ** 53, 1e308, null, '32', true));
  const cfg = fc.record({
    model_type: fc.constantFrom('llama', 'mistral', 'qwen2', 'gpt2', 'mixtral', 'bert', '', 'LLAMA', 42),
    hidden_size: num, num_hidden_layers: num, num_attention_heads: num, num_key_value_heads: num,
    intermediate_size: num, vocab_size: num, max_position_embeddings: num,
    n_embd: num, n_head: num, n_layer: num, n_positions: num, n_inner: num,
    tie_word_embeddings: fc.constantFrom(true, false, 'yes', null),
    num_local_experts: fc.constantFrom(0, 8, null),
  }, { requiredKeys: [] });
  const BASE = { model_type: 'llama', hidden_size: 2048, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 8192, vocab_size: 128256, max_position_embeddings: 8192 };
  const GPT2 = { model_type: 'gpt2', n_embd: 1600, n_layer: 48, n_head: 25, vocab_size: 50257, n_positions: 1024 };
  const overridden = fc.tuple(fc.constantFrom(BASE, GPT2), cfg).map(([base, over]) => {
    const keys = Object.keys(over);
    return { ...base, ...Object.fromEntries(keys.slice(0, 1 + (keys.length % 2)).map((k) => [k, (over as Record<string, unknown>)[k]])) };
  });
  fc.assert(fc.property(fc.oneof(overridden, overridden, cfg, fc.jsonValue({ maxDepth: 3 })), fc.option(fc.integer({ min: 1, max: 1 << 20 })), (c, seq) => {
    const m = allowed('hf-config', () => modelFromHfConfig(c, 'fuzz/config.json', seq ?? undefined));
    if (m) assert.ok(m.num_layers >= 1 && m.hidden_size >= 1 && m.num_attention_heads % m.num_key_value_heads === 0);
  }), params(2000));
});

// ---------------------------------------------------------------------------------------------
test(`fuzz: random and corrupted .npz/.npy bytes through readProfileFile (seed ${SEED})`, () => {
  const dir = join(work, 'npz');
  mkdirSync(dir, { recursive: true });
  const good = [1, 2, 4, 8].map((tp) => refProfileBytes(tp));
  const corrupt = fc.tuple(fc.constantFrom(...good), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { maxLength: 6 }), fc.option(fc.nat()))
    .map(([bytes, flips, cut]) => {
      const b = Uint8Array.from(bytes);
      for (const [at, bit] of flips) b[at % b.length]! ^= 1 << bit;
      return cut === null ? b : b.subarray(0, cut % (b.length + 1));
    });
  const num = fc.oneof(fc.double(), fc.constantFrom(NaN, -1, Infinity, 0, 1e300));
  const structured = fc.record({
    rows: fc.integer({ min: 0, max: 6 }),
    cols: fc.constantFrom(10, 10, 9, 0),
    fill: num,
    dtype: fc.constantFrom('f8', 'i8', 'U'),
    mbs: fc.option(fc.array(fc.integer({ min: -2, max: 64 }), { maxLength: 6 })),
    extra: fc.boolean(),
  }).map(({ rows, cols, fill, dtype, mbs, extra }) => {
    const data: NpyValue = dtype === 'U'
      ? { dtype: 'U', shape: [rows, cols], data: Array(rows * cols).fill(String(fill)) }
      : { dtype: dtype as 'f8' | 'i8', shape: [rows, cols], data: Array.from({ length: rows * cols }, (_, i) => (i === 3 ? (dtype === 'i8' ? (Number.isFinite(fill) && Math.abs(fill) < 2 ** 62 ? Math.trunc(fill) : -1) : fill) : i + 0.5)) };
    const arrays: Record<string, NpyValue> = { data };
    if (mbs) arrays['mbs'] = { dtype: 'i8', shape: [mbs.length], data: mbs };
    if (extra) arrays['backward'] = { dtype: 'f8', shape: [rows, cols], data: Array(rows * cols).fill(Math.abs(fill)) };
    return npzBytes(arrays);
  });
  const npyHeader = fc.tuple(fc.constantFrom('<f8', '>f4', '|b1', '<U3', '<c16', '<f2', 'x'), fc.array(fc.integer({ min: 0, max: 1 << 30 }), { maxLength: 3 }), fc.nat(200))
    .map(([descr, shape, bodyLen]) => {
      const header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`.padEnd(118) + '\n';
      const out = new Uint8Array(10 + header.length + bodyLen);
      out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
      new DataView(out.buffer).setUint16(8, header.length, true);
      for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
      return out;
    });
  let i = 0;
  fc.assert(fc.property(fc.oneof(corrupt, structured, npyHeader, fc.uint8Array({ maxLength: 600 })), fc.constantFrom('npz', 'npz', 'npy'), (bytes, ext) => {
    const path = join(dir, `llama70b_A40_${(i++ % 8) + 1}.${ext}`);
    writeFileSync(path, bytes);
    const t = allowed('profile-bytes', () => readProfileFile(path));
    if (t && t.format === 'npz') {
      assert.ok(t.forward_ms.length > 0 && t.forward_ms.every((r) => r.length === 10 && r.every((x) => Number.isFinite(x) && x >= 0)));
    }
  }), params(2500));
});

// ---------------------------------------------------------------------------------------------
test(`fuzz: random CLI argument vectors through main() (seed ${SEED})`, async () => {
  const cwd = join(work, 'cli');
  mkdirSync(join(cwd, 'corrupt'), { recursive: true });
  writeFileSync(join(cwd, 'a-file'), 'x');
  writeFileSync(join(cwd, 'corrupt', 'llama70b_A40_1.npz'), refProfileBytes(1).subarray(0, 100));
  writeFileSync(join(cwd, 'corrupt', 'llama70b_A40_2.npz'), npzBytes({ data: { dtype: 'f8', shape: [2, 10], data: Array(20).fill(NaN) } }));
  const cfg = join(cwd, 'tiny.json');
  writeFileSync(cfg, JSON.stringify({ model_type: 'llama', hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 128, vocab_size: 1000 }));
  const badJson = join(cwd, 'bad.json');
  writeFileSync(badJson, '{"gpus": ');
  const catalogFile = join(cwd, 'cat.json');
  writeFileSync(catalogFile, JSON.stringify({ datasets: { tiny: { samples: 64 } } }));
  const small = fc.integer({ min: -1, max: 3 }).map(String);
  const gpus = fc.array(fc.oneof(fc.constantFrom('A40', 'A40', 'A100', 'a40', 'H100', 'Z9'), small, fc.constantFrom('1.5', 'x', '')), { minLength: 0, maxLength: 5 });
  const num = fc.oneof(fc.integer({ min: -2, max: 70 }).map(String), fc.constantFrom('0', '1', '7', '32', '64', '65536', '1e2', 'abc', '', '-1', '3.5'));
  const flag = fc.oneof(
    gpus.map((t) => ['--gpus', ...t]),
    fc.tuple(fc.constantFrom('--gbs', '--gpu-per-node', '--precision', '--pareto-gbs-max', '--mbs', '--tp', '--dp', '--pp', '--seq-length'), num),
    fc.tuple(fc.constantFrom('--model-type'), fc.constantFrom('llama70b', 'llama', 'llama1b', 'gpt2XL', 'nope')),
    fc.tuple(fc.constantFrom('--dataset'), fc.constantFrom('squad', 'c4', 'default', 'tiny', 'none')),
    fc.tuple(fc.constantFrom('--pp-partition-method'), fc.constantFrom('minmax', 'even', 'optimus-even', 'dp', 'ilp', 'bruteforce', 'x')),
    fc.tuple(fc.constantFrom('--estimator'), fc.constantFrom('reference', 'fasop', 'x')),
    fc.tuple(fc.constantFrom('--profile-dir'), fc.constantFrom(REF_PROFILES, REF_PROFILES, REF_PROFILES, join(cwd, 'corrupt'), join(cwd, 'nope'), join(cwd, 'a-file'))),
    fc.tuple(fc.constantFrom('--output-dir'), fc.constantFrom('out', 'a-file/x', 'deep/er')),
    fc.tuple(fc.constantFrom('--parsing-file', '--log-file'), fc.constantFrom('r.jsonl', 'missing/r.jsonl', 'out.log')),
    fc.tuple(fc.constantFrom('--model-config'), fc.constantFrom(cfg, badJson, join(cwd, 'none.json'))),
    fc.tuple(fc.constantFrom('--catalog'), fc.constantFrom(catalogFile, badJson)),
    fc.tuple(fc.constantFrom('--substitute-profile'), fc.constantFrom('A100=A40', 'A40=A40', 'H100=A100', 'A100', '=')),
    fc.tuple(fc.constantFrom('--add-exp-name', '--pareto-title', '--only-make-pareto'), fc.constantFrom('_x', 'r.csv', '')),
    fc.constantFrom('--pareto', '--make-pareto', '--verbose', '--parsing', '--no-save-csv', '--exhaustive', '--bogus', '-x', 'extra').map((f) => [f]),
  ).map((x) => (Array.isArray(x) ? x : [x]) as string[]);
  const argv = fc.tuple(fc.constantFrom<string[]>([], [], [], ['search'], ['profiles'], ['help'], ['--version']), fc.array(flag, { maxLength: 7 }))
    .map(([head, flags]) => [...head, ...flags.flat()]);
  const io: CliIo = { out: () => {}, err: () => {}, errIsTty: false, inIsTty: false, cwd };
  let errLines: string[] = [];
  io.err = (t) => { errLines.push(t); };
  let searches = 0;
  await fc.assert(fc.asyncProperty(argv, async (args) => {
    counts['argv'] = (counts['argv'] ?? 0) + 1;
    errLines = [];
    const code = await main(args, io); // throws only on a bug (not a FasopError)
    const o = (outcomes['argv'] ??= { ok: 0, error: 0 });
    if (code === 0 || code === 3) o.ok += 1;
    else o.error += 1;
    assert.ok(code === 0 || code === 2 || code === 3, `exit ${code}`); // 3: a search ran and no plan fits
    if (code === 2) {
      const text = errLines.join('');
      assert.match(text, /^fasop: error: .+ — fix: .+\n?$/, `one line: ${text}`);
    }
    if (code !== 2 && args.includes('--gpus')) searches += 1;
  }), params(4000));
  counts['argv-searches'] = searches;
});

// ---------------------------------------------------------------------------------------------
test(`fuzz: random small search requests through search() — results are finite (seed ${SEED})`, async () => {
  const profiles = ProfileDb.open(REF_PROFILES);
  const estimator = getEstimator('reference');
  const req = fc.record({
    nodes: fc.integer({ min: 1, max: 6 }),
    hetero: fc.integer({ min: 0, max: 2 }),
    gbs: fc.oneof(fc.integer({ min: 1, max: 96 }), fc.constantFrom(55, 41, 47, 61, 82)),
    gpusPerNode: fc.constantFrom(1, 2, 3, 4, 5, 6, 7, 8),
    method: fc.constantFrom('minmax', 'even') as fc.Arbitrary<'minmax' | 'even'>,
    pareto: fc.boolean(),
    model: fc.constantFrom('llama70b'),
  });
  let plans = 0;
  await fc.assert(fc.asyncProperty(req, async (r) => {
    counts['search'] = (counts['search'] ?? 0) + 1;
    const gpus = [{ type: 'A40', nodes: r.nodes }, ...(r.hetero ? [{ type: 'A100', nodes: r.hetero }] : [])];
    const request: SearchRequest = {
      gpus, model: catalog.models[r.model]!, dataset: catalog.datasets['c4']!, gbsValues: [r.gbs], gpusPerNode: r.gpusPerNode,
      precision: 16, partitionMethod: r.method, estimator: 'reference', pareto: r.pareto && r.nodes + r.hetero <= 5,
      profileSubstitutes: r.hetero ? { A100: 'A40' } : undefined,
    };
    const o = (outcomes['search'] ??= { ok: 0, error: 0 });
    try {
      const records = await search(request, { catalog, profiles, estimator });
      o.ok += 1;
      plans += records.length;
      for (const x of records) {
        assert.ok(Number.isFinite(x.step_time) && x.step_time > 0, `step_time ${x.step_time} for ${JSON.stringify(x)}`);
        assert.ok(Number.isFinite(x.oom_gpumem) && x.oom_gpumem > 0);
        assert.ok(Number.isFinite(x.cost) && x.cost >= 0);
        assert.equal(x.tp * x.dp * x.pp, x.node_type.length * r.gpusPerNode);
        assert.ok(x.cost_source.length > 0);
      }
    } catch (err) {
      if (!isFasopError(err)) throw err;
      o.error += 1;
    }
  }), params(600));
  counts['search-plans'] = plans;
});

test('fuzz: total cases', (t) => {
  const cases = Object.entries(counts).filter(([k]) => !k.includes('-plans') && k !== 'argv-searches').reduce((a, [, v]) => a + v, 0);
  const line = `fuzz: seed ${SEED}, ${cases} cases ran (${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}); outcomes ${JSON.stringify(outcomes)}`;
  t.diagnostic(line);
  console.log(`# ${line}`);
  assert.ok(cases >= 10_000, `at least 10000 cases, ran ${cases}`);
});
