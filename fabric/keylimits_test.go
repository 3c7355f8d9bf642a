package fabric

import (
	"strings"
	"testing"
	"time"
)

func TestKeyLimits(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newKeyLimits(2, 0)
	for i := range 2 {
		if _, err := l.admit("k", now); err != nil {
			t.Fatalf("request %d within the rate: %v", i, err)
		}
	}
	_, err := l.admit("k", now)
	if err == nil || err.ID != "key-rate" || !strings.Contains(err.Msg, "retry in 500ms") {
		t.Fatalf("third request in the same instant: %v", err)
	}
	if _, err := l.admit("other", now); err != nil {
		t.Fatalf("another key is not limited by this one's use: %v", err)
	}
	if _, err := l.admit("k", now.Add(500*time.Millisecond)); err != nil {
		t.Fatalf("half a second later: %v", err)
	}

	c := newKeyLimits(0, 1)
	release, err := c.admit("k", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.admit("k", now); err == nil || err.ID != "key-concurrency" {
		t.Fatalf("second request in flight: %v", err)
	}
	release()
	if _, err := c.admit("k", now); err != nil {
		t.Fatalf("after the first ended: %v", err)
	}
	if newKeyLimits(0, 0) != nil {
		t.Fatal("no limits should be no limiter")
	}
	var none *keyLimits
	if _, err := none.admit("k", now); err != nil {
		t.Fatal(err)
	}
}
