#!/usr/bin/env bash
# Device call (1 GPU, H100 host): the host-speed policy on another kind of host — call19.sh on one GPU
# (its two 40-step sweeps run the 1-GPU llama1b plans only; call18.sh exits at once). Figures stay
# machine N's probe (a 2x H200 host), so this host is held out (docs/accuracy.md item 14).
# -> $OUT/call20.tgz. (Ran as its own copy of these steps; a wrapper since, not re-run.)
TAG="${TAG:-machineS}" STOP_S=400 NAME=call20 exec bash "$(cd "$(dirname "$0")" && pwd)/call19.sh"
