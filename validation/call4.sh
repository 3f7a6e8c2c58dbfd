#!/usr/bin/env bash
# Device call (2 GPUs): NCCL links as captured replays incl. the all-reduce after a GEMM
# (profiler/comm.py --graph), allocator traces of the first and the last step of llama1b dp2 runs
# (the rank-0 extra at m <= 2), and the llama8b CUDA-graph sweep with eager-step peaks recorded.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/call4}"; W=/tmp/c4; mkdir -p "$OUT" $W
export PYTHONUNBUFFERED=1
timeout 150 torchrun --standalone --nproc_per_node 2 "$HERE/../profiler/comm.py" --graph --max-bytes $((256 * 1024 * 1024)) \
  --out $W 2>&1 | grep -v "OMP_NUM_THREADS\|^W.*run.py\|^\*\*\*\*" | tail -16
for st in 0 -1; do
  timeout 120 torchrun --standalone --nproc_per_node 2 "$HERE/train_step.py" --model llama1b --layers 8 --dp 2 --mbs 4 \
    --gbs 8 16 --steps 2 --warmup 1 --memory-trace $W/memtrace --memory-trace-step $st --out $W/mt_res --prefix "mt$st" 2>&1 | grep "step \|rror" | tail -4
done
tar czf "$OUT/call4_profiles.tgz" -C $W .
echo "[call4] $(( $(date +%s) - T0 ))s before the sweep"
OUT="$OUT" SKIP_SMOKE=1 SKIP_OPT=1 MODEL=llama8b LAYERS=4 EXTRA_PP_GRAPH=1,3 \
  BUDGET_S=$((560 - ($(date +%s) - T0))) bash "$HERE/graph_session.sh" 2>&1 | grep "step\|sweep\|done\|rror" | tail -40
