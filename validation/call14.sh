#!/usr/bin/env bash
# Device call (2 GPUs), this session's first.
#   H100 pair: what no earlier session could measure on H100 — the NCCL links as a captured step
#     issues them (profiler/comm.py --graph), the all-reduce's exposed fraction beside compute
#     (profiler/overlap.py), and the captured llama8b (4 layers) 2-GPU sweep.
#   otherwise (an H200 pair): the host-speed experiment (docs/accuracy.md item 13) — the llama1b eager
#     plans near the host bound, with train_step.py's host-speed probe between steps, and the host's
#     CPU issue probe (profiler/host_issue.py, with its speed before and after) at the start and end.
# Everything lands in $OUT/call14.tgz.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/call14}"; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o 'H100\|H200' || echo gpu)
echo "[call14] $GPU x$(nvidia-smi -L | wc -l)"
if [ "$GPU" = H100 ]; then
  W=/tmp/c14; mkdir -p $W/prof
  timeout 150 torchrun --standalone --nproc_per_node 2 "$HERE/../profiler/comm.py" --graph --max-bytes $((256 * 1024 * 1024)) \
    --out $W/prof 2>&1 | grep -v "OMP_NUM_THREADS\|^W.*run.py\|^\*\*\*\*" | tail -4
  timeout 120 torchrun --standalone --nproc_per_node 2 "$HERE/../profiler/overlap.py" --out $W/prof 2>&1 \
    | grep -v "OMP_NUM_THREADS\|^W.*run.py\|^\*\*\*\*" | tail -6
  echo "[call14] links done $(( $(date +%s) - T0 ))s"
  tar czf "$OUT/call14.tgz" -C $W .
  OUT=$W SKIP_SMOKE=1 SKIP_OPT=1 MODEL=llama8b LAYERS=4 EXTRA_PP_GRAPH=1,3 \
    BUDGET_S=$((560 - ($(date +%s) - T0))) bash "$HERE/graph_session.sh" 2>&1 | grep "step\|sweep\|done\|rror" | tail -40
  tar czf "$OUT/call14.tgz" -C $W .
else
  NAME=call14 TAG="${TAG:-machineM}" PROBES="independent" OUT="$OUT" bash "$HERE/host_machine_call.sh"
fi
echo "[call14] done $(( $(date +%s) - T0 ))s"
