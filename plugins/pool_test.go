package plugins

import "testing"

// Within a tenant the pool hands out the last returned instance first; a
// tenant never gets another tenant's instance: it binds a fresh one, and
// when it takes the last fresh one, the least recently used idle instance
// of another tenant is dropped to make room for a new fresh one.
func TestInstancePoolTenants(t *testing.T) {
	p := newInstancePool(2) // 2 calls at once, 3 instances
	fresh := func() *instance {
		if !p.reserve() {
			t.Fatal("the pool is full")
		}
		in := &instance{}
		p.put(in)
		return in
	}
	x, y, z := fresh(), fresh(), fresh()
	if p.reserve() {
		t.Fatal("reserved a fourth instance in a pool of three")
	}
	take := func(tenant string) *instance {
		t.Helper()
		in, dropped, wait := p.take(tenant)
		if dropped != nil {
			t.Fatalf("tenant %s: dropped an instance with fresh ones idle", tenant)
		}
		if in == nil || wait != nil || in.tenant != tenant || !in.bound {
			t.Fatalf("tenant %s: took %+v", tenant, in)
		}
		return in
	}
	a1 := take("a")
	a2 := take("a")
	p.put(a1)
	p.put(a2)
	if got := take("a"); got != a2 {
		t.Fatal("a's first take is not its last return")
	}
	p.put(a2)
	// b binds the last fresh one: a's least recently returned idle
	// instance is dropped to make room.
	b, dropped, _ := p.take("b")
	if b == nil || b == a1 || b == a2 || b.tenant != "b" || dropped != a1 {
		t.Fatalf("b took %p (a's: %p %p), dropped %p", b, a1, a2, dropped)
	}
	// c finds nothing of its own and no fresh one; b's take freed a place,
	// so c waits for the refiller's fresh instance.
	in, dropped, wait := p.take("c")
	if in != nil || dropped != nil || wait == nil {
		t.Fatalf("c: %p, dropped %p, wait %v", in, dropped, wait)
	}
	select {
	case <-p.refill:
	default:
		t.Fatal("no refill asked for")
	}
	if !p.reserve() || p.reserve() {
		t.Fatal("after one drop the pool has room for exactly one more instance")
	}
	c := &instance{}
	p.put(c) // the refiller's fresh instance
	select {
	case <-wait:
	default:
		t.Fatal("a put did not wake the waiter")
	}
	// Binding the last fresh instance drops a's last idle one, so the
	// refiller can keep a fresh one spare.
	got, dropped, _ := p.take("c")
	if got != c || dropped != a2 {
		t.Fatalf("c took %p (want %p), dropped %p (want a's %p)", got, c, dropped, a2)
	}
	_ = []*instance{x, y, z}
}
