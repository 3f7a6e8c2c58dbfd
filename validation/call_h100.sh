#!/usr/bin/env bash
# One-GPU H100 device call: llama8b operator profiles as captured replays (TP 1 2, up to mbs 4),
# the optimizer step (incl. the captured one), and the 1-GPU llama8b (4 layers) CUDA-graph sweep.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/call_h100}"; W=/tmp/ch; mkdir -p "$OUT" $W/prof $W/res
export PYTHONUNBUFFERED=1
timeout 200 python3 "$HERE/../profiler/profile_ops.py" --graph --model llama8b --tp 1 2 4 8 --max-mbs 4 --out $W/prof > $W/prof/profile_log_llama8b_graph.txt 2>&1
grep "wrote\|Error" $W/prof/profile_log_llama8b_graph.txt
timeout 100 python3 "$HERE/../profiler/optimizer.py" $W/prof > $W/prof/optimizer_log.txt 2>&1; tail -4 $W/prof/optimizer_log.txt
echo "[h100] $(( $(date +%s) - T0 ))s"
TP_IMPLS=manual PLANS=1,1,1 LAYERS=4 STEPS=10 WARMUP=3 NGPU=1 DEADLINE=$(( T0 + 400 )) \
  EXTRA_ARGS="--model llama8b --cuda-graph --prefix h100_llama8b4L" bash "$HERE/run_all.sh" $W/res 2>&1 | grep "step \|rror" | tail -10
tar czf "$OUT/h100.tgz" -C $W .
echo "[h100] done $(( $(date +%s) - T0 ))s"
