#!/usr/bin/env bash
# The long-sequence set: one-GPU runs at sequence 16384-65536 (attention the largest part of the step),
# LLaMA-8B, Mistral-7B-, Qwen2-7B-, Llama-3.2-3B-, Llama-3.2-1B- and GPT-2-large-like widths, random
# weights, recompute none / selective / full, two micro-batches a step. 65536 is past the operator
# profiles' longest attention (32768): fasop extrapolates it and says so in cost_source. The same list
# runs on every GPU; where fasop predicts out-of-memory (80 GB cards) the run records the verdict.
# Scored by `fasop validate <folder> --calibration none` (docs/accuracy.md).
# usage: validation/long.sh OUT_DIR PREFIX [--dry-run]    e.g. validation/long.sh validation/results/long h200
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: validation/long.sh OUT_DIR PREFIX [--dry-run]}; prefix=${2:?usage: validation/long.sh OUT_DIR PREFIX [--dry-run]}
dry=${3:-}
mkdir -p "$out"
runs=(
  "--mbs 1 --gbs 2 --layers 4 --seq 16384 --recompute none --name-suffix _llama8b4L_s16384"
  "--mbs 1 --gbs 2 --layers 4 --seq 32768 --recompute selective --name-suffix _llama8b4L_s32768_recompute-selective"
  "--mbs 1 --gbs 2 --layers 4 --seq 32768 --recompute full --hidden 4096 --ffn 14336 --heads 32 --kv-heads 8 --vocab 32000 --model-name mistral-7b-like --name-suffix _mistral-7b-like4L_s32768_recompute-full"
  "--mbs 1 --gbs 2 --layers 4 --seq 16384 --hidden 3584 --ffn 18944 --heads 28 --kv-heads 4 --vocab 152064 --model-name qwen2-7b-like --name-suffix _qwen2-7b-like4L_s16384"
  "--mbs 1 --gbs 2 --layers 8 --seq 32768 --recompute full --hidden 3072 --ffn 8192 --heads 24 --kv-heads 8 --vocab 128256 --model-name llama3.2-3b-like --name-suffix _llama3.2-3b-like8L_s32768_recompute-full"
  "--mbs 1 --gbs 2 --layers 4 --seq 65536 --recompute full --hidden 2048 --ffn 8192 --heads 32 --kv-heads 8 --vocab 32000 --tied --model-name llama3.2-1b-like --name-suffix _llama3.2-1b-like4L_s65536_recompute-full"
  "--mbs 1 --gbs 2 --layers 8 --seq 16384 --arch gpt2 --hidden 1280 --ffn 5120 --heads 20 --kv-heads 20 --vocab 50257 --tied --model-name gpt2-large-like --name-suffix _gpt2-large-like8L_s16384"
)
fail=0
for r in "${runs[@]}"; do
  cmd="python3 validation/train_step.py --tp 1 --pp 1 --dp 1 --steps 4 --warmup 2 --out $out --prefix $prefix $r"
  echo "$cmd"
  [ "$dry" = --dry-run ] && continue
  $cmd || { echo "long: failed: $r" >&2; fail=1; }
done
exit $fail
