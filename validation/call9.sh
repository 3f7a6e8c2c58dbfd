#!/usr/bin/env bash
# One-GPU device call: the eager llama1b 1-GPU plans run alone (not two processes sharing the host,
# as run_all.sh does on 2-GPU machines), twice, after this machine's CPU issue time.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/call9}"; W=/tmp/c9; mkdir -p "$OUT" $W/host $W/res
export PYTHONUNBUFFERED=1
timeout 80 python3 "$HERE/../profiler/host_overhead.py" --out $W/host 2>&1 | tail -1
for rep in a b; do
  timeout 100 python3 "$HERE/train_step.py" --model llama1b --layers 8 --mbs 1 2 4 --gbs 8 16 --steps 10 --warmup 3 \
    --prefix h200_llama1b8L --name-suffix "_alone_$rep" --out $W/res 2>&1 | grep "step \|rror"
done
tar czf "$OUT/call9.tgz" -C $W .
echo "[call9] done $(( $(date +%s) - T0 ))s"
