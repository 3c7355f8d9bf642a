# Weft's tasks. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
export GOEXPERIMENT := simd
GO ?= go
BUF := $(GO) tool -modfile=tools/buf/go.mod buf
FUZZTIME ?= 5s
COUNT ?= 50
# The one weft binary the Python, TypeScript and RAG tests start; each of
# those targets rebuilds it (a cached build, seconds), so it is never stale.
TEST_BIN := .cache/weft-test

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

.PHONY: run
run: ## start weft serve on 127.0.0.1:7600 with ./weft-data
	$(GO) run ./cmd/weft serve --listen 127.0.0.1:7600 --data ./weft-data

.PHONY: generate
generate: ## regenerate proto/gen from proto/, and the Python client's messages (with Debian's protoc)
	$(BUF) lint
	$(BUF) generate
	@if command -v protoc >/dev/null; then $(BUF) generate --template buf.gen.python.yaml; \
	else echo "no protoc: sdk/python/weft/v1 left as it is (scripts/test-deps.sh installs protoc)"; fi
	@if [ -x sdk/ts/node_modules/.bin/protoc-gen-es ]; then $(BUF) generate --template buf.gen.ts.yaml; \
	else echo "no protoc-gen-es: sdk/ts/src/gen left as it is (make ts-deps installs it)"; fi

.PHONY: checkgenerate
checkgenerate: generate ## fail when proto/gen, sdk/python/weft/v1 or sdk/ts/src/gen is stale
	@test -z "$$(git status --porcelain -- proto/gen sdk/python/weft/v1 sdk/ts/src/gen)" || { git status --porcelain -- proto/gen sdk/python/weft/v1 sdk/ts/src/gen; echo "generated code is stale: run make generate and commit"; exit 1; }

.PHONY: ts-deps
ts-deps: ## install the TypeScript client's packages (npm ci in sdk/ts, from its package-lock.json)
	cd sdk/ts && npm ci --no-audit --no-fund --loglevel=error

.PHONY: lint
lint: ## go vet and staticcheck
	$(GO) vet ./...
	$(GO) tool -modfile=tools/go.mod staticcheck ./...

.PHONY: test
test: ## everything CI runs
	scripts/test-deps.sh
	$(MAKE) ts-deps
	$(MAKE) checkgenerate
	test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '^proto/gen/'))" || { gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) build ./...
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -tags purego ./index/...
	GOEXPERIMENT= $(GO) build ./index/...
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)
	$(MAKE) test-s3
	$(MAKE) test-deploy
	$(MAKE) test-python
	$(MAKE) test-ts
	$(MAKE) test-cluster
	$(MAKE) test-rag

.PHONY: test-s3
test-s3: ## the bucket acceptance suite and weft serve's S3 test against a real S3-compatible server on loopback (versitygw, built on first use)
	scripts/s3-server.sh $(GO) test -count=1 -run 'TestRealS3|TestServeS3' -v ./objstore ./cmd/weft | grep -E '^(=== RUN|--- |ok|FAIL|PASS)|SKIP'

.PHONY: test-cluster
test-cluster: ## 2 weft fabric + 3 weft worker + weft indexer processes on loopback over one bucket: Fashion-MNIST recall, nprobe, SIGKILL of a worker under load and of the writing fabric under writes
	scripts/test-deps.sh
	$(GO) test -count=1 -tags cluster -run 'TestCluster' -v -timeout 20m ./cmd/weft | grep -E '^(=== RUN|--- |ok|FAIL|PASS)|cluster_test.go'

.PHONY: test-rag
test-rag: ## examples/rag: GCIDE stored in a real weft serve by the Go and the Python example, 20 questions each (word vectors trained on first use: a few minutes)
	scripts/test-deps.sh
	cd examples/rag/python && PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m pytest -q -p no:cacheprovider test_rag.py
	$(GO) build -o $(TEST_BIN) ./cmd/weft
	vectors=$$(GO="$(GO)" scripts/rag-model.sh) && cd examples/rag && WEFT_BIN=$(CURDIR)/$(TEST_BIN) WEFT_RAG_VECTORS=$$vectors \
		$(GO) test -count=1 -tags rag -run TestRAG -v -timeout 20m . | grep -E '^(=== RUN|--- |ok|FAIL|PASS)|e2e_test.go|"(correct|question)"'

.PHONY: test-python
test-python: ## install the Python client offline into a venv (Debian's packages) and run its pytest tests against a real weft serve
	scripts/test-deps.sh
	rm -rf .cache/pyvenv && /usr/bin/python3 -m venv --system-site-packages .cache/pyvenv
	.cache/pyvenv/bin/pip install -q --no-index --no-build-isolation ./sdk/python
	$(GO) build -o $(TEST_BIN) ./cmd/weft
	rm -rf sdk/python/build sdk/python/*.egg-info
	cd .cache && WEFT_BIN=$(CURDIR)/$(TEST_BIN) WEFT_TEST_INSTALLED=1 pyvenv/bin/python -m pytest -q -p no:cacheprovider ../sdk/python/tests

.PHONY: console
console: ts-deps ## type-check the web console and bundle console/web/app.js (committed, embedded in the binary)
	sdk/ts/node_modules/.bin/tsc -p console
	sdk/ts/node_modules/.bin/esbuild console/src/app.ts --bundle --format=esm --target=es2020 --minify --legal-comments=none --log-level=warning --outfile=console/web/app.js

.PHONY: test-ts
test-ts: ts-deps console ## the TypeScript client and the console: build, node's test runner against a real weft serve (Connect, gRPC, gRPC-web), the cross-client test against the Go SDK, the console in headless Chromium
	@test -z "$$(git status --porcelain -- console/web)" || { git status --porcelain -- console/web; echo "console/web/app.js is stale: run make console and commit"; exit 1; }
	cd sdk/ts && npm run --silent build
	$(GO) build -o $(TEST_BIN) ./cmd/weft
	cd sdk/ts && WEFT_BIN=$(CURDIR)/$(TEST_BIN) node --test test/*.test.mjs
	$(GO) test -count=1 -tags tsclient -run TestTypeScriptClientMatchesGo ./cmd/weft

.PHONY: test-deploy
test-deploy: ## decode examples/deploy's manifests strictly with the Kubernetes API types and check every weft command line in them (a module of its own)
	cd examples/deploy && $(GO) vet ./... && $(GO) test -count=1 ./...

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (make fuzz FUZZTIME=5m)
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

.PHONY: flake
flake: ## the concurrency-heavy tests COUNT times under -race (make flake COUNT=200)
	COUNT=$(COUNT) scripts/flake.sh

.PHONY: plugins
plugins: ## rebuild the example and test .wasm modules
	scripts/build-plugins.sh

.PHONY: bench-import
bench-import: ## weft import of Fashion-MNIST through weft serve: the write-path rate
	scripts/bench-import.sh

.PHONY: bench-query
bench-query: ## weft serve through its API after indexing (DATASETS=..., docs/benchmarks.md)
	scripts/bench-query.sh

.PHONY: bench-cache
bench-cache: ## cold first queries of new processes and lazy segments under a RAM budget (docs/benchmarks.md)
	scripts/bench-cache.sh

.PHONY: bench-cluster
bench-cluster: ## weft fabric over 3 weft workers and an indexer, beside one weft serve: QPS, p50, p99 at concurrency 8 (docs/benchmarks.md)
	scripts/bench-cluster.sh

.PHONY: bench-ann
bench-ann: ## Weft HNSW against hnswlib on fashion-mnist, side by side
	scripts/bench-ann.sh
