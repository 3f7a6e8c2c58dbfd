#!/usr/bin/env bash
# What PyTorch DTensor tensor parallelism adds to the GPU's work, beside the hand-written Megatron-style
# TP that fasop's operator profiles describe (recipe bf16-adamw-graph-dtensor, policy tp-runtime).
# On a 2-GPU machine: validation/train_step.py --cuda-graph (one whole step captured, so the CPU's
# dispatch is not in the time) with --tp-impl dtensor and --tp-impl manual, at 1 and 3 layers, mbs 1 2 4,
# gbs 4 and 8, for each model; profiler/dtensor_tp.py turns the step times into the extra per layer and
# per model (embedding, lm_head, loss) of one micro-batch, and per step.
#   OUT=<dir> MODELS="llama1b llama8b" bash profiler/dtensor_tp.sh   -> $OUT/dtensor_tp_<GPU>.json, $OUT/dtensor_tp_runs.tgz
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-/tmp/dtensor_tp}"; W="${WORK:-/tmp/dtensor_tp_work}"; MODELS="${MODELS:-llama1b llama8b}"
mkdir -p "$OUT" "$W"
export TORCH_NCCL_ASYNC_ERROR_HANDLING=0 PYTHONUNBUFFERED=1
for model in $MODELS; do
  for impl in dtensor manual; do
    for L in 1 3; do
      timeout 240 torchrun --standalone --nproc_per_node 2 "$HERE/../validation/train_step.py" --model $model --layers $L \
        --tp 2 --pp 1 --dp 1 --tp-impl $impl --cuda-graph --mbs 1 2 4 --gbs 4 8 --steps 6 --warmup 3 \
        --out "$W/$model/$impl/L$L" 2>&1 | grep "step " | sed "s/^/[$model $impl L$L] /"
    done
  done
done
tar czf "$OUT/dtensor_tp_runs.tgz" -C "$W" .
python3 "$HERE/dtensor_tp.py" "$W" --out "$OUT"
