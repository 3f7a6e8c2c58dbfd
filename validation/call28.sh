#!/usr/bin/env bash
# Device call (2 GPUs, a fresh machine; sixth session): PyTorch DTensor tensor parallelism run eagerly.
# 1. The CPU issue probe (profiler/host_issue.py, pinned like machine N's shipped probe, with the host
#    speed before and after) of the Megatron-style tp 2 and of DTensor tp 2 (--tp-impl dtensor:
#    parallelize_module + loss_parallel), llama1b widths, and DTensor at llama8b widths.
# 2. Eager DTensor tp 2 runs (train_step.py --tp-impl dtensor, unpinned, every step's host speed
#    recorded): llama1b 8 layers, then llama8b 4 layers; micro-batch 1, 2, 4; gbs 8 then 16; 30 timed
#    steps after 3; no new plan after the deadlines (the call ends inside about 540 s).
# Run on two machines: each one's probe costs the other's runs (docs/accuracy.md item 19).
#   TAG=machineAA bash validation/call28.sh   -> $OUT/call28.tgz (host/, res/, machine.txt, host_speed_*.txt)
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TAG="${TAG:?set TAG}"; NAME=call28
T0=$(date +%s); OUT="${OUT:-/tmp/$NAME}"; W=/tmp/$NAME; mkdir -p "$OUT" $W/host $W/res
export PYTHONUNBUFFERED=1
{ nproc; lscpu | grep -i "model name"; nvidia-smi -L; } > $W/machine.txt 2>&1; cat $W/machine.txt
python3 "$HERE/../profiler/host_speed.py" --seconds 5 > $W/host_speed_start.txt 2>&1; tail -1 $W/host_speed_start.txt
quiet() { grep -v "OMP_NUM_THREADS\|^W.*run.py\|^\*\*\*\*" | grep "wrote\|rror\|step \|deadline" ; }
P="$HERE/../profiler/host_issue.py"
for flags in "--pin-fastest 2" "--tp-impl dtensor --pin-fastest 2" "--tp-impl dtensor --pin-fastest 2 --model llama8b"; do
  timeout 90 torchrun --standalone --nproc_per_node 2 $P $flags --out $W/host 2>&1 | quiet
done
echo "[$NAME] probes done $(( $(date +%s) - T0 ))s"
tar czf "$OUT/$NAME.tgz" -C $W .
PREFIX=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o "H100\|H200" | tr A-Z a-z)
COMMON="--tp 2 --tp-impl dtensor --steps 30 --warmup 3 --mbs 1 2 4 --gbs 8 16 --out $W/res --name-suffix _eager_dtensor_$TAG"
timeout $(( 400 - ($(date +%s) - T0) )) torchrun --standalone --nproc_per_node 2 "$HERE/train_step.py" $COMMON \
  --model llama1b --layers 8 --prefix ${PREFIX:-gpu}_llama1b8L --deadline $(( T0 + 300 )) 2>&1 | quiet
tar czf "$OUT/$NAME.tgz" -C $W .
timeout $(( 530 - ($(date +%s) - T0) )) torchrun --standalone --nproc_per_node 2 "$HERE/train_step.py" $COMMON \
  --model llama8b --layers 4 --prefix ${PREFIX:-gpu}_llama8b4L --deadline $(( T0 + 440 )) 2>&1 | quiet
python3 "$HERE/../profiler/host_speed.py" --seconds 3 > $W/host_speed_end.txt 2>&1; tail -1 $W/host_speed_end.txt
tar czf "$OUT/$NAME.tgz" -C $W .
echo "[$NAME] done $(( $(date +%s) - T0 ))s"
