#!/usr/bin/env bash
# Rebuilds every committed plugin module from its source:
#   plugins/testdata/hostile/<case>.wasm   hostile and broken modules (C)
#   plugins/testdata/go/<name>.wasm        Go test modules
#   examples/plugins/<name>/<lang>/*.wasm  the example plugins (Go, C, AssemblyScript)
# Installs clang, lld and wasi-libc with apt-get, and AssemblyScript with npm
# (into ~/.cache/weft/asc), when they are missing.
# Usage: scripts/build-plugins.sh [hostile|examples|go|all]   (default all)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
what=${1:-all}
sdk_c="$root/sdk/plugin/c"

need_clang() {
  if command -v clang >/dev/null && command -v wasm-ld >/dev/null && [ -f /usr/lib/wasm32-wasi/libm.a ]; then
    return
  fi
  echo "build-plugins: installing clang, lld, wasi-libc (apt-get)" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang lld wasi-libc >/dev/null
}

# cc OUT SRC [extra clang flags...]: a libc-free wasm32 library module.
cc_wasm() {
  local out=$1 src=$2
  shift 2
  clang --target=wasm32-wasi -O2 -mbulk-memory -nostdlib -I"$sdk_c" \
    -Wl,--no-entry -Wl,--strip-debug -o "$out" "$src" "$@"
  echo "built $out ($(wc -c <"$out") bytes)"
}

asc_version=0.28.20
asc_dir=${XDG_CACHE_HOME:-$HOME/.cache}/weft/asc

need_asc() {
  if [ -x "$asc_dir/node_modules/.bin/asc" ] &&
    grep -q "\"version\": \"$asc_version\"" "$asc_dir/node_modules/assemblyscript/package.json"; then
    return
  fi
  if ! command -v npm >/dev/null; then
    echo "build-plugins: installing nodejs, npm (apt-get)" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
  fi
  echo "build-plugins: installing assemblyscript@$asc_version (npm)" >&2
  mkdir -p "$asc_dir"
  npm install --prefix "$asc_dir" --no-audit --no-fund "assemblyscript@$asc_version" >/dev/null
}

as_wasm() {
  local out=$1 src=$2
  "$asc_dir/node_modules/.bin/asc" "$src" -O3 --runtime incremental --use abort= -o "$out"
  echo "built $out ($(wc -c <"$out") bytes)"
}

go_wasm() {
  local out=$1 dir=$2
  (cd "$dir" && GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -trimpath -ldflags=-s -o "$out" .)
  echo "built $out ($(wc -c <"$out") bytes)"
}

hostile() {
  need_clang
  local d=plugins/testdata/hostile
  for c in good loop membomb membomb_silent trap oob_access stack_overflow out_oob out_huge \
    out_len_max out_short nan alloc_oob abi_wrong abi_missing abi_bad_signature no_hooks \
    init_loop guest_error bad_verdicts echo; do
    cc_wasm "$d/$c.wasm" "$d/hostile.c" "-DCASE_${c^^}"
  done
  cc_wasm "$d/foreign_import.wasm" "$d/hostile.c" -DCASE_FOREIGN_IMPORT -Wl,--allow-undefined
  # Asks for 2048 pages (128 MiB) of initial memory, over the default limit.
  cc_wasm "$d/memory_min_huge.wasm" "$d/hostile.c" -DCASE_GOOD -Wl,--initial-memory=134217728
}

gotest() {
  for d in plugins/testdata/go/*/; do
    go_wasm "$root/${d%/}.wasm" "$d"
  done
}

examples() {
  need_clang
  for d in examples/plugins/*/; do
    local name
    d=${d%/}
    name=$(basename "$d")
    if [ -f "$d/c/$name.c" ]; then
      # libm functions from wasi-libc (its libc.a holds them), linked statically:
      # the module still imports nothing.
      cc_wasm "$d/c/$name.wasm" "$d/c/$name.c" -L/usr/lib/wasm32-wasi -lc
    fi
    if [ -f "$d/as/$name.ts" ]; then
      need_asc
      as_wasm "$d/as/$name.wasm" "$d/as/$name.ts"
    fi
    if [ -f "$d/go/main.go" ]; then
      go_wasm "$root/$d/go/$name.wasm" "$d/go"
    fi
  done
}

case $what in
hostile) hostile ;;
go) gotest ;;
examples) examples ;;
all)
  hostile
  gotest
  examples
  ;;
*)
  echo "usage: $0 [hostile|go|examples|all]" >&2
  exit 2
  ;;
esac
