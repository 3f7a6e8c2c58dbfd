#!/usr/bin/env bash
# Device call (1 GPU, H100 host): the host-speed policy on another kind of host. Two back-to-back
# 40-step sweeps of the 1-GPU llama1b eager plans near the host bound (host_bound_sweep.sh,
# unpinned), each run recording its host speed before every step. Figures stay machine N's probe
# (a 2x H200 host), so this host is held out (docs/accuracy.md item 14).  -> $OUT/call20.tgz
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TAG="${TAG:-machineS}"; T0=$(date +%s); OUT="${OUT:-/tmp/call20}"; W=/tmp/call20; mkdir -p "$OUT" $W/res
export PYTHONUNBUFFERED=1 SWEEP_STEPS=40 SWEEP_TIMEOUT=170
{ nproc; lscpu | grep -i "model name"; nvidia-smi -L; } > $W/machine.txt 2>&1
cat $W/machine.txt
python3 "$HERE/../profiler/host_speed.py" --seconds 5 > $W/host_speed_start.txt 2>&1; tail -1 $W/host_speed_start.txt
for rep in a b; do
  bash "$HERE/host_bound_sweep.sh" $W/res "${TAG}40$rep" unpinned $T0 400
  tar czf "$OUT/call20.tgz" -C $W .
done
python3 "$HERE/../profiler/host_speed.py" --seconds 5 > $W/host_speed_end.txt 2>&1; tail -1 $W/host_speed_end.txt
tar czf "$OUT/call20.tgz" -C $W .
echo "[call20] done $(( $(date +%s) - T0 ))s"
