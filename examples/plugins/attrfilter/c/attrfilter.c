/* attrfilter: the attribute filter plugin in C; attrfilter/go is the same
 * plugin in Go (see it for the params). */
#include "weft_plugin.h"

static int filter(const weft_input *in, uint8_t *keep) {
  weft_str attr, eq, missing;
  if (!weft_param(in, "attr", &attr)) return weft_fail("param attr is required");
  int has_eq = weft_param(in, "eq", &eq);
  double lo = weft_param_f64(in, "min", -__builtin_inf());
  double hi = weft_param_f64(in, "max", __builtin_inf());
  int keep_missing = weft_param(in, "missing", &missing) && weft_str_eq(missing, "keep");
  double eq_num = 0;
  int eq_is_num = has_eq && weft_parse_f64(eq, &eq_num);

  /* weft_column_find wants a NUL-terminated name. */
  char name[256];
  if (attr.len >= sizeof name) return weft_fail("param attr is too long");
  for (uint32_t i = 0; i < attr.len; i++) name[i] = attr.ptr[i];
  name[attr.len] = 0;
  weft_column col;
  int has = weft_column_find(in, name, &col);

  /* One loop per column type, unrolled: per-candidate work stays small. */
  uint32_t n = in->count;
  if (!has) {
    for (uint32_t i = 0; i < n; i++) keep[i] = (uint8_t)keep_missing;
    return 0;
  }
  switch (col.type) {
  case WEFT_STRING:
    if (has_eq) {
#pragma clang loop unroll_count(32)
      for (uint32_t i = 0; i < n; i++) keep[i] = (uint8_t)weft_str_equal(weft_col_str(&col, i), eq);
    }
    break;
  case WEFT_STRING_LIST:
    if (has_eq) {
      for (uint32_t i = 0; i < n; i++) {
        int k = 0;
        for (uint32_t j = 0; j < weft_col_list_len(&col, i) && !k; j++) k = weft_str_equal(weft_col_list_item(&col, i, j), eq);
        keep[i] = (uint8_t)k;
      }
    }
    break;
  case WEFT_BOOL:
    if (has_eq) {
      int want = weft_str_eq(eq, "true") ? 1 : weft_str_eq(eq, "false") ? 0 : -1;
#pragma clang loop unroll_count(32)
      for (uint32_t i = 0; i < n; i++) keep[i] = (uint8_t)(weft_col_bool(&col, i) == want);
    }
    break;
  case WEFT_INT64:
  case WEFT_FLOAT64:
#pragma clang loop unroll_count(32)
    for (uint32_t i = 0; i < n; i++) {
      double v = weft_col_num(&col, i);
      keep[i] = (uint8_t)((!has_eq || (eq_is_num && v == eq_num)) && v >= lo && v <= hi);
    }
    break;
  }
  /* Candidates without the attribute. */
  if (col.valid) {
#pragma clang loop unroll_count(32)
    for (uint32_t i = 0; i < n; i++)
      if (!col.valid[i]) keep[i] = (uint8_t)keep_missing;
  }
  return 0;
}
WEFT_FILTER(filter)
