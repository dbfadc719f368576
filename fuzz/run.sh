#!/usr/bin/env bash
# Runs one fuzz target on its seed corpus for SECONDS, writing new inputs to a scratch
# folder (the seeds in the tree stay as they are). A crash, leak, timeout or
# out-of-memory fails the run; libFuzzer leaves the input that caused it as
# crash-*/leak-*/timeout-* in the current folder, and this script says where.
#
# usage: run.sh TARGET SEED_FOLDER SECONDS [more libFuzzer options]
set -euo pipefail
target=$1 seeds=$2 seconds=$3
shift 3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/corpus"
artifacts=${FUZZ_ARTIFACTS:-$PWD}
if ! "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "$@" "$scratch/corpus" "$seeds" 2>"$scratch/log"; then
  tail -40 "$scratch/log" >&2
  echo "FAIL: $(basename "$target"): the failing input is in $artifacts" >&2
  exit 1
fi
grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+.*DONE|Done [0-9]+ runs)" "$scratch/log" || true
echo "PASS: $(basename "$target"): no crash, leak or timeout"
