package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "weft.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:9000\nlog-format: json\nshutdown-timeout: 5s\ndata: /from/file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WEFT_LOG_FORMAT", "text")
	t.Setenv("WEFT_DATA", "/from/env")

	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c serveFlags
	c.register(fs)
	fs.String("config", "", "")
	if err := fs.Parse([]string{"--data", "/from/flag"}); err != nil {
		t.Fatal(err)
	}
	if err := applyConfig(fs, file); err != nil {
		t.Fatal(err)
	}
	if c.data != "/from/flag" {
		t.Errorf("data %q: a flag beats the environment and the file", c.data)
	}
	if c.logFormat != "text" {
		t.Errorf("log-format %q: the environment beats the file", c.logFormat)
	}
	if c.listen != "127.0.0.1:9000" || c.shutdownTimeout != 5*time.Second {
		t.Errorf("listen %q, shutdown-timeout %v: the file beats the defaults", c.listen, c.shutdownTimeout)
	}
	if c.logLevel != "info" {
		t.Errorf("log-level %q: the default stays when nothing sets it", c.logLevel)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newFlags := func() *flag.FlagSet {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var c serveFlags
		c.register(fs)
		return fs
	}
	cases := []struct {
		name, file, env, want string
	}{
		{"unknown key", write("a.yaml", "lisen: x\n"), "", `unknown key "lisen"`},
		{"bad duration in file", write("b.yaml", "shutdown-timeout: soon\n"), "", "--config key shutdown-timeout"},
		{"bad duration in env", "", "soon", `WEFT_SHUTDOWN_TIMEOUT="soon"`},
		{"not YAML", write("c.yaml", "listen: [\n"), "", "c.yaml"},
		{"missing file", filepath.Join(dir, "none.yaml"), "", "read --config"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("WEFT_SHUTDOWN_TIMEOUT", tc.env)
			}
			fs := newFlags()
			if err := fs.Parse(nil); err != nil {
				t.Fatal(err)
			}
			err := applyConfig(fs, tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
