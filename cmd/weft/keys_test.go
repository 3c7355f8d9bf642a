package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// weft serve with a bootstrap key: calls without a key get 401; weft keys
// creates, lists and revokes keys with the bootstrap key in $WEFT_API_KEY,
// and a created key works within its grant. Without keys, serve refuses
// to listen beyond loopback unless --insecure.
func TestServeAPIKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bootFile := filepath.Join(dir, "boot")
	const boot = "bootstrap-key-of-the-e2e-test"
	if err := os.WriteFile(bootFile, []byte(boot+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, filepath.Join(dir, "data"), "--auth.bootstrap-key-file", bootFile, "--auth.metrics")
	if code, body := postJSON(t, p.addr, "/weft.v1.NamespaceService/ListNamespaces", `{}`); code != http.StatusUnauthorized || !strings.Contains(body, "Authorization: Bearer") {
		t.Fatalf("no key: %d %s", code, body)
	}
	t.Setenv("WEFT_API_KEY", boot)
	if code, body := postJSONKey(t, p.addr, "/weft.v1.NamespaceService/CreateNamespace", `{"namespace":{"name":"docs","dimension":2,"metric":"METRIC_L2"}}`, boot); code != http.StatusOK {
		t.Fatalf("create namespace with the bootstrap key: %d %s", code, body)
	}
	out := strings.Fields(runWeft(t, ctx, "keys", "create", "--addr", p.addr, "--name", "reader", "--grant", "docs=read"))
	secret := out[len(out)-1] // the secret is the last line; stderr says what it is
	if !strings.HasPrefix(secret, "wk_") {
		t.Fatalf("keys create printed %q", secret)
	}
	list := runWeft(t, ctx, "keys", "list", "--addr", p.addr)
	id := strings.Split(strings.TrimPrefix(secret, "wk_"), "_")[0]
	if !strings.Contains(list, id) || !strings.Contains(list, "docs=read") {
		t.Fatalf("keys list:\n%s", list)
	}
	if code, body := postJSONKey(t, p.addr, "/weft.v1.QueryService/Query", `{"namespace":"docs","vector":[1,2],"topK":1}`, secret); code != http.StatusOK {
		t.Fatalf("query with the read key: %d %s", code, body)
	}
	for key, want := range map[string]int{"": http.StatusUnauthorized, secret: http.StatusForbidden, boot: http.StatusOK} {
		req, _ := http.NewRequest("GET", p.addr+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("/metrics with key %q: %d, want %d", key, resp.StatusCode, want)
		}
	}
	if resp, err := http.Get(p.addr + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz needs no key: %v %v", resp, err)
	}
	if code, body := postJSONKey(t, p.addr, "/weft.v1.DocumentService/Upsert", `{"namespace":"docs","documents":[{"id":"a","vector":[1,2]}]}`, secret); code != http.StatusForbidden || !strings.Contains(body, "needs write") {
		t.Fatalf("upsert with the read key: %d %s", code, body)
	}
	if out := runWeft(t, ctx, "keys", "revoke", "--addr", p.addr, id); !strings.Contains(out, "revoked") {
		t.Fatalf("keys revoke: %s", out)
	}
	if code, body := postJSONKey(t, p.addr, "/weft.v1.QueryService/Query", `{"namespace":"docs","vector":[1,2],"topK":1}`, secret); code != http.StatusUnauthorized || !strings.Contains(body, "revoked") {
		t.Fatalf("query with the revoked key: %d %s", code, body)
	}

	// No keys beyond loopback: refused before it listens.
	refused, err := exec.CommandContext(ctx, weftBin, "serve", "--listen", "0.0.0.0:0", "--data", filepath.Join(dir, "other")).CombinedOutput()
	if err == nil || !strings.Contains(string(refused), "--insecure") {
		t.Fatalf("serve beyond loopback without keys: %v\n%s", err, refused)
	}
}

// postJSONKey is postJSON with an API key.
func postJSONKey(t *testing.T, addr, procedure, body, key string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", addr+procedure, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
