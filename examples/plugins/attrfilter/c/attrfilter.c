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

  for (uint32_t i = 0; i < in->count; i++) {
    if (!has || !weft_col_valid(&col, i)) {
      keep[i] = keep_missing;
      continue;
    }
    int k = 1;
    switch (col.type) {
    case WEFT_STRING:
      k = !has_eq || weft_str_cmp(weft_col_str(&col, i), eq) == 0;
      break;
    case WEFT_STRING_LIST:
      if (has_eq) {
        k = 0;
        for (uint32_t j = 0; j < weft_col_list_len(&col, i) && !k; j++)
          k = weft_str_cmp(weft_col_list_item(&col, i, j), eq) == 0;
      }
      break;
    case WEFT_BOOL:
      k = !has_eq || weft_str_eq(eq, weft_col_bool(&col, i) ? "true" : "false");
      break;
    case WEFT_INT64:
    case WEFT_FLOAT64: {
      double v = weft_col_num(&col, i);
      if (has_eq) k = eq_is_num && v == eq_num;
      k = k && v >= lo && v <= hi;
      break;
    }
    }
    keep[i] = (uint8_t)k;
  }
  return 0;
}
WEFT_FILTER(filter)
