#!/usr/bin/env bash
# Device call (2 GPUs): are eager host-bound runs slow because of *which* virtual CPUs their
# processes land on? (docs/accuracy.md item 13)  1. map the host's CPUs (validation/cpu_map.py);
# 2. CPU issue probes with each rank pinned to the 2 fastest CPUs of its share (--pin-fastest 2);
# 3. the llama1b eager plans near the host bound, pinned; 4. the same plans unpinned, interleaved
# (1-GPU alone, then the 2-GPU shapes); 5. the probes and the CPU map again.  -> $OUT/$NAME.tgz
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
NAME="${NAME:-call15}"; TAG="${TAG:-machineN}"
T0=$(date +%s); OUT="${OUT:-/tmp/$NAME}"; W=/tmp/$NAME; mkdir -p "$OUT" $W/host_start $W/host_end $W/res $W/cpu
export PYTHONUNBUFFERED=1
{ nproc; lscpu; nvidia-smi -L; nvidia-smi topo -m; } > $W/machine.txt 2>&1
P="$HERE/../profiler/host_issue.py"
quiet() { grep -v "OMP_NUM_THREADS\|^W.*run.py\|^\*\*\*\*" | grep "wrote\|rror\|pinned" ; }
probe() {
  CUDA_VISIBLE_DEVICES=0 timeout 60 python3 $P --pin-fastest 2 --out $1 2>&1 | quiet
  timeout 70 torchrun --standalone --nproc_per_node 2 $P --independent --pin-fastest 2 --out $1 2>&1 | quiet
  timeout 70 torchrun --standalone --nproc_per_node 2 $P --pin-fastest 2 --out $1 2>&1 | quiet
}
timeout 60 python3 $HERE/cpu_map.py --out $W/cpu --tag _start --load ${LOADS:-0 1 2 3 16 17} 2>&1 | tail -8
probe $W/host_start
echo "[$NAME] host done $(( $(date +%s) - T0 ))s"
for pin in pinned unpinned pinned2; do
  bash "$HERE/host_bound_sweep.sh" $W/res "$TAG" $pin $T0 440 || break
done
tar czf "$OUT/$NAME.tgz" -C $W .
[ $(( $(date +%s) - T0 )) -lt 500 ] && probe $W/host_end
timeout 40 python3 $HERE/cpu_map.py --out $W/cpu --tag _end --rounds 3 --load 0 2>&1 | tail -5
tar czf "$OUT/$NAME.tgz" -C $W .
echo "[$NAME] done $(( $(date +%s) - T0 ))s"
