#!/usr/bin/env bash
# Run the validation harness (validation/train_step.py) and write one JSON per run.
#
#   validation/run.sh sweep      [options] [-- more train_step.py flags]   training runs of a plan grid
#   validation/run.sh host-probe [options]                                 CPU issue figures (profiler/host_issue.py)
#   validation/run.sh cpu-check  [--out DIR]                               the harness on CPU (no GPU needed)
#   validation/run.sh technique-check [--out DIR] [--only A,B] [--jobs N]  each multi-GPU technique against one
#                                                                          process, on CPU (validation/technique_check.py)
#
# sweep: every plan of --plans × every --mbs × every --gbs. 1-GPU plans run as one process on GPU 0,
# the others under torchrun. A launch that crashes (OOM, NCCL error) is relaunched with --skip-existing:
# the failed combination is recorded in its JSON and not retried.
#   --out DIR             results folder (default validation/results)
#   --model NAME          llama8b | llama1b (default llama8b)
#   --layers N            decoder layers (default 4)
#   --plans "T,P,D ..."   tp,pp,dp per plan (default "1,1,1 2,1,1 1,2,1 1,1,2")
#   --mbs "B ..."         micro-batch sizes (default "1 2 4")
#   --gbs "G ..."         global batch sizes (default "8 16")
#   --steps N --warmup N  timed and warm-up steps per run (default 10 and 3)
#   --tp-impl "I ..."     tp > 1 runtimes, of: manual (Megatron-style), dtensor (default manual; DTensor
#                         only for plans with tp alone, the harness refuses it with pp or dp)
#   --cuda-graph          capture each whole training step as one CUDA graph and time its replays
#   --capture-mode M      with --cuda-graph: thread_local (default) | global | relaxed
#   --uneven-pp "A,B ..." also run pp 2 with these layer splits (e.g. "1,3"), gbs 16
#   --share-host          1-GPU plans: two gbs values at once on GPU 0 and GPU 1 (faster; the two
#                         processes share the host's CPUs, which slows eager small-batch runs)
#   --prefix P            result-name prefix (default: the GPU's short name, e.g. h200)
#   --suffix S            appended to every result name (e.g. _rep1 for a repeat on another host)
#   --time-limit-s N      start no run after N seconds (default: none)
#   --dry-run             print the commands, run nothing
#
# host-probe: profiler/host_issue.py, each probe with the host's speed before and after, into one
# host_issue_<GPU>.json under --out (default validation/results/host_issue).
#   --probes "P ..."      each "<processes>:<host_issue.py flags, comma-separated>"
#                         (default "1: 2:--independent 2:"; e.g. "2:--tp-impl,dtensor,--pin-fastest,2")
#   --dry-run
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
export PYTHONUNBUFFERED=1 TORCH_NCCL_ASYNC_ERROR_HANDLING=0

die() { echo "run.sh: $1" >&2; exit 2; }
KIND="${1:-}"; [ $# -gt 0 ] && shift
case "$KIND" in sweep|host-probe|cpu-check|technique-check) ;; *) die "first argument must be sweep, host-probe, cpu-check or technique-check (see the header of validation/run.sh)";; esac
if [ "$KIND" = technique-check ]; then
  # the techniques on CPU (gloo, fp32, the tiny model) against one process: one JSON per check in --out
  # (default validation/results/techniques_cpu); the options go to validation/technique_check.py
  for a in "$@"; do case "$a" in --out|--only|--jobs|--keep|--timeout-s|--out=*|--only=*|--jobs=*|--keep=*|--timeout-s=*) ;; -*) die "technique-check takes --out, --only, --jobs, --keep, --timeout-s (got $a)";; esac; done
  exec python3 "$HERE/technique_check.py" "$@"
fi

OUT=""; MODEL=llama8b; LAYERS=4; PLANS="1,1,1 2,1,1 1,2,1 1,1,2"; MBS="1 2 4"; GBS="8 16"; STEPS=10; WARMUP=3
TP_IMPLS=manual; GRAPH=""; CAPTURE=thread_local; UNEVEN=""; SHARE=""; PREFIX=""; SUFFIX=""; LIMIT_S=0; DRY=""
PROBES="1: 2:--independent 2:"; EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2;;            --model) MODEL="$2"; shift 2;;
    --layers) LAYERS="$2"; shift 2;;      --plans) PLANS="$2"; shift 2;;
    --mbs) MBS="$2"; shift 2;;            --gbs) GBS="$2"; shift 2;;
    --steps) STEPS="$2"; shift 2;;        --warmup) WARMUP="$2"; shift 2;;
    --tp-impl) TP_IMPLS="$2"; shift 2;;   --cuda-graph) GRAPH=1; shift;;
    --capture-mode) CAPTURE="$2"; shift 2;; --uneven-pp) UNEVEN="$2"; shift 2;;
    --share-host) SHARE=1; shift;;        --prefix) PREFIX="$2"; shift 2;;
    --suffix) SUFFIX="$2"; shift 2;;      --time-limit-s) LIMIT_S="$2"; shift 2;;
    --probes) PROBES="$2"; shift 2;;      --dry-run) DRY=1; shift;;
    --) shift; EXTRA=("$@"); break;;
    *) die "unknown option $1 (see the header of validation/run.sh)";;
  esac
done

run() { if [ -n "$DRY" ]; then echo "$*"; else "$@"; fi; }
quiet() { grep -v "OMP_NUM_THREADS\|^W.*run.py.*\*\*\*\|^\*\*\*\*"; }
retry() {  # relaunch until the launch exits 0 (a crashed combination is recorded and skipped)
  local n=0
  [ -n "$DRY" ] && { echo "$*"; return 0; }
  until "$@"; do
    n=$((n + 1)); [ $n -ge 7 ] && { echo "[run] giving up: $*"; return 1; }
    echo "[run] relaunch ($n)"; sleep 2
  done
}

if [ "$KIND" = cpu-check ]; then
  # every plan shape up to 4 ranks on CPU (gloo, the tiny model): each run finishes, data-parallel
  # replicas end with the same weights, the ranks of a tensor-parallel group report the same loss
  OUT="${OUT:-/tmp/fasop_cpu_check}"; fail=0
  [ -n "$DRY" ] || { rm -rf "$OUT"; mkdir -p "$OUT"; }
  for plan in 1,1,1 2,1,1 1,2,1 1,1,2 2,1,2 2,2,1 1,2,2 1,4,1 1,1,4; do
    IFS=, read -r tp pp dp <<< "$plan"; w=$((tp * pp * dp))
    args=(--cpu --tiny --layers 4 --tp $tp --pp $pp --dp $dp --tp-impl manual --mbs 1 2 --gbs 8 --steps 2 --warmup 1 --lr 0.01 --out "$OUT")
    if [ $w = 1 ]; then cmd=(python3 "$HERE/train_step.py"); else cmd=(torchrun --standalone --nproc_per_node $w "$HERE/train_step.py"); fi
    [ -n "$DRY" ] && { echo "${cmd[*]} ${args[*]}"; continue; }
    timeout 300 "${cmd[@]}" "${args[@]}" > "$OUT/log_${plan//,/-}.txt" 2>&1 || { echo "FAIL $plan (log: $OUT/log_${plan//,/-}.txt)"; fail=1; }
  done
  [ -n "$DRY" ] && exit 0
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
  exit 0
fi

if [ "$KIND" = host-probe ]; then
  OUT="${OUT:-$ROOT/validation/results/host_issue}"; [ -n "$DRY" ] || mkdir -p "$OUT"
  for probe in $PROBES; do
    procs="${probe%%:*}"; flags="${probe#*:}"; flags="${flags//,/ }"
    if [ "$procs" = 1 ]; then run env CUDA_VISIBLE_DEVICES=0 timeout 90 python3 "$ROOT/profiler/host_issue.py" $flags --out "$OUT" 2>&1 | quiet
    else run timeout 90 torchrun --standalone --nproc_per_node "$procs" "$ROOT/profiler/host_issue.py" $flags --out "$OUT" 2>&1 | quiet; fi
  done
  exit 0
fi

# sweep
OUT="${OUT:-$ROOT/validation/results}"; [ -n "$DRY" ] || mkdir -p "$OUT"
T0=$(date +%s); DEADLINE=0; [ "$LIMIT_S" -gt 0 ] && DEADLINE=$((T0 + LIMIT_S))
NGPU="${NGPU:-$(nvidia-smi -L 2>/dev/null | wc -l)}"
[ -n "$DRY" ] && [ "$NGPU" = 0 ] && NGPU=4
# with --suffix the runs land in a work folder first and are renamed into OUT afterwards
RES="$OUT"; [ -n "$SUFFIX" ] && { if [ -n "$DRY" ]; then RES="<work folder>"; else RES="$(mktemp -d)"; fi; }
COMMON=(--model "$MODEL" --layers "$LAYERS" --steps "$STEPS" --warmup "$WARMUP" --out "$RES" --skip-existing --deadline "$DEADLINE")
[ -n "$PREFIX" ] && COMMON+=(--prefix "$PREFIX")
[ -n "$GRAPH" ] && COMMON+=(--cuda-graph --graph-capture-mode "$CAPTURE")
COMMON+=("${EXTRA[@]}")
echo "[run] $(date -Is) GPUs=$NGPU model=$MODEL layers=$LAYERS plans=$PLANS mbs=$MBS gbs=$GBS${GRAPH:+ cuda-graph}"

for plan in $PLANS; do
  IFS=, read -r tp pp dp <<< "$plan"; world=$((tp * pp * dp))
  [ "$NGPU" -ge "$world" ] || { echo "[run] skip plan $plan: needs $world GPUs"; continue; }
  echo "[run] $(date -Is) plan tp=$tp pp=$pp dp=$dp"
  if [ "$world" = 1 ]; then
    if [ -n "$SHARE" ] && [ "$NGPU" -ge 2 ]; then
      i=0; pids=()
      for g in $GBS; do
        ( retry env CUDA_VISIBLE_DEVICES=$((i % 2)) python3 "$HERE/train_step.py" --tp 1 --pp 1 --dp 1 --mbs $MBS --gbs $g \
            --host-processes 2 "${COMMON[@]}" ) 2>&1 &
        pids+=($!); i=$((i + 1))
        if [ $((i % 2)) = 0 ]; then wait "${pids[@]}"; pids=(); fi
      done
      [ ${#pids[@]} -gt 0 ] && wait "${pids[@]}"
    else
      retry env CUDA_VISIBLE_DEVICES=0 python3 "$HERE/train_step.py" --tp 1 --pp 1 --dp 1 --mbs $MBS --gbs $GBS "${COMMON[@]}"
    fi
    continue
  fi
  impls=manual
  if [ "$tp" -gt 1 ]; then impls="$TP_IMPLS"; [ "$world" -gt "$tp" ] && impls=manual; fi
  for impl in $impls; do
    retry torchrun --standalone --nproc_per_node "$world" "$HERE/train_step.py" --tp $tp --pp $pp --dp $dp \
      --tp-impl $impl --mbs $MBS --gbs $GBS "${COMMON[@]}" 2>&1 | quiet
  done
done
for lps in $UNEVEN; do
  [ "$NGPU" -ge 2 ] || break
  echo "[run] $(date -Is) plan tp=1 pp=2 dp=1 layers-per-stage=$lps"
  retry torchrun --standalone --nproc_per_node 2 "$HERE/train_step.py" --tp 1 --pp 2 --dp 1 --tp-impl manual \
    --layers-per-stage "$lps" --name-suffix "_lps${lps//,/-}" --mbs $MBS --gbs 16 "${COMMON[@]}" 2>&1 | quiet
done
if [ -n "$SUFFIX" ] && [ -z "$DRY" ]; then
  for f in "$RES"/*.json; do [ -e "$f" ] && mv "$f" "$OUT/$(basename "${f%.json}")$SUFFIX.json"; done
  rmdir "$RES" 2>/dev/null
fi
echo "[run] $(date -Is) done in $(( $(date +%s) - T0 ))s; compare: node bin/fasop.js validate $OUT"
