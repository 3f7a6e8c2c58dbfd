import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { GpuSpec, ModelSpec } from '../catalog/schema.js';
import { FasopError } from '../errors.js';
import { shapeTpDegrees } from '../model/shapes.js';
import { rooflineOf } from './derive.js';
import { derivedProfileTable } from './derive-table.js';
import { readDtensorTp, type DtensorTpExtras } from './dtensor-tp.js';
import { readOperatorProfile, type OperatorProfile } from './operators.js';
import { parseProfileName, profileMismatch, readProfileFile, type ProfileName, type ProfileTable } from './profile.js';
import { shapeProfileTable } from './shape-table.js';

/** The sequence length of the original's per-model files, which record none. */
export const ORIGINAL_PROFILE_SEQ = 1024;

/** What a cost-table lookup needs from the catalog. */
export interface CostLookup {
  /** a GPU type's catalog entry (its dense BF16 peak and HBM bandwidth, for a derivation) */
  gpuSpec: (name: string) => GpuSpec;
  /** the catalog model of a per-model profile's name (to compare dimensions); undefined when not in the catalog */
  catalogModel?: (name: string) => ModelSpec | undefined;
  /** the launcher pads the vocabulary to a multiple of this × tp (recipe.vocabPadMultiple; default 128) */
  vocabMultiple?: number;
}

const DIMS = ['architecture', 'hidden_size', 'vocab_size', 'num_attention_heads', 'num_key_value_heads', 'intermediate_size'] as const;
/** The dimensions the per-node costs depend on, and q/k/v biases, as one key (layer count and tied embeddings change no node's cost). */
const dimsKey = (m: ModelSpec) => `${DIMS.map((k) => String(m[k])).join('|')}|${m.qkv_bias ? 'qkv-bias' : ''}`;
const modelKeys = new WeakMap<ModelSpec, string>();
/** One key per model object: name, dimensions and sequence length (computed once per object). */
function modelKey(m: ModelSpec): string {
  let k = modelKeys.get(m);
  if (k === undefined) {
    k = `${m.name}\u0000${dimsKey(m)}\u0000${m.seq_length}`;
    modelKeys.set(m, k);
  }
  return k;
}

export interface ProfileEntry extends ProfileName { path: string }

/**
 * The profile files of one directory, discovered by name and loaded on demand. Profiles are keyed
 * by (model, gpu, tp); an .npz wins over a legacy .npy for the same key. Another GPU's files price
 * a GPU only by a derivation its cost table names (costTable); a missing file is an error that names it.
 */
export class ProfileDb {
  readonly dir: string;
  private readonly entries = new Map<string, ProfileEntry>();
  private readonly cache = new Map<string, ProfileTable>();
  private readonly dtensor = new Map<string, DtensorTpExtras[]>();
  /** ops_<GPU>.json files of the folder, by upper-case GPU name */
  private readonly opsFiles = new Map<string, string>();
  private readonly opsCache = new Map<string, OperatorProfile>();
  /** the cost table of each (model dimensions and seq, GPU, tp, mbs) asked for, built or read once */
  private readonly tableCache = new Map<string, ProfileTable>();

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Scan a directory. Every .npz/.npy in it must be named {model}_{gpu}_{tp}.npz|npy. */
  static open(dir: string): ProfileDb {
    let names: string[];
    try {
      if (!statSync(dir).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
      names = readdirSync(dir).sort();
    } catch (err) {
      throw new FasopError(`profile directory ${dir} does not exist or is not a directory (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        'pass an existing folder with --profile-dir, or omit the flag to use the shipped profiles');
    }
    const db = new ProfileDb(dir);
    for (const file of names) {
      const ops = /^ops_([^_]+)\.json$/.exec(file);
      if (ops) db.opsFiles.set(ops[1]!.toUpperCase(), join(dir, file));
      if (!/\.(npz|npy)$/.test(file)) continue;
      const parsed = parseProfileName(file);
      if (!parsed) {
        throw new FasopError(`profile file ${join(dir, file)}: the name does not have the form {model}_{gpu}_{tp}.npz`,
          'rename it (e.g. llama70b_A40_2.npz) or move it out of the profile directory');
      }
      const key = ProfileDb.key(parsed.model, parsed.gpu, parsed.tp);
      const prev = db.entries.get(key);
      if (prev && prev.format === 'npz') continue;
      db.entries.set(key, { ...parsed, path: join(dir, file) });
    }
    return db;
  }

  private static key(model: string, gpu: string, tp: number): string {
    return `${model}\u0000${gpu}\u0000${tp}`;
  }

  list(filter: { model?: string; gpu?: string } = {}): ProfileEntry[] {
    return [...this.entries.values()]
      .filter((e) => (filter.model === undefined || e.model === filter.model) && (filter.gpu === undefined || e.gpu.toUpperCase() === filter.gpu.toUpperCase()))
      .sort((a, b) => a.model.localeCompare(b.model) || a.gpu.localeCompare(b.gpu) || a.tp - b.tp);
  }

  /**
   * TP degrees that have a profile for this model on this GPU type, ascending. Names match exactly
   * (case included); a file whose name differs only in case is an error that names it.
   */
  tpsFor(model: string, gpu: string): number[] {
    const exact = [...this.entries.values()].filter((e) => e.model === model && e.gpu === gpu).sort((a, b) => a.tp - b.tp);
    if (exact.length === 0) {
      const near = [...this.entries.values()].find((e) => e.model.toLowerCase() === model.toLowerCase() && e.gpu.toUpperCase() === gpu.toUpperCase());
      if (near) {
        throw new FasopError(`profile file ${near.path} is named for ${near.model} on ${near.gpu}, not ${model} on ${gpu} (names are case-sensitive)`,
          `rename it to ${model}_${gpu}_${near.tp}.${near.format} if it was measured for ${model} on ${gpu}, or move it out of the profile directory`);
      }
    }
    return exact.map((e) => e.tp);
  }

  has(model: string, gpu: string, tp: number): boolean {
    return this.entries.has(ProfileDb.key(model, gpu, tp));
  }

  /**
   * The entries of dtensor_tp_<GPU>.json in this folder (profiler/dtensor_tp.sh: what DTensor TP adds),
   * read once and refused if broken; none when the file does not exist.
   */
  dtensorTpEntries(gpu: string): DtensorTpExtras[] {
    const g = gpu.toUpperCase();
    if (!this.dtensor.has(g)) this.dtensor.set(g, readDtensorTp(join(this.dir, `dtensor_tp_${g}.json`)) ?? []);
    return this.dtensor.get(g)!;
  }

  /**
   * What DTensor TP adds for the model at this tp on each GPU type of a placement ([type, the type
   * whose profiles cost it] pairs), where measured; undefined where none is (the estimator then
   * counts it and says so).
   */
  dtensorTp(model: string, tp: number, types: readonly (readonly [string, string])[]): Record<string, DtensorTpExtras> | undefined {
    const out: Record<string, DtensorTpExtras> = {};
    for (const [t, p] of types) {
      const x = this.dtensorTpEntries(p).find((e) => e.model === model && e.tp === tp);
      if (x) out[t] = x;
    }
    return Object.keys(out).length ? out : undefined;
  }

  /** Load (once) the profile of (model, gpu, tp); an error names the missing file. */
  get(model: string, gpu: string, tp: number): ProfileTable {
    const key = ProfileDb.key(model, gpu, tp);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const entry = this.entries.get(key);
    if (!entry) {
      const have = this.tpsFor(model, gpu);
      throw new FasopError(
        `no profile ${join(this.dir, `${model}_${gpu}_${tp}.npz`)} (model ${model}, GPU ${gpu}, TP ${tp})` +
          (have.length ? `; this GPU has TP ${have.join(', ')}` : '; this GPU type has no profile for this model'),
        `measure it with the profiler (docs/profiles.md) or pass --profile-dir with a folder that has it`,
      );
    }
    const table = readProfileFile(entry.path);
    this.cache.set(key, table);
    return table;
  }

  /** GPU types with an operator profile of their own in this folder. */
  operatorGpus(): string[] {
    return [...this.opsFiles.keys()].sort();
  }

  private operatorProfile(gpu: string): OperatorProfile {
    const g = gpu.toUpperCase();
    let p = this.opsCache.get(g);
    if (!p) {
      p = readOperatorProfile(this.opsFiles.get(g)!);
      this.opsCache.set(g, p);
    }
    return p;
  }

  /**
   * Whether some file of this folder can price `model` on `gpu`: its per-model profiles, its operator
   * profile, or another GPU's to derive from; with `from` (`--substitute-profile gpu=from`), from's own.
   */
  canCost(model: string, gpu: string, from?: string): boolean {
    if (from !== undefined) return this.opsFiles.has(from.toUpperCase()) || this.tpsFor(model, from).length > 0;
    return this.tpsFor(model, gpu).length > 0 || this.opsFiles.size > 0;
  }

  /**
   * TP degrees to search for the model on the GPU: by shape where an operator profile can price it,
   * else those of its per-model files; with `from`, those of from's operator profile or files.
   */
  tpsForModel(model: ModelSpec, gpu: string, from?: string): number[] {
    if (from !== undefined) return this.opsFiles.has(from.toUpperCase()) ? shapeTpDegrees(model) : this.tpsFor(model.name, from);
    return this.opsFiles.size > 0 ? shapeTpDegrees(model) : this.tpsFor(model.name, gpu);
  }

  /**
   * The operator profile that prices `gpu`: its own, else the measured GPU nearest to it in dense
   * BF16 peak and HBM bandwidth (log distance), from which its times are derived.
   */
  private operatorSource(gpu: string, ctx: CostLookup): { profile: OperatorProfile; derive?: { from: ReturnType<typeof rooflineOf>; to: ReturnType<typeof rooflineOf> } } | undefined {
    if (this.opsFiles.has(gpu.toUpperCase())) return { profile: this.operatorProfile(gpu) };
    if (this.opsFiles.size === 0) return undefined;
    const to = rooflineOf(ctx.gpuSpec(gpu));
    const dist = (g: string) => {
      const r = rooflineOf(ctx.gpuSpec(g));
      return Math.abs(Math.log(r.bf16Dense_TFLOPS / to.bf16Dense_TFLOPS)) + Math.abs(Math.log(r.hbm_GBps / to.hbm_GBps));
    };
    const src = this.operatorGpus().map((g) => ({ g, d: dist(g) })).sort((a, b) => a.d - b.d || a.g.localeCompare(b.g))[0]!.g;
    const profile = this.operatorProfile(src);
    return { profile, derive: { from: rooflineOf(ctx.gpuSpec(profile.gpu)), to } };
  }

  /**
   * The cost table of (model, gpu, tp, mbs) at the model's sequence length, for one rank of a
   * context-parallel group of `cp` (its s/cp tokens, and the attention as cp ring steps). A per-model
   * profile of the model's name is used when what it records (GPU, model, sequence length; the
   * catalog model's dimensions) matches the request exactly and cp is 1; a file whose records
   * contradict its own name is an error. Otherwise the GPU's operator profile prices the shapes, or
   * another GPU's, scaled (derive.ts). With `from` (`--substitute-profile gpu=from`) the table is
   * derived from that GPU's measured files instead (derivedFrom). Tables are built once per
   * (model dimensions, GPU, tp, mbs, seq, cp, from).
   */
  costTable(model: ModelSpec, gpu: string, tp: number, mbs: number, ctx: CostLookup, cp = 1, from?: string): ProfileTable {
    const key = `${modelKey(model)}\u0000${gpu}\u0000${tp}\u0000${mbs}\u0000${cp}\u0000${from ?? ''}\u0000${ctx.vocabMultiple ?? ''}`;
    const hit = this.tableCache.get(key);
    if (hit) return hit;
    const table = from === undefined ? this.resolveTable(model, gpu, tp, mbs, ctx, cp) : this.derivedFrom(model, gpu, from, tp, mbs, ctx, cp);
    this.tableCache.set(key, table);
    return table;
  }

  /**
   * `gpu`'s table derived from `from`'s measured files by the roofline: from's operator profile by
   * shape when it has one, else its per-model profile of the model at this tp, column by column
   * (derive-table.ts), which must match the request as a file used directly does.
   */
  private derivedFrom(model: ModelSpec, gpu: string, from: string, tp: number, mbs: number, ctx: CostLookup, cp: number): ProfileTable {
    const by = `--substitute-profile ${gpu}=${from}`;
    const derive = { from: rooflineOf(ctx.gpuSpec(from)), to: rooflineOf(ctx.gpuSpec(gpu)), by };
    if (this.opsFiles.has(from.toUpperCase())) return shapeProfileTable(this.operatorProfile(from), { model, gpu, tp, mbs, cp, derive, ...(ctx.vocabMultiple ? { vocabMultiple: ctx.vocabMultiple } : {}) });
    const t = this.get(model.name, from, tp); // the missing file's error when from has none
    const fix = `measure ops_${from}.json (profiler/operators.py, docs/operator-profiles.md), which prices any shape, or drop ${by} to derive ${gpu} from the nearest operator profile`;
    if (t.format === 'npy-legacy') throw new FasopError(`${by}: ${t.file} is a legacy per-layer .npy, without the node columns a derivation scales`, fix);
    if (cp > 1) throw new FasopError(`${by}: context parallelism ${cp} cannot be priced from ${t.file}, which times whole sequences`, `${fix}, or search without --cp`);
    const recSeq = typeof t.meta['seq_length'] === 'number' ? t.meta['seq_length'] : ORIGINAL_PROFILE_SEQ;
    const cat = ctx.catalogModel?.(model.name);
    const why = recSeq !== model.seq_length ? `is at sequence length ${recSeq}, the request at ${model.seq_length}`
      : cat && dimsKey(cat) !== dimsKey(model) ? `is of the catalog's ${model.name} dimensions, not the request's`
        : profileMismatch(t, model) ? `was measured with ${profileMismatch(t, model)}` : undefined;
    if (why) throw new FasopError(`${by}: profile ${t.file} ${why}`, recSeq !== model.seq_length ? `use --seq-length ${recSeq}, or ${fix}` : fix);
    return derivedProfileTable(t, { model, gpu, ...derive });
  }

  private resolveTable(model: ModelSpec, gpu: string, tp: number, mbs: number, ctx: CostLookup, cp: number): ProfileTable {
    let note: string | undefined;
    const entry = this.entries.get(ProfileDb.key(model.name, gpu, tp));
    if (entry && cp > 1) {
      // a per-model file times whole sequences; a context-parallel rank runs s/cp tokens and its attention in cp ring steps
      if (this.opsFiles.size === 0) {
        throw new FasopError(`context parallelism ${cp} cannot be priced from ${entry.path}: it was measured on whole sequences, and ${this.dir} has no operator profile (ops_<GPU>.json)`,
          'pass a --profile-dir with an operator profile, which prices a rank\'s s/cp tokens by shape (docs/operator-profiles.md), or search without --cp');
      }
      note = `${basename(entry.path)} times whole sequences, not a cp ${cp} rank's`;
    } else if (entry) {
      const t = this.get(model.name, gpu, tp); // its recorded GPU, model and TP agree with its name (readProfileFile)
      const recSeq = typeof t.meta['seq_length'] === 'number' ? t.meta['seq_length'] : ORIGINAL_PROFILE_SEQ;
      const cat = ctx.catalogModel?.(model.name);
      const sameDims = !cat || dimsKey(cat) === dimsKey(model);
      const recorded = profileMismatch(t, model);
      if (recSeq === model.seq_length && sameDims && !recorded) return t;
      note = recSeq !== model.seq_length ? `${basename(entry.path)} is at seq ${recSeq}`
        : !sameDims ? `${basename(entry.path)} is of the catalog's ${model.name}, other dimensions` : `${basename(entry.path)} records other dimensions`;
      if (this.opsFiles.size === 0) {
        if (recorded) {
          throw new FasopError(`profile ${t.file} was measured with ${recorded}`,
            `profile ${model.name} with these dimensions (docs/profiles.md), or pass --profile-dir with a folder measured for them or with an operator profile (docs/operator-profiles.md)`);
        }
        const what = !sameDims ? `the catalog's ${model.name} dimensions, not the request's` : `sequence length ${recSeq}, the request is at ${model.seq_length}`;
        throw new FasopError(`profile ${entry.path} was measured at ${what}, and ${this.dir} has no operator profile (ops_<GPU>.json) to price it`,
          `${sameDims ? `use --seq-length ${recSeq}, or ` : ''}pass a --profile-dir with an operator profile (docs/operator-profiles.md)`);
      }
    }
    const source = this.operatorSource(gpu, ctx);
    if (!source) return this.get(model.name, gpu, tp); // no operator profile: the missing per-model file's error
    return shapeProfileTable(source.profile, { model, gpu, tp, mbs, cp, ...(ctx.vocabMultiple ? { vocabMultiple: ctx.vocabMultiple } : {}), ...(source.derive ? { derive: source.derive } : {}), ...(note ? { note } : {}) });
  }
}
