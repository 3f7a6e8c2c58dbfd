#!/usr/bin/env bash
# One device call on any 2-GPU machine: profiler/loss_parallel.py (DTensor loss_parallel against the
# Megatron-style vocab-parallel cross-entropy, GPU time captured and allocator peak), then a repeat of
# the captured DTensor TP plans of call22.sh (gbs 8) on this machine.   -> $OUT/call24.tgz
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/call24}"; W=/tmp/c24
mkdir -p "$OUT" $W/prof $W/res
N=$(nvidia-smi -L | wc -l); GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o 'H100\|H200' || echo gpu)
g=$(echo "$GPU" | tr 'A-Z' 'a-z'); echo "[call24] $(date -Is) $GPU x$N"
[ "$N" -ge 2 ] || exit 0
export TORCH_NCCL_ASYNC_ERROR_HANDLING=0 NCCL_ASYNC_ERROR_HANDLING=0 PYTHONUNBUFFERED=1
timeout 200 torchrun --standalone --nproc_per_node 2 "$HERE/../profiler/loss_parallel.py" $W/prof 2>&1 | grep -v "^W\|OMP_NUM\|^\*\*\*" | tail -15
tar czf "$OUT/call24.tgz" -C $W prof res
for model_layers in llama1b:8 llama8b:4; do
  IFS=: read -r model layers <<< "$model_layers"
  left=$(( T0 + 400 - $(date +%s) )); [ $left -gt 30 ] || break
  PLANS="2,1,1" TP_IMPLS=dtensor LAYERS=$layers MBS="1 2 4" GBS="8" STEPS=10 WARMUP=3 DEADLINE=$(( T0 + 400 )) \
    EXTRA_ARGS="--model $model --cuda-graph --prefix ${g}_${model}${layers}L --name-suffix _graph_rep1" \
    timeout $left bash "$HERE/run_all.sh" $W/res 2>&1 | grep "step \|rror" | tail -6
  tar czf "$OUT/call24.tgz" -C $W prof res
done
echo "[call24] done $(( $(date +%s) - T0 ))s"
