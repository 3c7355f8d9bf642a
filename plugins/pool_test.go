package plugins

import "testing"

func TestInstancePoolHandsOutTheLastReturnedFirst(t *testing.T) {
	p := newInstancePool(3)
	a, b, c := &instance{}, &instance{}, &instance{}
	p.put(a)
	p.put(b)
	if got, _ := p.tryGet(); got != b {
		t.Fatal("first get is not the last put")
	}
	p.put(c)
	for _, want := range []*instance{c, a} {
		if got, ok := p.tryGet(); !ok || got != want {
			t.Fatalf("got %p, %v; want %p", got, ok, want)
		}
	}
	if _, ok := p.tryGet(); ok {
		t.Fatal("an empty pool handed out an instance")
	}
	if p.size() != 3 {
		t.Fatalf("size %d", p.size())
	}
}
