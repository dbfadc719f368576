#!/usr/bin/env bash
# Reproduces the bundled default model: corpus, tokenizer, weights, head scores.
# About an hour on 2 CPU cores. Never run by CI. Resumable: run it again after an
# interruption and training continues from its last checkpoint.
#
# Corpus: the King James Bible as Debian's bible-kjv package ships it (the text's
# copyright expired; the package is GPL-2+), one verse per line without references.
# Every 20th chapter (5%) is held out for validation.
#
# Recipe: GPT-2 with 4 layers, 6 heads, d_model 192, context 256; AdamW at 1e-3 with
# 200 warm-up steps and cosine decay, 3,600 steps of 16 windows (4,096 tokens).
# - Repeated segments: a share of the windows holds a random run of token ids (8 to
#   32 long) repeated to fill the window, which only in-context copying predicts;
#   every window at first, falling linearly to 5% by step 1,500 (with a quarter, the
#   previous recipe, greedy continuations looped more and the loss was 0.08 higher).
# - Sequence-length warm-up: the first 1,500 steps use 64 windows of 64 positions.
#   Each step's windows start at a random position up to a bound that grows from 0 to
#   192 over the warm-up: the circuits form on the first positions, then every
#   position's embedding learns them (windows always at the start gave a previous-token
#   head for positions 1 to 30 only; windows anywhere from the first step formed no
#   circuit by step 900).
# - Position embeddings start as scaled sinusoids instead of noise.
# Both circuits form between steps 400 and 500. Without the warm-up (windows of 256
# from the start) none had formed by step 500 to 1,200 in four earlier runs: with
# noise or sinusoidal positions, with segments up to 128 or 32 long, with or without
# the all-repeats start.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh bible-kjv
cmake --preset release >/dev/null
cmake --build --preset release --target hookscope hookscope-train

work=build/default-model
out=resources/models/kjv-gpt2
mkdir -p "$work"
bible -f Gen1:1-Rev22:21 | awk -v train="$work/train.txt" -v valid="$work/valid.txt" '
  { split($1, ref, ":"); if (ref[1] != chapter) { chapter = ref[1]; n++ }
    sub(/^[^ ]+ /, ""); print > ((n % 20 == 0) ? valid : train) }'
wc -c "$work/train.txt" "$work/valid.txt"

build/release/trainer/hookscope-train tokenizer --corpus "$work/train.txt" --vocab-size 4096 --out "$work/tokenizer"
build/release/trainer/hookscope-train model --train "$work/train.txt" --valid "$work/valid.txt" \
  --tokenizer "$work/tokenizer" --out "$out" --work "$work/run" \
  --layers 4 --heads 6 --d-model 192 --context 256 --batch 16 --steps 3600 --warmup 200 \
  --lr 1e-3 --repeat-share 0.05 --repeat-ramp 1500 --repeat-longest 32 --position-init sinusoidal --short-steps 1500 --short-context 64 --short-placement spread --seed 0 --eval-every 300 --checkpoint-every 100

# The model card's figures: validation loss against a unigram baseline, head scores,
# greedy continuations of three validation verses (their first eight words), without
# and with a repetition penalty, and how many of 60 such continuations loop.
build/release/trainer/hookscope-train evaluate --model "$out" --train "$work/train.txt" --valid "$work/valid.txt"
build/release/app/hookscope heads --model "$out"
for penalty in 1 1.3; do
  for line in 100 800 1500; do
    prompt=$(sed -n "${line}p" "$work/valid.txt" | cut -d' ' -f1-8)
    build/release/app/hookscope generate --model "$out" --prompt "$prompt" --greedy \
      --repetition-penalty "$penalty" --max-new-tokens 32
  done
  bash scripts/greedy-loops.sh "$out" "$penalty"
done
