#!/usr/bin/env bash
# Device time of operators and NCCL links as a CUDA-graph runtime issues them.
#   OUT=<dir> MODELS="llama1b llama8b" MAX_MBS=32 bash profiler/graph_profiles.sh
# 1. profiler/comm.py --graph on all GPUs (comm_<GPU>_graph.json), 2. profiler/profile_ops.py
# --graph for each model, models spread over the GPUs (<model>_<GPU>_<tp>.npz, TP 1 2 4 8).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-/tmp/graph_profiles}"; MODELS="${MODELS:-llama1b llama8b}"; MAX_MBS="${MAX_MBS:-32}"
mkdir -p "$OUT"
NGPU=$(nvidia-smi -L | wc -l)
export PYTHONUNBUFFERED=1
if [ "$NGPU" -ge 2 ]; then
  timeout 150 torchrun --standalone --nproc_per_node 2 "$HERE/comm.py" --graph --max-bytes $((256 * 1024 * 1024)) \
    --out "$OUT" 2>&1 | grep -v "OMP_NUM_THREADS\|^W.*run.py\|^\*\*\*\*" | tail -15
fi
i=0; pids=()
for m in $MODELS; do
  dev=$((i % NGPU))
  ( CUDA_VISIBLE_DEVICES=$dev timeout 300 python3 "$HERE/profile_ops.py" --graph --model "$m" --tp 1 2 4 8 \
      --max-mbs "$MAX_MBS" --out "$OUT" > "$OUT/profile_log_${m}_graph.txt" 2>&1 ) &
  pids+=($!); i=$((i + 1))
done
for p in "${pids[@]}"; do wait "$p"; done
grep -h "wrote\|layer fwd\|tp=.*b=" "$OUT"/profile_log_*_graph.txt | head -80
