package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// weftBin is the weft binary the end-to-end tests run, built once.
var weftBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "weft-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	weftBin = filepath.Join(dir, "weft")
	build := exec.Command("go", "build", "-o", weftBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build weft:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// serveProc is a running `weft serve` (or `weft indexer`).
type serveProc struct {
	cmd  *exec.Cmd
	data string
	addr string // http://127.0.0.1:port
	logs *strings.Builder
	done chan struct{}
}

// startServe runs `weft serve` on a random loopback port over data and
// waits until it listens.
func startServe(t *testing.T, data string, extra ...string) *serveProc {
	t.Helper()
	return startProc(t, "serve", data, extra...)
}

// startProc runs `weft command` (serve or indexer) on a random loopback
// port over data and waits until it listens.
func startProc(t *testing.T, command, data string, extra ...string) *serveProc {
	t.Helper()
	args := append([]string{command, "--listen", "127.0.0.1:0", "--data", data, "--log-format", "json"}, extra...)
	cmd := exec.Command(weftBin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, data: data, logs: &strings.Builder{}, done: make(chan struct{})}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.logs.WriteString(line + "\n")
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "weft "+command+" listening" {
				addrc <- "http://" + rec.Addr
			}
		}
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	select {
	case p.addr = <-addrc:
	case <-p.done:
		t.Fatalf("weft %s exited before listening:\n%s", command, p.logs.String())
	case <-time.After(30 * time.Second):
		p.kill()
		t.Fatalf("weft %s did not listen within 30 s:\n%s", command, p.logs.String())
	}
	return p
}

// kill sends SIGKILL and waits for the process to end.
func (p *serveProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop asks for a graceful shutdown and waits for it.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("weft serve did not stop within 30 s of SIGTERM:\n%s", p.logs.String())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("weft serve exited with %d after SIGTERM:\n%s", code, p.logs.String())
	}
}

// postJSON sends a Connect unary call as plain HTTP JSON, as curl would.
func postJSON(t *testing.T, addr, procedure, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(addr+procedure, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(out)
}

// runWeft runs a weft tool command (import, query) to completion.
func runWeft(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, weftBin, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("weft %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestServeHealthAndMetrics(t *testing.T) {
	p := startServe(t, t.TempDir())
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(p.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", path, resp.Status)
		}
	}
	code, body := postJSON(t, p.addr, "/weft.v1.NamespaceService/CreateNamespace", `{"namespace":{"name":"m","dimension":2,"metric":"METRIC_L2"}}`)
	if code != http.StatusOK {
		t.Fatalf("create: %d %s", code, body)
	}
	resp, err := http.Get(p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `weft_requests_total{code="ok",procedure="/weft.v1.NamespaceService/CreateNamespace"} 1`
	if !strings.Contains(string(metrics), want) {
		t.Fatalf("/metrics lacks %s", want)
	}
	p.stop(t)
}

// --objstore-latency makes every bucket request a round trip: /readyz,
// which asks the bucket, takes at least that long; a negative value is
// refused.
func TestServeObjstoreLatency(t *testing.T) {
	p := startServe(t, t.TempDir(), "--objstore-latency", "150ms", "--objstore-bandwidth", "100000000")
	start := time.Now()
	resp, err := http.Get(p.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(start); resp.StatusCode != http.StatusOK || d < 150*time.Millisecond {
		t.Fatalf("/readyz: %s after %v, want OK after ≥ 150ms", resp.Status, d)
	}
	out, err := exec.Command(weftBin, "serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--objstore-latency", "-1s").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "must not be negative") {
		t.Fatalf("a negative latency: %v\n%s", err, out)
	}
}

// --cors.origins lets pages of the named origins call the API from a
// browser (preflight and the call itself carry the CORS headers); other
// origins get none; a bad origin is refused at start.
func TestServeCORS(t *testing.T) {
	p := startServe(t, t.TempDir(), "--cors.origins", "http://app.example, https://b.example")
	preflight := func(origin string) http.Header {
		t.Helper()
		req, _ := http.NewRequest(http.MethodOptions, p.addr+"/weft.v1.QueryService/Query", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,connect-protocol-version,content-type") // as browsers send them: sorted, lower case
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	h := preflight("http://app.example")
	if h.Get("Access-Control-Allow-Origin") != "http://app.example" || !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("preflight from an allowed origin: %v", h)
	}
	if h := preflight("http://evil.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin: %v", h)
	}
	req, _ := http.NewRequest(http.MethodPost, p.addr+"/weft.v1.NamespaceService/ListNamespaces", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://b.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "https://b.example" {
		t.Fatalf("a call from an allowed origin: %s, %v", resp.Status, resp.Header)
	}
	out, err := exec.Command(weftBin, "serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--cors.origins", "app.example").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "want scheme://host") {
		t.Fatalf("an origin without a scheme: %v\n%s", err, out)
	}
}
