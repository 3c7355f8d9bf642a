#!/usr/bin/env bash
# build-peer.sh: compiles annpeer-weft, the C++ comparison peer of
# `weft bench ann` (bench/annpeer/annpeer.cpp: hnswlib and FAISS), and prints
# its path as the only line on stdout:
#
#   P=$(scripts/build-peer.sh)
#   $P hnswlib --data "$(scripts/dataset.py fashion-mnist-784-euclidean)" --ef 16,64
#
# The binary is ${WEFT_CACHE:-~/.cache/weft}/bin/annpeer-weft. Debian packages
# it needs (g++, libhnswlib-dev, libfaiss-dev, libopenblas-dev) are installed
# with apt-get when missing, with sudo when not root. It recompiles only when
# the source, this script, the compiler, the libraries or the CPU changed
# (-march=native): a fingerprint of those is kept beside the binary in
# annpeer-weft.stamp. Progress goes to stderr.
set -euo pipefail

scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$scripts/../bench/annpeer/annpeer.cpp
self=$scripts/${BASH_SOURCE[0]##*/}
cache=${WEFT_CACHE:-$HOME/.cache/weft}
bin=$cache/bin/annpeer-weft

log() { echo "build-peer: $*" >&2; }

# is_installed PKG: dpkg has PKG fully installed.
is_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# need PKG...: apt-get installs those of PKG... that are missing.
need() {
  local pkg missing=()
  for pkg in "$@"; do
    is_installed "$pkg" || missing+=("$pkg")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  log "apt-get install ${missing[*]}"
  # On a fresh machine the package lists may be empty: update, then retry.
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2; then
    "${sudo[@]}" apt-get update -qq >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
}

# OpenBLAS before libfaiss-dev, which would otherwise pull in the reference
# BLAS, many times slower for FAISS's k-means training.
need libopenblas-dev
need g++ libhnswlib-dev libfaiss-dev

cxxflags=(-std=c++17 -O3 -march=native -fopenmp)
ldlibs=(-lfaiss -lblas -llapack)  # Debian's libfaiss is a static library

fingerprint=$(
  {
    sha256sum "$src" "$self" | cut -d' ' -f1
    echo "${cxxflags[*]} ${ldlibs[*]}"
    g++ --version | head -n1
    dpkg-query -W -f='${Package} ${Version}\n' libhnswlib-dev libfaiss-dev libopenblas-dev
    grep -m1 '^model name' /proc/cpuinfo || true
    grep -m1 '^flags' /proc/cpuinfo || true  # what -march=native sees
  } | sha256sum | cut -c1-16
)

if [ -x "$bin" ] && [ "$(cat "$bin.stamp" 2>/dev/null)" = "$fingerprint" ]; then
  echo "$bin"
  exit 0
fi

log "compiling ${bin##*/} (some seconds)"
mkdir -p "$(dirname "$bin")"
tmp=$(mktemp "$bin.XXXXXX")
trap 'rm -f "$tmp"' EXIT
g++ "${cxxflags[@]}" -o "$tmp" "$src" "${ldlibs[@]}" >&2
chmod 755 "$tmp"
mv -f "$tmp" "$bin"
echo "$fingerprint" >"$bin.stamp"
echo "$bin"
