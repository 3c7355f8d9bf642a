#!/usr/bin/env bash
# Trains the word vectors of examples/rag's offline embedder and prints
# their path: fastText skip-gram, 100 dimensions, whole words, on the words
# of the passages the example stores (GCIDE, from Debian's dict-gcide) and
# of WordNet's glosses (dict-wn): 8 million words. Installs dict-gcide,
# dict-wn and fasttext with apt-get when they are missing.
# Training runs on one thread with a fixed seed, so every machine with
# Debian's fasttext gets the same vectors (and the example the same
# answers); it takes about six minutes. The vectors are kept in
# ~/.cache/weft/models and reused while the settings and the example's
# chunking stay the same.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
settings="skipgram -dim 100 -ws 5 -minCount 3 -epoch 5 -maxn 0 -thread 1 -seed 1"
# The vectors' name: the training settings and what makes the corpus.
key=$(printf '%s\n' "$settings" wordnet-v1 | cat - "$root/examples/rag/corpus.go" | sha256sum | cut -c1-12)
dir=${XDG_CACHE_HOME:-$HOME/.cache}/weft/models
out="$dir/gcide-words-$key.vec"
if [ -s "$out" ]; then
	echo "$out"
	exit 0
fi

missing=()
[ -r /usr/share/dictd/gcide.dict.dz ] || missing+=(dict-gcide)
[ -r /usr/share/dictd/wn.dict.dz ] || missing+=(dict-wn)
command -v fasttext >/dev/null || missing+=(fasttext)
if [ ${#missing[@]} -gt 0 ]; then
	echo "rag-model: apt-get install ${missing[*]}" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
		{ $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }
fi

mkdir -p "$dir"
tmp=$(mktemp -d "$dir/train.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && ${GO:-go} run ./examples/rag corpus >"$tmp/corpus.txt")
# WordNet as words (wordnet-v1): lower case, every other character a space.
zcat /usr/share/dictd/wn.dict.dz | tr 'A-Z' 'a-z' | tr -cs 'a-z\n' ' ' | grep -v '^ *$' >>"$tmp/corpus.txt"
echo "rag-model: training word vectors on $(wc -w <"$tmp/corpus.txt") words of GCIDE and WordNet" >&2
# shellcheck disable=SC2086 # settings are words
fasttext $settings -verbose 1 -input "$tmp/corpus.txt" -output "$tmp/model" >&2
mv "$tmp/model.vec" "$out"
echo "$out"
