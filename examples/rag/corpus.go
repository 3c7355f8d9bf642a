package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Where Debian's dict-gcide package puts GCIDE.
const (
	gcideIndex = "/usr/share/dictd/gcide.index"
	gcideDict  = "/usr/share/dictd/gcide.dict.dz"
)

// maxWords is how many words a passage holds before it takes no more of
// its entry's paragraphs: 1, one sense (or note) per passage.
const maxWords = 1

// Passage is one stored chunk of the dictionary.
type Passage struct {
	ID       string // block/part: the entry's number in the index, the passage's in the entry
	Headword string
	Text     string
}

// The parts of a GCIDE block that are not definitions. rag.py uses the
// same expressions, so both examples store the same passages.
var (
	pronunciation = regexp.MustCompile(`\\[^\\]*\\`)            // \Lamb\
	sound         = regexp.MustCompile(`\([^()]*[\["][^()]*\)`) // (h[u^]n"[y^])
	source        = regexp.MustCompile(`\[(?:1913 Webster|WordNet 1\.5|PJC|Century Dict\.|Webster 1828)[^\]]*\]`)
	etymology     = regexp.MustCompile(`\[[^\[\]]*\]`) // [AS. lamb; akin to ...]
	citation      = regexp.MustCompile(`--[A-Z][A-Za-z0-9_. ]*`)
	space         = regexp.MustCompile(`[ \t\n\r\f\v]+`)
	paragraphs    = regexp.MustCompile(`\n[ \t\n\r\f\v]*\n`)
)

// clean returns a GCIDE paragraph as plain text: without pronunciations,
// etymologies, sources and citations, braces of cross references dropped.
func clean(s string) string {
	s = pronunciation.ReplaceAllString(s, " ")
	s = sound.ReplaceAllString(s, " ")
	s = source.ReplaceAllString(s, " ")
	for range 2 { // etymologies nest once in a while
		s = etymology.ReplaceAllString(s, " ")
	}
	s = citation.ReplaceAllString(s, " ")
	s = strings.NewReplacer("{", "", "}", "").Replace(s)
	return strings.TrimSpace(space.ReplaceAllString(s, " "))
}

// entry is one GCIDE block: a headword's definitions.
type entry struct {
	headword, block string
}

// readEntries returns GCIDE's blocks in index order. Several index lines
// point into one block (its variant spellings and run-on words); a block
// counts once, under the headword on its first line.
func readEntries(indexPath, dictPath string) ([]entry, error) {
	f, err := os.Open(dictPath)
	if err != nil {
		return nil, fmt.Errorf("%w (GCIDE comes with Debian's dict-gcide: apt-get install dict-gcide)", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dictPath, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dictPath, err)
	}
	idx, err := os.Open(indexPath)
	if err != nil {
		return nil, err
	}
	defer idx.Close()
	var out []entry
	seen := map[int]bool{}
	sc := bufio.NewScanner(idx)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "\t")
		if len(parts) != 3 || strings.HasPrefix(parts[0], "00-database") {
			continue
		}
		off, ok1 := base64Number(parts[1])
		n, ok2 := base64Number(parts[2])
		if !ok1 || !ok2 || off+n > len(data) {
			return nil, fmt.Errorf("%s: entry %q: bad offset or length for %s", indexPath, parts[0], dictPath)
		}
		if seen[off] {
			continue
		}
		seen[off] = true
		block := string(data[off : off+n])
		head, _, _ := strings.Cut(block, `\`)
		head = strings.TrimSpace(head)
		if head == "" || strings.Contains(head, "\n") {
			continue
		}
		out = append(out, entry{head, block})
	}
	return out, sc.Err()
}

// base64Number decodes one of dictd's base-64 numbers (most significant
// digit first).
func base64Number(s string) (int, bool) {
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	v := 0
	for _, c := range []byte(s) {
		d := strings.IndexByte(digits, c)
		if d < 0 || v > 1<<40 {
			return 0, false
		}
		v = v*64 + d
	}
	return v, s != ""
}

// passages cuts entries into what is stored: each of an entry's senses
// and notes (its paragraphs, without the quotations that illustrate them)
// is a passage; one of fewer than maxWords words takes the next along.
// A passage after an entry's first starts with "headword:" so that it
// carries its subject.
func passages(entries []entry, maxWords int) []Passage {
	var out []Passage
	for b, e := range entries {
		var paras []string
		for _, p := range paragraphs.Split(e.block, -1) {
			if len(p)-len(strings.TrimLeft(p, " ")) >= 8 {
				continue // a quotation
			}
			if p = clean(p); p != "" {
				paras = append(paras, p)
			}
		}
		var cur []string
		n, part := 0, 0
		flush := func() {
			out = append(out, Passage{fmt.Sprintf("%d/%d", b, part), e.headword, strings.Join(cur, " ")})
		}
		for _, p := range paras {
			w := len(strings.Fields(p))
			if len(cur) > 0 && n+w > maxWords {
				flush()
				cur, n, part = []string{e.headword + ":"}, 0, part+1
			}
			cur = append(cur, p)
			n += w
		}
		if len(cur) > 0 {
			flush()
		}
	}
	return out
}
