/*
 * weft_plugin.h - the C guest SDK for Weft plugins, ABI version 1.
 *
 * Header only, no libc needed. Build a plugin with:
 *
 *   clang --target=wasm32-wasi -O2 -mbulk-memory -nostdlib \
 *         -Wl,--no-entry -o plugin.wasm plugin.c
 *
 * (or let scripts/build-plugins.sh do it). A plugin includes this header
 * once and declares its hooks:
 *
 *   #include "weft_plugin.h"
 *   static int boost(const weft_input *in, float *scores) {
 *     for (uint32_t i = 0; i < in->count; i++) scores[i] += 1;
 *     return 0;
 *   }
 *   WEFT_RERANK(boost)
 *
 * The ABI (wire format, exports, limits) is specified in docs/plugins.md.
 * Everything the input holds is read in place: strings are (ptr, len)
 * views, not NUL-terminated, valid during the hook call only. Use
 * weft_scratch() for per-call scratch memory (reset at each call).
 *
 * Performance: the host stops a call at its deadline by checking at every
 * loop iteration, which costs tens of nanoseconds each. Loop over the
 * candidates once, hoist per-column work out of the loop, and let clang
 * unroll hot loops (#pragma clang loop unroll_count(8)).
 */
#ifndef WEFT_PLUGIN_H
#define WEFT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define WEFT_ABI_VERSION 1
#define WEFT_MAGIC 0x54464557u /* "WEFT" */

#define WEFT_HOOK_ROUTE 1
#define WEFT_HOOK_FILTER 2
#define WEFT_HOOK_RERANK 3

#define WEFT_FLAG_DISTANCES 1u
#define WEFT_FLAG_VECTORS 2u
#define WEFT_FLAG_PRE_ANN 4u

#define WEFT_METRIC_COSINE 1
#define WEFT_METRIC_L2 2
#define WEFT_METRIC_DOT 3

#define WEFT_STRING 1
#define WEFT_INT64 2
#define WEFT_FLOAT64 3
#define WEFT_BOOL 4
#define WEFT_STRING_LIST 5

#define WEFT_EXPORT(name) __attribute__((export_name(name)))

/* A string view into the input. */
typedef struct {
  const char *ptr;
  uint32_t len;
} weft_str;

/* The decoded input header. */
typedef struct {
  const uint8_t *base;
  uint32_t len, hook, flags, count, dim, metric, top_k, nprobe;
  int64_t now_ms;
  uint32_t n_params, params_off, ids_off, dist_off, query_off, vectors_off,
      sizes_off, n_attrs, attrs_off;
} weft_input;

/* One attribute column. */
typedef struct {
  const weft_input *in;
  weft_str name;
  uint32_t type;
  const uint8_t *data;
  const uint8_t *valid; /* NULL: every candidate has the attribute */
} weft_column;

static inline uint32_t weft__u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static inline int weft_str_eq(weft_str s, const char *c) {
  uint32_t i = 0;
  for (; i < s.len; i++)
    if (c[i] == 0 || c[i] != s.ptr[i]) return 0;
  return c[i] == 0;
}

/* Equality of two views. Compares 8, 4, 2, 1 bytes at a time: under the
 * host every loop iteration costs a check of the call's deadline, so short
 * strings are compared without looping. */
static inline int weft_str_equal(weft_str a, weft_str b) {
  if (a.len != b.len) return 0;
  const char *p = a.ptr, *q = b.ptr;
  uint32_t n = a.len;
  for (; n >= 8; n -= 8, p += 8, q += 8) {
    uint64_t x, y;
    __builtin_memcpy(&x, p, 8);
    __builtin_memcpy(&y, q, 8);
    if (x != y) return 0;
  }
  if (n >= 4) {
    uint32_t x, y;
    __builtin_memcpy(&x, p, 4);
    __builtin_memcpy(&y, q, 4);
    if (x != y) return 0;
    n -= 4, p += 4, q += 4;
  }
  if (n >= 2) {
    uint16_t x, y;
    __builtin_memcpy(&x, p, 2);
    __builtin_memcpy(&y, q, 2);
    if (x != y) return 0;
    n -= 2, p += 2, q += 2;
  }
  return n == 0 || *p == *q;
}

static inline int weft_str_cmp(weft_str a, weft_str b) {
  uint32_t n = a.len < b.len ? a.len : b.len;
  for (uint32_t i = 0; i < n; i++)
    if (a.ptr[i] != b.ptr[i])
      return (unsigned char)a.ptr[i] < (unsigned char)b.ptr[i] ? -1 : 1;
  return a.len < b.len ? -1 : a.len > b.len;
}

/* String column at col with n entries: entry i. */
static inline weft_str weft__strcol(const uint8_t *col, uint32_t n, uint32_t i) {
  const uint8_t *data = col + 4 * (n + 1);
  uint32_t a = weft__u32(col + 4 * i), b = weft__u32(col + 4 * (i + 1));
  weft_str s = {(const char *)data + a, b - a};
  return s;
}

/* Candidate i's id (route: shard i's key). */
static inline weft_str weft_id(const weft_input *in, uint32_t i) {
  return weft__strcol(in->base + in->ids_off, in->count, i);
}

/* Distances (smaller is closer), or NULL for a pre-ANN filter. */
static inline const float *weft_distances(const weft_input *in) {
  return in->dist_off ? (const float *)(in->base + in->dist_off) : 0;
}

/* Candidate i's vector (dim floats), or NULL when vectors were not sent. */
static inline const float *weft_vector(const weft_input *in, uint32_t i) {
  return in->vectors_off ? (const float *)(in->base + in->vectors_off) + (size_t)i * in->dim : 0;
}

/* The query vector (dim floats), or NULL. */
static inline const float *weft_query(const weft_input *in) {
  return in->query_off ? (const float *)(in->base + in->query_off) : 0;
}

/* Route: documents in shard i. */
static inline int64_t weft_shard_size(const weft_input *in, uint32_t i) {
  return in->sizes_off ? ((const int64_t *)(in->base + in->sizes_off))[i] : 0;
}

/* Looks up a per-query parameter; returns 1 and sets *out when present. */
static inline int weft_param(const weft_input *in, const char *key, weft_str *out) {
  const uint8_t *col = in->base + in->params_off;
  for (uint32_t i = 0; i < in->n_params; i++) {
    if (weft_str_eq(weft__strcol(col, 2 * in->n_params, 2 * i), key)) {
      *out = weft__strcol(col, 2 * in->n_params, 2 * i + 1);
      return 1;
    }
  }
  return 0;
}

/* Parses a decimal number ("-12", "0.25", "1e3"); returns 1 on success.
 * Digits that fit in 2^53 scaled by at most 10^±22 round correctly (one
 * exact multiplication or division, as strtod would); larger scales are
 * approximated by repeated scaling. */
static inline int weft_parse_f64(weft_str s, double *out) {
  static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  uint32_t i = 0;
  int neg = 0, digits = 0, scale = 0, dot = 0;
  uint64_t m = 0;
  if (i < s.len && (s.ptr[i] == '-' || s.ptr[i] == '+')) neg = s.ptr[i++] == '-';
  for (; i < s.len; i++) {
    char c = s.ptr[i];
    if (c >= '0' && c <= '9') {
      if (m < (1ull << 53) / 10) {
        m = m * 10 + (uint64_t)(c - '0');
        if (dot) scale--;
      } else if (!dot) {
        scale++; /* drop digits past 2^53 */
      }
      digits++;
    } else if (c == '.' && !dot) {
      dot = 1;
    } else {
      break;
    }
  }
  if (digits == 0) return 0;
  if (i < s.len && (s.ptr[i] == 'e' || s.ptr[i] == 'E')) {
    int eneg = 0, e = 0, ed = 0;
    i++;
    if (i < s.len && (s.ptr[i] == '-' || s.ptr[i] == '+')) eneg = s.ptr[i++] == '-';
    for (; i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9'; i++, ed++)
      if (e < 10000) e = e * 10 + (s.ptr[i] - '0');
    if (ed == 0) return 0;
    scale += eneg ? -e : e;
  }
  if (i != s.len) return 0;
  double v = (double)m;
  if (scale >= -22 && scale <= 22) {
    v = scale < 0 ? v / p10[-scale] : v * p10[scale];
  } else {
    for (; scale > 0; scale--) v *= 10;
    for (; scale < 0; scale++) v /= 10;
  }
  *out = neg ? -v : v;
  return 1;
}

/* A numeric parameter, or def when absent or not a number. */
static inline double weft_param_f64(const weft_input *in, const char *key, double def) {
  weft_str s;
  double v;
  return weft_param(in, key, &s) && weft_parse_f64(s, &v) ? v : def;
}

/* Finds attribute column name; returns 1 and fills *col when present. */
static inline int weft_column_find(const weft_input *in, const char *name, weft_column *col) {
  const uint8_t *d = in->base + in->attrs_off;
  for (uint32_t i = 0; i < in->n_attrs; i++, d += 24) {
    weft_str n = {(const char *)in->base + weft__u32(d), weft__u32(d + 4)};
    if (weft_str_eq(n, name)) {
      uint32_t valid = weft__u32(d + 16);
      col->in = in;
      col->name = n;
      col->type = weft__u32(d + 8);
      col->data = in->base + weft__u32(d + 12);
      col->valid = valid ? in->base + valid : 0;
      return 1;
    }
  }
  return 0;
}

static inline int weft_col_valid(const weft_column *c, uint32_t i) { return !c->valid || c->valid[i]; }
static inline weft_str weft_col_str(const weft_column *c, uint32_t i) { return weft__strcol(c->data, c->in->count, i); }
static inline int64_t weft_col_i64(const weft_column *c, uint32_t i) { return ((const int64_t *)c->data)[i]; }
static inline double weft_col_f64(const weft_column *c, uint32_t i) { return ((const double *)c->data)[i]; }
static inline int weft_col_bool(const weft_column *c, uint32_t i) { return c->data[i] != 0; }
/* A number from an int64 or float64 column. */
static inline double weft_col_num(const weft_column *c, uint32_t i) {
  return c->type == WEFT_INT64 ? (double)weft_col_i64(c, i) : c->type == WEFT_FLOAT64 ? weft_col_f64(c, i) : 0;
}
static inline uint32_t weft_col_list_len(const weft_column *c, uint32_t i) {
  return weft__u32(c->data + 4 * (i + 1)) - weft__u32(c->data + 4 * i);
}
static inline weft_str weft_col_list_item(const weft_column *c, uint32_t i, uint32_t j) {
  const uint8_t *items = c->data + 4 * (c->in->count + 1);
  uint32_t total = weft__u32(c->data + 4 * c->in->count);
  return weft__strcol(items, total, weft__u32(c->data + 4 * i) + j);
}

/* ---- memory: regions grown with memory.grow, no libc ---- */

typedef struct {
  uint8_t *ptr;
  uint32_t cap, used;
} weft__region;

static weft__region weft__in, weft__out, weft__scratch;

static inline int weft__grow(weft__region *r, uint32_t n) {
  if (n <= r->cap) return 1;
  uint32_t want = r->cap * 2 > n ? r->cap * 2 : n;
  uint32_t pages = (want + 65535) / 65536;
  long old = __builtin_wasm_memory_grow(0, pages);
  if (old < 0) return 0;
  /* The old region is left behind: regions only grow geometrically. */
  r->ptr = (uint8_t *)(uintptr_t)((unsigned long)old * 65536);
  r->cap = pages * 65536;
  return 1;
}

/* Per-call scratch memory, 8-byte aligned, freed when the hook returns.
 * Returns NULL when the memory limit is reached. */
static inline void *weft_scratch(uint32_t n) {
  n = (n + 7) & ~7u;
  if (weft__scratch.used + n > weft__scratch.cap) {
    /* Start a bigger region; earlier scratch of this call stays valid. */
    weft__region r = {0, 0, 0};
    if (!weft__grow(&r, weft__scratch.cap * 2 > n ? weft__scratch.cap * 2 : n)) return 0;
    weft__scratch = r;
  }
  void *p = weft__scratch.ptr + weft__scratch.used;
  weft__scratch.used += n;
  return p;
}

WEFT_EXPORT("weft_abi_version") uint32_t weft_abi_version(void) { return WEFT_ABI_VERSION; }

#ifndef WEFT_NO_INITIALIZE
/* Without libc's crt1-reactor.o (-nostdlib) nothing runs constructors:
 * the host calls _initialize once after instantiating. Define
 * WEFT_NO_INITIALIZE when linking with libc's reactor start files. */
extern void __wasm_call_ctors(void);
WEFT_EXPORT("_initialize") void _initialize(void) { __wasm_call_ctors(); }
#endif

WEFT_EXPORT("weft_alloc") uint32_t weft_alloc(uint32_t n) {
  if (!weft__grow(&weft__in, n)) return 0;
  return (uint32_t)(uintptr_t)weft__in.ptr;
}

/* ---- hooks ---- */

static const char *weft__err;

/* Makes the hook fail with msg (a static string): return weft_fail("..."). */
static inline int weft_fail(const char *msg) {
  weft__err = msg;
  return 1;
}

static inline uint64_t weft__pack(const uint8_t *p, uint32_t n) {
  return (uint64_t)(uint32_t)(uintptr_t)p << 32 | n;
}

static inline void weft__put32(uint8_t *p, uint32_t v) {
  p[0] = v, p[1] = v >> 8, p[2] = v >> 16, p[3] = v >> 24;
}

static inline uint64_t weft__error_out(uint32_t status, const char *msg) {
  uint32_t n = 0;
  while (msg[n] && n < 1024) n++;
  if (!weft__grow(&weft__out, 24 + n)) __builtin_trap();
  uint8_t *o = weft__out.ptr;
  for (int i = 0; i < 24; i++) o[i] = 0;
  weft__put32(o, WEFT_MAGIC);
  weft__put32(o + 4, status);
  weft__put32(o + 16, n);
  for (uint32_t i = 0; i < n; i++) o[24 + i] = msg[i];
  return weft__pack(o, 24 + n);
}

/* Decodes the input at (p, n) and prepares an output of payload bytes.
 * Returns NULL after writing an error output into *res. */
static inline uint8_t *weft__begin(uint32_t p, uint32_t n, weft_input *in, uint32_t hook, uint32_t elem, uint64_t *res) {
  const uint8_t *b = (const uint8_t *)(uintptr_t)p;
  weft__scratch.used = 0;
  weft__err = 0;
  if (n < 96 || weft__u32(b) != WEFT_MAGIC || weft__u32(b + 4) != WEFT_ABI_VERSION || weft__u32(b + 8) != hook) {
    *res = weft__error_out(2, "weft_plugin.h: unexpected input header");
    return 0;
  }
  in->base = b;
  in->len = n;
  in->hook = hook;
  in->flags = weft__u32(b + 12);
  in->count = weft__u32(b + 16);
  in->dim = weft__u32(b + 20);
  in->metric = weft__u32(b + 24);
  in->top_k = weft__u32(b + 28);
  in->now_ms = (int64_t)((uint64_t)weft__u32(b + 32) | (uint64_t)weft__u32(b + 36) << 32);
  in->nprobe = weft__u32(b + 40);
  in->n_params = weft__u32(b + 44);
  in->params_off = weft__u32(b + 48);
  in->ids_off = weft__u32(b + 52);
  in->dist_off = weft__u32(b + 56);
  in->query_off = weft__u32(b + 60);
  in->vectors_off = weft__u32(b + 64);
  in->sizes_off = weft__u32(b + 68);
  in->n_attrs = weft__u32(b + 72);
  in->attrs_off = weft__u32(b + 76);
  uint32_t size = 24 + elem * in->count;
  if (!weft__grow(&weft__out, size)) {
    *res = weft__error_out(3, "weft_plugin.h: out of memory for the output");
    return 0;
  }
  uint8_t *o = weft__out.ptr;
  for (int i = 0; i < 24; i++) o[i] = 0;
  weft__put32(o, WEFT_MAGIC);
  weft__put32(o + 8, in->count);
  *res = weft__pack(o, size);
  return o;
}

static inline uint64_t weft__end(int rc, uint64_t res) {
  if (rc != 0) return weft__error_out((uint32_t)rc, weft__err ? weft__err : "plugin returned an error");
  return res;
}

/* Route: fn(in, weights, &nprobe). weights[i] starts at 1 (probe every
 * shard); set 0 to skip a shard, higher to probe it first. nprobe starts
 * at 0 (unchanged). Return 0, or weft_fail("..."). */
#define WEFT_ROUTE(fn)                                                       \
  WEFT_EXPORT("weft_route") uint64_t weft_route(uint32_t p, uint32_t n) {    \
    weft_input in;                                                           \
    uint64_t res;                                                            \
    uint8_t *o = weft__begin(p, n, &in, WEFT_HOOK_ROUTE, 4, &res);           \
    if (!o) return res;                                                      \
    float *w = (float *)(o + 24);                                            \
    for (uint32_t i = 0; i < in.count; i++) w[i] = 1;                        \
    uint32_t nprobe = 0;                                                     \
    int rc = fn(&in, w, &nprobe);                                            \
    weft__put32(o + 12, nprobe);                                             \
    return weft__end(rc, res);                                               \
  }

/* Filter: fn(in, keep). keep[i] starts at 1; set 0 to drop candidate i
 * (only 0 and 1 are valid verdicts).
 * weft_distances(in) is NULL for a pre-ANN filter over documents. */
#define WEFT_FILTER(fn)                                                      \
  WEFT_EXPORT("weft_filter") uint64_t weft_filter(uint32_t p, uint32_t n) {  \
    weft_input in;                                                           \
    uint64_t res;                                                            \
    uint8_t *o = weft__begin(p, n, &in, WEFT_HOOK_FILTER, 1, &res);          \
    if (!o) return res;                                                      \
    uint8_t *keep = o + 24;                                                  \
    for (uint32_t i = 0; i < in.count; i++) keep[i] = 1;                     \
    int rc = fn(&in, keep);                                                  \
    return weft__end(rc, res);                                               \
  }

/* Rerank: fn(in, scores). scores[i] starts at -distance (higher is
 * better); the host sorts candidates by the final scores, descending. */
#define WEFT_RERANK(fn)                                                      \
  WEFT_EXPORT("weft_rerank") uint64_t weft_rerank(uint32_t p, uint32_t n) {  \
    weft_input in;                                                           \
    uint64_t res;                                                            \
    uint8_t *o = weft__begin(p, n, &in, WEFT_HOOK_RERANK, 4, &res);          \
    if (!o) return res;                                                      \
    float *s = (float *)(o + 24);                                            \
    const float *d = weft_distances(&in);                                    \
    _Pragma("clang loop unroll_count(8)")                                    \
    for (uint32_t i = 0; i < in.count; i++) s[i] = d ? -d[i] : 0;            \
    int rc = fn(&in, s);                                                     \
    return weft__end(rc, res);                                               \
  }

#endif /* WEFT_PLUGIN_H */
