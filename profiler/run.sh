#!/usr/bin/env bash
# One-command profiler run.
#   profiler/run.sh [OUT_DIR]          (default OUT_DIR: profiles)
# Env overrides: MODELS="llama70b llama8b llama1b"  TPS="1 2 4 8"  MAX_MBS=32  REPS=20
#                SEQ=1024  DEADLINE=<unix time, 0 = none>  COMM=1 (run NCCL benchmark if >= 2 GPUs)
# Models are spread over the visible GPUs (one process per GPU, greedy by cost), each
# process measuring on its own single GPU; the NCCL benchmark runs afterwards on 2 GPUs.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUTDIR="${1:-profiles}"
MODELS="${MODELS:-llama70b llama8b llama1b}"
TPS="${TPS:-1 2 4 8}"
MAX_MBS="${MAX_MBS:-32}"
REPS="${REPS:-20}"
SEQ="${SEQ:-1024}"
DEADLINE="${DEADLINE:-0}"
COMM="${COMM:-1}"
export PYTHONUNBUFFERED=1
mkdir -p "$OUTDIR"
NGPU=$(python3 -c 'import torch; print(torch.cuda.device_count())')
echo "[run.sh] $(date -Is) GPUs: $NGPU  models: $MODELS  tps: $TPS  max_mbs: $MAX_MBS"
nvidia-smi --query-gpu=index,name,driver_version,memory.total,clocks.max.sm --format=csv || true
[ "$NGPU" -ge 1 ] || { echo "no GPU"; exit 1; }

# greedy assignment of models to GPUs by rough cost
ASSIGN=$(python3 - "$NGPU" $MODELS <<'PY'
import sys
n = int(sys.argv[1]); models = sys.argv[2:]
cost = {"llama70b": 4.0, "llama8b": 1.5, "llama1b": 1.0}
load = [0.0] * n; lists = [[] for _ in range(n)]
for m in sorted(models, key=lambda m: -cost.get(m, 1.0)):
    g = min(range(n), key=lambda i: load[i]); load[g] += cost.get(m, 1.0); lists[g].append(m)
for g, l in enumerate(lists):
    if l: print(f"{g}:{','.join(l)}")
PY
)
pids=()
for entry in $ASSIGN; do
  g="${entry%%:*}"; ms="${entry#*:}"
  (
    for m in ${ms//,/ }; do
      echo "[run.sh] GPU $g: profiling $m"
      CUDA_VISIBLE_DEVICES=$g python3 "$HERE/profile_ops.py" --model "$m" --tp $TPS --seq "$SEQ" \
        --max-mbs "$MAX_MBS" --reps "$REPS" --deadline "$DEADLINE" --out "$OUTDIR"
    done
  ) > "$OUTDIR/profile_gpu$g.log" 2>&1 &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
cat "$OUTDIR"/profile_gpu*.log
if [ "$COMM" = "1" ] && [ "$NGPU" -ge 2 ]; then
  echo "[run.sh] $(date -Is) NCCL benchmark"
  nvidia-smi topo -m > "$OUTDIR/topo.txt" 2>&1 || true
  CUDA_VISIBLE_DEVICES=0,1 torchrun --standalone --nproc_per_node 2 "$HERE/comm.py" --out "$OUTDIR" \
    ${COMM_ARGS:-} 2>&1 | tee "$OUTDIR/comm.log" || rc=1
fi
echo "[run.sh] $(date -Is) done rc=$rc"
exit $rc
