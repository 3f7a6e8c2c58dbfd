#!/usr/bin/env bash
# One short device call of CPU issue probes (profiler/host_issue.py) on a fresh machine, each with the
# host's speed before and after:  NAME=callNN bash validation/host_issue_call.sh PROBE...
# Each PROBE is "<processes>:<host_issue.py flags>" (1: one process on GPU 0; 2: torchrun on two GPUs).
# The entries land in one host_issue_<GPU>.json.   -> $OUT/$NAME.tgz (host/, machine.txt)
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
NAME="${NAME:?set NAME}"; T0=$(date +%s); OUT="${OUT:-/tmp/$NAME}"; W=/tmp/$NAME; mkdir -p "$OUT" $W/host
export PYTHONUNBUFFERED=1
{ nproc; lscpu | grep -i "model name"; nvidia-smi -L; } > $W/machine.txt 2>&1; cat $W/machine.txt
P="$HERE/../profiler/host_issue.py"
quiet() { grep -v "OMP_NUM_THREADS\|^W.*run.py\|^\*\*\*\*" | grep "wrote\|rror\|pinned\|Trace" ; }
for probe in "$@"; do
  procs="${probe%%:*}"; flags="${probe#*:}"
  if [ "$procs" = 1 ]; then CUDA_VISIBLE_DEVICES=0 timeout 60 python3 $P $flags --out $W/host 2>&1 | quiet
  else timeout 70 torchrun --standalone --nproc_per_node "$procs" $P $flags --out $W/host 2>&1 | quiet; fi
done
tar czf "$OUT/$NAME.tgz" -C $W .
echo "[$NAME] done $(( $(date +%s) - T0 ))s"
