#!/usr/bin/env bash
# Short device call: only on an H100 pair — the NCCL links as a captured step issues them
# (profiler/comm.py --graph) and the all-reduce's exposed fraction beside compute (profiler/overlap.py).
# On anything else it exits at once.  -> $OUT/call18.tgz
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-/tmp/call18}"; W=/tmp/c18; mkdir -p "$OUT" $W
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o 'H100\|H200' || echo gpu)
N=$(nvidia-smi -L | wc -l)
echo "[call18] $GPU x$N"
{ [ "$GPU" = H100 ] && [ "$N" -ge 2 ]; } || exit 0
timeout 90 torchrun --standalone --nproc_per_node 2 "$HERE/../profiler/comm.py" --graph --max-bytes $((256 * 1024 * 1024)) \
  --out $W 2>&1 | grep -v "OMP_NUM_THREADS\|^W.*run.py\|^\*\*\*\*" | tail -4
tar czf "$OUT/call18.tgz" -C $W .
timeout 80 torchrun --standalone --nproc_per_node 2 "$HERE/../profiler/overlap.py" --out $W 2>&1 \
  | grep -v "OMP_NUM_THREADS\|^W.*run.py\|^\*\*\*\*" | tail -6
tar czf "$OUT/call18.tgz" -C $W .
