#!/usr/bin/env bash
# The harness on CPU (gloo, the tiny model) for every plan shape up to 4 ranks, for a machine without
# GPUs that has torch and transformers: every run finishes, data-parallel replicas end with the same
# weights (dp_replica_weight_spread 0, at a learning rate that moves bf16 weights), and the ranks of a
# tensor-parallel group report the same loss.   bash validation/cpu_check.sh [OUTDIR]
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${1:-/tmp/fasop_cpu_check}"; rm -rf "$OUT"; mkdir -p "$OUT"
fail=0
for plan in 1,1,1 2,1,1 1,2,1 1,1,2 2,1,2 2,2,1 1,2,2 1,4,1 1,1,4; do
  IFS=, read -r tp pp dp <<< "$plan"; w=$((tp * pp * dp))
  args="--cpu --tiny --layers 4 --tp $tp --pp $pp --dp $dp --tp-impl manual --mbs 1 2 --gbs 8 --steps 2 --warmup 1 --lr 0.01 --out $OUT"
  if [ "$w" = 1 ]; then cmd="python3 $HERE/train_step.py $args"; else cmd="torchrun --standalone --nproc_per_node $w $HERE/train_step.py $args"; fi
  timeout 300 $cmd > "$OUT/log_${plan//,/-}.txt" 2>&1 || { echo "FAIL $plan (log: $OUT/log_${plan//,/-}.txt)"; fail=1; }
done
python3 - "$OUT" <<'PY' || fail=1
import glob, json, sys
bad = 0
files = sorted(glob.glob(sys.argv[1] + "/*.json"))
for f in files:
    d = json.load(open(f)); p, m = d["plan"], d["measured"]
    name = f.split("/")[-1]
    if m.get("error") or m.get("oom"):
        print("FAIL", name, m.get("error")); bad = 1; continue
    if p["dp"] > 1 and m.get("dp_replica_weight_spread") != 0.0:
        print("FAIL", name, "dp replicas differ:", m.get("dp_replica_weight_spread")); bad = 1
    if p["tp"] > 1:
        L = m["loss_per_step_per_rank"]
        for r0 in range(0, len(L), p["tp"]):
            if any(L[r] != L[r0] for r in range(r0, r0 + p["tp"])):
                print("FAIL", name, "tp ranks disagree on the loss"); bad = 1
    print("ok  ", name, "step %.1f ms" % m["step_time_ms_median"])
print(len(files), "runs")
sys.exit(bad if len(files) == 18 else 1)
PY
[ $fail = 0 ] && echo "cpu check: all plan shapes ok" || { echo "cpu check: FAILED"; exit 1; }
