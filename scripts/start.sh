#!/usr/bin/env bash
# Sets up everything (system packages, build) and starts HookScope.
# Until the GUI lands, this lists the hook points of the tiny GPT-2 test checkpoint
# and runs it once, exporting every activation, and tokenizes a sentence with GPT-2's
# vocabulary. Extra arguments go to `hookscope`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target hookscope
bin=build/release/app/hookscope
if [ $# -gt 0 ]; then
  exec "$bin" "$@"
fi
model=tests/fixtures/golden/gpt2-tiny
"$bin" hooks --model "$model"
"$bin" run --model "$model" --tokens 0,17,42,99,128,255 --export build/example-cache.safetensors
"$bin" inspect build/example-cache.safetensors
"$bin" generate --model "$model" --tokens 0,17,42 --max-new-tokens 8 --seed 1
"$bin" tokenize --model tests/fixtures/tokenizers/gpt2 --text "Hello, HookScope! It's 2026."
