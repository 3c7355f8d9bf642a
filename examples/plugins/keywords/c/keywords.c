/* keywords: the lexical rerank plugin in C; keywords/go is the same plugin
 * in Go, score for score (see it for the params):
 *   score = -distance + weight * (sum of w(t) over terms t in the text) / (sum of w) */
#include "weft_plugin.h"

#define MAX_TERMS 256
#define MAX_WORD 64 /* longer words match no keyword */

static char term_word[MAX_TERMS][MAX_WORD];
static uint32_t term_len[MAX_TERMS];
static double term_weight[MAX_TERMS];
static uint32_t n_terms;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c; }

/* "word:w word ...": a repeated word keeps its first place and its last
 * weight; a weight that is not a positive finite decimal, or a word longer
 * than MAX_WORD, leaves the word out. */
static int parse_terms(weft_str spec) {
  n_terms = 0;
  uint32_t i = 0;
  while (i < spec.len) {
    while (i < spec.len && is_space(spec.ptr[i])) i++;
    uint32_t start = i;
    while (i < spec.len && !is_space(spec.ptr[i])) i++;
    if (i == start) break;
    weft_str word = {spec.ptr + start, i - start};
    double w = 1;
    for (uint32_t j = 0; j < word.len; j++) {
      if (word.ptr[j] == ':') {
        weft_str num = {word.ptr + j + 1, word.len - j - 1};
        word.len = j;
        if (!weft_parse_f64(num, &w) || !(w > 0) || w - w != 0) w = -1;
        break;
      }
    }
    if (w < 0 || word.len == 0 || word.len > MAX_WORD) continue;
    uint32_t t = 0;
    for (; t < n_terms; t++) {
      uint32_t j = 0;
      if (term_len[t] != word.len) continue;
      while (j < word.len && term_word[t][j] == lower(word.ptr[j])) j++;
      if (j == word.len) break;
    }
    if (t < n_terms) {
      term_weight[t] = w;
      continue;
    }
    if (n_terms == MAX_TERMS) return weft_fail("more than 256 terms");
    term_len[t] = word.len;
    for (uint32_t j = 0; j < word.len; j++) term_word[t][j] = lower(word.ptr[j]);
    term_weight[t] = w;
    n_terms++;
  }
  return 0;
}

/* stem strips a plural ending in place, as keywords/go's stem does;
 * returns the new length. */
static uint32_t stem(char *w, uint32_t n) {
#define ENDS(s) (n >= sizeof(s) - 1 && weft_str_eq((weft_str){w + n - (sizeof(s) - 1), sizeof(s) - 1}, s))
  if (n <= 3) return n;
  if (ENDS("ies")) {
    w[n - 3] = 'y';
    return n - 2;
  }
  if (ENDS("sses") || ENDS("xes") || ENDS("zzes") || ENDS("ches") || ENDS("shes")) return n - 2;
  if (w[n - 1] == 's' && w[n - 2] != 's' && w[n - 2] != 'u') return n - 1;
  return n;
#undef ENDS
}

static int rerank(const weft_input *in, float *scores) {
  weft_str a;
  char name[256] = "text";
  if (weft_param(in, "attr", &a)) {
    if (a.len >= sizeof name) return weft_fail("param attr is too long");
    for (uint32_t i = 0; i < a.len; i++) name[i] = a.ptr[i];
    name[a.len] = 0;
  }
  double weight = weft_param_f64(in, "weight", 1);
  weft_str spec = {"", 0};
  weft_param(in, "terms", &spec);
  if (parse_terms(spec)) return 1;
  double total = 0;
  for (uint32_t t = 0; t < n_terms; t++) total += term_weight[t];
  weft_column col;
  if (!weft_column_find(in, name, &col) || col.type != WEFT_STRING || total <= 0) return 0;
  uint8_t seen[MAX_TERMS];
  char word[MAX_WORD];
  for (uint32_t i = 0; i < in->count; i++) {
    if (!weft_col_valid(&col, i)) continue;
    for (uint32_t t = 0; t < n_terms; t++) seen[t] = 0;
    double matched = 0;
    weft_str text = weft_col_str(&col, i);
    uint32_t n = 0;
    int is_long = 0;
    for (uint32_t j = 0; j <= text.len; j++) {
      char c = j < text.len ? lower(text.ptr[j]) : 0;
      if (c >= 'a' && c <= 'z') {
        if (n == MAX_WORD) is_long = 1;
        else word[n++] = c;
        continue;
      }
      if (n > 0 && !is_long) {
        uint32_t m = stem(word, n);
        for (uint32_t t = 0; t < n_terms; t++) {
          if (seen[t] || term_len[t] != m) continue;
          uint32_t k = 0;
          while (k < m && term_word[t][k] == word[k]) k++;
          if (k == m) {
            seen[t] = 1;
            matched += term_weight[t];
            break;
          }
        }
      }
      n = 0;
      is_long = 0;
    }
    scores[i] += (float)(weight * matched / total);
  }
  return 0;
}
WEFT_RERANK(rerank)
