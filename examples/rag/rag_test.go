package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeDict writes a dictd index and text holding blocks, in order, and
// returns their paths. extra index lines point into the block named.
func writeDict(t *testing.T, blocks []string, extra map[string]int) (string, string) {
	t.Helper()
	dir := t.TempDir()
	var text bytes.Buffer
	var index strings.Builder
	enc := func(v int) string {
		const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		if v == 0 {
			return "A"
		}
		var s []byte
		for ; v > 0; v /= 64 {
			s = append([]byte{digits[v%64]}, s...)
		}
		return string(s)
	}
	index.WriteString("00-database-info\tA\tB\n")
	offs := make([]int, len(blocks))
	for i, b := range blocks {
		offs[i] = text.Len()
		head, _, _ := strings.Cut(b, `\`)
		index.WriteString(strings.TrimSpace(head) + "\t" + enc(offs[i]) + "\t" + enc(len(b)) + "\n")
		text.WriteString(b)
	}
	for word, i := range extra {
		index.WriteString(word + "\t" + enc(offs[i]) + "\t" + enc(len(blocks[i])) + "\n")
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(text.Bytes())
	zw.Close()
	ip, dp := filepath.Join(dir, "test.index"), filepath.Join(dir, "test.dict.dz")
	if err := os.WriteFile(ip, []byte(index.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dp, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return ip, dp
}

func TestPassagesFromGCIDEBlocks(t *testing.T) {
	lamb := `Lamb \Lamb\ (l[a^]m), n. [AS. lamb; akin to D. & Dan. lam.]
   1. (Zool.) The young of the sheep.
      [1913 Webster]

   2. Any person who is as innocent or gentle as a lamb.
      [1913 Webster]

            The twelve apostles of the Lamb.      --Rev. xxi.
                                                  14.

   {Lamb's lettuce} (Bot.), an annual plant. --Shak.
      [1913 Webster]
`
	igloo := "Igloo \\Ig\"loo\\, n.\n   An Eskimo snow house.\n   [1913 Webster]\n"
	ip, dp := writeDict(t, []string{lamb, igloo}, map[string]int{"lambkin": 0})
	es, err := readEntries(ip, dp)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].headword != "Lamb" || es[1].headword != "Igloo" {
		t.Fatalf("entries %+v: want Lamb and Igloo once each (lambkin points into Lamb's block)", es)
	}
	got := passages(es, 1)
	want := []Passage{
		{"0/0", "Lamb", "Lamb , n. 1. (Zool.) The young of the sheep."},
		{"0/1", "Lamb", "Lamb: 2. Any person who is as innocent or gentle as a lamb."},
		{"0/2", "Lamb", "Lamb: Lamb's lettuce (Bot.), an annual plant."},
		{"1/0", "Igloo", "Igloo , n. An Eskimo snow house."},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("passages:\n%q\nwant\n%q", got, want)
	}
	// With room for 40 words, Lamb's paragraphs fill one passage.
	if got := passages(es, 40); len(got) != 2 || !strings.HasPrefix(got[0].Text, "Lamb , n. 1. (Zool.) The young of the sheep. 2. Any") {
		t.Fatalf("passages of 40 words: %q", got)
	}
}

func TestReadEntriesRefusesBadIndex(t *testing.T) {
	ip, dp := writeDict(t, []string{"Ox \\Ox\\, n. A bovine.\n"}, nil)
	b, _ := os.ReadFile(ip)
	if err := os.WriteFile(ip, append(b, "Broken\tA\tzzzz\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readEntries(ip, dp); err == nil || !strings.Contains(err.Error(), `"Broken"`) {
		t.Fatalf("an index line past the end: %v, want an error naming it", err)
	}
	if _, err := readEntries(ip, filepath.Join(t.TempDir(), "none.dz")); err == nil || !strings.Contains(err.Error(), "dict-gcide") {
		t.Fatalf("a missing dictionary: %v, want a hint to install dict-gcide", err)
	}
}

func TestStemAndKeywordTerms(t *testing.T) {
	for w, want := range map[string]string{
		"studies": "study", "boxes": "box", "churches": "church", "stars": "star", "glass": "glass",
		"genus": "genus", "bus": "bus", "glasses": "glass", "buzzes": "buzz", "maps": "map", "teeth": "teeth", "horses": "horse",
	} {
		if got := stem(w); got != want {
			t.Errorf("stem(%q) = %q, want %q", w, got, want)
		}
	}
	s := newCorpusStats([]string{"The young of the sheep.", "A sheep's wool.", "Stars in the sky."})
	if s.count["sheep"] != 2 || s.count["s"] != 1 || s.df["star"] != 1 {
		t.Fatalf("counts %v, document frequencies %v", s.count, s.df)
	}
	// "what", "do", "you", "call", "a" are stop words; "young" is in 1 of 3
	// texts, "sheep" in 2 (log(3/2) and log(3/3)).
	if got, want := s.keywordTerms("What do you call a young Sheep?"), "sheep:0.000 young:0.405"; got != want {
		t.Fatalf("keywordTerms = %q, want %q", got, want)
	}
}

func TestWordVectorsWeightAndSkip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.vec")
	if err := os.WriteFile(path, []byte("3 2\nsheep 1 0\nyoung 0 2\nthe 5 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// sheep is 1 word of 4, young 3 of 4: weights a/(a+p).
	wv, err := LoadWordVectors(path, map[string]int{"sheep": 1, "young": 3})
	if err != nil {
		t.Fatal(err)
	}
	got, err := wv.Embed(context.Background(), []string{"The young of the SHEEP, and a goat.", "goat"})
	if err != nil {
		t.Fatal(err)
	}
	ws, wy := float32(sifA/(sifA+0.25)), float32(sifA/(sifA+0.75))
	if want := []float32{ws * 1, wy * 2}; !slices.Equal(got[0], want) || !slices.Equal(got[1], []float32{0, 0}) {
		t.Fatalf("Embed = %v, want %v and zeros (the is a stop word, goat unknown)", got, want)
	}
	if wv.Dimension() != 2 {
		t.Fatalf("Dimension = %d", wv.Dimension())
	}
	if err := os.WriteFile(path, []byte("1 3\nsheep 1 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadWordVectors(path, nil); err == nil || !strings.Contains(err.Error(), "line 2 has 2 values, want 3") {
		t.Fatalf("a short line: %v", err)
	}
}

// An OpenAI-compatible server: the embedder batches, sends the key and
// model, puts answers in input order, and reports the server's errors.
func TestOpenAIEmbeddings(t *testing.T) {
	var requests []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/embeddings" || r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, `{"error":{"message":"bad key"}}`, http.StatusUnauthorized)
			return
		}
		var req map[string]any
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &req)
		requests = append(requests, req)
		type item struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		var data []item
		for i, in := range req["input"].([]any) {
			data = append(data, item{i, []float32{float32(len(in.(string))), 1}})
		}
		slices.Reverse(data) // order by index, not position
		json.NewEncoder(w).Encode(map[string]any{"data": data})
	}))
	defer srv.Close()
	o := &OpenAIEmbeddings{BaseURL: srv.URL + "/v1/", Model: "m", APIKey: "k", Dim: 2, Batch: 2}
	got, err := o.Embed(context.Background(), []string{"a", "bb", "ccc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0][0] != 1 || got[1][0] != 2 || got[2][0] != 3 {
		t.Fatalf("Embed = %v, want lengths 1, 2, 3 in order", got)
	}
	if len(requests) != 2 || requests[0]["model"] != "m" {
		t.Fatalf("requests %v: want 2 batches for model m", requests)
	}
	o.APIKey = "wrong"
	if _, err := o.Embed(context.Background(), []string{"a"}); err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "bad key") {
		t.Fatalf("a refused key: %v", err)
	}
	o.APIKey, o.Dim = "k", 3
	if _, err := o.Embed(context.Background(), []string{"a"}); err == nil || !strings.Contains(err.Error(), "gave 2 dimensions, want 3") {
		t.Fatalf("a wrong dimension: %v", err)
	}
}
