#!/usr/bin/env bash
# Device call for a 4-GPU machine (written in the sixth session, not yet run on a GPU): the captured
# llama8b (4 layers) sweep of the two-dimension 4-GPU plans — tp 2 × dp 2, tp 2 × pp 2, pp 2 × dp 2
# (Megatron-style TP; train_step.py's Layout, checked on CPU by validation/cpu_check.sh) — b 1/2/4,
# gbs 16 then 8, until about 420 s. Each plan first runs eagerly on the tiny model (smoke).
#   bash validation/call32.sh   -> $OUT/call32.tgz
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/call32}"; W=/tmp/call32; mkdir -p "$OUT" $W/smoke
export PYTHONUNBUFFERED=1
{ nproc; lscpu | grep -i "model name"; nvidia-smi -L; nvidia-smi topo -m; } > $W/machine.txt 2>&1; head -6 $W/machine.txt
[ "$(nvidia-smi -L | wc -l)" -ge 4 ] || { echo "[call32] needs 4 GPUs"; exit 0; }
ok=""
for plan in 2,1,2 2,2,1 1,2,2; do
  IFS=, read -r tp pp dp <<< "$plan"
  if timeout 120 torchrun --standalone --nproc_per_node 4 "$HERE/train_step.py" --tiny --layers 4 --tp $tp --pp $pp --dp $dp \
      --tp-impl manual --mbs 1 2 --gbs 8 --steps 2 --warmup 1 --out $W/smoke > $W/smoke/log_${plan//,/-}.txt 2>&1; then
    echo "[call32] smoke $plan: ok"; ok="$ok $plan"
  else echo "[call32] smoke $plan: FAILED"; grep -i "error" $W/smoke/log_${plan//,/-}.txt | tail -3; fi
done
for gbs in 16 8; do
  left=$(( 420 - ($(date +%s) - T0) )); [ $left -gt 30 ] && [ -n "$ok" ] || break
  OUT=$W WORK=$W/graph SKIP_SMOKE=1 GRAPH_PLANS="$ok" SKIP_OPT=1 MODEL=llama8b LAYERS=4 GBS=$gbs \
    BUDGET_S=$left bash "$HERE/graph_session.sh" 2>&1 | grep "step\|done\|rror\|relaunch" | tail -12
  tar czf "$OUT/call32.tgz" -C $W .
done
tar czf "$OUT/call32.tgz" -C $W .
echo "[call32] done $(( $(date +%s) - T0 ))s"
