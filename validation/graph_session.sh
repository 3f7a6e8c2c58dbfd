#!/usr/bin/env bash
# One device call: CUDA-graph validation sweep (validation/train_step.py --cuda-graph).
#   OUT=<dir> MODEL=llama1b LAYERS=8 BUDGET_S=420 [SKIP_SMOKE=1 [GRAPH_PLANS="2,1,1 ..."]] [SKIP_OPT=1] bash validation/graph_session.sh
# 1. smoke-tests whole-step capture on the tiny model for each parallelism kind (capture mode
#    thread_local, then global), 2. measures the optimizer step as captured (profiler/optimizer.py),
# 3. runs the sweep (run_all.sh) for the kinds that captured, until BUDGET_S seconds have passed.
# Works in $WORK; everything lands in $OUT/graph_session.tgz.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-/tmp/graph_out}"; W="${WORK:-/tmp/graph_work}"; MODEL="${MODEL:-llama1b}"; LAYERS="${LAYERS:-8}"; BUDGET_S="${BUDGET_S:-420}"
START=$(date +%s)
mkdir -p "$OUT" "$W/smoke" "$W/res" "$W/prof"
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o 'H100\|H200' || echo gpu)
g=$(echo "$GPU" | tr 'A-Z' 'a-z')
NGPU=$(nvidia-smi -L | wc -l)
echo "[graph] $(date -Is) $GPU x$NGPU model=$MODEL layers=$LAYERS"
export TORCH_NCCL_ASYNC_ERROR_HANDLING=0 NCCL_ASYNC_ERROR_HANDLING=0 PYTHONUNBUFFERED=1
ok_plans=""; mode_of=""
if [ -n "${SKIP_SMOKE:-}" ]; then for p in ${GRAPH_PLANS:-1,1,1 1,1,2 2,1,1 1,2,1}; do mode_of="$mode_of $p=thread_local"; done; fi
for plan in 1,1,1 1,1,2 2,1,1 1,2,1; do
  [ -z "${SKIP_SMOKE:-}" ] || break
  IFS=, read -r tp pp dp <<< "$plan"; w=$((tp*pp*dp))
  [ "$w" -le "$NGPU" ] || continue
  for mode in thread_local global; do
    args="--tiny --cuda-graph --graph-capture-mode $mode --tp $tp --pp $pp --dp $dp --tp-impl manual --mbs 1 2 --gbs 4 --steps 3 --warmup 1 --layers 2 --out $W/smoke/$mode --name-suffix _${plan//,/-}"
    if [ "$w" = 1 ]; then cmd="python3 $HERE/train_step.py $args"; else cmd="torchrun --standalone --nproc_per_node $w $HERE/train_step.py $args"; fi
    if timeout 150 $cmd > "$W/smoke/log_${plan//,/-}_$mode.txt" 2>&1; then
      echo "[graph] smoke $plan $mode: ok"; ok_plans="$ok_plans $plan"; mode_of="$mode_of $plan=$mode"; break
    else
      echo "[graph] smoke $plan $mode: FAILED"; tail -5 "$W/smoke/log_${plan//,/-}_$mode.txt"
    fi
  done
done
[ -n "${SKIP_OPT:-}" ] || timeout 120 python3 "$HERE/../profiler/optimizer.py" "$W/prof" > "$W/prof/log.txt" 2>&1; tail -4 "$W/prof/log.txt" 2>/dev/null
for pm in $mode_of; do
  plan=${pm%%=*}; mode=${pm##*=}
  left=$(( START + BUDGET_S - $(date +%s) )); [ $left -gt 20 ] || break
  echo "[graph] $(date -Is) sweep plan $plan ($mode), ${left}s left"
  EXTRA_PP=$([ "$plan" = 1,2,1 ] && echo "${EXTRA_PP_GRAPH:-}") PLANS="$plan" TP_IMPLS=manual LAYERS=$LAYERS MBS="${MBS:-1 2 4}" GBS="${GBS:-8 16}" STEPS=10 WARMUP=3 \
    DEADLINE=$(( START + BUDGET_S )) EXTRA_ARGS="--model $MODEL --cuda-graph --graph-capture-mode $mode --prefix ${g}_${MODEL}${LAYERS}L" \
    timeout $left bash "$HERE/run_all.sh" "$W/res" 2>&1 | grep -v "^\[rank\|Warning" | tail -20
done
tar czf "$OUT/graph_session.tgz" -C "$W" smoke res prof 2>/dev/null
echo "[graph] $(date -Is) done in $(( $(date +%s) - START ))s"
