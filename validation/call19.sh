#!/usr/bin/env bash
# Device call (2 GPUs, a fresh machine "Q"): does a longer window make eager host-bound step times
# repeatable? Two back-to-back sweeps of the llama1b eager plans near the host bound
# (host_bound_sweep.sh, unpinned) with 40 timed steps per run instead of 10; every run records its
# host speed before each step (all three indices). Figures for the estimate stay machine N's probe, so
# Q is held out (docs/accuracy.md item 14). On an H100 pair, call18.sh's links and overlap probe
# run first and one sweep follows; on one GPU (call20.sh) the sweeps run the 1-GPU plans only.
#   [TAG=machineQ] [STOP_S=520] [NAME=call19] bash validation/call19.sh  -> $OUT/$NAME.tgz
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TAG="${TAG:-machineQ}"; STOP_S="${STOP_S:-520}"; NAME="${NAME:-call19}"
T0=$(date +%s); OUT="${OUT:-/tmp/$NAME}"; W=/tmp/$NAME; mkdir -p "$OUT" $W/res
export PYTHONUNBUFFERED=1
{ nproc; lscpu | grep -i "model name"; nvidia-smi -L; } > $W/machine.txt 2>&1
cat $W/machine.txt
python3 "$HERE/../profiler/host_speed.py" --seconds 5 > $W/host_speed_start.txt 2>&1; tail -2 $W/host_speed_start.txt
OUT=$W/call18 bash "$HERE/call18.sh"
export SWEEP_STEPS=40 SWEEP_TIMEOUT=170
for rep in a b; do
  timeout $(( 575 - ($(date +%s) - T0) )) bash "$HERE/host_bound_sweep.sh" $W/res "${TAG}40$rep" unpinned $T0 "$STOP_S" || break
  tar czf "$OUT/$NAME.tgz" -C $W .
done
python3 "$HERE/../profiler/host_speed.py" --seconds 5 > $W/host_speed_end.txt 2>&1; tail -2 $W/host_speed_end.txt
tar czf "$OUT/$NAME.tgz" -C $W .
echo "[$NAME] done $(( $(date +%s) - T0 ))s"
