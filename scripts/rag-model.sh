#!/usr/bin/env bash
# Trains the word vectors of examples/rag's offline embedder and prints
# their path: fastText skip-gram, 100 dimensions, whole words, on the words
# of the passages the example stores (GCIDE, from Debian's dict-gcide).
# Installs dict-gcide and fasttext with apt-get when they are missing.
# Training takes a few minutes on two cores; the vectors are kept in
# ~/.cache/weft/models and reused while this script's settings are the same.
# Training on more than one thread is not bit-for-bit reproducible: the
# example's eval has margin for that.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
settings="skipgram -dim 100 -ws 5 -minCount 3 -epoch 10 -maxn 0 -seed 1"
key=$(printf '%s\n' "$settings" | cat - "$root/examples/rag/corpus.go" | sha256sum | cut -c1-12)
dir=${XDG_CACHE_HOME:-$HOME/.cache}/weft/models
out="$dir/gcide-words-$key.vec"
if [ -s "$out" ]; then
	echo "$out"
	exit 0
fi

missing=()
[ -r /usr/share/dictd/gcide.dict.dz ] || missing+=(dict-gcide)
command -v fasttext >/dev/null || missing+=(fasttext)
if [ ${#missing[@]} -gt 0 ]; then
	echo "rag-model: apt-get install ${missing[*]}" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get install -y -qq "${missing[@]}" >&2 ||
		{ $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq "${missing[@]}" >&2; }
fi

mkdir -p "$dir"
tmp=$(mktemp -d "$dir/train.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && ${GO:-go} run ./examples/rag corpus >"$tmp/corpus.txt")
echo "rag-model: training word vectors on $(wc -w <"$tmp/corpus.txt") words of GCIDE" >&2
# shellcheck disable=SC2086 # settings are words
fasttext $settings -thread "$(nproc)" -verbose 1 -input "$tmp/corpus.txt" -output "$tmp/model" >&2
mv "$tmp/model.vec" "$out"
echo "$out"
