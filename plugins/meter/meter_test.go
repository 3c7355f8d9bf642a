package meter_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/weftdb/weft/plugins/meter"
)

// ---------------------------------------------------------------------------
// A tiny assembler: modules are written byte by byte, with helpers for the
// LEB128 numbers, vectors and sections of the binary format.

const (
	i32     = 0x7F
	i64     = 0x7E
	funcref = 0x70
)

func leb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// vec is a vector: its length, then its items.
func vec(items ...[]byte) []byte { return cat(leb(uint64(len(items))), cat(items...)) }

func str(s string) []byte { return cat(leb(uint64(len(s))), []byte(s)) }

// sec is a section whose body is a vector of items; rawSec one whose body
// is given.
func sec(id byte, items ...[]byte) []byte { return rawSec(id, vec(items...)) }

func rawSec(id byte, body []byte) []byte {
	return cat([]byte{id}, leb(uint64(len(body))), body)
}

func wasmModule(sections ...[]byte) []byte {
	return cat([]byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}, cat(sections...))
}

func funcType(params, results []byte) []byte {
	return cat([]byte{0x60}, leb(uint64(len(params))), params, leb(uint64(len(results))), results)
}

// body is a code section entry: its size, the local declarations, the
// instructions (ending with the function's end).
func body(locals []byte, instrs ...[]byte) []byte {
	b := cat(locals, cat(instrs...))
	return cat(leb(uint64(len(b))), b)
}

var noLocals = []byte{0x00}

func i32c(v int32) []byte { return cat([]byte{0x41}, sleb(int64(v))) }

func export(name string, kind byte, idx uint32) []byte {
	return cat(str(name), []byte{kind}, leb(uint64(idx)))
}

func op(b ...byte) []byte { return b }

// countdown wraps instrs in a loop run n times, n being local 0:
//
//	block loop local.get 0 i32.eqz br_if 1 <instrs>
//	local.get 0 i32.const 1 i32.sub local.set 0 br 0 end end
//
// The loop holds 10+len(instrs) instructions, its end included.
func countdown(instrs ...[]byte) []byte {
	return cat(op(0x02, 0x40, 0x03, 0x40, 0x20, 0x00, 0x45, 0x0D, 0x01), cat(instrs...),
		op(0x20, 0x00, 0x41, 0x01, 0x6B, 0x21, 0x00, 0x0C, 0x00, 0x0B, 0x0B))
}

// ---------------------------------------------------------------------------
// The hand-built modules.

// sumModule exports sum(n i32) i64, the sum of 1..n by a loop, and tiny()
// i32, which returns 42.
func sumModule() []byte {
	return wasmModule(
		sec(1, funcType(op(i32), op(i64)), funcType(nil, op(i32))),
		sec(3, leb(0), leb(1)),
		sec(7, export("sum", 0, 0), export("tiny", 0, 1)),
		sec(10,
			body(vec(op(0x01, i64)), countdown(
				op(0x20, 0x01, 0x20, 0x00, 0xAD, 0x7C, 0x21, 0x01), // acc += i64(n)
			), op(0x20, 0x01, 0x0B)),
			body(noLocals, op(0x41, 42, 0x0B)),
		),
	)
}

// sumLoopWeight is what the loop of sum weighs: 10 instructions of
// countdown and 4 of its own.
const sumLoopWeight = 14

// envModule exports a mutable i32 global g = 7, for shiftModule to import.
func envModule() []byte {
	return wasmModule(
		sec(6, cat(op(i32, 0x01), i32c(7), op(0x0B))),
		sec(7, export("g", 3, 0)),
	)
}

// shiftModule has function and global imports, a table filled by element
// segments of all eight encodings, a funcref global initialised with
// ref.func, direct calls, ref.func in code, table.init and a start
// function: everything whose function indices the rewrite shifts.
//
// Functions: 0 env.add1 (imported), 1 double, 2 triple, 3 apply(k, x)
// (call_indirect of slot k), 4 twice (double then add1), 5 start (mem[0] =
// 1234, g++), 6 viaGlobal (slot 3 = the global, then call slot 3), 7
// refFunc (slot 5 = ref.func 1, then call slot 5), 8 tinit (slot 6 and 9
// from passive segments), 9 getG.
func shiftModule() []byte {
	t0 := funcType(op(i32), op(i32))
	t1 := funcType(op(i32, i32), op(i32))
	t2 := funcType(nil, nil)
	t3 := funcType(nil, op(i32))
	end := op(0x0B)
	callSlot := func(slot int32) []byte { // local.get 0, i32.const slot, call_indirect t0
		return cat(op(0x20, 0x00), i32c(slot), op(0x11, 0x00, 0x00))
	}
	return wasmModule(
		sec(1, t0, t1, t2, t3),
		sec(2,
			cat(str("env"), str("add1"), op(0x00, 0x00)),
			cat(str("genv"), str("g"), op(0x03, i32, 0x01)),
		),
		sec(3, leb(0), leb(0), leb(1), leb(0), leb(2), leb(0), leb(0), leb(2), leb(3)),
		sec(4, op(funcref, 0x00, 10)),
		sec(5, op(0x00, 0x01)),
		sec(6, op(funcref, 0x00, 0xD2, 0x02, 0x0B)), // global 1 = ref.func 2
		sec(7,
			export("add1", 0, 0), export("double", 0, 1), export("apply", 0, 3),
			export("twice", 0, 4), export("viaGlobal", 0, 6), export("refFunc", 0, 7),
			export("tinit", 0, 8), export("getG", 0, 9), export("mem", 2, 0),
			export("tbl", 1, 0), export("g", 3, 0),
		),
		rawSec(8, leb(5)),
		sec(9,
			cat(op(0x00), i32c(0), end, vec(leb(1), leb(2), leb(0))),                  // slots 0-2: double, triple, add1
			cat(op(0x04), i32c(4), end, vec(op(0xD2, 0x01, 0x0B))),                    // slot 4: double
			cat(op(0x01, 0x00), vec(leb(2))),                                          // passive: triple
			cat(op(0x02, 0x00), i32c(7), end, op(0x00), vec(leb(4))),                  // slot 7: twice
			cat(op(0x05, funcref), vec(op(0xD2, 0x03, 0x0B))),                         // passive: apply
			cat(op(0x06, 0x00), i32c(8), end, op(funcref), vec(op(0xD2, 0x02, 0x0B))), // slot 8: triple
			cat(op(0x03, 0x00), vec(leb(9))),                                          // declarative
			cat(op(0x07, funcref), vec(op(0xD2, 0x08, 0x0B))),                         // declarative
		),
		sec(10,
			body(noLocals, op(0x20, 0x00, 0x41, 0x02, 0x6C, 0x0B)), // double
			body(noLocals, op(0x20, 0x00, 0x41, 0x03, 0x6C, 0x0B)), // triple
			body(noLocals, op(0x20, 0x01, 0x20, 0x00, 0x11, 0x00, 0x00, 0x0B)),
			body(noLocals, op(0x20, 0x00, 0x10, 0x01, 0x10, 0x00, 0x0B)), // add1(double(x))
			body(noLocals, i32c(0), i32c(1234), op(0x36, 0x02, 0x00), // mem[0] = 1234
				op(0x23, 0x00, 0x41, 0x01, 0x6A, 0x24, 0x00, 0x0B)), // g++
			body(noLocals, i32c(3), op(0x23, 0x01, 0x26, 0x00), callSlot(3), end),
			body(noLocals, i32c(5), op(0xD2, 0x01, 0x26, 0x00), callSlot(5), end),
			body(noLocals,
				i32c(6), i32c(0), i32c(1), op(0xFC, 0x0C, 0x02, 0x00), // table.init 2: slot 6 = triple
				i32c(9), i32c(0), i32c(1), op(0xFC, 0x0C, 0x04, 0x00), // table.init 4: slot 9 = apply
				end),
			body(noLocals, op(0x23, 0x00, 0x0B)),
		),
	)
}

// spinModule exports spin, an infinite loop.
func spinModule() []byte {
	return wasmModule(
		sec(1, funcType(nil, nil)),
		sec(3, leb(0)),
		sec(7, export("spin", 0, 0)),
		sec(10, body(noLocals, op(0x03, 0x40, 0x0C, 0x00, 0x0B, 0x0B))),
	)
}

// bulkModule has 257 pages of memory and exports small (fills 64 bytes
// at 0 with 9), big (fills 16 MiB at 64 with 7), copy (copies 8 MiB from 0
// to 8 MiB), grows(n) and
// tgrows(n), which try n times to grow the memory or the table by
// 0xFFFFFFFF (which fails at once) and return the memory's or table's size.
func bulkModule() []byte {
	t0 := funcType(nil, nil)
	t1 := funcType(op(i32), op(i32))
	return wasmModule(
		sec(1, t0, t1),
		sec(3, leb(0), leb(0), leb(0), leb(1), leb(1)),
		sec(4, op(funcref, 0x00, 0x01)),
		sec(5, cat(op(0x00), leb(257))),
		sec(7, export("small", 0, 0), export("big", 0, 1), export("copy", 0, 2),
			export("grows", 0, 3), export("tgrows", 0, 4), export("mem", 2, 0)),
		sec(10,
			body(noLocals, i32c(0), i32c(9), i32c(64), op(0xFC, 0x0B, 0x00, 0x0B)),
			body(noLocals, i32c(64), i32c(7), i32c(16<<20), op(0xFC, 0x0B, 0x00, 0x0B)),
			body(noLocals, i32c(8<<20), i32c(0), i32c(8<<20), op(0xFC, 0x0A, 0x00, 0x00, 0x0B)),
			body(noLocals, countdown(i32c(-1), op(0x40, 0x00, 0x1A)), op(0x3F, 0x00, 0x0B)),
			body(noLocals, countdown(op(0xD0, funcref), i32c(-1), op(0xFC, 0x0F, 0x00, 0x1A)),
				op(0xFC, 0x10, 0x00, 0x0B)),
		),
	)
}

// handBuilt is every module above, by name.
func handBuilt() map[string][]byte {
	return map[string][]byte{
		"sum":   sumModule(),
		"env":   envModule(),
		"shift": shiftModule(),
		"spin":  spinModule(),
		"bulk":  bulkModule(),
		"empty": wasmModule(),
	}
}

// ---------------------------------------------------------------------------
// Running modules.

// cache is shared by the compiling runtimes so that a module compiled by
// one test (the examples' Go modules take about a second each) is not
// compiled again by FuzzInstrument's seeds.
var cache = wazero.NewCompilationCache()

// host is a weft_meter.tick that counts its calls and, past limit calls
// (if limit > 0), ends the call as the plugin host does at a deadline.
type host struct {
	calls atomic.Int64
	limit int64
}

func (h *host) tick(_ context.Context, _ api.Module, stack []uint64) {
	if n := h.calls.Add(1); h.limit > 0 && n > h.limit {
		panic(sys.NewExitError(sys.ExitCodeDeadlineExceeded))
	}
	stack[0] = meter.Budget
}

// newRuntime is a runtime of wazero's default configuration with WASI, a
// weft_meter module whose tick is h's, an env module with add1(x) = x+1
// and envModule instantiated as genv.
func newRuntime(t testing.TB, h *host) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	t.Cleanup(func() { _ = rt.Close(ctx) })
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = &host{}
	}
	if _, err := rt.NewHostModuleBuilder(meter.Module).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(h.tick), nil, []api.ValueType{api.ValueTypeI32}).
		Export(meter.Func).
		Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.NewHostModuleBuilder("env").
		NewFunctionBuilder().WithFunc(func(x uint32) uint32 { return x + 1 }).Export("add1").
		Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.InstantiateWithConfig(ctx, envModule(), wazero.NewModuleConfig().WithName("genv")); err != nil {
		t.Fatal(err)
	}
	return rt
}

func instrument(t testing.TB, wasm []byte) []byte {
	t.Helper()
	out, err := meter.Instrument(wasm)
	if err != nil {
		t.Fatalf("Instrument: %v", err)
	}
	return out
}

// instantiate runs wasm in a new runtime with tick h.
func instantiate(t testing.TB, wasm []byte, h *host) api.Module {
	t.Helper()
	mod, err := newRuntime(t, h).Instantiate(context.Background(), wasm)
	if err != nil {
		t.Fatalf("instantiating: %v", err)
	}
	return mod
}

// call calls fn and returns its first result, or its error's first line
// (the stack trace that follows names functions by their index, which the
// rewrite changes).
func call(mod api.Module, fn string, args ...uint64) string {
	f := mod.ExportedFunction(fn)
	if f == nil {
		return "no function " + fn
	}
	res, err := f.Call(context.Background(), args...)
	if err != nil {
		first, _, _ := strings.Cut(err.Error(), "\n")
		return "error: " + first
	}
	if len(res) == 0 {
		return "ok"
	}
	return fmt.Sprint(res[0])
}

// sameInterface checks that inst, the instrumented orig, exports the same
// functions with the same signatures and imports the same functions plus
// weft_meter.tick. It compiles orig with the interpreter, which is quick
// and gives the same definitions.
func sameInterface(t *testing.T, orig []byte, inst wazero.CompiledModule) {
	t.Helper()
	ctx := context.Background()
	irt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer irt.Close(ctx)
	ocm, err := irt.CompileModule(ctx, orig)
	if err != nil {
		t.Fatalf("compiling the original: %v", err)
	}
	names := func(vts []api.ValueType) string {
		var s []string
		for _, vt := range vts {
			s = append(s, api.ValueTypeName(vt))
		}
		return "[" + strings.Join(s, " ") + "]"
	}
	sig := func(d api.FunctionDefinition) string {
		return names(d.ParamTypes()) + " -> " + names(d.ResultTypes())
	}
	oe, ie := ocm.ExportedFunctions(), inst.ExportedFunctions()
	if len(oe) != len(ie) {
		t.Errorf("%d exported functions, want %d", len(ie), len(oe))
	}
	for name, d := range oe {
		n, ok := ie[name]
		if !ok {
			t.Errorf("export %s is missing", name)
		} else if sig(n) != sig(d) {
			t.Errorf("export %s is %s, was %s", name, sig(n), sig(d))
		}
	}
	imp := func(defs []api.FunctionDefinition) []string {
		var s []string
		for _, d := range defs {
			m, n, _ := d.Import()
			s = append(s, m+"."+n+" "+sig(d))
		}
		return s
	}
	want := append(imp(ocm.ImportedFunctions()), meter.Module+"."+meter.Func+" [] -> [i32]")
	if got := imp(inst.ImportedFunctions()); !slices.Equal(got, want) {
		t.Errorf("imported functions\n%q\nwant\n%q", got, want)
	}
	if om, im := ocm.ExportedMemories(), inst.ExportedMemories(); len(om) != len(im) {
		t.Errorf("%d exported memories, want %d", len(im), len(om))
	}
}

// repoModules is every .wasm file of the examples and the plugins' test
// data.
func repoModules(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{"../../examples/plugins", "../testdata"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".wasm") {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(files) < 10 {
		t.Fatalf("found only %d .wasm files: %q", len(files), files)
	}
	return files
}

// ---------------------------------------------------------------------------
// Tests.

func TestRepoModules(t *testing.T) {
	for _, path := range repoModules(t) {
		t.Run(strings.TrimLeft(path, "./"), func(t *testing.T) {
			t.Parallel()
			wasm, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out := instrument(t, wasm)
			cm, err := newRuntime(t, nil).CompileModule(context.Background(), out)
			if err != nil {
				t.Fatalf("compiling the instrumented module: %v", err)
			}
			sameInterface(t, wasm, cm)
		})
	}
}

func TestHandBuiltInterfaces(t *testing.T) {
	for name, wasm := range handBuilt() {
		t.Run(name, func(t *testing.T) {
			cm, err := newRuntime(t, nil).CompileModule(context.Background(), instrument(t, wasm))
			if err != nil {
				t.Fatal(err)
			}
			sameInterface(t, wasm, cm)
		})
	}
}

func TestSum(t *testing.T) {
	orig := sumModule()
	h := &host{}
	om, im := instantiate(t, orig, nil), instantiate(t, instrument(t, orig), h)
	for range 100 {
		if got := call(im, "tiny"); got != "42" {
			t.Fatalf("tiny() = %s", got)
		}
	}
	if n := h.calls.Load(); n != 0 {
		t.Errorf("100 calls of tiny called tick %d times, want 0", n)
	}
	for _, n := range []uint64{0, 1, 10, 1000} {
		want := fmt.Sprint(n * (n + 1) / 2)
		if o, i := call(om, "sum", n), call(im, "sum", n); o != want || i != want {
			t.Errorf("sum(%d) = %s instrumented, %s original, want %s", n, i, o, want)
		}
	}

	// A million iterations: the loop header is checked once more than
	// that, and each check takes sumLoopWeight; tick grants Budget.
	const iters = 1_000_000
	h.calls.Store(0)
	if got, want := call(im, "sum", iters), fmt.Sprint(uint64(iters)*(iters+1)/2); got != want {
		t.Fatalf("sum(%d) = %s, want %s", iters, got, want)
	}
	lo, hi := int64(iters*sumLoopWeight/meter.Budget-1), int64((iters+2)*sumLoopWeight/meter.Budget+1)
	if n := h.calls.Load(); n < lo || n > hi {
		t.Errorf("sum(%d) called tick %d times, want %d to %d", iters, n, lo, hi)
	}
}

func TestIndexShift(t *testing.T) {
	orig := shiftModule()
	om, im := instantiate(t, orig, nil), instantiate(t, instrument(t, orig), nil)
	trap := func(msg string) string { return "error: wasm error: " + msg }
	steps := []struct {
		fn   string
		args []uint64
		want string
	}{
		{"getG", nil, "8"}, // the start function ran once
		{"add1", []uint64{5}, "6"},
		{"double", []uint64{5}, "10"},
		{"twice", []uint64{5}, "11"},
		{"apply", []uint64{0, 5}, "10"},
		{"apply", []uint64{1, 5}, "15"},
		{"apply", []uint64{2, 5}, "6"}, // the import, through the table
		{"apply", []uint64{3, 5}, trap("invalid table access")},
		{"apply", []uint64{4, 5}, "10"},
		{"apply", []uint64{7, 5}, "11"},
		{"apply", []uint64{8, 5}, "15"},
		{"viaGlobal", []uint64{5}, "15"},
		{"apply", []uint64{3, 5}, "15"},
		{"refFunc", []uint64{5}, "10"},
		{"apply", []uint64{5, 5}, "10"},
		{"apply", []uint64{6, 5}, trap("invalid table access")},
		{"tinit", nil, "ok"},
		{"apply", []uint64{6, 5}, "15"},
		{"apply", []uint64{9, 5}, trap("indirect call type mismatch")},
	}
	for _, s := range steps {
		o, i := call(om, s.fn, s.args...), call(im, s.fn, s.args...)
		if o != s.want || i != s.want {
			t.Errorf("%s%v = %s instrumented, %s original, want %s", s.fn, s.args, i, o, s.want)
		}
	}
	for _, m := range []api.Module{om, im} {
		if v, ok := m.Memory().ReadUint32Le(0); !ok || v != 1234 {
			t.Errorf("the start function left mem[0] = %d, want 1234", v)
		}
	}
}

func TestInfiniteLoopEnds(t *testing.T) {
	h := &host{limit: 3}
	m := instantiate(t, instrument(t, spinModule()), h)
	_, err := m.ExportedFunction("spin").Call(context.Background())
	var exit *sys.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != sys.ExitCodeDeadlineExceeded {
		t.Fatalf("spin returned %v, want a sys.ExitError of code %d", err, sys.ExitCodeDeadlineExceeded)
	}
	if n := h.calls.Load(); n != 4 {
		t.Errorf("tick was called %d times, want 4 (3 granting a budget, the 4th ending the call)", n)
	}
}

func TestBulk(t *testing.T) {
	orig := bulkModule()
	h := &host{}
	om, im := instantiate(t, orig, nil), instantiate(t, instrument(t, orig), h)
	// Each step on both modules; then its ticks at most or at least.
	for _, s := range []struct {
		fn           string
		what         string
		ticks        int64
		atLeast      bool
		checkedBytes map[uint32]byte
	}{
		{"small", "a 64-byte fill", 0, false, map[uint32]byte{0: 9, 63: 9, 64: 0}},
		{"big", "a 16 MiB fill", 1, true, map[uint32]byte{63: 9, 64: 7, 16<<20 + 63: 7, 16<<20 + 64: 0}},
		{"copy", "an 8 MiB copy", 1, true, map[uint32]byte{8<<20 + 63: 9, 8<<20 + 64: 7}},
	} {
		h.calls.Store(0)
		for _, m := range []api.Module{om, im} {
			if got := call(m, s.fn); got != "ok" {
				t.Fatalf("%s() = %s", s.fn, got)
			}
			for off, want := range s.checkedBytes {
				if b, _ := m.Memory().ReadByte(off); b != want {
					t.Errorf("after %s(), mem[%d] = %d, want %d", s.fn, off, b, want)
				}
			}
		}
		switch n := h.calls.Load(); {
		case s.atLeast && n < s.ticks:
			t.Errorf("%s called tick %d times, want at least %d", s.what, n, s.ticks)
		case !s.atLeast && n > s.ticks:
			t.Errorf("%s called tick %d times, want at most %d", s.what, n, s.ticks)
		}
	}

	// A failing grow by 0xFFFFFFFF is cheap, but it must not lower the
	// instructions counted: were the count weighed as a negative number,
	// each one would add to the budget, and a loop of them would never
	// call tick.
	for _, fn := range []string{"grows", "tgrows"} {
		const n = 1000
		h.calls.Store(0)
		if o, i := call(om, fn, n), call(im, fn, n); o != i {
			t.Errorf("%s(%d) = %s instrumented, %s original", fn, n, i, o)
		}
		if got := h.calls.Load(); got < n {
			t.Errorf("%s(%d) called tick %d times, want at least %d", fn, n, got, n)
		}
	}
}

// TestNonMinimalLEB: LEB128 numbers may have more bytes than they need,
// here the count of a body's local declarations of a function the rewrite
// adds a local to.
func TestNonMinimalLEB(t *testing.T) {
	b := cat(op(0x80, 0x80, 0x00), i32c(0), i32c(5), i32c(3), op(0xFC, 0x0B, 0x00), i32c(2), op(0x2D, 0x00, 0x00, 0x0B))
	orig := wasmModule(
		sec(1, funcType(nil, op(i32))),
		sec(3, leb(0)),
		sec(5, op(0x00, 0x01)),
		sec(7, export("f", 0, 0)),
		sec(10, cat(leb(uint64(len(b))), b)),
	)
	om := instantiate(t, orig, nil)
	inst := instrument(t, orig)
	if _, err := newRuntime(t, nil).CompileModule(context.Background(), inst); err != nil {
		t.Fatalf("compiling the instrumented module: %v", err)
	}
	im := instantiate(t, inst, nil)
	if o, i := call(om, "f"), call(im, "f"); o != "5" || i != "5" {
		t.Errorf("f() = %s instrumented, %s original, want 5", i, o)
	}
}

func TestRefusals(t *testing.T) {
	t0 := funcType(nil, nil)
	fn := func(instrs ...byte) []byte { // one function of type () -> () with instrs
		return wasmModule(sec(1, t0), sec(3, leb(0)), sec(10, body(noLocals, instrs)))
	}
	withGlobals := func(imported, defined int, instrs ...byte) []byte {
		var imps, defs [][]byte
		for range imported {
			imps = append(imps, cat(str("genv"), str("g"), op(0x03, i32, 0x01)))
		}
		for range defined {
			defs = append(defs, cat(op(i32, 0x01), i32c(0), op(0x0B)))
		}
		return wasmModule(sec(1, t0), sec(2, imps...), sec(3, leb(0)), sec(6, defs...),
			sec(10, body(noLocals, instrs)))
	}
	cases := []struct {
		name string
		wasm []byte
		want []string // substrings of the error
	}{
		{"empty input", nil, []string{"magic"}},
		{"not wasm", []byte("#!/bin/sh\necho hello\n"), []string{"magic"}},
		{"version 2", []byte{0x00, 'a', 's', 'm', 0x02, 0x00, 0x00, 0x00}, []string{"magic"}},
		{"legacy try", fn(0x06, 0x40, 0x0B, 0x0B), []string{"0x6", "not WebAssembly 2.0"}},
		{"return_call", fn(0x12, 0x00, 0x0B), []string{"0x12", "not WebAssembly 2.0"}},
		{"try_table", fn(0x1F, 0x40, 0x00, 0x0B, 0x0B), []string{"0x1f", "not WebAssembly 2.0"}},
		{"0xFC 18", fn(0xFC, 0x12, 0x0B), []string{"0xFC 18", "not WebAssembly 2.0"}},
		{"bad opcode in a global's initialiser",
			wasmModule(sec(6, op(i32, 0x00, 0x06, 0x0B))), []string{"0x6", "not WebAssembly 2.0"}},
		{"imports weft_meter.tick",
			wasmModule(sec(1, funcType(nil, op(i32))), sec(2, cat(str(meter.Module), str(meter.Func), op(0x00, 0x00)))),
			[]string{`"weft_meter"`}},
		{"imports weft_meter memory",
			wasmModule(sec(2, cat(str(meter.Module), str("mem"), op(0x02, 0x00, 0x01)))),
			[]string{`"weft_meter"`}},
		{"global.set 0 without globals", withGlobals(0, 0, 0x41, 0x00, 0x24, 0x00, 0x0B), []string{"global.set", "global 0"}},
		{"global.set 1 with 1 global", withGlobals(0, 1, 0x41, 0x00, 0x24, 0x01, 0x0B), []string{"global.set", "global 1"}},
		{"global.set 2 with 1 imported and 1 defined", withGlobals(1, 1, 0x41, 0x00, 0x24, 0x02, 0x0B), []string{"global.set", "global 2"}},
	}
	for _, c := range cases {
		out, err := meter.Instrument(c.wasm)
		if err == nil {
			t.Errorf("%s: Instrument succeeded (%d bytes), want an error", c.name, len(out))
			continue
		}
		for _, s := range c.want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, s)
			}
		}
	}

	// The globals that do exist may be set.
	for _, wasm := range [][]byte{
		withGlobals(0, 1, 0x41, 0x00, 0x24, 0x00, 0x0B),
		withGlobals(1, 1, 0x41, 0x00, 0x24, 0x00, 0x41, 0x00, 0x24, 0x01, 0x0B),
	} {
		if _, err := newRuntime(t, nil).CompileModule(context.Background(), instrument(t, wasm)); err != nil {
			t.Errorf("compiling: %v", err)
		}
	}
}

// TestHugeCounts: a vector whose length is far more than the bytes that
// follow must be refused at once, not read item by item (some 40 s and, for
// exports, gigabytes of output, from a 20-byte module).
func TestHugeCounts(t *testing.T) {
	huge := []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x0F} // 0xFFFFFFFF
	fn := func(instrs ...[]byte) []byte {
		return wasmModule(sec(1, funcType(nil, nil)), sec(3, leb(0)), sec(10, body(noLocals, instrs...)))
	}
	cases := map[string][]byte{
		"exports":         wasmModule(rawSec(7, huge)),
		"element items":   wasmModule(sec(9, cat(op(0x01, 0x00), huge))),
		"local groups":    fn(huge),
		"br_table labels": fn(op(0x0E), huge),
		"select types":    fn(op(0x1C), huge),
	}
	for name, wasm := range cases {
		done := make(chan error, 1)
		go func() {
			_, err := meter.Instrument(wasm)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s: instrumented without error", name)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Instrument still running after 5 s", name)
		}
	}
}

// sectionEnds is the offsets at which wasm's sections end, the header's
// end included: the prefixes of wasm that are whole modules.
func sectionEnds(t *testing.T, wasm []byte) []int {
	ends := []int{8}
	for pos := 8; pos < len(wasm); {
		pos++ // id
		var size, shift uint64
		for {
			c := wasm[pos]
			pos++
			size |= uint64(c&0x7F) << shift
			shift += 7
			if c&0x80 == 0 {
				break
			}
		}
		pos += int(size)
		if pos > len(wasm) {
			t.Fatalf("section overruns the module")
		}
		ends = append(ends, pos)
	}
	return ends
}

// safeInstrument is Instrument with a panic turned into an error.
func safeInstrument(wasm []byte) (out []byte, err error, panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			err, panicked = fmt.Errorf("panic: %v", p), true
		}
	}()
	out, err = meter.Instrument(wasm)
	return out, err, false
}

// TestTruncated instruments every prefix of the hand-built modules and the
// small repo modules: one that cuts a section short must be refused, one
// that ends between sections is a module (an incomplete one perhaps, which
// compiling then refuses).
func TestTruncated(t *testing.T) {
	mods := handBuilt()
	for _, path := range repoModules(t) {
		if fi, err := os.Stat(path); err == nil && fi.Size() <= 6000 {
			mods[path], _ = os.ReadFile(path)
		}
	}
	rt := newRuntime(t, nil)
	for name, wasm := range mods {
		ends := sectionEnds(t, wasm)
		for n := range len(wasm) {
			out, err, panicked := safeInstrument(wasm[:n])
			switch {
			case panicked:
				t.Fatalf("%s cut to %d bytes: %v", name, n, err)
			case !slices.Contains(ends, n):
				if err == nil {
					t.Errorf("%s cut to %d bytes, within a section: instrumented without error", name, n)
				} else if want := "unexpected end"; n < 8 && !strings.Contains(err.Error(), "magic") ||
					n >= 8 && !strings.Contains(err.Error(), want) {
					t.Errorf("%s cut to %d bytes: error %q does not say what is wrong", name, n, err)
				}
			case err == nil:
				checkCompiles(t, rt, wasm[:n], out)
			}
		}
	}
}

// TestCorruptSections cuts each section's body of the hand-built modules
// short while keeping the module's framing (the section's size says the
// shorter length): Instrument must not panic, and what it accepts and
// wazero compiled before instrumenting must compile after.
func TestCorruptSections(t *testing.T) {
	rt := newRuntime(t, nil)
	for name, wasm := range handBuilt() {
		ends := sectionEnds(t, wasm)
		for i := 1; i < len(ends); i++ {
			start, end := ends[i-1], ends[i]
			id := wasm[start]
			p := start + 1 // the size, re-encoded below
			for wasm[p]&0x80 != 0 {
				p++
			}
			body := wasm[p+1 : end]
			for n := range len(body) {
				in := cat(wasm[:start], rawSec(id, body[:n]), wasm[end:])
				out, err, panicked := safeInstrument(in)
				if panicked {
					t.Fatalf("%s, section %d cut to %d bytes: %v", name, id, n, err)
				}
				if err == nil {
					checkCompiles(t, rt, in, out)
				}
			}
		}
	}
}

// checkCompiles fails if out, the instrumented in, does not compile while
// in does.
func checkCompiles(t testing.TB, rt wazero.Runtime, in, out []byte) {
	t.Helper()
	ctx := context.Background()
	cm, err := rt.CompileModule(ctx, out)
	if err == nil {
		_ = cm.Close(ctx)
		return
	}
	if cm, ierr := rt.CompileModule(ctx, in); ierr == nil {
		_ = cm.Close(ctx)
		t.Fatalf("the module compiles, but not once instrumented: %v\ninput %x", err, in)
	}
}

// fuzzing reports whether the test binary runs with -test.fuzz.
func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

func FuzzInstrument(f *testing.F) {
	for _, wasm := range handBuilt() {
		f.Add(wasm)
	}
	for _, path := range repoModules(f) {
		// The Go modules, of 2.6 MB, are seeds for plain go test, where
		// TestRepoModules has compiled them already, not for the fuzzer,
		// which would spend its time on them.
		if fi, err := os.Stat(path); err != nil || fuzzing() && fi.Size() > 64<<10 {
			continue
		}
		wasm, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wasm)
	}
	rt := newRuntime(f, nil)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		_ = os.WriteFile(fmt.Sprintf("/tmp/m/last-%d", os.Getpid()), wasm, 0o644)
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > time.Second {
				_ = os.WriteFile(fmt.Sprintf("/tmp/m/slow-%d-%d", os.Getpid(), start.UnixNano()), wasm, 0o644)
			}
		}()
		out, err := meter.Instrument(wasm)
		if err == nil {
			checkCompiles(t, rt, wasm, out)
		}
	})
}
