#!/usr/bin/env bash
# Sets up everything (system packages, build) and opens the HookScope window.
# Until the bundled default model exists, the window opens the tiny GPT-2 test
# checkpoint (random weights, no tokenizer: its prompt is token ids). Extra arguments
# go to `hookscope`, e.g. `scripts/start.sh --model /path/to/checkpoint` or a
# sub-command such as `scripts/start.sh hooks --model /path/to/checkpoint --json`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target hookscope
bin=build/release/app/hookscope
if [ $# -gt 0 ]; then
  exec "$bin" "$@"
fi
exec "$bin" --model tests/fixtures/golden/gpt2-tiny --prompt "0 17 42 99 128 255 256 300"
