#!/usr/bin/env bash
# Run validation plans: every (tp,pp,dp) of PLANS (default: tp*pp*dp in {1,2}; any product up to the
# GPUs present, e.g. PLANS="2,1,2 2,2,1 1,2,2" on 4 GPUs), mbs in MBS, gbs in GBS.
#   validation/run_all.sh [RESULTS_DIR]      (default validation/results)
# Env: MBS="1 2 4" GBS="8 16" LAYERS=4 STEPS=6 WARMUP=3 DEADLINE=<unix time, 0=none>
#      TP_IMPLS="dtensor manual" (tp>1: DTensor and/or hand-written Megatron-style TP)
#      PLANS="1,1,1 2,1,1 1,2,1 1,1,2"  EXTRA_ARGS=""  EXTRA_PP="1,3" (uneven pp=2 partitions)
#      SHARE_HOST=1 (1-GPU plans: two gbs values at once on GPU 0 and 1; default: one at a time)
# Each plan shape is one process group; a combo that OOMs/crashes kills only that launch,
# which is then relaunched with --skip-existing (the crashed combo is recorded, not retried).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUTDIR="${1:-validation/results}"
MBS="${MBS:-1 2 4}"; GBS="${GBS:-8 16}"; LAYERS="${LAYERS:-4}"; STEPS="${STEPS:-6}"; WARMUP="${WARMUP:-3}"
TP_IMPLS="${TP_IMPLS:-dtensor manual}"; DEADLINE="${DEADLINE:-0}"; PLANS="${PLANS:-1,1,1 2,1,1 1,2,1 1,1,2}"; EXTRA_ARGS="${EXTRA_ARGS:-}"
export PYTHONUNBUFFERED=1
mkdir -p "$OUTDIR"
NGPU="${NGPU:-$(python3 -c "import torch; print(torch.cuda.device_count())")}"
COMMON="--layers $LAYERS --steps $STEPS --warmup $WARMUP --out $OUTDIR --skip-existing --deadline $DEADLINE $EXTRA_ARGS"
echo "[run_all] $(date -Is) GPUs=$NGPU plans=$PLANS mbs=$MBS gbs=$GBS layers=$LAYERS"

retry() {  # retry a launch until it exits 0 (crashed combos are recorded and skipped)
  local n=0
  until "$@"; do
    n=$((n+1)); [ $n -ge 7 ] && { echo "[run_all] giving up: $*"; return 1; }
    echo "[run_all] relaunch ($n): $*"; sleep 2
  done
}

for plan in $PLANS; do
  IFS=, read -r tp pp dp <<< "$plan"
  world=$((tp*pp*dp))
  echo "[run_all] $(date -Is) plan tp=$tp pp=$pp dp=$dp"
  if [ "$world" = "1" ]; then
    if [ "$NGPU" -ge 2 ] && [ -n "${SHARE_HOST:-}" ]; then
      # SHARE_HOST=1: split the gbs values over GPU 0 and GPU 1 and run them concurrently (faster, but
      # the two processes share the host: eager runs with small micro-batches then slow each other
      # down, up to 1.6x here; docs/accuracy.md item 11). Default: one at a time.
      i=0; pids=()
      for g in $GBS; do
        dev=$((i % 2))
        ( retry env CUDA_VISIBLE_DEVICES=$dev python3 "$HERE/train_step.py" --tp 1 --pp 1 --dp 1 \
            --mbs $MBS --gbs $g --host-processes 2 $COMMON ) > "$OUTDIR/log_tp1pp1dp1_gbs$g.txt" 2>&1 &
        pids+=($!); i=$((i+1))
        if [ $((i % 2)) = 0 ]; then for p in "${pids[@]}"; do wait $p; done; pids=(); fi
      done
      for p in "${pids[@]}"; do wait $p; done
      cat "$OUTDIR"/log_tp1pp1dp1_gbs*.txt
    else
      retry python3 "$HERE/train_step.py" --tp 1 --pp 1 --dp 1 --mbs $MBS --gbs $GBS $COMMON
    fi
  else
    [ "$NGPU" -ge "$world" ] || { echo "[run_all] skip plan $plan: needs $world GPUs"; continue; }
    impls="dtensor"; [ "$tp" -gt 1 ] && impls="$TP_IMPLS"
    # DTensor TP runs alone: with pp its loss_parallel would have to wrap the schedule's loss, with dp
    # DDP cannot bucket DTensor parameters (train_step.py refuses both)
    [ "$tp" -gt 1 ] && [ "$world" -gt "$tp" ] && impls="manual"
    for impl in $impls; do
      [ "$tp" -gt 1 ] && echo "[run_all] tp implementation: $impl"
      retry torchrun --standalone --nproc_per_node "$world" "$HERE/train_step.py" --tp $tp --pp $pp --dp $dp \
        --tp-impl $impl --mbs $MBS --gbs $GBS $COMMON 2>&1 | grep -v "OMP_NUM_THREADS\|^W.*run.py.*\*\*\*\|^\*\*\*\*"
    done
  fi
done
# optional uneven pipeline partitions (exercise --layers-per-stage), e.g. EXTRA_PP="1,3 3,1"
for lps in ${EXTRA_PP:-}; do
  [ "$NGPU" -ge 2 ] || break
  echo "[run_all] $(date -Is) plan tp=1 pp=2 dp=1 layers-per-stage=$lps"
  retry torchrun --standalone --nproc_per_node 2 "$HERE/train_step.py" --tp 1 --pp 2 --dp 1 \
    --layers-per-stage "$lps" --name-suffix "_lps${lps//,/-}" --mbs ${EXTRA_PP_MBS:-$MBS} \
    --gbs ${EXTRA_PP_GBS:-16} $COMMON 2>&1 | grep -v "OMP_NUM_THREADS\|^W.*run.py.*\*\*\*\|^\*\*\*\*"
done
python3 "$HERE/summarize.py" "$OUTDIR"
