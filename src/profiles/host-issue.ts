/**
 * A host's CPU issue figures, as `profiler/host_issue.py` writes them (host_issue_<GPU>.json), and the
 * choice of figures for a plan: tp = 1 or tp > 1, the number of busy training processes on the host,
 * DDP or not. Reading is the only I/O here; the choice is a pure function.
 */
import { MAX_JSON_BYTES, readFileCapped, ReadFailure } from '../guard/read.js';
import { MAX_OP_MS } from './profile.js';
import { FasopError } from '../errors.js';
import type { HostIssueFigures, TrainingRecipe } from '../estimate/recipe.js';
import { scaleHostIssue } from '../estimate/host-speed.js';

export interface HostIssueEntry {
  model: string;
  tp: number;
  processes: number;
  ddp: boolean;
  /** tp > 1 run as PyTorch DTensor parallelize_module with loss_parallel (host_issue.py --tp-impl dtensor); else the Megatron-style TP */
  dtensor: boolean;
  /** its processes were pinned to the fastest CPUs (host_issue.py --pin-fastest) */
  pinned: boolean;
  figures: HostIssueFigures;
  /** the host's speed over the measurement (µs per CUDA launch of a tiny PyTorch op; slowest rank, mean of before and after), when recorded */
  launch_us?: number;
}

export interface HostIssueProfile {
  path: string;
  entries: HostIssueEntry[];
}

const FIX = 'write it with profiler/host_issue.py (python3 profiler/host_issue.py --out DIR; torchrun --nproc_per_node 2 ... for 2 processes)';
const KEY = /^(\S+) tp(\d+) procs(\d+)( ddp)?( dtensor)?( pinned)?$/;
const FIELDS = ['forwardPerLayer_ms', 'backwardPerLayer_ms', 'forwardFixed_ms', 'backwardFixed_ms'] as const;

/** The slowest rank's mean of its speed before and after the measurement (host_speed_us_per_rank), if every rank has both. */
function speedOf(raw: unknown): number | undefined {
  if (!Array.isArray(raw) || raw.length === 0) return undefined;
  const per = raw.map((r) => {
    const a = (r as { start?: { cuda_launch_us?: unknown } } | null)?.start?.cuda_launch_us;
    const b = (r as { end?: { cuda_launch_us?: unknown } } | null)?.end?.cuda_launch_us;
    return typeof a === 'number' && typeof b === 'number' && a > 0 && b > 0 ? (a + b) / 2 : undefined;
  });
  return per.every((x) => x !== undefined) ? Math.max(...(per as number[])) : undefined;
}

/** Parse a host_issue_<GPU>.json document (FasopError naming the problem otherwise). */
export function parseHostIssueProfile(text: string, path: string): HostIssueProfile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new FasopError(`host profile ${path} is not valid JSON (${(e as Error).message})`, FIX);
  }
  const raw = (doc as { entries?: unknown } | null)?.entries;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new FasopError(`host profile ${path} has no "entries" object`, FIX);
  const entries: HostIssueEntry[] = [];
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    const m = KEY.exec(key);
    if (!m) throw new FasopError(`host profile ${path}: entry "${key}" is not "<model> tp<N> procs<N>[ ddp][ dtensor][ pinned]"`, FIX);
    const v = value as Record<string, unknown>;
    const figures = {} as Record<(typeof FIELDS)[number], number>;
    for (const f of FIELDS) {
      const x = v?.[f];
      // a fixed part may come out slightly negative from the difference of two medians; a per-layer time may not
      if (typeof x !== 'number' || !Number.isFinite(x) || x > MAX_OP_MS || (f.endsWith('PerLayer_ms') ? x <= 0 : x < -5)) {
        throw new FasopError(`host profile ${path}: entry "${key}" has no valid ${f} (got ${JSON.stringify(x)})`, FIX);
      }
      figures[f] = Math.max(0, x);
    }
    if (m[5] !== undefined && Number(m[2]) === 1) throw new FasopError(`host profile ${path}: entry "${key}" is marked dtensor but has tp 1`, FIX);
    entries.push({ model: m[1]!, tp: Number(m[2]), processes: Number(m[3]), ddp: m[4] !== undefined, dtensor: m[5] !== undefined, pinned: m[6] !== undefined, figures,
      launch_us: speedOf(v?.['host_speed_us_per_rank']) });
  }
  if (!entries.some((e) => e.tp === 1)) throw new FasopError(`host profile ${path} has no tp1 entry`, FIX);
  return { path, entries };
}

export function readHostIssueProfile(path: string): HostIssueProfile {
  let text: string;
  try {
    text = readFileCapped(path, MAX_JSON_BYTES).toString('utf8');
  } catch (e) {
    if (!(e instanceof ReadFailure)) throw e;
    throw new FasopError(`cannot read host profile ${path} (${e.code}${e.detail === e.code ? '' : `: ${e.detail}`})`, `check the path; ${FIX}`);
  }
  return parseHostIssueProfile(text, path);
}

/**
 * The entry for a plan: the plan's model when measured (else the first model: issue time per layer
 * hardly depends on the width), its tp class (1 or > 1) and, for tp > 1, its TP runtime (DTensor or
 * Megatron-style), the most busy processes measured up to the plan's (else the fewest above), DDP when
 * the plan is data parallel and it was measured.
 */
function pick(profile: HostIssueProfile, model: string, tpN: boolean, processes: number, ddp: boolean, dtensor = false): HostIssueEntry | undefined {
  const fits = (e: HostIssueEntry) => (e.tp > 1) === tpN && e.dtensor === (tpN && dtensor);
  const models = [...new Set(profile.entries.filter(fits).map((e) => e.model))];
  const m = models.includes(model) ? model : models[0];
  const pool = profile.entries.filter((e) => e.model === m && fits(e));
  if (pool.length === 0) return undefined;
  const withDdp = ddp && pool.some((e) => e.ddp) ? pool.filter((e) => e.ddp) : pool.filter((e) => !e.ddp);
  const cands = withDdp.length ? withDdp : pool;
  const below = cands.filter((e) => e.processes <= processes).sort((a, b) => b.processes - a.processes);
  const above = cands.filter((e) => e.processes > processes).sort((a, b) => a.processes - b.processes);
  return below[0] ?? above[0];
}

const describe = (e: HostIssueEntry) => `${e.model} tp${e.tp} procs${e.processes}${e.ddp ? ' ddp' : ''}${e.dtensor ? ' dtensor' : ''}${e.pinned ? ' pinned' : ''}`;

/**
 * The recipe with its CPU issue figures taken from a measured host profile, for plans with this many
 * busy training processes per host. Only recipes that already model CPU issue (eager ones) take it.
 */
export function recipeWithHostProfile(recipe: TrainingRecipe, profile: HostIssueProfile, opts: { model: string; processesPerHost: number }): TrainingRecipe {
  if (!recipe.hostIssue) {
    throw new FasopError(`--host-profile applies to recipes whose runtime issues kernels one by one; recipe ${recipe.name} has no CPU issue term`,
      'use --recipe bf16-adamw with --host-profile, or drop --host-profile');
  }
  const tp1 = pick(profile, opts.model, false, opts.processesPerHost, false)!;
  const ddp = pick(profile, opts.model, false, opts.processesPerHost, true);
  const tp1Ddp = ddp?.ddp ? ddp : undefined;
  const dtensor = recipe.tpRuntime === 'dtensor';
  const tpN = pick(profile, opts.model, true, opts.processesPerHost, false, dtensor);
  if (!tpN) {
    throw new FasopError(`host profile ${profile.path} has no ${dtensor ? 'DTensor ' : ''}tp > 1 entry`,
      `measure it: torchrun --nproc_per_node 2 profiler/host_issue.py${dtensor ? ' --tp-impl dtensor' : ''} --out DIR`);
  }
  const chosen = [tp1, ...(tp1Ddp ? [tp1Ddp] : []), tpN];
  const used = chosen.map(describe).join(', ');
  // entries measured at different host speeds are brought to one (the tp 1 entry's), so that the
  // recipe's figures can be scaled together (policy host-speed); without speeds they stay as measured
  const ref = chosen.every((e) => e.launch_us !== undefined) ? tp1.launch_us : undefined;
  const at = (e: HostIssueEntry) => (ref === undefined ? e.figures : scaleHostIssue(e.figures, ref / e.launch_us!));
  return {
    ...recipe,
    hostIssue: {
      ...recipe.hostIssue,
      tp1: at(tp1),
      tp1Ddp: tp1Ddp && at(tp1Ddp),
      tpN: at(tpN),
      speedRef_launch_us: ref,
      source: `${profile.path} (${used}; ${opts.processesPerHost} busy process${opts.processesPerHost === 1 ? '' : 'es'} per host${ref === undefined ? '' : `; at a host speed of ${ref.toFixed(2)} µs per launch`})`,
    },
  };
}
