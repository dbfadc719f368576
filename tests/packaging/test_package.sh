#!/usr/bin/env bash
# Builds the .deb from the build folder, unpacks it into a scratch root (no install on
# this machine), checks what it holds and declares, and runs the unpacked binary
# headless: --version, generate on the bundled model it carries, and a screenshot.
#
# usage: test_package.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cpack --config "$build/CPackConfig.cmake" -G DEB -B "$scratch/out" >"$scratch/cpack.log" 2>&1 ||
  { cat "$scratch/cpack.log" >&2; fail "cpack could not build the package"; }
deb=$(ls "$scratch"/out/hookscope_*.deb)
echo "package: $(basename "$deb"), $(stat -c %s "$deb") bytes"

# The control file: the runtime libraries' packages, found by dpkg-shlibdeps, and OpenBLAS.
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for p in libtorch1.13 libqt6widgets6 libqcustomplot2.1-qt6 libicu72 libpcre2-8-0 libopenblas0-pthread; do
  [[ ", $depends," == *", $p"[\ ,\(]* ]] || fail "Depends lacks $p"
done
[ "$(dpkg-deb -f "$deb" Package)" = hookscope ] || fail "the package is not called hookscope"

root="$scratch/root"
dpkg-deb -x "$deb" "$root"
for f in usr/bin/hookscope \
  usr/share/hookscope/models/kjv-gpt2/config.json usr/share/hookscope/models/kjv-gpt2/model.safetensors \
  usr/share/hookscope/models/kjv-gpt2/tokenizer.json usr/share/hookscope/models/kjv-gpt2/README.md \
  usr/share/applications/io.github.hookscope.hookscope.desktop \
  usr/share/metainfo/io.github.hookscope.hookscope.metainfo.xml \
  usr/share/icons/hicolor/scalable/apps/hookscope.svg usr/share/icons/hicolor/48x48/apps/hookscope.png \
  usr/share/icons/hicolor/256x256/apps/hookscope.png usr/share/man/man1/hookscope.1.gz; do
  [ -s "$root/$f" ] || fail "the package lacks $f"
done
if find "$root" -path '*/tests/*' -o -name 'hookscope-train' -o -name '*.a' | grep -q .; then
  fail "the package holds build-only files"
fi

# Desktop integration passes the validators; the man page is the --help text.
appstreamcli validate --no-net "$root/usr/share/metainfo/io.github.hookscope.hookscope.metainfo.xml" ||
  fail "AppStream metainfo does not validate"
desktop-file-validate "$root/usr/share/applications/io.github.hookscope.hookscope.desktop" ||
  fail "the .desktop entry does not validate"
man=$(zcat "$root/usr/share/man/man1/hookscope.1.gz")
[[ "$man" == .TH\ HOOKSCOPE\ 1* ]] || fail "the man page has no .TH header"
for section in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS "EXIT STATUS"; do
  grep -qx "\.SH $section" <<<"$man" || fail "the man page lacks $section"
done
for option in model names-filter max-new-tokens version; do
  grep -qF "\\fB\\-\\-${option//-/\\-}" <<<"$man" || fail "the man page lacks --$option" # roff: \- for -
done

# The unpacked binary runs: it finds the model beside it (<bin>/../share/hookscope),
# and nothing here points it at the source tree's copy.
bin="$root/usr/bin/hookscope"
export QT_QPA_PLATFORM=offscreen HOME="$scratch/home" XDG_CONFIG_HOME="$scratch/home/.config"
unset HOOKSCOPE_DATA_DIR
version=$("$bin" --version)
echo "$version"
grep -q "^hookscope [0-9.]* (git " <<<"$version" || fail "--version lacks the version and commit"
grep -q "^BLAS OpenBLAS" <<<"$version" || fail "--version does not report OpenBLAS"

"$bin" generate --prompt "In the beginning God created" --greedy --max-new-tokens 8 \
  --names-filter 'blocks.0.attn.hook_pattern' --export "$scratch/run.safetensors" >"$scratch/generate.txt"
echo "generate: $(head -c 300 "$scratch/generate.txt")"
[ "$(wc -w <"$scratch/generate.txt")" -ge 3 ] || fail "generate wrote no continuation"
# The export names the model it ran (the packaged copy) and holds prompt + 8 tokens.
read -r model new_tokens < <("$bin" inspect "$scratch/run.safetensors" --json | python3 -c '
import json, sys
m = json.load(sys.stdin)["metadata"]
print(m["model"], len(json.loads(m["token_ids"])) - int(m["prompt_length"]))')
[ "$model" = "$root/usr/share/hookscope/models/kjv-gpt2" ] || fail "generate used $model, not the packaged model"
[ "$new_tokens" = 8 ] || fail "generate made $new_tokens tokens, not 8"

saved=$("$bin" --screenshot "$scratch/shot.png" --max-new-tokens 4)
echo "$saved"
[[ "$saved" == "saved $scratch/shot.png (1600x1000"* ]] || fail "the screenshot was not saved at 1600x1000"
[ "$(head -c 8 "$scratch/shot.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "the screenshot is not a PNG"
echo "PASS: the package installs and runs"
