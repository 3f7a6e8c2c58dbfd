#!/usr/bin/env bash
# Device call (2 GPUs, a fresh machine "P"), the held-out test of the host-speed policy with the
# CUDA-launch index (chosen on machines M, N, O; docs/accuracy.md item 13): only the llama1b eager
# plans near the host bound, unpinned then pinned (--pin-fastest 2); each run records its host speed
# between steps. No probes: the figures are the shipped ones.  -> $OUT/call17.tgz
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TAG="${TAG:-machineP}"; T0=$(date +%s); OUT="${OUT:-/tmp/call17}"; W=/tmp/call17; mkdir -p "$OUT" $W/res
export PYTHONUNBUFFERED=1
{ nproc; lscpu | grep -i "model name"; nvidia-smi -L; } > $W/machine.txt 2>&1
for pin in unpinned pinned; do
  bash "$HERE/host_bound_sweep.sh" $W/res "$TAG" $pin $T0 320 || break
  tar czf "$OUT/call17.tgz" -C $W .
done
echo "[call17] done $(( $(date +%s) - T0 ))s"
