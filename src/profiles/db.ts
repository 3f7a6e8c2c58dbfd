import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FasopError } from '../errors.js';
import { readDtensorTp, type DtensorTpExtras } from './dtensor-tp.js';
import { checkProfileFor, parseProfileName, readProfileFile, type ProfiledModel, type ProfileName, type ProfileTable } from './profile.js';

export interface ProfileEntry extends ProfileName { path: string }

/**
 * The profile files of one directory, discovered by name and loaded on demand. Profiles are keyed
 * by (model, gpu, tp); an .npz wins over a legacy .npy for the same key. Nothing here falls back to
 * another GPU, model or TP: a missing file is an error that names it.
 */
export class ProfileDb {
  readonly dir: string;
  private readonly entries = new Map<string, ProfileEntry>();
  private readonly cache = new Map<string, ProfileTable>();
  private readonly dtensor = new Map<string, DtensorTpExtras[]>();

  /** the model the profiles are used for: each loaded profile's recorded model and dimensions must match it */
  private readonly model: ProfiledModel | undefined;

  private constructor(dir: string, model: ProfiledModel | undefined) {
    this.dir = dir;
    this.model = model;
  }

  /** Scan a directory. Every .npz/.npy in it must be named {model}_{gpu}_{tp}.npz|npy. */
  static open(dir: string, use: { model?: ProfiledModel } = {}): ProfileDb {
    let names: string[];
    try {
      if (!statSync(dir).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
      names = readdirSync(dir).sort();
    } catch (err) {
      throw new FasopError(`profile directory ${dir} does not exist or is not a directory (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        'pass an existing folder with --profile-dir, or omit the flag to use the shipped profiles');
    }
    const db = new ProfileDb(dir, use.model);
    for (const file of names) {
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
    if (this.model && this.model.name === model) checkProfileFor(table, this.model);
    this.cache.set(key, table);
    return table;
  }
}
