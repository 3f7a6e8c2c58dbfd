#!/usr/bin/env bash
# The whole-models set: each model family of the shapes set at its full published depth on one GPU
# (Llama-3.2-3B, Qwen2-1.5B, Qwen2-7B, Mistral-7B, LLaMA-13B, GPT-2 XL widths, random weights), at a
# sequence length and micro-batch that fasop predicts to fit one H200; two micro-batches a step. The
# same list runs on every GPU: where fasop predicts out-of-memory (80 GB cards), the run records the
# verdict. Scored by `fasop validate <folder> --calibration none` (docs/accuracy.md).
# usage: validation/whole.sh OUT_DIR PREFIX [--dry-run]    e.g. validation/whole.sh validation/results/whole h200
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: validation/whole.sh OUT_DIR PREFIX [--dry-run]}; prefix=${2:?usage: validation/whole.sh OUT_DIR PREFIX [--dry-run]}
dry=${3:-}
mkdir -p "$out"
runs=(
  "--mbs 1 --gbs 2 --layers 28 --seq 4096 --hidden 3072 --ffn 8192 --heads 24 --kv-heads 8 --vocab 128256 --tied --model-name llama3.2-3b-like --name-suffix _llama3.2-3b-like28L_s4096"
  "--mbs 2 --gbs 4 --layers 28 --seq 4096 --hidden 1536 --ffn 8960 --heads 12 --kv-heads 2 --vocab 151936 --tied --model-name qwen2-1.5b-like --name-suffix _qwen2-1.5b-like28L_s4096"
  "--mbs 1 --gbs 2 --layers 28 --seq 2048 --hidden 3584 --ffn 18944 --heads 28 --kv-heads 4 --vocab 152064 --model-name qwen2-7b-like --name-suffix _qwen2-7b-like28L_s2048"
  "--mbs 1 --gbs 2 --layers 32 --seq 4096 --hidden 4096 --ffn 14336 --heads 32 --kv-heads 8 --vocab 32000 --model-name mistral-7b-like --name-suffix _mistral-7b-like32L_s4096"
  "--mbs 1 --gbs 2 --layers 40 --seq 2048 --hidden 5120 --ffn 13824 --heads 40 --kv-heads 40 --vocab 32000 --model-name llama13b-like --name-suffix _llama13b-like40L_s2048"
  "--mbs 4 --gbs 8 --layers 48 --seq 1024 --arch gpt2 --hidden 1600 --ffn 6400 --heads 25 --kv-heads 25 --vocab 50257 --tied --model-name gpt2-xl-like --name-suffix _gpt2-xl-like48L_s1024"
)
fail=0
for r in "${runs[@]}"; do
  cmd="python3 validation/train_step.py --tp 1 --pp 1 --dp 1 --steps 4 --warmup 2 --out $out --prefix $prefix $r"
  echo "$cmd"
  [ "$dry" = --dry-run ] && continue
  $cmd || { echo "whole: failed: $r" >&2; fail=1; }
done
exit $fail
