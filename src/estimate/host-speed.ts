/**
 * Policy host-speed: the CPU issue figures of an eager recipe, scaled to the speed of the host that
 * runs the plan. Issue time is CPU work (Python, PyTorch's dispatcher, kernel launches), so it goes
 * with the speed of the core that does it; the speed index is the time of a bare 100-iteration
 * Python loop (validation/train_step.py python_loop_us(), recorded with the figures by
 * profiler/host_issue.py and between the steps of every validation run). Pure functions.
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
 * The recipe with its issue figures scaled from the speed they were measured at to `hostSpeed_python_us`
 * (µs per 100-iteration Python loop on the host that runs the plan; larger is slower).
 */
export function recipeAtHostSpeed(recipe: TrainingRecipe, hostSpeed_python_us: number): TrainingRecipe {
  const hi = recipe.hostIssue;
  if (!hi) {
    throw new FasopError(`a host speed applies to recipes whose runtime issues kernels one by one; recipe ${recipe.name} has no CPU issue term`,
      'use --recipe bf16-adamw with --host-speed-us, or drop --host-speed-us');
  }
  if (!(hostSpeed_python_us > 0) || !Number.isFinite(hostSpeed_python_us)) {
    throw new FasopError(`host speed ${hostSpeed_python_us} µs is not a positive number`, 'pass what python3 profiler/host_speed.py prints on the training host, e.g. --host-speed-us 1.8');
  }
  if (hi.speedRef_python_us === undefined) {
    throw new FasopError(`the CPU issue figures of recipe ${recipe.name} (${hi.source}) were measured without a host speed, so they cannot be scaled to another host`,
      'measure them again with profiler/host_issue.py (it records the speed) and pass the file with --host-profile');
  }
  const factor = hostSpeed_python_us / hi.speedRef_python_us;
  return {
    ...recipe,
    hostIssue: {
      ...hi,
      tp1: scaleHostIssue(hi.tp1, factor),
      tp1Ddp: hi.tp1Ddp && scaleHostIssue(hi.tp1Ddp, factor),
      tpN: scaleHostIssue(hi.tpN, factor),
      speedRef_python_us: hostSpeed_python_us,
      source: `${hi.source}, scaled ×${factor.toFixed(3)} to a host speed of ${hostSpeed_python_us.toFixed(2)} µs (measured at ${hi.speedRef_python_us.toFixed(2)})`,
    },
  };
}
