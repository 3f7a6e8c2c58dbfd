#!/usr/bin/env bash
# One device call of the CUDA-graph validation (docs/accuracy.md): operator and link profiles as
# captured replays (profiler/graph_profiles.sh), the optimizer step, then validation sweeps until
# about 570 s have passed.  H100 machines: llama8b (4 layers); H200 machines: SWEEP_H200 (default
# llama1b, 8 layers), a repeat on a new machine.  Results: $OUT/profiles.tgz, $OUT/graph_session.tgz.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/graph_call}"; mkdir -p "$OUT" /tmp/gp
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o 'H100\|H200' || echo gpu)
if [ "$GPU" = H100 ]; then MODELS="${MODELS:-llama8b}"; SWEEP="llama8b 4"; else MODELS="${MODELS:-llama1b llama8b}"; SWEEP="${SWEEP_H200:-llama1b 8}"; fi
OUT=/tmp/gp MODELS="$MODELS" MAX_MBS=8 bash "$HERE/../profiler/graph_profiles.sh" 2>&1 | grep -v "^  " | tail -40
timeout 120 python3 "$HERE/../profiler/optimizer.py" /tmp/gp > /tmp/gp/optimizer_log.txt 2>&1; tail -4 /tmp/gp/optimizer_log.txt
tar czf "$OUT/profiles.tgz" -C /tmp/gp .
echo "[call] profiles took $(( $(date +%s) - T0 ))s"
read -r model layers <<< "$SWEEP"
OUT="$OUT" SKIP_SMOKE=1 SKIP_OPT=1 MODEL=$model LAYERS=$layers EXTRA_PP_GRAPH=$([ "$model" = llama8b ] && echo 1,3) \
  BUDGET_S=$((570 - ($(date +%s) - T0))) bash "$HERE/graph_session.sh" 2>&1 | grep "step\|sweep\|done\|rror" | tail -40
