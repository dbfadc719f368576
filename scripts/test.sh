#!/usr/bin/env bash
# Sets up everything (system packages, build) and runs the whole test suite.
# The run ends with CTest's summary. Used as-is by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release
cmake --build --preset release
ctest --preset release
