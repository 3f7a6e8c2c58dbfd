#!/usr/bin/env bash
# Short device call, only on an H100 pair (exits at once on anything else): call18.sh's captured NCCL
# links and overlap probe, then the captured llama8b (4 layers) 2-GPU sweep (graph_session.sh, skipping
# the plan 1,1,1 already measured on 1x H100) until about 480 s.  -> $OUT/call18.tgz, $OUT/graph_session.tgz
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/call21}"; mkdir -p "$OUT"
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o 'H100\|H200' || echo gpu)
N=$(nvidia-smi -L | wc -l)
echo "[call21] $GPU x$N"
{ [ "$GPU" = H100 ] && [ "$N" -ge 2 ]; } || exit 0
OUT="$OUT" bash "$HERE/call18.sh"
OUT="$OUT" SKIP_SMOKE=1 GRAPH_PLANS="2,1,1 1,1,2 1,2,1" SKIP_OPT=1 MODEL=llama8b LAYERS=4 EXTRA_PP_GRAPH=1,3 \
  BUDGET_S=$((480 - ($(date +%s) - T0))) bash "$HERE/graph_session.sh" 2>&1 | grep "step\|sweep\|done\|rror" | tail -40
echo "[call21] done $(( $(date +%s) - T0 ))s"
