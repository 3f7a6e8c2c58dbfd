#!/usr/bin/env bash
# Device call (2 GPUs): the eager llama1b sweep again on a new machine, with this machine's CPU issue
# time measured first (profiler/host_overhead.py, tp 1 and 2): is the eager host-bound regime
# reproducible, and does a per-machine host figure predict it?
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/call8}"; W=/tmp/c8; mkdir -p "$OUT" $W/host $W/res
export PYTHONUNBUFFERED=1
timeout 90 python3 "$HERE/../profiler/host_overhead.py" --out $W/host 2>&1 | tail -2
timeout 90 torchrun --standalone --nproc_per_node 2 "$HERE/../profiler/host_overhead.py" --out $W/host 2>&1 | grep -v "OMP_NUM\|^W.*run.py\|^\*\*\*\*" | tail -2
echo "[call8] host done $(( $(date +%s) - T0 ))s"
PLANS="1,1,1 2,1,1 1,1,2 1,2,1" TP_IMPLS=manual LAYERS=8 STEPS=10 WARMUP=3 DEADLINE=$(( T0 + 380 )) \
  EXTRA_ARGS="--model llama1b --prefix h200_llama1b8L --name-suffix _eager2" \
  timeout $(( 440 - ($(date +%s) - T0) )) bash "$HERE/run_all.sh" $W/res 2>&1 | grep "step \|rror" | tail -30
tar czf "$OUT/call8.tgz" -C $W .
echo "[call8] done $(( $(date +%s) - T0 ))s"
