#!/usr/bin/env bash
# Checks every #include under bridge/, ui/ and app/ against the tier table: a library
# may include its own headers and those of the libraries below it, never one above.
# The include path is shared (the source root), so a wrong-way include would compile;
# this check is what keeps the tiers honest.
# Usage: check_includes.sh SOURCE_ROOT. Prints each wrong-way include as
# file:line: reason, and exits 1 when there is one.
set -euo pipefail
root=${1:?usage: check_includes.sh SOURCE_ROOT}
cd "$root"

# Folder -> the folders its files may include from (their own first). The longest
# folder that prefixes a file's path decides.
declare -A allowed=(
  [bridge/core]="bridge/core"
  [bridge/text]="bridge/core bridge/text"
  [bridge/formats]="bridge/core bridge/formats"
  [bridge/model]="bridge/core bridge/text bridge/formats bridge/model"
  [bridge/analysis]="bridge/core bridge/text bridge/formats bridge/model bridge/analysis"
  [bridge/io]="bridge/core bridge/text bridge/formats bridge/model bridge/io"
  [bridge/dist]="bridge/core bridge/text bridge/formats bridge/model bridge/io bridge/dist"
  [ui/runner]="bridge ui/runner"
  [ui]="bridge ui"
  [app/cli]="bridge app/cli"
  [app]="bridge ui app"
)
# Folders that never include LibTorch: the libraries built without it, and the UI,
# which asks bridge/analysis for whatever it shows computed from tensors. And the
# folders that never see Qt.
torch_free="bridge/core bridge/text bridge/formats ui"
qt_free="bridge"

tier_of() {
    local path=$1 best=""
    for folder in "${!allowed[@]}"; do
        if [[ $path == "$folder"/* && ${#folder} -gt ${#best} ]]; then best=$folder; fi
    done
    echo "$best"
}

in_list() { # word list...
    local word=$1; shift
    for w in "$@"; do [[ $word == "$w" || $word == "$w"/* ]] && return 0; done
    return 1
}

failures=0
while IFS= read -r file; do
    tier=$(tier_of "$file")
    [[ -n $tier ]] || continue
    read -ra may <<<"${allowed[$tier]}"
    while IFS=: read -r line text; do
        if [[ $text =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]]; then
            target=${BASH_REMATCH[1]}
            # Only headers of the tiered folders are checked; generated files (.moc)
            # and same-folder relative includes are not part of the table.
            in_list "$target" bridge ui app || continue
            if ! in_list "$target" "${may[@]}"; then
                echo "$file:$line: includes \"$target\", but $tier may include only from: ${allowed[$tier]}"
                failures=$((failures + 1))
            fi
        elif [[ $text =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\<([^\>]+)\> ]]; then
            target=${BASH_REMATCH[1]}
            if [[ $target =~ ^(ATen|torch|c10)/ ]] && in_list "$file" $torch_free; then
                echo "$file:$line: includes <$target>, but $tier may not include LibTorch"
                failures=$((failures + 1))
            fi
            # c10d and gloo cost seconds per file: the sources of bridge/dist alone see
            # them, never a header that the layers above include.
            if [[ $target =~ ^(torch/csrc/distributed|gloo)/ && ! ($file == bridge/dist/* && $file == *.cpp) ]]; then
                echo "$file:$line: includes <$target>, but only bridge/dist's sources include c10d and gloo"
                failures=$((failures + 1))
            fi
            if [[ $target =~ ^(Q[A-Za-z]+|qcustomplot\.h)($|/) ]] && in_list "$file" $qt_free; then
                echo "$file:$line: includes <$target>, but the bridge never includes Qt"
                failures=$((failures + 1))
            fi
        fi
    done < <(grep -n '#[[:space:]]*include' "$file" || true)
done < <(find bridge ui app -type f \( -name '*.h' -o -name '*.cpp' \) 2>/dev/null | sort)

if ((failures > 0)); then
    echo "$failures wrong-way include(s)"
    exit 1
fi
echo "every include follows the tiers"
