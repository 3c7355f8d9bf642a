// weft.ts - the AssemblyScript guest SDK for Weft plugins, ABI version 1.
//
// A plugin's entry file re-exports the ABI functions and exports its hooks:
//
//   import { Input, rerank } from "../../../sdk/plugin/assemblyscript/weft";
//   export { weft_abi_version, weft_alloc } from "../../../sdk/plugin/assemblyscript/weft";
//
//   function boost(input: Input, scores: usize): i32 { ... return 0; }
//   export function weft_rerank(ptr: u32, len: u32): u64 { return rerank(ptr, len, boost); }
//
// Build with: asc plugin.ts -O3 --runtime incremental --use abort= -o plugin.wasm
// (scripts/build-plugins.sh does it). The module has no imports. The ABI is
// specified in docs/plugins.md. Strings in the input are UTF-8 byte views
// (Str), compared byte for byte; nothing is copied. Objects (Input, Column,
// Str) are garbage-collected: in hot loops prefer the allocation-free
// helpers (Column.strEquals, Column.listContains). Hot loops also pay a
// check of the host's deadline per iteration: keep them short
// (docs/plugins.md, "Performance"). The SDK's input and output buffers come
// from memory.grow, outside the collector's heap.

export const ABI_VERSION: u32 = 1;
const MAGIC: u32 = 0x54464557;

export const HOOK_ROUTE: u32 = 1;
export const HOOK_FILTER: u32 = 2;
export const HOOK_RERANK: u32 = 3;

export const TYPE_STRING: u32 = 1;
export const TYPE_INT64: u32 = 2;
export const TYPE_FLOAT64: u32 = 3;
export const TYPE_BOOL: u32 = 4;
export const TYPE_STRING_LIST: u32 = 5;

// A UTF-8 byte view into the input.
export class Str {
  constructor(public ptr: usize, public len: u32) {}

  // equals compares with another view, byte for byte.
  equals(o: Str): bool {
    return this.len == o.len && memory.compare(this.ptr, o.ptr, this.len) == 0;
  }

  // is compares with an AssemblyScript (UTF-16) string of ASCII characters.
  is(s: string): bool {
    if (<u32>s.length != this.len) return false;
    for (let i: u32 = 0; i < this.len; i++) {
      if (<u32>load<u8>(this.ptr + i) != <u32>s.charCodeAt(i)) return false;
    }
    return true;
  }

  // toF64 parses a plain decimal ("-12", "0.25"); NaN when it is not one.
  toF64(): f64 {
    let i: u32 = 0;
    let neg = false;
    if (this.len > 0) {
      const c = load<u8>(this.ptr);
      if (c == 45 || c == 43) {
        neg = c == 45;
        i = 1;
      }
    }
    let m: u64 = 0;
    let digits = 0;
    let scale = 0;
    let dot = false;
    for (; i < this.len; i++) {
      const c = load<u8>(this.ptr + i);
      if (c >= 48 && c <= 57) {
        if (digits == 18) return NaN;
        m = m * 10 + <u64>(c - 48);
        digits++;
        if (dot) scale--;
      } else if (c == 46 && !dot) {
        dot = true;
      } else {
        return NaN;
      }
    }
    if (digits == 0 || scale < -22) return NaN;
    // Digits below 2^53 divided by an exact power of ten round correctly.
    let v = <f64>m / Math.pow(10, <f64>-scale);
    return neg ? -v : v;
  }
}

@inline function u32at(p: usize): u32 {
  return load<u32>(p);
}

function strAt(col: usize, n: u32, i: u32): Str {
  const data = col + 4 * (<usize>n + 1);
  const a = u32at(col + 4 * <usize>i);
  const b = u32at(col + 4 * (<usize>i + 1));
  return new Str(data + a, b - a);
}

// One attribute column.
export class Column {
  constructor(
    public input: Input,
    public type: u32,
    public data: usize,
    public valid: usize, // 0: every candidate has the attribute
  ) {}

  isValid(i: u32): bool {
    return this.valid == 0 || load<u8>(this.valid + i) != 0;
  }
  str(i: u32): Str {
    return strAt(this.data, this.input.count, i);
  }
  // strEquals is str(i).equals(s) without allocating; strings of up to 8
  // bytes are compared with one masked load (the input has 8 bytes of
  // slack), without memory.compare's byte loop.
  @inline strEquals(i: u32, s: Str): bool {
    const a = u32at(this.data + 4 * <usize>i);
    const b = u32at(this.data + 4 * (<usize>i + 1));
    if (b - a != s.len) return false;
    const p = this.data + 4 * (<usize>this.input.count + 1) + a;
    if (s.len <= 8) {
      const mask: u64 = s.len == 8 ? ~(<u64>0) : (<u64>1 << (<u64>s.len * 8)) - 1;
      return ((load<u64>(p) ^ load<u64>(s.ptr)) & mask) == 0;
    }
    return memory.compare(p, s.ptr, s.len) == 0;
  }
  // listContains reports whether candidate i's list has s, without allocating.
  listContains(i: u32, s: Str): bool {
    const n = this.input.count;
    const items = this.data + 4 * (<usize>n + 1);
    const total = u32at(this.data + 4 * <usize>n);
    const from = u32at(this.data + 4 * <usize>i);
    const to = u32at(this.data + 4 * (<usize>i + 1));
    const bytes = items + 4 * (<usize>total + 1);
    for (let k = from; k < to; k++) {
      const a = u32at(items + 4 * <usize>k);
      const b = u32at(items + 4 * (<usize>k + 1));
      if (b - a == s.len && memory.compare(bytes + a, s.ptr, s.len) == 0) return true;
    }
    return false;
  }
  i64(i: u32): i64 {
    return load<i64>(this.data + 8 * <usize>i);
  }
  f64(i: u32): f64 {
    return load<f64>(this.data + 8 * <usize>i);
  }
  // num is the value of an int64 or float64 column as f64.
  num(i: u32): f64 {
    return this.type == TYPE_INT64 ? <f64>this.i64(i) : this.f64(i);
  }
  bool(i: u32): bool {
    return load<u8>(this.data + i) != 0;
  }
  listLen(i: u32): u32 {
    return u32at(this.data + 4 * (<usize>i + 1)) - u32at(this.data + 4 * <usize>i);
  }
  listItem(i: u32, j: u32): Str {
    const n = this.input.count;
    const items = this.data + 4 * (<usize>n + 1);
    const total = u32at(this.data + 4 * <usize>n);
    return strAt(items, total, u32at(this.data + 4 * <usize>i) + j);
  }
}

// One hook call's input.
export class Input {
  count: u32;
  dim: u32;
  metric: u32;
  topK: u32;
  nowMs: i64;
  nprobe: u32;
  flags: u32;
  constructor(public base: usize) {
    this.flags = u32at(base + 12);
    this.count = u32at(base + 16);
    this.dim = u32at(base + 20);
    this.metric = u32at(base + 24);
    this.topK = u32at(base + 28);
    this.nowMs = load<i64>(base + 32);
    this.nprobe = u32at(base + 40);
  }

  id(i: u32): Str {
    return strAt(this.base + u32at(this.base + 52), this.count, i);
  }
  // distance of candidate i (0 for a pre-ANN filter).
  distance(i: u32): f32 {
    const off = u32at(this.base + 56);
    return off == 0 ? 0 : load<f32>(this.base + off + 4 * <usize>i);
  }
  hasDistances(): bool {
    return u32at(this.base + 56) != 0;
  }
  // vector returns the address of candidate i's dim floats, or 0.
  vector(i: u32): usize {
    const off = u32at(this.base + 64);
    return off == 0 ? 0 : this.base + off + 4 * <usize>this.dim * i;
  }
  // query returns the address of the query's dim floats, or 0.
  query(): usize {
    const off = u32at(this.base + 60);
    return off == 0 ? 0 : this.base + off;
  }
  shardSize(i: u32): i64 {
    const off = u32at(this.base + 68);
    return off == 0 ? 0 : load<i64>(this.base + off + 8 * <usize>i);
  }
  // param returns a per-query parameter, or null.
  param(key: string): Str | null {
    const n = u32at(this.base + 44);
    const col = this.base + u32at(this.base + 48);
    for (let i: u32 = 0; i < n; i++) {
      if (strAt(col, 2 * n, 2 * i).is(key)) return strAt(col, 2 * n, 2 * i + 1);
    }
    return null;
  }
  // paramF64 returns a numeric parameter, or def.
  paramF64(key: string, def: f64): f64 {
    const s = this.param(key);
    if (s == null) return def;
    const v = s.toF64();
    return isNaN(v) ? def : v;
  }
  // column returns the attribute column called name, or null.
  column(name: string): Column | null {
    return this.findColumn(name, null);
  }
  // columnStr is column for a name taken from the input (e.g. a param).
  columnStr(name: Str): Column | null {
    return this.findColumn("", name);
  }
  private findColumn(name: string, view: Str | null): Column | null {
    const n = u32at(this.base + 72);
    const off = this.base + u32at(this.base + 76);
    for (let i: u32 = 0; i < n; i++) {
      const d = off + 24 * <usize>i;
      const s = new Str(this.base + u32at(d), u32at(d + 4));
      if (view != null ? s.equals(view) : s.is(name)) {
        const valid = u32at(d + 16);
        return new Column(this, u32at(d + 8), this.base + u32at(d + 12), valid == 0 ? 0 : this.base + valid);
      }
    }
    return null;
  }
}

// ---- memory: regions grown with memory.grow ----

let inPtr: usize = 0;
let inCap: usize = 0;
let outPtr: usize = 0;
let outCap: usize = 0;

function grow(n: usize): usize {
  const pages = <i32>((n + 0xffff) >> 16);
  const old = memory.grow(pages);
  if (old < 0) return 0;
  return <usize>old << 16;
}

export function weft_abi_version(): u32 {
  return ABI_VERSION;
}

export function weft_alloc(n: u32): u32 {
  // 8 bytes of slack past the input: strEquals loads 8 bytes at a time.
  if (<usize>n + 8 > inCap) {
    const want = max<usize>(<usize>n + 8, inCap * 2);
    const p = grow(want);
    if (p == 0) return 0;
    inPtr = p;
    inCap = (want + 0xffff) & ~0xffff;
  }
  return <u32>inPtr;
}

function output(n: usize): usize {
  if (n > outCap) {
    const want = max<usize>(n, outCap * 2);
    const p = grow(want);
    if (p == 0) unreachable();
    outPtr = p;
    outCap = (want + 0xffff) & ~0xffff;
  }
  return outPtr;
}

let errMsg: string = "";

// fail makes the hook return an error: return fail("...").
export function fail(msg: string): i32 {
  errMsg = msg;
  return 1;
}

function pack(p: usize, n: usize): u64 {
  return (<u64>p << 32) | <u64>n;
}

function errorOut(status: u32, msg: string): u64 {
  const n = <usize>min(msg.length, 1024);
  const o = output(24 + n);
  memory.fill(o, 0, 24);
  store<u32>(o, MAGIC);
  store<u32>(o + 4, status);
  store<u32>(o + 16, <u32>n);
  for (let i: usize = 0; i < n; i++) store<u8>(o + 24 + i, <u8>msg.charCodeAt(<i32>i));
  return pack(o, 24 + n);
}

function begin(p: u32, n: u32, hook: u32): Input | null {
  if (n < 96 || u32at(p) != MAGIC || u32at(p + 4) != ABI_VERSION || u32at(p + 8) != hook) return null;
  errMsg = "";
  return new Input(<usize>p);
}

function header(o: usize, count: u32): void {
  memory.fill(o, 0, 24);
  store<u32>(o, MAGIC);
  store<u32>(o + 8, count);
}

// rerank runs a rerank hook: fn(input, scores) where scores is the address
// of count f32 scores, starting at -distance (higher is better).
export function rerank(p: u32, n: u32, fn: (input: Input, scores: usize) => i32): u64 {
  const input = begin(p, n, HOOK_RERANK);
  if (input == null) return errorOut(3, "weft.ts: unexpected input header");
  const size: usize = <usize>24 + 4 * <usize>input.count;
  const o = output(size);
  header(o, input.count);
  const s = o + 24;
  for (let i: u32 = 0; i < input.count; i++) store<f32>(s + 4 * <usize>i, -input.distance(i));
  const rc = fn(input, s);
  if (rc != 0) return errorOut(<u32>rc, errMsg);
  return pack(o, size);
}

// filter runs a filter hook: fn(input, keep) where keep is the address of
// count u8 verdicts, starting at 1 (keep); write 0 to drop.
export function filter(p: u32, n: u32, fn: (input: Input, keep: usize) => i32): u64 {
  const input = begin(p, n, HOOK_FILTER);
  if (input == null) return errorOut(3, "weft.ts: unexpected input header");
  const size: usize = <usize>24 + <usize>input.count;
  const o = output(size);
  header(o, input.count);
  memory.fill(o + 24, 1, input.count);
  const rc = fn(input, o + 24);
  if (rc != 0) return errorOut(<u32>rc, errMsg);
  return pack(o, size);
}

// route runs a route hook: fn(input, weights) where weights is the address
// of count f32 weights, starting at 1; it returns the nprobe cap (0 =
// unchanged) or a negative value after fail().
export function route(p: u32, n: u32, fn: (input: Input, weights: usize) => i32): u64 {
  const input = begin(p, n, HOOK_ROUTE);
  if (input == null) return errorOut(3, "weft.ts: unexpected input header");
  const size: usize = <usize>24 + 4 * <usize>input.count;
  const o = output(size);
  header(o, input.count);
  for (let i: u32 = 0; i < input.count; i++) store<f32>(o + 24 + 4 * <usize>i, 1);
  const np = fn(input, o + 24);
  if (np < 0) return errorOut(1, errMsg);
  store<u32>(o + 12, <u32>np);
  return pack(o, size);
}
