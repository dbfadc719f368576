#!/usr/bin/env bash
# Installs every Debian 12 package that HookScope's build, app and tests need, plus
# any packages named as arguments (e.g. `bible-kjv` for training the default model).
# Idempotent: when everything is present it does nothing (no apt-get update).
set -euo pipefail

packages=(
  cmake g++ ninja-build ccache pkg-config
  libtorch-dev libopenblas0-pthread
  qt6-base-dev libqcustomplot-dev zlib1g-dev
  nlohmann-json3-dev libpcre2-dev libicu-dev
  # gloo's headers, for LibTorch's c10d process groups (bridge/dist).
  libgloo-dev
  xvfb xauth
  # The man page (python3), the .deb's dependencies (dpkg-shlibdeps) and the
  # validators that tst_package runs on its desktop entry and metainfo.
  python3 dpkg-dev appstream desktop-file-utils
  # The fuzz preset: clang with libFuzzer and the sanitizers' runtimes.
  clang libclang-rt-14-dev
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists.
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
