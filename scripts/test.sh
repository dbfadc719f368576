#!/usr/bin/env bash
# Sets up everything (system packages, build) and runs the whole test suite.
# Each stage ends with CTest's summary. Used as-is by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release
cmake --build --preset release
ctest --preset release
# The parsers' libFuzzer targets (clang, ASan + UBSan), each run briefly on its seeds.
cmake --preset fuzz
cmake --build --preset fuzz
ctest --preset fuzz
# The whole suite again under AddressSanitizer, UndefinedBehaviorSanitizer and
# LeakSanitizer (a debug build).
cmake --preset debug-asan
cmake --build --preset debug-asan
ctest --preset debug-asan
