#!/usr/bin/env bash
# Device call (2 GPUs): as call12.sh, with the DDP probe (--ddp) too. call12.sh: as call11.sh, with the two-process tp 1 probe (--independent) too: does a host's
# own CPU issue figure, for as many busy processes as the plan has, predict that host's eager
# host-bound runs? TAG names the machine in the result files (default machineL).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/call13}"; W=/tmp/c13; mkdir -p "$OUT" $W/host_start $W/host_end $W/res
export PYTHONUNBUFFERED=1
{ nproc; lscpu | grep -i "model name\|thread\|core\|socket\|mhz\|numa"; head -1 /proc/stat; nvidia-smi -L; } > $W/machine.txt 2>&1
P="$HERE/../profiler/host_issue.py"
quiet() { grep -v "OMP_NUM_THREADS\|^W.*run.py\|^\*\*\*\*" | grep "wrote\|rror" ; }
probe() {
  CUDA_VISIBLE_DEVICES=0 timeout 80 python3 $P --out $1 2>&1 | quiet
  timeout 80 torchrun --standalone --nproc_per_node 2 $P --independent --out $1 2>&1 | quiet
  timeout 80 torchrun --standalone --nproc_per_node 2 $P --ddp --out $1 2>&1 | quiet
  timeout 80 torchrun --standalone --nproc_per_node 2 $P --out $1 2>&1 | quiet
}
probe $W/host_start
echo "[call13] host done $(( $(date +%s) - T0 ))s"
PREFIX=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o "H100\|H200" | tr A-Z a-z)
COMMON="--model llama1b --layers 8 --steps 10 --warmup 3 --prefix ${PREFIX:-gpu}_llama1b8L --out $W/res --mbs 1 2 --gbs 8 16"
CUDA_VISIBLE_DEVICES=0 timeout 100 python3 $HERE/train_step.py $COMMON --name-suffix _${TAG:-machineL} 2>&1 | grep "step \|rror"
for plan in "2 1 1" "1 1 2" "1 2 1"; do
  read -r tp pp dp <<< "$plan"
  [ $(( $(date +%s) - T0 )) -lt 420 ] || break
  timeout 120 torchrun --standalone --nproc_per_node 2 $HERE/train_step.py $COMMON \
    --tp $tp --pp $pp --dp $dp --tp-impl manual --name-suffix _${TAG:-machineL} --deadline $(( T0 + 440 )) 2>&1 | grep "step \|rror" | grep -v OMP
done
probe $W/host_end
tar czf "$OUT/call13.tgz" -C $W .
echo "[call13] done $(( $(date +%s) - T0 ))s"
