package main

import (
	"os/exec"
	"strings"
	"testing"
)

// weft fabric refuses to start without workers or with a list it cannot
// use, and says what to write instead; weft worker refuses an advertised
// URL that is not one.
func TestClusterFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"fabric"}, "needs --workers"},
		{[]string{"fabric", "--workers", "10.0.0.7:7600"}, "is not a worker URL"},
		{[]string{"fabric", "--workers", "http://a:1,ftp://b:2"}, `"ftp://b:2" is not a worker URL`},
		{[]string{"fabric", "--workers", "dns:no-port"}, "want dns:HOST:PORT"},
		{[]string{"worker", "--heartbeat", "1s", "--advertise", "not a url"}, "--advertise"},
	} {
		args := append(c.args, "--listen", "127.0.0.1:0", "--data", t.TempDir())
		out, err := exec.Command(weftBin, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("weft %s: %v\n%s\nwant an error saying %q", strings.Join(c.args, " "), err, out, c.want)
		}
	}
}
