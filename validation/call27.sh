#!/usr/bin/env bash
# Short device call (2 GPUs, a fresh machine "Z"): the CPU issue probe of tp 1 data parallel (the model
# in DDP under no_sync: profiler/host_issue.py --ddp) beside the same two processes without DDP
# (--independent), pinned like machine N's shipped probe, with the host speed before and after; the
# shipped profile has no DDP entry (docs/accuracy.md item 18). Decided before the data: the DDP entry
# joins the shipped profile if, on the runs of machines M to X (all before Z), it lowers the dp 2
# plans' MAPE without raising the max over all runs.   -> $OUT/call27.tgz
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/call27}"; W=/tmp/call27; mkdir -p "$OUT" $W/host
export PYTHONUNBUFFERED=1
{ nproc; lscpu | grep -i "model name"; nvidia-smi -L; } > $W/machine.txt 2>&1; cat $W/machine.txt
P="$HERE/../profiler/host_issue.py"
quiet() { grep -v "OMP_NUM_THREADS\|^W.*run.py\|^\*\*\*\*" | grep "wrote\|rror\|Trace" ; }
timeout 70 torchrun --standalone --nproc_per_node 2 $P --ddp --pin-fastest 2 --out $W/host 2>&1 | quiet
timeout 70 torchrun --standalone --nproc_per_node 2 $P --independent --pin-fastest 2 --out $W/host 2>&1 | quiet
tar czf "$OUT/call27.tgz" -C $W .
echo "[call27] done $(( $(date +%s) - T0 ))s"
