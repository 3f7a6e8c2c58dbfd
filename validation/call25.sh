#!/usr/bin/env bash
# Device call (2 GPUs, a fresh machine "X"): call19.sh's two 40-step sweeps of the llama1b eager plans
# near the host bound, with the layer probe (train_step.py --layer-probe) beside the other host-speed
# indices at every step. Figures stay machine N's probe, so X is held out (docs/accuracy.md item 17).
# -> $OUT/call25.tgz. Ran as: a 3-probe smoke test of host_speed_probe(layer=True), then this.
SWEEP_EXTRA=--layer-probe TAG="${TAG:-machineX}" STOP_S=390 NAME=call25 exec bash "$(cd "$(dirname "$0")" && pwd)/call19.sh"
