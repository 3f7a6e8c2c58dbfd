#!/usr/bin/env bash
# Device call (2 GPUs): CPU issue time of an eager micro-batch with 1 and 2 busy training processes on
# the host (profiler/host_issue.py), then eager llama1b runs on the same machine: the 1-GPU plans two
# at a time (2 processes on the host) and alone, and the 2-GPU plans (2 processes), with the host's
# CPU steal time recorded per run.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/call10}"; W=/tmp/c10; mkdir -p "$OUT" $W/host $W/res
export PYTHONUNBUFFERED=1
{ nproc; lscpu | grep -i "model name\|thread\|core\|socket\|mhz\|numa"; head -1 /proc/stat; nvidia-smi -L; } > $W/machine.txt 2>&1
P="$HERE/../profiler/host_issue.py"
quiet() { grep -v "OMP_NUM_THREADS\|^W.*run.py\|^\*\*\*\*" | grep "wrote\|rror" ; }
CUDA_VISIBLE_DEVICES=0 timeout 80 python3 $P --out $W/host 2>&1 | quiet
timeout 80 torchrun --standalone --nproc_per_node 2 $P --independent --out $W/host 2>&1 | quiet
timeout 80 torchrun --standalone --nproc_per_node 2 $P --out $W/host 2>&1 | quiet
CUDA_VISIBLE_DEVICES=0 timeout 80 python3 $P --model llama8b --out $W/host 2>&1 | quiet
echo "[call10] host done $(( $(date +%s) - T0 ))s"
PREFIX=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o "H100\|H200" | tr A-Z a-z)
COMMON="--model llama1b --layers 8 --steps 10 --warmup 3 --prefix ${PREFIX:-gpu}_llama1b8L --out $W/res"
# 1-GPU plans, two processes at once (as the committed sweep ran them), then alone
( CUDA_VISIBLE_DEVICES=0 timeout 100 python3 $HERE/train_step.py $COMMON --mbs 1 2 --gbs 8 --host-processes 2 --name-suffix _shared3 > $W/shared_a.txt 2>&1 ) &
( CUDA_VISIBLE_DEVICES=1 timeout 100 python3 $HERE/train_step.py $COMMON --mbs 1 2 --gbs 16 --host-processes 2 --name-suffix _shared3 > $W/shared_b.txt 2>&1 ) &
wait
grep -h "step \|rror" $W/shared_a.txt $W/shared_b.txt
CUDA_VISIBLE_DEVICES=0 timeout 100 python3 $HERE/train_step.py $COMMON --mbs 1 2 --gbs 8 16 --name-suffix _alone3 2>&1 | grep "step \|rror"
echo "[call10] 1-GPU done $(( $(date +%s) - T0 ))s"
for plan in "2 1 1" "1 1 2" "1 2 1"; do
  read -r tp pp dp <<< "$plan"
  [ $(( $(date +%s) - T0 )) -lt 470 ] || break
  timeout $(( 560 - ($(date +%s) - T0) )) torchrun --standalone --nproc_per_node 2 $HERE/train_step.py $COMMON \
    --tp $tp --pp $pp --dp $dp --tp-impl manual --mbs 1 2 4 --gbs 8 16 --name-suffix _eager3 \
    --deadline $(( T0 + 540 )) 2>&1 | grep "step \|rror" | grep -v OMP
done
tar czf "$OUT/call10.tgz" -C $W .
echo "[call10] done $(( $(date +%s) - T0 ))s"
