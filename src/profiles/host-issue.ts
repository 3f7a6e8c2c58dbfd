/**
 * A host's CPU issue figures, as `profiler/host_issue.py` writes them (host_issue_<GPU>.json): one
 * entry per model, tp class, busy processes per host, DDP and TP runtime. Reading only; which entry
 * a plan takes is the recipe's business (estimate/host-speed.ts).
 */
import { MAX_JSON_BYTES, readFileCapped, ReadFailure } from '../guard/read.js';
import { MAX_OP_MS } from './profile.js';
import { FasopError } from '../errors.js';

/** Host (CPU) milliseconds to issue one micro-batch's work in a runtime (profiler/host_issue.py). */
export interface HostIssueFigures {
  forwardPerLayer_ms: number;
  backwardPerLayer_ms: number;
  /** model-level work besides the layers (embedding, rotary tables, final norm, lm_head, loss) */
  forwardFixed_ms: number;
  backwardFixed_ms: number;
}

export interface HostIssueEntry {
  model: string;
  tp: number;
  processes: number;
  ddp: boolean;
  /** tp > 1 run as PyTorch DTensor parallelize_module with loss_parallel (host_issue.py --tp-impl dtensor); else the Megatron-style TP */
  dtensor: boolean;
  /** its processes were pinned to the fastest CPUs (host_issue.py --pin-fastest) */
  pinned: boolean;
  /** its blocks ran under activation checkpointing (host_issue.py --recompute): recorded, not priced (the estimator's CPU issue term has no recompute part) */
  recompute?: 'full' | 'op';
  figures: HostIssueFigures;
  /** the host's speed over the measurement (µs per CUDA launch of a tiny PyTorch op; slowest rank, mean of before and after), when recorded */
  launch_us?: number;
}

export interface HostIssueProfile {
  path: string;
  entries: HostIssueEntry[];
}

const FIX = 'write it with profiler/host_issue.py (python3 profiler/host_issue.py --out DIR; torchrun --nproc_per_node 2 ... for 2 processes)';
const KEY = /^(\S+) tp(\d+) procs(\d+)( ddp)?( dtensor)?( pinned)?(?: recompute-(full|op))?$/;
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
    if (!m) throw new FasopError(`host profile ${path}: entry "${key}" is not "<model> tp<N> procs<N>[ ddp][ dtensor][ pinned][ recompute-full|recompute-op]"`, FIX);
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
      ...(m[7] ? { recompute: m[7] as 'full' | 'op' } : {}), launch_us: speedOf(v?.['host_speed_us_per_rank']) });
  }
  if (!entries.some((e) => e.tp === 1 && !e.recompute)) throw new FasopError(`host profile ${path} has no tp1 entry`, FIX);
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
