#!/usr/bin/env bash
# Installs what `make test` needs beyond Go, from Debian's packages:
#   - dataset-fashion-mnist: the end-to-end tests import it and search it;
#   - protobuf-compiler: generates the Python client's messages (make generate);
#   - python3-protobuf, python3-numpy, python3-pytest, python3-venv: the
#     Python client, its tests and its offline install (make test-python);
#   - nodejs and npm, when the machine has no Node.js: the TypeScript
#     client (make test-ts; its packages come from the npm registry);
#   - chromium: the console's test in a headless browser (make test-ts).
set -euo pipefail

have() {
	command -v node >/dev/null && command -v npm >/dev/null && [[ -x /usr/bin/chromium ]] &&
		[[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]] &&
		command -v protoc >/dev/null &&
		/usr/bin/python3 -c 'import google.protobuf, numpy, pytest, venv, ensurepip' 2>/dev/null
}
if have; then
	exit 0
fi
sudo=""
if [[ $(id -u) != 0 ]]; then
	sudo=sudo
fi
echo "installing Debian packages for the tests: Fashion-MNIST, protoc, Python's protobuf, NumPy, pytest, venv, Chromium" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends dataset-fashion-mnist protobuf-compiler \
	python3-protobuf python3-numpy python3-pytest python3-venv python3-pip chromium >&2
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	$sudo apt-get install -y -qq --no-install-recommends nodejs npm >&2
fi
have
