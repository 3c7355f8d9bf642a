package plugins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// instance is one instantiated module. It is used by one call at a time.
type instance struct {
	// tenant is the one tenant the instance serves once bound (see
	// instancePool).
	tenant         string
	bound          bool
	mod            api.Module
	mem            api.Memory
	version, alloc api.Function
	hooks          [4]api.Function
	inPtr, inCap   uint32
	stderr         *headBuffer
	stack          [2]uint64
}

func newInstance(ctx context.Context, rt wazero.Runtime, mod wazero.CompiledModule, info Info) (*instance, error) {
	stderr := &headBuffer{max: 2048}
	mc := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module
		WithStartFunctions("_initialize").
		WithStderr(stderr)
	// No files, no env, no args, stdout discarded, wazero's fake clocks and
	// deterministic random source: a plugin's output depends only on its
	// input.
	m, err := rt.InstantiateModule(ctx, mod, mc)
	if err != nil {
		var exit *sys.ExitError
		if errors.As(err, &exit) {
			if exit.ExitCode() == sys.ExitCodeDeadlineExceeded || ctx.Err() != nil {
				return nil, &Error{Kind: ErrDeadline, Detail: "module initialisation did not finish in time", Err: err}
			}
			return nil, &Error{Kind: ErrTrap, Detail: fmt.Sprintf("module exited with code %d during initialisation%s", exit.ExitCode(), stderr.suffix()), Err: err}
		}
		return nil, &Error{Kind: ErrInvalidModule, Detail: "instantiating: " + firstLine(err.Error()) + stderr.suffix(), Err: err}
	}
	inst := &instance{
		mod:     m,
		mem:     m.Memory(),
		version: m.ExportedFunction("weft_abi_version"),
		alloc:   m.ExportedFunction("weft_alloc"),
		stderr:  stderr,
	}
	if inst.mem == nil || inst.version == nil || inst.alloc == nil {
		_ = m.Close(ctx)
		return nil, &Error{Kind: ErrABI, Detail: "module lacks memory, weft_abi_version or weft_alloc"}
	}
	for _, h := range info.Hooks {
		inst.hooks[h] = m.ExportedFunction(h.export())
	}
	return inst, nil
}

func (i *instance) close(ctx context.Context) { _ = i.mod.Close(ctx) }

// input returns a guest pointer to at least n bytes for the call's input,
// calling weft_alloc only when the previous buffer is too small.
func (i *instance) input(ctx context.Context, n uint32) (uint32, error) {
	if n <= i.inCap && i.inPtr != 0 {
		return i.inPtr, nil
	}
	i.stack[0] = uint64(n)
	if err := i.alloc.CallWithStack(ctx, i.stack[:]); err != nil {
		return 0, err
	}
	ptr := api.DecodeU32(i.stack[0])
	size := i.mem.Size()
	if ptr == 0 || uint64(ptr)+uint64(n) > uint64(size) {
		return 0, &Error{Kind: ErrABI, Detail: fmt.Sprintf("weft_alloc(%d) returned %#x: outside guest memory of %d bytes", n, ptr, size)}
	}
	if ptr%8 != 0 {
		return 0, &Error{Kind: ErrABI, Detail: fmt.Sprintf("weft_alloc(%d) returned %#x: not 8-byte aligned", n, ptr)}
	}
	i.inPtr, i.inCap = ptr, n
	return ptr, nil
}

// ended reports whether ctx is done or past its deadline: the meter reads
// the clock, so a call can stop before the context's own timer fires.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// classify turns a wazero call error into an *Error. cctx is the call's
// context, parent the caller's.
func classify(cctx, parent context.Context, err error, inst *instance, deadline time.Duration) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			if ended(parent) {
				detail := context.DeadlineExceeded.Error()
				if parent.Err() != nil {
					detail = parent.Err().Error()
				}
				return &Error{Kind: ErrCanceled, Detail: detail, Err: err}
			}
			return &Error{Kind: ErrDeadline, Detail: fmt.Sprintf("call did not return within %s", deadline), Err: err}
		}
		return &Error{Kind: ErrTrap, Detail: fmt.Sprintf("module exited with code %d%s", exit.ExitCode(), inst.stderr.suffix()), Err: err}
	}
	if cctx.Err() != nil && parent.Err() != nil {
		return &Error{Kind: ErrCanceled, Detail: parent.Err().Error(), Err: err}
	}
	return &Error{Kind: ErrTrap, Detail: firstLine(err.Error()) + inst.stderr.suffix(), Err: err}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// headBuffer keeps the first bytes a guest writes to stderr during a call,
// to explain a trap: a Go guest prints "fatal error: ..." or "panic: ..."
// there, then its stacks, before exiting.
type headBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *headBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max - len(t.buf); room > 0 {
		t.buf = append(t.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (t *headBuffer) reset() {
	t.mu.Lock()
	t.buf = t.buf[:0]
	t.mu.Unlock()
}

// suffix returns ": <the first lines of stderr>" or "".
func (t *headBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := bytes.TrimSpace(t.buf)
	if len(s) == 0 {
		return ""
	}
	lines := strings.SplitN(strings.ToValidUTF8(string(s), "?"), "\n", 3)
	if len(lines) > 2 {
		lines = lines[:2]
	}
	return "; stderr: " + strings.Join(lines, " | ")
}
