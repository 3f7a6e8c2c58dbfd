#!/usr/bin/env bash
# The shapes set: one-GPU runs of models, sequence lengths and recompute modes that no per-model
# profile covers, scored by `fasop validate <folder> --calibration none` (docs/accuracy.md).
# usage: validation/shapes.sh OUT_DIR PREFIX [--dry-run]    e.g. validation/shapes.sh validation/results/shapes_h100 h100
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: validation/shapes.sh OUT_DIR PREFIX [--dry-run]}; prefix=${2:?usage: validation/shapes.sh OUT_DIR PREFIX [--dry-run]}
dry=${3:-}
mkdir -p "$out"
L3B="--hidden 3072 --ffn 8192 --heads 24 --kv-heads 8 --vocab 128256 --model-name llama3.2-3b-like"
Q7B="--hidden 3584 --ffn 18944 --heads 28 --kv-heads 4 --vocab 152064 --model-name qwen2-7b-like"
runs=(
  "--mbs 2 --gbs 4 --layers 4 --seq 4096 --recompute none --name-suffix _llama8b4L_s4096_recompute-none"
  "--mbs 2 --gbs 4 --layers 4 --seq 4096 --recompute selective --name-suffix _llama8b4L_s4096_recompute-selective"
  "--mbs 2 --gbs 4 --layers 4 --seq 4096 --recompute full --name-suffix _llama8b4L_s4096_recompute-full"
  "--mbs 2 --gbs 4 --layers 4 --seq 4096 --master-fp32 --name-suffix _llama8b4L_s4096_master-fp32"
  "--mbs 1 --gbs 2 --layers 4 --seq 4096 $L3B --name-suffix _llama3.2-3b-like4L_s4096"
  "--mbs 1 --gbs 2 --layers 4 --seq 4096 $L3B --recompute full --name-suffix _llama3.2-3b-like4L_s4096_recompute-full"
  "--mbs 2 --gbs 4 --layers 4 --seq 2048 $Q7B --name-suffix _qwen2-7b-like4L_s2048"
  "--mbs 1 --gbs 4 --layers 4 --seq 4096 $Q7B --name-suffix _qwen2-7b-like4L_s4096"
  "--mbs 2 --gbs 4 --layers 6 --seq 2048 --hidden 1536 --ffn 8960 --heads 12 --kv-heads 2 --vocab 151936 --tied --model-name qwen2-1.5b-like --name-suffix _qwen2-1.5b-like6L_s2048"
  "--mbs 1 --gbs 2 --layers 4 --seq 8192 --hidden 4096 --ffn 14336 --heads 32 --kv-heads 8 --vocab 32000 --model-name mistral-7b-like --name-suffix _mistral-7b-like4L_s8192"
  "--mbs 1 --gbs 2 --layers 2 --seq 8192 --hidden 5120 --ffn 13824 --heads 40 --kv-heads 40 --vocab 32000 --model-name llama13b-like --name-suffix _llama13b-like2L_s8192"
  "--mbs 2 --gbs 8 --layers 8 --seq 2048 --arch gpt2 --hidden 1600 --ffn 6400 --heads 25 --kv-heads 25 --vocab 50257 --tied --model-name gpt2-xl-like --name-suffix _gpt2-xl-like8L_s2048"
  "--mbs 4 --gbs 8 --layers 8 --seq 2048 --arch gpt2 --hidden 1600 --ffn 6400 --heads 25 --kv-heads 25 --vocab 50257 --tied --model-name gpt2-xl-like --name-suffix _gpt2-xl-like8L_s2048"
  "--mbs 2 --gbs 8 --layers 8 --seq 2048 --arch gpt2 --hidden 1280 --ffn 5120 --heads 20 --kv-heads 20 --vocab 50257 --tied --model-name gpt2-large-like --name-suffix _gpt2-large-like8L_s2048"
  "--mbs 1 --gbs 2 --layers 32 --seq 4096 --steps 4 --warmup 2 --name-suffix _llama8b32L_s4096"
)
fail=0
for r in "${runs[@]}"; do
  cmd="python3 validation/train_step.py --tp 1 --pp 1 --dp 1 --out $out --prefix $prefix $r"
  echo "$cmd"
  [ "$dry" = --dry-run ] && continue
  $cmd || { echo "shapes: failed: $r" >&2; fail=1; }
done
exit $fail
