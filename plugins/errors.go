package plugins

import (
	"errors"
	"fmt"
)

// Error kinds. Every error a hook call or Validate returns wraps exactly
// one of them, so callers can map them with errors.Is (the fabric maps them
// to Connect codes once, at the handler).
var (
	// ErrInvalidModule: the bytes are not a valid WebAssembly module, or it
	// cannot be instantiated (e.g. its minimum memory exceeds the limit).
	ErrInvalidModule = errors.New("invalid module")
	// ErrABI: the module does not implement the plugin ABI (missing or
	// mistyped exports, wrong ABI version, imports outside WASI, a bad
	// pointer from weft_alloc).
	ErrABI = errors.New("plugin ABI mismatch")
	// ErrTooLarge: the module or a call's input exceeds a configured limit.
	ErrTooLarge = errors.New("too large")
	// ErrDeadline: the call did not finish within the plugin's deadline.
	ErrDeadline = errors.New("deadline exceeded")
	// ErrTrap: the guest trapped (unreachable, out-of-bounds access, stack
	// overflow, out of memory...) or exited (e.g. a Go panic).
	ErrTrap = errors.New("trap")
	// ErrOutput: the guest returned a malformed output (out of bounds, wrong
	// size, too large, non-finite scores...).
	ErrOutput = errors.New("bad output")
	// ErrGuest: the guest reported an error of its own (status != 0).
	ErrGuest = errors.New("plugin error")
	// ErrBusy: no instance became free before the call's deadline.
	ErrBusy = errors.New("all instances busy")
	// ErrClosed: the plugin or host was closed.
	ErrClosed = errors.New("closed")
	// ErrCanceled: the caller's context ended (the query was canceled or hit
	// its own deadline). Never swallowed by fail-open.
	ErrCanceled = errors.New("canceled")
)

// Error is what a failed hook call returns: which plugin, which hook, what
// went wrong. Its message is safe to show to users.
type Error struct {
	Plugin string
	Hook   Hook // 0 outside hook calls (Validate, Load)
	Kind   error
	Detail string
	Err    error // the underlying cause, if any
}

func (e *Error) Error() string {
	where := "plugin"
	if e.Plugin != "" {
		where = fmt.Sprintf("plugin %q", e.Plugin)
	}
	if e.Hook != 0 {
		where += " " + e.Hook.String()
	}
	if e.Detail == "" {
		return fmt.Sprintf("%s: %v", where, e.Kind)
	}
	return fmt.Sprintf("%s: %v: %s", where, e.Kind, e.Detail)
}

// Unwrap returns the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// reason is the metric label of an error kind.
func reason(err error) string {
	switch {
	case errors.Is(err, ErrDeadline):
		return "deadline"
	case errors.Is(err, ErrTrap):
		return "trap"
	case errors.Is(err, ErrOutput):
		return "output"
	case errors.Is(err, ErrGuest):
		return "guest"
	case errors.Is(err, ErrABI):
		return "abi"
	case errors.Is(err, ErrBusy):
		return "busy"
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrClosed):
		return "closed"
	case errors.Is(err, ErrCanceled):
		return "canceled"
	}
	return "other"
}

var reasons = []string{"deadline", "trap", "output", "guest", "abi", "busy", "too_large", "closed", "canceled", "other"}
