#!/usr/bin/env bash
# Device call (2 GPUs, a fresh machine "P"), the held-out test of the host-speed policy with the
# CUDA-launch index (chosen on machines M, N, O; docs/accuracy.md item 13): only the llama1b eager
# plans near the host bound, unpinned then pinned (--pin-fastest 2); each run records its host speed
# between steps. No probes: the figures are the shipped ones.  -> $OUT/call17.tgz
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TAG="${TAG:-machineP}"; T0=$(date +%s); OUT="${OUT:-/tmp/call17}"; W=/tmp/call17; mkdir -p "$OUT" $W/res
export PYTHONUNBUFFERED=1
{ nproc; lscpu | grep -i "model name"; nvidia-smi -L; } > $W/machine.txt 2>&1
PREFIX=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o "H100\|H200" | tr A-Z a-z)
COMMON="--model llama1b --layers 8 --steps 10 --warmup 3 --prefix ${PREFIX:-gpu}_llama1b8L --out $W/res --mbs 1 2 --gbs 8 16"
for pin in unpinned pinned; do
  flag=""; [ $pin = unpinned ] || flag="--pin-fastest 2"
  [ $(( $(date +%s) - T0 )) -lt 300 ] || break
  CUDA_VISIBLE_DEVICES=0 timeout 100 python3 $HERE/train_step.py $COMMON $flag --name-suffix _${TAG}_$pin 2>&1 | grep "step \|rror"
  for plan in "2 1 1" "1 1 2" "1 2 1"; do
    read -r tp pp dp <<< "$plan"
    [ $(( $(date +%s) - T0 )) -lt 320 ] || break
    timeout 90 torchrun --standalone --nproc_per_node 2 $HERE/train_step.py $COMMON $flag \
      --tp $tp --pp $pp --dp $dp --tp-impl manual --name-suffix _${TAG}_$pin --deadline $(( T0 + 330 )) 2>&1 | grep "step \|rror" | grep -v OMP
  done
  tar czf "$OUT/call17.tgz" -C $W .
done
echo "[call17] done $(( $(date +%s) - T0 ))s"
