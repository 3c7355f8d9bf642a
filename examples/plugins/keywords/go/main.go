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
//     (at most 256; a word without ":w" weighs 1; words longer than 64
//     letters and weights that are not positive decimals are left out;
//     keywords/c matches this build bit for bit when weights have at most
//     15 significant digits), lower-case and without plural
//     endings: the text's words are read as runs of ASCII letters, case
//     folded, with -ies → -y, -es after ss, x, zz, ch or sh, else -s (not
//     of -ss, -us) stripped from words longer than three letters
//   - attr: the string attribute holding the text (default "text")
//   - weight (default 1)
//
// Candidates without the attribute keep -distance.
package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	weftplugin "github.com/weftdb/weft/sdk/plugin/go"
)

func main() {}

// maxTerms bounds the terms param (keywords/c holds them in fixed arrays).
const maxTerms = 256

//go:wasmexport weft_rerank
func rerank(ptr, n uint32) uint64 {
	return weftplugin.Rerank(ptr, n, func(in *weftplugin.Input, scores []float32) error {
		attr := "text"
		if a, ok := in.Param("attr"); ok {
			attr = a
		}
		weight := in.ParamFloat("weight", 1)
		spec, _ := in.Param("terms")
		terms, err := parseTerms(spec)
		if err != nil {
			return err
		}
		var total float64
		index := make(map[string]int, len(terms))
		for i, t := range terms {
			total += t.weight
			index[t.word] = i
		}
		col, ok := in.Column(attr)
		if !ok || col.Type() != weftplugin.TypeString || total <= 0 {
			return nil
		}
		seen := make([]bool, len(terms))
		for i := range in.Count() {
			if !col.Valid(i) {
				continue
			}
			clear(seen)
			var matched float64
			forWords(col.String(i), func(w string) {
				if t, ok := index[stem(w)]; ok && !seen[t] {
					seen[t] = true
					matched += terms[t].weight
				}
			})
			scores[i] += float32(weight * matched / total)
		}
		return nil
	})
}

type term struct {
	word   string
	weight float64
}

// parseTerms reads "word:w word ..." (split at ASCII spaces) in order; a
// repeated word keeps its first place and its last weight. A weight that
// is not a positive decimal ("2", "0.5", "1e-3"), or a word longer than
// maxWord, leaves the word out. Words are lower-cased (ASCII).
func parseTerms(spec string) ([]term, error) {
	var terms []term
	for _, f := range strings.FieldsFunc(spec, isSpace) {
		word, w, found := strings.Cut(f, ":")
		weight := 1.0
		if found {
			var err error
			if strings.Trim(w, "0123456789.eE+-") != "" {
				continue
			}
			if weight, err = strconv.ParseFloat(w, 64); err != nil || !(weight > 0) {
				continue
			}
		}
		if word == "" || len(word) > maxWord {
			continue
		}
		word = asciiLower(word)
		if i := slices.IndexFunc(terms, func(t term) bool { return t.word == word }); i >= 0 {
			terms[i].weight = weight
			continue
		}
		if len(terms) == maxTerms {
			return nil, fmt.Errorf("more than %d terms", maxTerms)
		}
		terms = append(terms, term{word, weight})
	}
	return terms, nil
}

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
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

// maxWord is the longest word read; longer ones match no term.
const maxWord = 64

// forWords calls f with every run of ASCII letters of s, lower-cased, of
// at most maxWord letters.
func forWords(s string, f func(string)) {
	var buf [maxWord]byte
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
