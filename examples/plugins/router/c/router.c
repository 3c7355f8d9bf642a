/* router: the tenant/region route plugin in C; router/go is the same plugin
 * in Go (see it for the params). Shard keys are "tenant" or "region/tenant". */
#include "weft_plugin.h"

/* Is s one of the comma-separated items of list (items trimmed of spaces)? */
static int contains(weft_str list, weft_str s) {
  uint32_t start = 0;
  for (uint32_t i = 0; i <= list.len; i++) {
    if (i == list.len || list.ptr[i] == ',') {
      uint32_t a = start, b = i;
      while (a < b && list.ptr[a] == ' ') a++;
      while (b > a && list.ptr[b - 1] == ' ') b--;
      weft_str item = {list.ptr + a, b - a};
      if (weft_str_cmp(item, s) == 0) return 1;
      start = i + 1;
    }
  }
  return 0;
}

static int route(const weft_input *in, float *w, uint32_t *nprobe) {
  weft_str tenants, region, region_only, np;
  int has_tenants = weft_param(in, "tenant", &tenants) || weft_param(in, "tenants", &tenants);
  int has_region = weft_param(in, "region", &region);
  int only = weft_param(in, "region_only", &region_only) && weft_str_eq(region_only, "true");
  for (uint32_t i = 0; i < in->count; i++) {
    weft_str key = weft_id(in, i), reg = {key.ptr, 0}, tenant = key;
    for (uint32_t j = 0; j < key.len; j++) {
      if (key.ptr[j] == '/') {
        reg.len = j;
        tenant.ptr = key.ptr + j + 1;
        tenant.len = key.len - j - 1;
        break;
      }
    }
    float x = 1;
    if (has_tenants && !contains(tenants, tenant)) x = 0;
    if (has_region) {
      if (weft_str_cmp(reg, region) == 0)
        x *= 2;
      else if (only)
        x = 0;
    }
    w[i] = x;
  }
  if (weft_param(in, "nprobe", &np)) {
    uint32_t v = 0;
    if (np.len == 0) return weft_fail("param nprobe is not a non-negative integer");
    for (uint32_t j = 0; j < np.len; j++) {
      if (np.ptr[j] < '0' || np.ptr[j] > '9') return weft_fail("param nprobe is not a non-negative integer");
      v = v * 10 + (uint32_t)(np.ptr[j] - '0');
    }
    *nprobe = v;
  }
  return 0;
}
WEFT_ROUTE(route)
