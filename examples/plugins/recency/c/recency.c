/* recency: the recency-boost rerank plugin in C; recency/go is the same
 * plugin in Go (see it for the params):
 *   score = -distance + weight * 0.5^(age / half_life_s), age = max(0, now - ts) */
#include "weft_plugin.h"

/* 0.5^x for x >= 0, the same formula as recency/go's halve (see there). */
static inline double halve(double x) {
  if (x >= 1000) return 0;
  double k = (double)(int64_t)x;
  double y = -(x - k) * 0.6931471805599453;
  double e = 1 + y * (1 + y / 2 * (1 + y / 3 * (1 + y / 4 * (1 + y / 5 * (1 + y / 6 * (1 + y / 7 * (1 + y / 8 * (1 + y / 9 * (1 + y / 10)))))))));
  union {
    uint64_t u;
    double d;
  } p = {(uint64_t)(1023 - (int64_t)k) << 52};
  return e * p.d;
}

static int rerank(const weft_input *in, float *scores) {
  weft_str a;
  char name[256] = "ts";
  if (weft_param(in, "ts_attr", &a)) {
    if (a.len >= sizeof name) return weft_fail("param ts_attr is too long");
    for (uint32_t i = 0; i < a.len; i++) name[i] = a.ptr[i];
    name[a.len] = 0;
  }
  double weight = weft_param_f64(in, "weight", 1);
  double half_life = weft_param_f64(in, "half_life_s", 86400);
  double now = weft_param_f64(in, "now", (double)in->now_ms / 1000);
  weft_column col;
  if (!weft_column_find(in, name, &col) || half_life <= 0) return 0;
  if (col.type != WEFT_INT64 && col.type != WEFT_FLOAT64) return 0;
  for (uint32_t i = 0; i < in->count; i++) {
    if (!weft_col_valid(&col, i)) continue;
    double age = now - weft_col_num(&col, i);
    if (age < 0) age = 0;
    scores[i] += (float)(weight * halve(age / half_life));
  }
  return 0;
}
WEFT_RERANK(rerank)
