/*
 * Hostile and broken plugins for the host's tests. scripts/build-plugins.sh
 * compiles this file once per case with -DCASE_<NAME> into
 * plugins/testdata/hostile/<name>.wasm. Every case but the ABI ones uses
 * the C SDK, so only the named misbehaviour differs from a sound plugin.
 */
#if defined(CASE_ALLOC_OOB) || defined(CASE_ABI_WRONG) || defined(CASE_ABI_MISSING) || \
    defined(CASE_ABI_BAD_SIGNATURE) || defined(CASE_NO_HOOKS)
/* Raw modules that break the ABI itself: no SDK. */
#include <stdint.h>
#define WEFT_EXPORT(name) __attribute__((export_name(name)))
#else
#include "weft_plugin.h"
#endif

#if defined(CASE_GOOD)
/* A sound reference: rerank by -distance + params["bonus"] for id "b". */
static int rerank(const weft_input *in, float *scores) {
  double bonus = weft_param_f64(in, "bonus", 0);
  for (uint32_t i = 0; i < in->count; i++)
    if (weft_str_eq(weft_id(in, i), "b")) scores[i] += (float)bonus;
  return 0;
}
WEFT_RERANK(rerank)
static int filter(const weft_input *in, uint8_t *keep) {
  /* Keep ids not starting with "x"; fail on request. */
  weft_str s;
  if (weft_param(in, "fail", &s)) return weft_fail("asked to fail by params");
  for (uint32_t i = 0; i < in->count; i++) {
    weft_str id = weft_id(in, i);
    keep[i] = !(id.len > 0 && id.ptr[0] == 'x');
  }
  return 0;
}
WEFT_FILTER(filter)
static int route(const weft_input *in, float *w, uint32_t *nprobe) {
  /* Probe only params["tenant"]'s shard, weighted by its size. */
  weft_str t;
  int has = weft_param(in, "tenant", &t);
  for (uint32_t i = 0; i < in->count; i++)
    w[i] = !has || weft_str_cmp(weft_id(in, i), t) == 0 ? (float)weft_shard_size(in, i) : 0;
  *nprobe = (uint32_t)weft_param_f64(in, "nprobe", 0);
  return 0;
}
WEFT_ROUTE(route)

#elif defined(CASE_LOOP)
/* Never returns. */
static int rerank(const weft_input *in, float *scores) {
  volatile uint32_t n = 0;
  for (;;) n++;
  return 0;
}
WEFT_RERANK(rerank)
static int filter(const weft_input *in, uint8_t *keep) {
  volatile uint32_t n = 0;
  for (;;) n++;
  return 0;
}
WEFT_FILTER(filter)

#elif defined(CASE_MEMBOMB)
/* Grows memory until the limit refuses, touching every page, then traps. */
static int rerank(const weft_input *in, float *scores) {
  for (;;) {
    long old = (long)__builtin_wasm_memory_grow(0, 64);
    if (old < 0) __builtin_trap();
    volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)(old * 65536);
    for (uint32_t i = 0; i < 64 * 65536; i += 4096) p[i] = 1;
  }
  return 0;
}
WEFT_RERANK(rerank)

#elif defined(CASE_MEMBOMB_SILENT)
/* Grows memory until the limit refuses, then answers normally: the host's
 * limit must hold and the instance must keep working. */
static int rerank(const weft_input *in, float *scores) {
  while ((long)__builtin_wasm_memory_grow(0, 64) >= 0) {
  }
  return 0;
}
WEFT_RERANK(rerank)

#elif defined(CASE_TRAP)
static int rerank(const weft_input *in, float *scores) {
  __builtin_trap();
  return 0;
}
WEFT_RERANK(rerank)

#elif defined(CASE_OOB_ACCESS)
/* Reads far outside linear memory. */
static int rerank(const weft_input *in, float *scores) {
  scores[0] = *(volatile float *)(uintptr_t)0xFFFFFFF0u;
  return 0;
}
WEFT_RERANK(rerank)

#elif defined(CASE_STACK_OVERFLOW)
/* Recursion the compiler cannot turn into a loop: pad lives across the call. */
__attribute__((noinline)) static uint32_t deep(uint32_t d) {
  volatile uint8_t pad[64];
  pad[0] = (uint8_t)d;
  if (d == 0xFFFFFFFFu) return pad[0];
  return deep(d + 1) + pad[0];
}
static int rerank(const weft_input *in, float *scores) {
  scores[0] = (float)deep(in->count);
  return 0;
}
WEFT_RERANK(rerank)

#elif defined(CASE_OUT_OOB)
/* Returns an output pointer beyond linear memory. */
WEFT_EXPORT("weft_rerank") uint64_t weft_rerank(uint32_t p, uint32_t n) {
  return (uint64_t)0xFFFF0000u << 32 | 4096;
}

#elif defined(CASE_OUT_HUGE)
/* Returns a well-formed header followed by 8 MiB. */
WEFT_EXPORT("weft_rerank") uint64_t weft_rerank(uint32_t p, uint32_t n) {
  long old = (long)__builtin_wasm_memory_grow(0, 128);
  if (old < 0) __builtin_trap();
  uint8_t *o = (uint8_t *)(uintptr_t)(old * 65536);
  const uint8_t *in = (const uint8_t *)(uintptr_t)p;
  weft__put32(o, WEFT_MAGIC);
  weft__put32(o + 4, 0);
  weft__put32(o + 8, weft__u32(in + 16));
  return (uint64_t)(uint32_t)(uintptr_t)o << 32 | (128u * 65536u);
}

#elif defined(CASE_OUT_LEN_MAX)
/* Returns length 0xFFFFFFFF. */
WEFT_EXPORT("weft_rerank") uint64_t weft_rerank(uint32_t p, uint32_t n) {
  return (uint64_t)p << 32 | 0xFFFFFFFFu;
}

#elif defined(CASE_OUT_SHORT)
/* Returns fewer scores than candidates. */
static int rerank(const weft_input *in, float *scores) { return 0; }
WEFT_EXPORT("weft_rerank") uint64_t weft_rerank(uint32_t p, uint32_t n) {
  weft_input in;
  uint64_t res;
  if (!weft__begin(p, n, &in, WEFT_HOOK_RERANK, 4, &res)) return res;
  return res - 4;
}

#elif defined(CASE_NAN)
static int rerank(const weft_input *in, float *scores) {
  scores[0] = __builtin_nanf("");
  return 0;
}
WEFT_RERANK(rerank)

#elif defined(CASE_ALLOC_OOB)
/* weft_alloc hands out a pointer beyond memory. */
WEFT_EXPORT("weft_abi_version") uint32_t weft_abi_version(void) { return 1; }
WEFT_EXPORT("weft_alloc") uint32_t weft_alloc(uint32_t n) { return 0xFFFFFF00u; }
WEFT_EXPORT("weft_rerank") uint64_t weft_rerank(uint32_t p, uint32_t n) { return 0; }

#elif defined(CASE_ABI_WRONG)
/* Speaks ABI version 99. */
WEFT_EXPORT("weft_abi_version") uint32_t weft_abi_version(void) { return 99; }
WEFT_EXPORT("weft_alloc") uint32_t weft_alloc(uint32_t n) { return 1024; }
WEFT_EXPORT("weft_rerank") uint64_t weft_rerank(uint32_t p, uint32_t n) { return 0; }

#elif defined(CASE_ABI_MISSING)
/* No weft_abi_version. */
WEFT_EXPORT("weft_alloc") uint32_t weft_alloc(uint32_t n) { return 1024; }
WEFT_EXPORT("weft_rerank") uint64_t weft_rerank(uint32_t p, uint32_t n) { return 0; }

#elif defined(CASE_ABI_BAD_SIGNATURE)
/* weft_rerank returns i32 instead of i64. */
WEFT_EXPORT("weft_abi_version") uint32_t weft_abi_version(void) { return 1; }
WEFT_EXPORT("weft_alloc") uint32_t weft_alloc(uint32_t n) { return 1024; }
WEFT_EXPORT("weft_rerank") uint32_t weft_rerank(uint32_t p, uint32_t n) { return 0; }

#elif defined(CASE_NO_HOOKS)
WEFT_EXPORT("weft_abi_version") uint32_t weft_abi_version(void) { return 1; }
WEFT_EXPORT("weft_alloc") uint32_t weft_alloc(uint32_t n) { return 1024; }

#elif defined(CASE_FOREIGN_IMPORT)
/* Imports a function the host does not provide. */
__attribute__((import_module("env"), import_name("steal"))) extern uint32_t steal(void);
static int rerank(const weft_input *in, float *scores) {
  scores[0] = (float)steal();
  return 0;
}
WEFT_RERANK(rerank)

#elif defined(CASE_INIT_LOOP)
/* Never finishes initialising. */
__attribute__((constructor)) static void init(void) {
  volatile uint32_t n = 0;
  for (;;) n++;
}
static int rerank(const weft_input *in, float *scores) { return 0; }
WEFT_RERANK(rerank)

#elif defined(CASE_GUEST_ERROR)
static int rerank(const weft_input *in, float *scores) { return weft_fail("tenant param missing"); }
WEFT_RERANK(rerank)

#elif defined(CASE_BAD_VERDICTS)
/* A filter verdict of 2 and a negative route weight: both malformed. */
static int filter(const weft_input *in, uint8_t *keep) {
  keep[0] = 2;
  return 0;
}
WEFT_FILTER(filter)
static int route(const weft_input *in, float *w, uint32_t *nprobe) {
  w[0] = -1;
  return 0;
}
WEFT_ROUTE(route)

#elif defined(CASE_ECHO)
/* The ABI conformance module: the C twin of testdata/go/echo (see there). */
typedef struct {
  uint32_t h;
} fnv;
static void fnv_bytes(fnv *f, const void *p, uint32_t n) {
  const uint8_t *b = p;
  for (uint32_t i = 0; i < n; i++) {
    f->h ^= b[i];
    f->h *= 16777619u;
  }
}
static void fnv_u32(fnv *f, uint32_t v) { fnv_bytes(f, &v, 4); }
static void fnv_u64(fnv *f, uint64_t v) { fnv_bytes(f, &v, 8); }
static void fnv_str(fnv *f, weft_str s) {
  fnv_u32(f, s.len);
  fnv_bytes(f, s.ptr, s.len);
}
static int rerank(const weft_input *in, float *scores) {
  static const char *names[] = {"b", "f", "i", "l", "s", "missing"};
  static const char *keys[] = {"k1", "k2", "absent"};
  const float *d = weft_distances(in), *q = weft_query(in);
  for (uint32_t i = 0; i < in->count; i++) {
    fnv f = {2166136261u};
    fnv_str(&f, weft_id(in, i));
    if (d) fnv_bytes(&f, &d[i], 4);
    for (int n = 0; n < 6; n++) {
      weft_column c;
      if (!weft_column_find(in, names[n], &c)) {
        fnv_u32(&f, 0);
        continue;
      }
      fnv_u32(&f, c.type);
      if (!weft_col_valid(&c, i)) {
        fnv_u32(&f, 0);
        continue;
      }
      fnv_u32(&f, 1);
      switch (c.type) {
      case WEFT_STRING: fnv_str(&f, weft_col_str(&c, i)); break;
      case WEFT_INT64: fnv_u64(&f, (uint64_t)weft_col_i64(&c, i)); break;
      case WEFT_FLOAT64: {
        double x = weft_col_f64(&c, i);
        fnv_bytes(&f, &x, 8);
        break;
      }
      case WEFT_BOOL: fnv_u32(&f, (uint32_t)weft_col_bool(&c, i)); break;
      case WEFT_STRING_LIST:
        fnv_u32(&f, weft_col_list_len(&c, i));
        for (uint32_t j = 0; j < weft_col_list_len(&c, i); j++) fnv_str(&f, weft_col_list_item(&c, i, j));
        break;
      }
    }
    const float *v = weft_vector(in, i);
    if (v) fnv_bytes(&f, v, 4 * in->dim);
    if (q) fnv_bytes(&f, q, 4 * in->dim);
    for (int k = 0; k < 3; k++) {
      weft_str s;
      if (weft_param(in, keys[k], &s))
        fnv_str(&f, s);
      else
        fnv_u32(&f, 0xFFFFFFFFu);
    }
    fnv_u32(&f, in->top_k);
    fnv_u32(&f, in->metric);
    scores[i] = (float)(f.h & 0xFFFFFF);
  }
  return 0;
}
WEFT_RERANK(rerank)

#else
#error "define one CASE_*"
#endif
