// Package meter rewrites a WebAssembly module so that its host can stop it
// at a deadline without slowing its loops.
//
// wazero's own way, WithCloseOnContextDone, makes every loop iteration leave
// native code for Go to read a flag: about 70 ns an iteration, which made a
// Go guest's loop over 100 candidates cost 8 µs before doing any work, and
// it starts a watcher goroutine for every call. Instrument instead adds a
// budget counter, a mutable i32 global, and an import, Module.Func, of type
// () -> i32. Each function entry and each loop header subtracts from the
// counter the number of instructions it guards; when the counter goes below
// zero the guest calls the import, which checks the call's deadline (ending
// the call with a sys.ExitError when it has passed) and returns the new
// budget. The check is three native instructions; the call into Go happens
// once every Budget instructions or so, which also gives Go's scheduler and
// garbage collector a point to stop the goroutine at.
//
// Every backward branch in WebAssembly targets a loop header and every call
// enters a function, so no guest runs more than about Budget instructions
// between two calls of the import. Instructions whose cost grows with an
// operand (memory.fill, memory.copy, memory.init, memory.grow and the table
// equivalents) count as a whole budget, so a loop of them checks the clock
// every iteration.
//
// The rewrite keeps the module's behaviour: function indices after the new
// import shift by one everywhere they appear (calls, ref.func, exports,
// start, elements), the name and DWARF custom sections, whose offsets and
// indices would be wrong, are dropped. A module that writes the counter
// (global.set of its index, which could not be valid before the rewrite) or
// that already imports from Module is refused, as is any instruction of a
// WebAssembly feature beyond 2.0, which the host does not enable.
package meter
