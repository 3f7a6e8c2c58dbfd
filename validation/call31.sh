#!/usr/bin/env bash
# Last short device call of the sixth session (2 GPUs, about 240 s). On an H100 pair: call18.sh's
# captured links and overlap probe, then the captured llama8b tp 2 sweep (gbs 16). Anywhere else: a
# second held-out machine for eager DTensor TP — the DTensor probe and the runs of call28.sh, llama1b
# 8 layers then llama8b 4 layers, gbs 8 and 16, 20 timed steps, until the deadline.
#   TAG=machineAD bash validation/call31.sh   -> $OUT/call31.tgz
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TAG="${TAG:?set TAG}"; T0=$(date +%s); OUT="${OUT:-/tmp/call31}"; W=/tmp/call31; mkdir -p "$OUT" $W/host $W/res
export PYTHONUNBUFFERED=1
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o 'H100\|H200' || echo gpu)
{ nproc; lscpu | grep -i "model name"; nvidia-smi -L; } > $W/machine.txt 2>&1; cat $W/machine.txt
quiet() { grep -v "OMP_NUM_THREADS\|^W.*run.py\|^\*\*\*\*" | grep "wrote\|rror\|step \|deadline" ; }
if [ "$GPU" = H100 ]; then
  OUT=$W bash "$HERE/call18.sh"
  OUT=$W WORK=$W/graph SKIP_SMOKE=1 GRAPH_PLANS="2,1,1" SKIP_OPT=1 MODEL=llama8b LAYERS=4 GBS=16 \
    BUDGET_S=$((240 - ($(date +%s) - T0))) bash "$HERE/graph_session.sh" 2>&1 | grep "step\|done\|rror" | tail -10
else
  timeout 50 torchrun --standalone --nproc_per_node 2 "$HERE/../profiler/host_issue.py" --tp-impl dtensor --pin-fastest 2 --out $W/host 2>&1 | quiet
  tar czf "$OUT/call31.tgz" -C $W .
  COMMON="--tp 2 --tp-impl dtensor --steps 20 --warmup 3 --mbs 1 2 4 --gbs 8 16 --out $W/res --name-suffix _eager_dtensor_$TAG"
  timeout $(( 160 - ($(date +%s) - T0) )) torchrun --standalone --nproc_per_node 2 "$HERE/train_step.py" $COMMON \
    --model llama1b --layers 8 --prefix h200_llama1b8L --deadline $(( T0 + 130 )) 2>&1 | quiet
  tar czf "$OUT/call31.tgz" -C $W .
  timeout $(( 235 - ($(date +%s) - T0) )) torchrun --standalone --nproc_per_node 2 "$HERE/train_step.py" $COMMON \
    --model llama8b --layers 4 --prefix h200_llama8b4L --deadline $(( T0 + 200 )) 2>&1 | quiet
fi
tar czf "$OUT/call31.tgz" -C $W .
echo "[call31] done $(( $(date +%s) - T0 ))s"
