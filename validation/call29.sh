#!/usr/bin/env bash
# Short device call (2 GPUs; sixth session): allocator traces of one eager tp 2 step, PyTorch DTensor
# against the Megatron-style TP (llama1b 8 layers, micro-batch 1 and 4, gbs 8), to find what DTensor
# holds at the peak that the memory model does not count (docs/accuracy.md item 19).
#   bash validation/call29.sh   -> $OUT/call29.tgz (memtrace_dtensor/, memtrace_manual/, results)
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/call29}"; W=/tmp/call29; mkdir -p "$OUT" $W
for impl in dtensor manual; do
  timeout 200 torchrun --standalone --nproc_per_node 2 "$HERE/train_step.py" --tp 2 --tp-impl $impl --model llama1b \
    --layers 8 --mbs 1 4 --gbs 8 --steps 2 --warmup 1 --memory-trace $W/memtrace_$impl --out $W/res \
    --prefix h200_llama1b8L --name-suffix _memtrace_$impl 2>&1 | grep -v "OMP_NUM\|^W.*run.py\|^\*\*\*" | grep "step \|rror"
done
tar czf "$OUT/call29.tgz" -C $W .
echo "[call29] done $(( $(date +%s) - T0 ))s"
