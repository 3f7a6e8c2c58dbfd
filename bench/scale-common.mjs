// What the cluster-scale benchmarks share (bench/search-scale.mjs, bench/scale-child.mjs, bench/interleaved.mjs).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const ROOT = new URL('..', import.meta.url).pathname;

/** The value after `name` in argv (both taken out of it), else dflt. */
export function takeFlag(argv, name, dflt) {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
}

/** REF exported with `git archive` into a temporary folder, with this checkout's node_modules, and built there. */
export function buildRef(ref) {
  const dir = mkdtempSync(join(tmpdir(), 'fasop-before-'));
  execFileSync('sh', ['-c', `git -C "${ROOT}" archive "${ref}" | tar -x -C "${dir}"`]);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { stdio: 'inherit' });
  return dir;
}

/** LLaMA-3.1-405B's shape (Meta's config.json) as an extra catalog file, for builds whose catalog lacks it. */
export function llama405bCatalog() {
  const file = join(mkdtempSync(join(tmpdir(), 'fasop-catalog-')), 'llama405b.json');
  writeFileSync(file, JSON.stringify({ models: { llama405b: {
    architecture: 'llama', hidden_size: 16384, seq_length: 1024, num_layers: 126, vocab_size: 128256, num_attention_heads: 128,
    num_key_value_heads: 8, intermediate_size: 53248, tie_word_embeddings: false, max_position_embeddings: 131072, source: 'Llama-3.1-405B config.json',
  } } }));
  return file;
}

/** The scenarios, (b) with the 405B catalog file given. */
export function scenarios(catalog405b) {
  return {
    a: { name: '(a) llama70b, H100×64 + H200×64 nodes, gbs 1024', gpus: ['H100', '64', 'H200', '64'], args: ['--gbs', '1024'] },
    b: { name: '(b) 405B dims, H100×256 + A100×128 nodes, seq 8192, gbs 2048', gpus: ['H100', '256', 'A100', '128'], args: ['--model-type', 'llama405b', '--seq-length', '8192', '--gbs', '2048', '--catalog', catalog405b] },
    c: { name: '(c) llama70b, H100×20 + H200×20, --pareto --pareto-gbs-max 64', gpus: ['H100', '20', 'H200', '20'], args: ['--pareto', '--pareto-gbs-max', '64'] },
    s: { name: '(s) H100×4 + H200×4, --pareto --pareto-gbs-max 32', gpus: ['H100', '4', 'H200', '4'], args: ['--pareto', '--pareto-gbs-max', '32'] },
  };
}

/** A build's search modules (its dist/ folder), with the heap growth bin/fasop.js sets where the build has it. */
export async function importBuild(dist) {
  const imp = (p) => import(pathToFileURL(join(dist, p)).href);
  (await imp('cli/heap.js').catch(() => undefined))?.boundHeapGrowth();
  const { Command } = await import('commander');
  const { addSearchOptions, resolveSearchOptions } = await imp('cli/search-options.js');
  const { ProfileDb } = await imp('profiles/db.js');
  const { getEstimator } = await imp('estimate/index.js');
  const search = await imp('search/search.js');
  /** The request and search context of `fasop search` with these GPU tokens and arguments. */
  const resolve = (gpuTokens, args, estimatorOf = getEstimator) => {
    const raw = addSearchOptions(new Command('search')).exitOverride().parse(args, { from: 'user' }).opts();
    const r = resolveSearchOptions(raw, gpuTokens);
    return { raw, r, ctx: { catalog: r.catalog, profiles: ProfileDb.open(r.profileDir), estimator: estimatorOf(r.request.estimator) } };
  };
  return { imp, getEstimator, search, resolve };
}
