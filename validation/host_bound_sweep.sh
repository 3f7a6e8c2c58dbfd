#!/usr/bin/env bash
# One sweep of the llama1b (8 layers) eager plans near the host bound (micro-batch 1 and 2, gbs 8 and
# 16): the 1-GPU plan alone, then (with two GPUs) tp 2, dp 2 and pp 2. Used by call15.sh and call17.sh.
#   host_bound_sweep.sh RESDIR TAG VARIANT T0 STOP_S
# VARIANT: unpinned, or any other name for ranks pinned to their 2 fastest CPUs (--pin-fastest 2);
# results are named ..._TAG_VARIANT. No launch starts after T0 + STOP_S (unix seconds); exits 1 when
# none could start. Environment: SWEEP_STEPS timed steps per run (default 10), SWEEP_MBS micro-batch
# sizes (default "1 2"), SWEEP_TIMEOUT seconds per launch (default 100), SWEEP_EXTRA more train_step.py flags.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
RES="$1"; TAG="$2"; VARIANT="$3"; T0="$4"; STOP_S="$5"
export PYTHONUNBUFFERED=1
STEPS="${SWEEP_STEPS:-10}"; MBS="${SWEEP_MBS:-1 2}"; TO="${SWEEP_TIMEOUT:-100}"
left() { [ $(( $(date +%s) - T0 )) -lt "$1" ]; }
left $((STOP_S - 10)) || exit 1
flag=""; [ "$VARIANT" = unpinned ] || flag="--pin-fastest 2"
PREFIX=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o "H100\|H200" | tr A-Z a-z)
COMMON="--model llama1b --layers 8 --steps $STEPS --warmup 3 --prefix ${PREFIX:-gpu}_llama1b8L --out $RES --mbs $MBS --gbs 8 16 $flag --name-suffix _${TAG}_$VARIANT ${SWEEP_EXTRA:-}"
CUDA_VISIBLE_DEVICES=0 timeout $TO python3 "$HERE/train_step.py" $COMMON 2>&1 | grep "step \|rror\|pinned"
[ "$(nvidia-smi -L | wc -l)" -ge 2 ] || exit 0   # one GPU: the 1-GPU plans only
for plan in "2 1 1" "1 1 2" "1 2 1"; do
  read -r tp pp dp <<< "$plan"
  left "$STOP_S" || break
  timeout $TO torchrun --standalone --nproc_per_node 2 "$HERE/train_step.py" $COMMON \
    --tp $tp --pp $pp --dp $dp --tp-impl manual --deadline $(( T0 + STOP_S + 10 )) 2>&1 | grep "step \|rror\|pinned" | grep -v OMP
done
