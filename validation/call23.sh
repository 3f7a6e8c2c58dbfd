#!/usr/bin/env bash
# One device call on any 2-GPU machine: why PyTorch DTensor TP's captured step is longer than the
# hand-written Megatron-style TP's (call22.sh): kernel traces of one captured step of each
# (llama1b 8 layers, tp 2, mbs 1 and 4, gbs 8) compared kernel group by kernel group
# (kernel_diff.py), and allocator traces of the eager steps (DTensor and manual, mbs 1 and 4).
#   OUT=<dir> bash validation/call23.sh   -> $OUT/call23.tgz
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T0=$(date +%s); OUT="${OUT:-/tmp/call23}"; W=/tmp/c23
mkdir -p "$OUT" $W/kt $W/res $W/mt $W/diff
N=$(nvidia-smi -L | wc -l); echo "[call23] $(date -Is) $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1) x$N"
[ "$N" -ge 2 ] || exit 0
export TORCH_NCCL_ASYNC_ERROR_HANDLING=0 NCCL_ASYNC_ERROR_HANDLING=0 PYTHONUNBUFFERED=1
TR="torchrun --standalone --nproc_per_node 2 $HERE/train_step.py --model llama1b --layers 8 --tp 2 --pp 1 --dp 1 --gbs 8"
for impl in dtensor manual; do
  timeout 150 $TR --tp-impl $impl --mbs 1 4 --cuda-graph --steps 4 --warmup 3 --kernel-trace $W/kt --out $W/res 2>&1 | grep "step " 
  timeout 120 $TR --tp-impl $impl --mbs 1 4 --steps 2 --warmup 1 --memory-trace $W/mt/$impl --out $W/res/eager 2>&1 | grep "step "
done
for b in 1 4; do
  python3 $HERE/kernel_diff.py $W/kt/trace_tp2_pp1_dp1_mbs${b}_gbs8_manualtp_graph_rank0.json $W/kt/trace_tp2_pp1_dp1_mbs${b}_gbs8_graph_rank0.json --top 30 > $W/diff/mbs$b.json
  python3 - $W/diff/mbs$b.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); print(f"mbs file {sys.argv[1]}: manual {d['a_total_ms']} ms, dtensor {d['b_total_ms']} ms")
for r in d["groups"][:18]:
    print(f"  {r['diff_ms']:+8.2f} ms  manual {r['a_ms']:7.2f} ({r['a_count']:4d})  dtensor {r['b_ms']:7.2f} ({r['b_count']:4d})  {r['kernel'][:80]}")
PY
done
for f in $W/mt/*/memtrace_*rank0.json; do python3 -c "
import json,sys; d=json.load(open('$f')); print('$f'.split('/')[-2], d['plan']['mbs'], 'peak', round(d['max_memory_allocated_GiB'],2), 'after', d['peak_after_marker'])
for b in d['alive_at_peak_by_size'][:8]: print('   ', round(b['size_bytes']/2**20,1), 'MiB x', b['count'], ' <- ', ' | '.join(b['where'][:4]))
"; done
gzip -q $W/kt/*.json
tar czf "$OUT/call23.tgz" -C $W kt res mt diff
echo "[call23] done $(( $(date +%s) - T0 ))s"
