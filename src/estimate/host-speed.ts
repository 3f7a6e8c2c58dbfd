/**
 * Policy host-speed: the CPU issue figures of an eager recipe, scaled to the speed of the host that
 * runs the plan. Issue time is CPU work (Python, PyTorch's dispatcher, the driver's kernel launch),
 * so it goes with the speed of the cores that do it. The speed index is the wall time per call of a
 * tiny in-place PyTorch op on a CUDA tensor, issued back to back (the GPU keeps up, so the time is
 * the CPU's: validation/train_step.py host_speed_probe() 'cuda_launch_us'); profiler/host_issue.py
 * records it with the figures, every validation run between its steps, profiler/host_speed.py for
 * a user's host. Also which entry of a measured host profile a plan takes (`--host-profile`). Pure
 * functions.
 */
import { FasopError } from '../errors.js';
import type { HostIssueEntry, HostIssueFigures, HostIssueProfile } from '../profiles/host-issue.js';
import type { TrainingRecipe } from './recipe.js';

export function scaleHostIssue(f: HostIssueFigures, factor: number): HostIssueFigures {
  return {
    forwardPerLayer_ms: f.forwardPerLayer_ms * factor,
    backwardPerLayer_ms: f.backwardPerLayer_ms * factor,
    forwardFixed_ms: f.forwardFixed_ms * factor,
    backwardFixed_ms: f.backwardFixed_ms * factor,
  };
}

/**
 * The recipe with its issue figures scaled from the host speed they were measured at to
 * `hostLaunch_us` (µs per CUDA launch on the host that runs the plan; larger is slower).
 */
export function recipeAtHostSpeed(recipe: TrainingRecipe, hostLaunch_us: number): TrainingRecipe {
  const hi = recipe.hostIssue;
  if (!hi) {
    throw new FasopError(`a host speed applies to recipes whose runtime issues kernels one by one; recipe ${recipe.name} has no CPU issue term`,
      'use --recipe bf16-adamw with --host-launch-us, or drop --host-launch-us');
  }
  if (!Number.isFinite(hostLaunch_us) || !(hostLaunch_us > 0)) {
    throw new FasopError(`host speed ${hostLaunch_us} µs per launch is not a positive number`, 'pass what python3 profiler/host_speed.py prints on the training host, e.g. --host-launch-us 6.2');
  }
  if (hi.speedRef_launch_us === undefined) {
    throw new FasopError(`the CPU issue figures of recipe ${recipe.name} (${hi.source}) were measured without a host speed, so they cannot be scaled to another host`,
      'pass figures that carry their speed with --host-profile: the shipped profiles/host_issue_H200.json, or your host\'s from profiler/host_issue.py');
  }
  const factor = hostLaunch_us / hi.speedRef_launch_us;
  return {
    ...recipe,
    hostIssue: {
      ...hi,
      tp1: scaleHostIssue(hi.tp1, factor),
      tp1Ddp: hi.tp1Ddp && scaleHostIssue(hi.tp1Ddp, factor),
      tpN: scaleHostIssue(hi.tpN, factor),
      speedRef_launch_us: hostLaunch_us,
      source: `${hi.source}, scaled ×${factor.toFixed(3)} to a host speed of ${hostLaunch_us.toFixed(2)} µs per launch (measured at ${hi.speedRef_launch_us.toFixed(2)})`,
    },
  };
}

/**
 * The entry for a plan: the plan's model when measured (else the first model: issue time per layer
 * hardly depends on the width), its tp class (1 or > 1) and, for tp > 1, its TP runtime (DTensor or
 * Megatron-style), the most busy processes measured up to the plan's (else the fewest above), DDP when
 * the plan is data parallel and it was measured.
 */
function pick(profile: HostIssueProfile, model: string, tpN: boolean, processes: number, ddp: boolean, dtensor = false): HostIssueEntry | undefined {
  // entries measured under recompute are recorded, not priced: the estimator's CPU term has no recompute part
  const fits = (e: HostIssueEntry) => !e.recompute && (e.tp > 1) === tpN && e.dtensor === (tpN && dtensor);
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
      'use an eager recipe (--launch eager) with --host-profile, or drop --host-profile');
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
