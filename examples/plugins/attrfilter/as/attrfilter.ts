// attrfilter: the attribute filter plugin in AssemblyScript; attrfilter/go
// and attrfilter/c are the same plugin (see attrfilter/go for the params).
import {
  Input, Str, fail, filter,
  TYPE_STRING, TYPE_STRING_LIST, TYPE_BOOL, TYPE_INT64, TYPE_FLOAT64,
} from "../../../../sdk/plugin/assemblyscript/weft";
export { weft_abi_version, weft_alloc } from "../../../../sdk/plugin/assemblyscript/weft";

function run(input: Input, keep: usize): i32 {
  const attr = input.param("attr");
  if (attr == null) return fail("param attr is required");
  const eq = input.param("eq");
  const lo = input.paramF64("min", -Infinity);
  const hi = input.paramF64("max", Infinity);
  const missing = input.param("missing");
  const keepMissing: u8 = missing != null && missing.is("keep") ? 1 : 0;
  const n = input.count;
  const col = input.columnStr(attr);
  if (col == null) {
    memory.fill(keep, keepMissing, n);
    return 0;
  }
  const e: Str = eq != null ? eq : new Str(0, 0);
  switch (col.type) {
    case TYPE_STRING:
      if (eq != null) for (let i: u32 = 0; i < n; i++) store<u8>(keep + i, col.strEquals(i, e) ? 1 : 0);
      break;
    case TYPE_STRING_LIST:
      if (eq != null) for (let i: u32 = 0; i < n; i++) store<u8>(keep + i, col.listContains(i, e) ? 1 : 0);
      break;
    case TYPE_BOOL:
      if (eq != null) {
        const want: i32 = e.is("true") ? 1 : e.is("false") ? 0 : -1;
        for (let i: u32 = 0; i < n; i++) store<u8>(keep + i, (col.bool(i) ? 1 : 0) == want ? 1 : 0);
      }
      break;
    case TYPE_INT64:
    case TYPE_FLOAT64: {
      const want = eq != null ? e.toF64() : NaN;
      for (let i: u32 = 0; i < n; i++) {
        const v = col.num(i);
        const ok = (eq == null || v == want) && v >= lo && v <= hi;
        store<u8>(keep + i, ok ? 1 : 0);
      }
      break;
    }
  }
  if (col.valid != 0) {
    for (let i: u32 = 0; i < n; i++) if (!col.isValid(i)) store<u8>(keep + i, keepMissing);
  }
  return 0;
}

export function weft_filter(ptr: u32, len: u32): u64 {
  return filter(ptr, len, run);
}
