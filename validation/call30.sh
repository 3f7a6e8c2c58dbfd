#!/usr/bin/env bash
# Device call on a 4-GPU machine (sixth session). On H100s: what call21.sh does on an H100 pair — the
# captured NCCL links and overlap probe (call18.sh) and the captured llama8b 2-GPU sweep on GPUs 0 and
# 1 — until about 340 s. On H200s: the captured llama8b (4 layers) sweep of the one-dimension 4-GPU
# plans (dp 4, pp 4, tp 4 Megatron-style; b 1/2/4, gbs 16), which the estimator costs with links
# measured on 2 GPUs (ring formula for 4).   -> $OUT/call30.tgz
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/call30}"; W=/tmp/call30; mkdir -p "$OUT" $W
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o 'H100\|H200' || echo gpu)
N=$(nvidia-smi -L | wc -l)
{ nproc; lscpu | grep -i "model name"; nvidia-smi -L; nvidia-smi topo -m; } > $W/machine.txt 2>&1; head -8 $W/machine.txt
if [ "$GPU" = H100 ] && [ "$N" -ge 2 ]; then
  OUT=$W bash "$HERE/call18.sh"
  CUDA_VISIBLE_DEVICES=0,1 OUT=$W WORK=$W/graph SKIP_SMOKE=1 GRAPH_PLANS="2,1,1 1,1,2 1,2,1" SKIP_OPT=1 MODEL=llama8b LAYERS=4 \
    GBS=16 BUDGET_S=$((340 - ($(date +%s) - T0))) NGPU=2 bash "$HERE/graph_session.sh" 2>&1 | grep "step\|sweep\|done\|rror" | tail -30
elif [ "$N" -ge 4 ]; then
  OUT=$W WORK=$W/graph SKIP_SMOKE=1 GRAPH_PLANS="1,1,4 1,4,1 4,1,1" SKIP_OPT=1 MODEL=llama8b LAYERS=4 GBS=16 \
    BUDGET_S=$((340 - ($(date +%s) - T0))) bash "$HERE/graph_session.sh" 2>&1 | grep "step\|sweep\|done\|rror\|relaunch" | tail -30
fi
tar czf "$OUT/call30.tgz" -C $W .
echo "[call30] done $(( $(date +%s) - T0 ))s"
