// recency: the recency-boost rerank plugin in AssemblyScript; recency/go
// and recency/c are the same plugin (see recency/go for the params):
//   score = -distance + weight * 0.5^(age / half_life_s), age = max(0, now - ts)
import { Input, rerank, TYPE_INT64, TYPE_FLOAT64 } from "../../../../sdk/plugin/assemblyscript/weft";
export { weft_abi_version, weft_alloc } from "../../../../sdk/plugin/assemblyscript/weft";

// 0.5^x for x >= 0, the same formula as recency/go and recency/c, so all
// three give the same scores bit for bit.
function halve(x: f64): f64 {
  if (x >= 1000) return 0;
  const k = <f64>(<i64>x);
  const y = -(x - k) * 0.6931471805599453;
  const e = 1 + y * (1 + y / 2 * (1 + y / 3 * (1 + y / 4 * (1 + y / 5 * (1 + y / 6 * (1 + y / 7 * (1 + y / 8 * (1 + y / 9 * (1 + y / 10)))))))));
  return e * reinterpret<f64>(<u64>(1023 - <i64>k) << 52);
}

function boost(input: Input, scores: usize): i32 {
  const attr = input.param("ts_attr");
  const col = attr == null ? input.column("ts") : input.columnStr(attr);
  const weight = input.paramF64("weight", 1);
  const halfLife = input.paramF64("half_life_s", 86400);
  const now = input.paramF64("now", <f64>input.nowMs / 1000);
  if (col == null || halfLife <= 0) return 0;
  if (col.type != TYPE_INT64 && col.type != TYPE_FLOAT64) return 0;
  for (let i: u32 = 0; i < input.count; i++) {
    if (!col.isValid(i)) continue;
    let age = now - col.num(i);
    if (age < 0) age = 0;
    const p = scores + 4 * <usize>i;
    store<f32>(p, load<f32>(p) + <f32>(weight * halve(age / halfLife)));
  }
  return 0;
}

export function weft_rerank(ptr: u32, len: u32): u64 {
  return rerank(ptr, len, boost);
}
