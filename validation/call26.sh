#!/usr/bin/env bash
# Short device call (2 GPUs, a fresh machine "Y"): the CPU issue probe (profiler/host_issue.py, pinned
# like machine N's shipped one) with the layer probe in its speed before and after, so that machine X's
# runs (call25: eager llama1b, 40 steps, layer probe at every step) can be costed with a profile from
# another host scaled by either index (docs/accuracy.md item 17).   -> $OUT/call26.tgz
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/call26}"; W=/tmp/call26; mkdir -p "$OUT" $W/host
export PYTHONUNBUFFERED=1
{ nproc; lscpu | grep -i "model name"; nvidia-smi -L; } > $W/machine.txt 2>&1; cat $W/machine.txt
P="$HERE/../profiler/host_issue.py"
quiet() { grep -v "OMP_NUM_THREADS\|^W.*run.py\|^\*\*\*\*" | grep "wrote\|rror\|pinned\|Trace" ; }
CUDA_VISIBLE_DEVICES=0 timeout 60 python3 $P --layer-probe --pin-fastest 2 --out $W/host 2>&1 | quiet
timeout 70 torchrun --standalone --nproc_per_node 2 $P --layer-probe --independent --pin-fastest 2 --out $W/host 2>&1 | quiet
timeout 70 torchrun --standalone --nproc_per_node 2 $P --layer-probe --pin-fastest 2 --out $W/host 2>&1 | quiet
python3 "$HERE/../profiler/host_speed.py" --seconds 5 2>&1 | tail -1
tar czf "$OUT/call26.tgz" -C $W .
echo "[call26] done $(( $(date +%s) - T0 ))s"
