//go:build tsclient

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The TypeScript client (sdk/ts, in Node) makes the Go SDK's requests and
// gets its answers: the ids and bit-identical float32 distances of 20
// filtered queries with a plugin over 10,000 documents it upserted in one
// request. make test-ts runs it, after npm ci and the build in sdk/ts.
func TestTypeScriptClientMatchesGo(t *testing.T) {
	ts := filepath.Join("..", "..", "sdk", "ts")
	if _, err := os.Stat(filepath.Join(ts, "dist", "node.js")); err != nil {
		t.Fatalf("%v: build the client first (make test-ts: npm ci and npm run build in sdk/ts)", err)
	}
	dir, addr, goAnswers := crossClientRun(t)
	cmd := exec.Command("node", filepath.Join(ts, "test", "crossclient.mjs"), addr, "ts",
		filepath.Join(dir, "vectors.npy"), filepath.Join(dir, "attrs.json"), filepath.Join(dir, "queries.npy"), "attrfilter")
	compareAnswers(t, "the TypeScript client", cmd, goAnswers)
}
