/* mmr: the maximal-marginal-relevance diversity rerank plugin in C; mmr/go
 * is the same plugin in Go (see it for the definition and params). */
#include "weft_plugin.h"

static double dot(const float *a, const float *b, uint32_t d) {
  double s = 0;
  /* Unrolled: each loop iteration costs a check of the host's deadline. */
#pragma clang loop unroll_count(16)
  for (uint32_t i = 0; i < d; i++) s += (double)a[i] * (double)b[i];
  return s;
}

static double cosine(const float *a, const float *b, uint32_t d, double na, double nb) {
  return na == 0 || nb == 0 ? 0 : dot(a, b, d) / (na * nb);
}

static int rerank(const weft_input *in, float *scores) {
  uint32_t n = in->count, d = in->dim;
  if (n > 0 && !weft_vector(in, 0)) return weft_fail("mmr needs the candidates' vectors (include_vectors)");
  double lambda = weft_param_f64(in, "lambda", 0.5);
  double *norm = weft_scratch(8 * n), *rel = weft_scratch(8 * n), *max_sim = weft_scratch(8 * n);
  uint8_t *picked = weft_scratch(n);
  if (n > 0 && (!norm || !rel || !max_sim || !picked)) return weft_fail("mmr: out of memory");
  const float *q = weft_query(in), *dist = weft_distances(in);
  double qn = q ? __builtin_sqrt(dot(q, q, d)) : 0;
  for (uint32_t i = 0; i < n; i++) {
    const float *v = weft_vector(in, i);
    norm[i] = __builtin_sqrt(dot(v, v, d));
    rel[i] = q ? cosine(q, v, d, qn, norm[i]) : -(double)dist[i];
    max_sim[i] = -__builtin_inf();
    picked[i] = 0;
  }
  for (uint32_t rank = 0; rank < n; rank++) {
    int64_t best = -1;
    double best_val = -__builtin_inf();
    for (uint32_t i = 0; i < n; i++) {
      if (picked[i]) continue;
      double div = rank == 0 ? 0 : max_sim[i];
      double v = lambda * rel[i] - (1 - lambda) * div;
      if (best < 0 || v > best_val) best = i, best_val = v;
    }
    picked[best] = 1;
    scores[best] = (float)(n - rank);
    const float *vb = weft_vector(in, (uint32_t)best);
    for (uint32_t i = 0; i < n; i++) {
      if (picked[i]) continue;
      double s = cosine(weft_vector(in, i), vb, d, norm[i], norm[best]);
      if (s > max_sim[i]) max_sim[i] = s;
    }
  }
  return 0;
}
WEFT_RERANK(rerank)
