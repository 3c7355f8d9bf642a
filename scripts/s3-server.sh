#!/usr/bin/env bash
# s3-server.sh CMD...: runs CMD with a real S3-compatible server on loopback
# and WEFT_TEST_S3 set to "host:port,access,secret,bucket" for the tests
# that use one (objstore TestRealS3, cmd/weft TestServeS3).
#
# The server is versitygw (Apache-2.0) over a temporary folder, built with
# `go install` into ~/.cache/weft/bin the first time (about 1–5 minutes),
# pinned by version. It listens on 127.0.0.1:$S3_PORT (default 7079) and
# is stopped, its folder removed, when CMD ends.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=v1.8.0
PORT=${S3_PORT:-7079}
bin=${XDG_CACHE_HOME:-$HOME/.cache}/weft/bin
gw=$bin/versitygw-$VERSION
if [ ! -x "$gw" ]; then
	echo "s3-server: building versitygw $VERSION (go install)" >&2
	tmp=$(mktemp -d)
	GOBIN=$tmp GOFLAGS=-mod=mod go install "github.com/versity/versitygw/cmd/versitygw@$VERSION"
	mkdir -p "$bin"
	mv "$tmp/versitygw" "$gw"
	rm -rf "$tmp"
fi
if (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
	echo "s3-server: 127.0.0.1:$PORT is taken: set S3_PORT" >&2
	exit 1
fi
root=$(mktemp -d)
mkdir "$root/weft" # the bucket: posix buckets are the root's folders
ROOT_ACCESS_KEY=weft ROOT_SECRET_KEY=weft-test-secret "$gw" --port "127.0.0.1:$PORT" posix "$root/." >"$root.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$root" "$root.log"' EXIT
for _ in $(seq 100); do
	(echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
	if ! kill -0 $pid 2>/dev/null; then
		cat "$root.log" >&2
		echo "s3-server: versitygw exited" >&2
		exit 1
	fi
	sleep 0.1
done
export WEFT_TEST_S3="127.0.0.1:$PORT,weft,weft-test-secret,weft"
"$@"
