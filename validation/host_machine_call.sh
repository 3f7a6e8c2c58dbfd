#!/usr/bin/env bash
# Device call (2 GPUs): does a host's own CPU issue figure (profiler/host_issue.py, run at the start and
# again at the end) predict that host's eager host-bound runs? The llama1b plans with micro-batch 1
# and 2 (those near or past the host bound), 1-GPU alone and the three 2-GPU shapes.
#   NAME   call name (archive NAME.tgz under $OUT, work folder /tmp/NAME)
#   TAG    machine name in the result files (--name-suffix _TAG)
#   PROBES extra two-process tp 1 probes, of: independent ddp (default: none)
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
NAME="${NAME:?NAME}"; TAG="${TAG:?TAG}"; PROBES="${PROBES:-}"
T0=$(date +%s); OUT="${OUT:-/tmp/$NAME}"; W=/tmp/$NAME; mkdir -p "$OUT" $W/host_start $W/host_end $W/res
export PYTHONUNBUFFERED=1
{ nproc; lscpu | grep -i "model name\|thread\|core\|socket\|mhz\|numa"; head -1 /proc/stat; nvidia-smi -L; } > $W/machine.txt 2>&1
P="$HERE/../profiler/host_issue.py"
quiet() { grep -v "OMP_NUM_THREADS\|^W.*run.py\|^\*\*\*\*" | grep "wrote\|rror" ; }
probe() {
  CUDA_VISIBLE_DEVICES=0 timeout 80 python3 $P --out $1 2>&1 | quiet
  for kind in $PROBES; do
    timeout 80 torchrun --standalone --nproc_per_node 2 $P --$kind --out $1 2>&1 | quiet
  done
  timeout 80 torchrun --standalone --nproc_per_node 2 $P --out $1 2>&1 | quiet
}
probe $W/host_start
echo "[$NAME] host done $(( $(date +%s) - T0 ))s"
PREFIX=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o "H100\|H200" | tr A-Z a-z)
COMMON="--model llama1b --layers 8 --steps 10 --warmup 3 --prefix ${PREFIX:-gpu}_llama1b8L --out $W/res --mbs 1 2 --gbs 8 16"
CUDA_VISIBLE_DEVICES=0 timeout 100 python3 $HERE/train_step.py $COMMON --name-suffix _$TAG 2>&1 | grep "step \|rror"
for plan in "2 1 1" "1 1 2" "1 2 1"; do
  read -r tp pp dp <<< "$plan"
  [ $(( $(date +%s) - T0 )) -lt 420 ] || break
  timeout 120 torchrun --standalone --nproc_per_node 2 $HERE/train_step.py $COMMON \
    --tp $tp --pp $pp --dp $dp --tp-impl manual --name-suffix _$TAG --deadline $(( T0 + 440 )) 2>&1 | grep "step \|rror" | grep -v OMP
done
probe $W/host_end
tar czf "$OUT/$NAME.tgz" -C $W .
echo "[$NAME] done $(( $(date +%s) - T0 ))s"
