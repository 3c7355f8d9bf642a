//go:build wasip1

// Command keywords is a lexical rerank plugin for retrieval-augmented
// generation, in Go: it promotes candidates whose text contains the
// query's keywords, the way a hybrid search adds a term match to the
// vector's nearness (examples/rag uses it):
//
//	score = -distance + weight · Σ w(t) over terms t in the text / Σ w(t)
//
// Params:
//   - terms: the query's keywords with their weights, "word:w word:w ..."
//     (a word without ":w" weighs 1), lower-case and without plural
//     endings: the text's words are read as runs of ASCII letters, case
//     folded, with -ies → -y, -es after ss, x, zz, ch or sh, else -s (not
//     of -ss, -us) stripped from words longer than three letters
//   - attr: the string attribute holding the text (default "text")
//   - weight (default 1)
//
// Candidates without the attribute keep -distance.
package main

import (
	"strconv"
	"strings"

	weftplugin "github.com/weftdb/weft/sdk/plugin/go"
)

func main() {}

//go:wasmexport weft_rerank
func rerank(ptr, n uint32) uint64 {
	return weftplugin.Rerank(ptr, n, func(in *weftplugin.Input, scores []float32) error {
		attr := "text"
		if a, ok := in.Param("attr"); ok {
			attr = a
		}
		weight := in.ParamFloat("weight", 1)
		spec, _ := in.Param("terms")
		terms, total := parseTerms(spec)
		col, ok := in.Column(attr)
		if !ok || col.Type() != weftplugin.TypeString || total <= 0 {
			return nil
		}
		seen := make(map[string]bool, len(terms))
		for i := range in.Count() {
			if !col.Valid(i) {
				continue
			}
			clear(seen)
			var matched float64
			forWords(col.String(i), func(w string) {
				w = stem(w)
				if tw, ok := terms[w]; ok && !seen[w] {
					seen[w] = true
					matched += tw
				}
			})
			scores[i] += float32(weight * matched / total)
		}
		return nil
	})
}

// parseTerms reads "word:w word ..." into weights (the last of a repeated
// word wins) and their sum.
func parseTerms(spec string) (map[string]float64, float64) {
	terms := map[string]float64{}
	for _, f := range strings.Fields(spec) {
		word, w, found := strings.Cut(f, ":")
		weight := 1.0
		if found {
			var err error
			if weight, err = strconv.ParseFloat(w, 64); err != nil {
				continue // not a weight: the term is ignored
			}
		}
		if word != "" && weight > 0 {
			terms[strings.ToLower(word)] = weight
		}
	}
	var total float64
	for _, w := range terms {
		total += w
	}
	return terms, total
}

// stem strips a plural ending (examples/rag's stem does the same).
func stem(w string) string {
	n := len(w)
	switch {
	case n <= 3:
		return w
	case strings.HasSuffix(w, "ies"):
		return w[:n-3] + "y"
	case strings.HasSuffix(w, "sses"), strings.HasSuffix(w, "xes"), strings.HasSuffix(w, "zzes"),
		strings.HasSuffix(w, "ches"), strings.HasSuffix(w, "shes"):
		return w[:n-2]
	case w[n-1] == 's' && w[n-2] != 's' && w[n-2] != 'u':
		return w[:n-1]
	}
	return w
}

// forWords calls f with every run of ASCII letters of s, lower-cased.
func forWords(s string, f func(string)) {
	var buf [64]byte
	n, long := 0, false
	flush := func() {
		if n > 0 && !long {
			f(string(buf[:n]))
		}
		n, long = 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c < 'a' || c > 'z' {
			flush()
			continue
		}
		if n == len(buf) {
			long = true // longer than any keyword worth matching
			continue
		}
		buf[n] = c
		n++
	}
	flush()
}
