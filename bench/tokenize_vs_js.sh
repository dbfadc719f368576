#!/usr/bin/env bash
# HookScope's tokenizer against the gpt-3-encoder JavaScript encoder on the King James
# Bible (4.4 MB), interleaved and repeated; prints both medians and whether the two gave
# the same ids. Both encode one line at a time (the package is quadratic in the length of
# one call's text; see js_encode.js). Run by hand (the first run fetches the npm package):
#   bash bench/tokenize_vs_js.sh [ROUNDS]          (default 7)
# Needs: a release build (build/release), node, bible-kjv.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-7}
bench=build/release/bench/bench_tokenize
package=${GPT3_ENCODER_DIR:-$HOME/.cache/hookscope-bench/node_modules/gpt-3-encoder}
if [[ ! -d $package ]]; then
  npm install --silent --prefix "$HOME/.cache/hookscope-bench" gpt-3-encoder@1.1.4 >&2
fi
command -v bible >/dev/null || { echo "install bible-kjv (apt-get install bible-kjv)" >&2; exit 1; }
text=$(mktemp)
trap 'rm -f "$text"' EXIT
bible -f Gen1:1-Rev22:21 >"$text"

results=()
for ((round = 0; round < rounds; ++round)); do
  # Alternate which encoder goes first.
  if ((round % 2 == 0)); then
    results+=("$("$bench" --text "$text" --by-line --per-rep --reps 1)" "$(node bench/js_encode.js "$package" "$text" 1 lines)")
  else
    results+=("$(node bench/js_encode.js "$package" "$text" 1 lines)" "$("$bench" --text "$text" --by-line --per-rep --reps 1)")
  fi
done
printf '%s\n' "${results[@]}" | node -e '
const lines = require("fs").readFileSync(0, "utf8").trim().split("\n").map(JSON.parse);
const median = (v) => { v = [...v].sort((a, b) => a - b); const m = v.length >> 1;
                        return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2; };
const by = (name) => lines.filter((l) => l.encoder === name);
const ours = by("hookscope"), js = by("gpt-3-encoder");
const out = {
  benchmark: "tokenize_vs_js", text: "bible -f Gen1:1-Rev22:21", by_line: true, rounds: ours.length,
  hookscope_mb_per_s_median: median(ours.map((l) => l.mb_per_s)),
  gpt3_encoder_mb_per_s_median: median(js.map((l) => l.mb_per_s)),
  same_ids: ours[0].tokens === js[0].tokens && ours[0].checksum === js[0].checksum,
  tokens: ours[0].tokens, bound_mb_per_s_at_least: 5.0,
};
out.speedup = out.hookscope_mb_per_s_median / out.gpt3_encoder_mb_per_s_median;
console.log(JSON.stringify(out, null, 2));'
