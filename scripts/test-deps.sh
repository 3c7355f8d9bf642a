#!/usr/bin/env bash
# Installs what `make test` needs beyond Go: Debian's Fashion-MNIST, which
# the end-to-end tests import through `weft import` and search exactly.
set -euo pipefail

want=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [[ -r $want ]]; then
	exit 0
fi
sudo=""
if [[ $(id -u) != 0 ]]; then
	sudo=sudo
fi
echo "installing dataset-fashion-mnist (Debian) for the end-to-end tests" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends dataset-fashion-mnist >&2
test -r "$want"
