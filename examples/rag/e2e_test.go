//go:build rag

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRAG stores GCIDE in a real weft serve with the Go example and with
// the Python one, and asks each the 20 questions of questions.json: at
// least 16 must find their answer entry in the top 5. make test-rag runs
// it with WEFT_BIN (a weft binary) and WEFT_RAG_VECTORS (word vectors from
// scripts/rag-model.sh).
func TestRAG(t *testing.T) {
	bin, vectors := os.Getenv("WEFT_BIN"), os.Getenv("WEFT_RAG_VECTORS")
	if bin == "" || vectors == "" {
		t.Fatal("WEFT_BIN and WEFT_RAG_VECTORS are unset: run make test-rag")
	}
	addr := startServe(t, bin)
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	common := []string{"-addr", addr, "-vectors", vectors,
		"-plugin", filepath.Join(root, "examples", "plugins", "keywords", "go", "keywords.wasm"),
		"-questions", "questions.json"}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	t.Run("go", func(t *testing.T) {
		var out bytes.Buffer
		start := time.Now()
		if err := run(ctx, append([]string{"load", "-namespace", "gcide-go"}, common...), &out); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s (load took %.1fs)", strings.ReplaceAll(strings.TrimSpace(out.String()), "\n", "; "), time.Since(start).Seconds())
		out.Reset()
		err := run(ctx, append([]string{"eval", "-namespace", "gcide-go"}, common...), &out)
		checkEval(t, out.Bytes(), err)
	})
	t.Run("python", func(t *testing.T) {
		py := func(args ...string) ([]byte, error) {
			args = append([]string{filepath.Join("python", "rag.py")}, args...)
			args = append(args, "--addr", addr, "--vectors", vectors, "--namespace", "gcide-py",
				"--plugin", filepath.Join(root, "examples", "plugins", "keywords", "go", "keywords.wasm"))
			cmd := exec.CommandContext(ctx, "/usr/bin/python3", args...)
			cmd.Stderr = os.Stderr
			return cmd.Output()
		}
		start := time.Now()
		out, err := py("load")
		if err != nil {
			t.Fatalf("rag.py load: %v", err)
		}
		t.Logf("%s (load took %.1fs)", strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", "; "), time.Since(start).Seconds())
		out, err = py("eval")
		checkEval(t, out, err)
	})
}

// checkEval reads eval's JSON lines: 20 questions, at least 16 found.
func checkEval(t *testing.T, out []byte, err error) {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if e := json.Unmarshal(sc.Bytes(), &m); e != nil {
			t.Fatalf("eval printed %q: %v", sc.Text(), e)
		}
		lines = append(lines, m)
	}
	t.Logf("eval:\n%s", out)
	if err != nil {
		t.Fatalf("eval: %v", err)
	}
	if len(lines) != 21 {
		t.Fatalf("eval printed %d lines, want 20 questions and a summary", len(lines))
	}
	sum := lines[20]
	if sum["questions"] != 20.0 || sum["top_k"] != 5.0 || sum["correct"].(float64) < minCorrect {
		t.Fatalf("eval summary %v: want at least %d of 20 in the top 5", sum, minCorrect)
	}
	found := 0
	for _, l := range lines[:20] {
		if r := l["rank"].(float64); r >= 1 && r <= 5 {
			found++
		}
	}
	if float64(found) != sum["correct"] {
		t.Fatalf("%d questions have a rank in 1..5, the summary says %v", found, sum["correct"])
	}
}

// startServe starts bin serve on a loopback port over a new folder and
// returns its address; the server is killed when the test ends.
func startServe(t *testing.T, bin string) string {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "weft serve listening" {
				addr <- "http://" + rec.Addr
			}
			if strings.Contains(sc.Text(), `"level":"ERROR"`) {
				t.Log(sc.Text())
			}
		}
	}()
	select {
	case a := <-addr:
		return a
	case <-time.After(30 * time.Second):
		t.Fatal("weft serve did not start within 30s")
	}
	return ""
}
