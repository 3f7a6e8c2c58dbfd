#!/usr/bin/env bash
# Device call (2 GPUs): kernel timelines (torch.profiler) of the last step of data-parallel plans,
# eager and captured, to see how much of DDP's gradient all-reduce overlaps the backward pass.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-/tmp/call5}"; W=/tmp/c5; mkdir -p "$OUT" $W
export PYTHONUNBUFFERED=1 TORCH_NCCL_ASYNC_ERROR_HANDLING=0
run() { timeout 150 torchrun --standalone --nproc_per_node 2 "$HERE/train_step.py" --steps 3 --warmup 2 --kernel-trace $W/trace --out $W/res "$@" 2>&1 | grep "step \|rror" | tail -3; }
run --model llama8b --layers 4 --dp 2 --mbs 4 --gbs 8 16 --prefix eager8b
run --model llama8b --layers 4 --dp 2 --mbs 4 --gbs 8 16 --cuda-graph --prefix graph8b
run --model llama1b --layers 8 --dp 2 --mbs 4 --gbs 8 --cuda-graph --prefix graph1b
run --model llama1b --layers 8 --tp 2 --tp-impl manual --mbs 1 4 --gbs 8 --cuda-graph --prefix graph1b
CUDA_VISIBLE_DEVICES=0 timeout 100 python3 "$HERE/train_step.py" --steps 3 --warmup 2 --kernel-trace $W/trace --out $W/res \
  --model llama1b --layers 8 --mbs 1 4 --gbs 8 --cuda-graph --prefix graph1b 2>&1 | grep "step \|rror" | tail -3
ls -la $W/trace | head
tar czf "$OUT/call5.tgz" -C $W .
