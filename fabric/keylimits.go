package fabric

import (
	"fmt"
	"sync"
	"time"

	"connectrpc.com/connect"
)

// keyLimits bounds each API key's requests per second (a token bucket
// holding a second's worth) and requests in flight, in this process.
type keyLimits struct {
	rate     float64 // per second; 0: unlimited
	inFlight int     // 0: unlimited

	mu   sync.Mutex
	keys map[string]*keyUse
}

type keyUse struct {
	tokens   float64
	last     time.Time
	inFlight int
}

func newKeyLimits(rate float64, inFlight int) *keyLimits {
	if rate <= 0 && inFlight <= 0 {
		return nil
	}
	return &keyLimits{rate: rate, inFlight: inFlight, keys: map[string]*keyUse{}}
}

// admit takes a request of key id, or says why not; release ends it.
func (l *keyLimits) admit(id string, now time.Time) (release func(), err *Error) {
	if l == nil {
		return func() {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.keys[id]
	if u == nil {
		u = &keyUse{tokens: l.rate, last: now}
		l.keys[id] = u
	}
	if l.rate > 0 {
		u.tokens = min(l.rate, u.tokens+now.Sub(u.last).Seconds()*l.rate)
		u.last = now
		if u.tokens < 1 {
			wait := time.Duration((1 - u.tokens) / l.rate * float64(time.Second))
			return nil, &Error{Code: connect.CodeResourceExhausted, ID: "key-rate",
				Msg: fmt.Sprintf("API key %s is over its %g requests per second on this server: retry in %v", id, l.rate, wait.Round(time.Millisecond))}
		}
	}
	if l.inFlight > 0 && u.inFlight >= l.inFlight {
		return nil, &Error{Code: connect.CodeResourceExhausted, ID: "key-concurrency",
			Msg: fmt.Sprintf("API key %s has %d requests in flight on this server, its limit: retry when one ends", id, u.inFlight)}
	}
	if l.rate > 0 {
		u.tokens--
	}
	u.inFlight++
	return func() {
		l.mu.Lock()
		u.inFlight--
		l.mu.Unlock()
	}, nil
}
