/**
 * Policy host-speed: the CPU issue figures of an eager recipe, scaled to the speed of the host that
 * runs the plan. Issue time is CPU work (Python, PyTorch's dispatcher, the driver's kernel launch),
 * so it goes with the speed of the cores that do it. The speed index is the wall time per call of a
 * tiny in-place PyTorch op on a CUDA tensor, issued back to back (the GPU keeps up, so the time is
 * the CPU's: validation/train_step.py host_speed_probe() 'cuda_launch_us'); profiler/host_issue.py
 * records it with the figures, every validation run between its steps, profiler/host_speed.py for
 * a user's host. Pure functions.
 */
import { FasopError } from '../errors.js';
import type { HostIssueFigures, TrainingRecipe } from './recipe.js';

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
