#!/usr/bin/env bash
# One device call on any 2-GPU machine: PyTorch DTensor tensor parallelism (parallelize_module,
# loss_parallel) with the whole step captured as one CUDA graph (train_step.py --cuda-graph --tp-impl
# dtensor). Eager DTensor TP is host-bound at these sizes (docs/accuracy.md, "what was wrong" item 2);
# captured, the CPU's dispatch is gone and the GPU's work is what is left to compare.
# 1. smoke test on the tiny model (capture mode thread_local, then global); stops here if neither captures;
# 2. llama1b 8 layers and llama8b 4 layers, tp 2, mbs 1 2 4, gbs 8 16, DTensor, captured;
# 3. the same plans with the hand-written Megatron-style TP, captured, on the same machine (baseline).
#   OUT=<dir> BUDGET_S=540 bash validation/call22.sh   -> $OUT/call22.tgz
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/call22}"; W=/tmp/c22; BUDGET_S="${BUDGET_S:-540}"
mkdir -p "$OUT" $W/smoke $W/res
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o 'H100\|H200' || echo gpu)
g=$(echo "$GPU" | tr 'A-Z' 'a-z'); N=$(nvidia-smi -L | wc -l)
echo "[call22] $(date -Is) $GPU x$N"
[ "$N" -ge 2 ] || { echo "[call22] needs 2 GPUs"; exit 0; }
export TORCH_NCCL_ASYNC_ERROR_HANDLING=0 NCCL_ASYNC_ERROR_HANDLING=0 PYTHONUNBUFFERED=1
pack() { tar czf "$OUT/call22.tgz" -C $W smoke res 2>/dev/null; }
mode=""
for m in thread_local global; do
  if timeout 150 torchrun --standalone --nproc_per_node 2 "$HERE/train_step.py" --tiny --cuda-graph --graph-capture-mode $m \
      --tp 2 --pp 1 --dp 1 --tp-impl dtensor --mbs 1 2 --gbs 4 --steps 3 --warmup 1 --layers 2 --out $W/smoke/$m > $W/smoke/log_$m.txt 2>&1; then
    echo "[call22] smoke dtensor capture $m: ok"; mode=$m; break
  else
    echo "[call22] smoke dtensor capture $m: FAILED"; grep -v "^W\|OMP_NUM" $W/smoke/log_$m.txt | tail -12
  fi
done
[ -n "$mode" ] || { pack; exit 0; }
for impl_model in dtensor:llama1b:8 dtensor:llama8b:4 manual:llama1b:8 manual:llama8b:4; do
  IFS=: read -r impl model layers <<< "$impl_model"
  left=$(( T0 + BUDGET_S - $(date +%s) )); [ $left -gt 30 ] || break
  echo "[call22] $(date -Is) $impl $model ${layers}L, ${left}s left"
  PLANS="2,1,1" TP_IMPLS=$impl LAYERS=$layers MBS="1 2 4" GBS="8 16" STEPS=10 WARMUP=3 DEADLINE=$(( T0 + BUDGET_S )) \
    EXTRA_ARGS="--model $model --cuda-graph --graph-capture-mode $mode --prefix ${g}_${model}${layers}L" \
    timeout $left bash "$HERE/run_all.sh" $W/res 2>&1 | grep -v "^\[rank\|Warning" | grep "step\|rror\|FAIL\|skip" | tail -12
  pack
done
pack
echo "[call22] done $(( $(date +%s) - T0 ))s"
