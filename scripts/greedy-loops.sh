#!/usr/bin/env bash
# Counts how many greedy continuations of held-out verses loop: for every 30th verse
# of the validation text from verse 20 (60 verses), the first eight words are
# continued by 32 tokens with argmax; a continuation loops when one 4-token sequence
# comes 3 or more times among its new tokens. The model card quotes these counts.
#
#   scripts/greedy-loops.sh [MODEL] [REPETITION_PENALTY]
#
# Needs build/release (a build) and build/default-model/valid.txt
# (scripts/train-default-model.sh writes it).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-resources/models/kjv-gpt2}
penalty=${2:-1}
for n in $(seq 20 30 1790); do
  prompt=$(sed -n "${n}p" build/default-model/valid.txt | cut -d' ' -f1-8)
  build/release/app/hookscope generate --model "$model" --prompt "$prompt" --greedy \
    --repetition-penalty "$penalty" --max-new-tokens 32 --json 2>/dev/null
done | python3 -c '
import collections, json, sys
loops = total = 0
for line in sys.stdin:
    run = json.loads(line)
    new = run["tokens"][run["prompt_tokens"]:]
    counts = collections.Counter(tuple(new[i:i + 4]) for i in range(len(new) - 3))
    total += 1
    loops += max(counts.values(), default=0) >= 3
print(f"{loops} of {total} greedy continuations loop")'
