#!/usr/bin/env bash
# Sets up everything (system packages, build) and opens the HookScope window on the
# bundled default model (resources/models/kjv-gpt2) with an example prompt. Extra
# arguments go to `hookscope`, e.g. `scripts/start.sh --model /path/to/checkpoint` or
# a sub-command such as `scripts/start.sh heads`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target hookscope
bin=build/release/app/hookscope
exec "$bin" "$@"
