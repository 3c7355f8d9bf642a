package main

import (
	_ "embed"
	"fmt"
	"math"
	"slices"
	"strings"
)

// words returns text's lower-case runs of ASCII letters: what the
// embedders, the keyword weights and the keywords plugin read.
func words(text string) []string {
	var out []string
	start := -1
	lower := strings.ToLower(text)
	for i := 0; i <= len(lower); i++ {
		if i < len(lower) && lower[i] >= 'a' && lower[i] <= 'z' {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, lower[start:i])
			start = -1
		}
	}
	return out
}

// stopWords carry no subject: a question's "what", "is", "called".
// python/rag.py reads the same file.
//
//go:embed stopwords.txt
var stopWordsFile string

var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Split(stopWordsFile, "\n") {
		if !strings.HasPrefix(line, "#") {
			for _, w := range strings.Fields(line) {
				m[w] = true
			}
		}
	}
	return m
}()

// stem strips a plural ending, as the keywords plugin does to the text's
// words: -ies → -y; -es after ss, x, zz, ch or sh; else -s, but not of -ss
// or -us. Words of three letters or fewer stay as they are.
func stem(w string) string {
	switch {
	case len(w) <= 3:
		return w
	case strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses"), strings.HasSuffix(w, "xes"), strings.HasSuffix(w, "zzes"),
		strings.HasSuffix(w, "ches"), strings.HasSuffix(w, "shes"):
		return w[:len(w)-2]
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us"):
		return w[:len(w)-1]
	}
	return w
}

// corpusStats are counts over the stored passages, from one pass: how
// often each word occurs (the word vectors' weights), in how many passages
// each stemmed word occurs and how many passages there are (the keyword
// weights).
type corpusStats struct {
	count map[string]int
	docs  int
	df    map[string]int
}

func newCorpusStats(texts []string) corpusStats {
	s := corpusStats{count: map[string]int{}, docs: len(texts), df: map[string]int{}}
	seen := map[string]bool{}
	for _, t := range texts {
		clear(seen)
		for _, w := range words(t) {
			s.count[w]++
			w = stem(w)
			if !seen[w] {
				seen[w] = true
				s.df[w]++
			}
		}
	}
	return s
}

// keywordTerms is the keywords plugin's terms param for a question: its
// content words, stemmed, each with its inverse document frequency,
// "word:idf ..." in word order.
func (s corpusStats) keywordTerms(question string) string {
	idf := map[string]float64{}
	for _, w := range words(question) {
		if stopWords[w] || len(w) < 3 {
			continue
		}
		w = stem(w)
		idf[w] = math.Log(float64(s.docs) / float64(1+s.df[w]))
	}
	terms := make([]string, 0, len(idf))
	for w := range idf {
		terms = append(terms, w)
	}
	slices.Sort(terms)
	for i, w := range terms {
		terms[i] = fmt.Sprintf("%s:%.3f", w, idf[w])
	}
	return strings.Join(terms, " ")
}
