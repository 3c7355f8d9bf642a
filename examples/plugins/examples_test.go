package examples_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftdb/weft/plugins"
)

// langs are the languages of every example; recency and attrfilter also
// have an AssemblyScript build ("as").
var langs = []string{"go", "c"}

func newHost(t testing.TB) *plugins.Host {
	t.Helper()
	cfg := plugins.DefaultConfig()
	cfg.PoolSize = 1
	cfg.CallDeadline = 2 * time.Second // generous: CI machines are busy
	cfg.InitDeadline = 30 * time.Second
	h, err := plugins.NewHost(cfg, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

func load(t testing.TB, h *plugins.Host, name, lang string) *plugins.Plugin {
	t.Helper()
	wasm, err := os.ReadFile(filepath.Join(name, lang, name+".wasm"))
	if err != nil {
		t.Fatalf("%v (rebuild with scripts/build-plugins.sh examples)", err)
	}
	p, err := h.Load(context.Background(), name+"-"+lang, wasm, plugins.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRouter(t *testing.T) {
	h := newHost(t)
	shards := []plugins.Shard{{Key: "eu/acme", Size: 100}, {Key: "us/acme", Size: 50}, {Key: "eu/globex", Size: 70}, {Key: "us/initech", Size: 10}, {Key: "solo", Size: 5}}
	cases := []struct {
		params   map[string]string
		weights  []float32
		nprobe   int
		selected []int
	}{
		{nil, []float32{1, 1, 1, 1, 1}, 0, []int{0, 1, 2, 3, 4}},
		{map[string]string{"tenant": "acme"}, []float32{1, 1, 0, 0, 0}, 0, []int{0, 1}},
		{map[string]string{"tenants": "globex, initech"}, []float32{0, 0, 1, 1, 0}, 0, []int{2, 3}},
		{map[string]string{"region": "us"}, []float32{1, 2, 1, 2, 1}, 0, []int{1, 3, 0, 2, 4}},
		{map[string]string{"region": "us", "region_only": "true", "nprobe": "1"}, []float32{0, 2, 0, 2, 0}, 1, []int{1}},
		{map[string]string{"tenant": "acme", "region": "eu", "nprobe": "5"}, []float32{2, 1, 0, 0, 0}, 5, []int{0, 1}},
	}
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			p := load(t, h, "router", lang)
			for _, c := range cases {
				res, err := p.Route(context.Background(), c.params, plugins.RouteRequest{Shards: shards, NProbe: 3})
				if err != nil {
					t.Fatalf("%v: %v", c.params, err)
				}
				if !slices.Equal(res.Weights, c.weights) || res.NProbe != c.nprobe || !slices.Equal(res.Selected(len(shards)), c.selected) {
					t.Errorf("%v: weights %v nprobe %d selected %v, want %v %d %v", c.params, res.Weights, res.NProbe, res.Selected(len(shards)), c.weights, c.nprobe, c.selected)
				}
			}
			_, err := p.Route(context.Background(), map[string]string{"nprobe": "many"}, plugins.RouteRequest{Shards: shards})
			if !errors.Is(err, plugins.ErrGuest) || !strings.Contains(err.Error(), "param nprobe") {
				t.Errorf("bad nprobe: %v", err)
			}
		})
	}
}

func filterBatch(t testing.TB, withDistances bool) *plugins.Batch {
	t.Helper()
	cols, err := plugins.ColumnsFromRows([]map[string]any{
		{"tier": "gold", "n": 5, "price": 9.5, "tags": []string{"a", "b"}, "active": true},
		{"tier": "silver", "n": 10, "price": 20.0, "tags": []string{"b"}, "active": false},
		{"tier": "gold", "price": 15.0, "tags": []string{}, "active": true},
		{"n": 7},
		{"tier": "bronze", "n": 1, "tags": []string{"c"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := &plugins.Batch{IDs: []string{"d1", "d2", "d3", "d4", "d5"}, Attributes: cols}
	if withDistances {
		b.Distances = []float32{0.1, 0.2, 0.3, 0.4, 0.5}
	}
	return b
}

func TestAttrFilter(t *testing.T) {
	h := newHost(t)
	cases := []struct {
		params map[string]string
		kept   []string
	}{
		{map[string]string{"attr": "tier", "eq": "gold"}, []string{"d1", "d3"}},
		{map[string]string{"attr": "tier", "eq": "gold", "missing": "keep"}, []string{"d1", "d3", "d4"}},
		{map[string]string{"attr": "n", "min": "5", "max": "9"}, []string{"d1", "d4"}},
		{map[string]string{"attr": "n", "eq": "10"}, []string{"d2"}},
		{map[string]string{"attr": "price", "max": "15"}, []string{"d1", "d3"}},
		{map[string]string{"attr": "tags", "eq": "b"}, []string{"d1", "d2"}},
		{map[string]string{"attr": "active", "eq": "true"}, []string{"d1", "d3"}},
		{map[string]string{"attr": "color", "eq": "red"}, nil},
	}
	for _, lang := range append(langs, "as") {
		t.Run(lang, func(t *testing.T) {
			p := load(t, h, "attrfilter", lang)
			for _, pre := range []bool{false, true} {
				b := filterBatch(t, !pre)
				for _, c := range cases {
					res, err := p.Filter(context.Background(), c.params, b)
					if err != nil {
						t.Fatalf("%v: %v", c.params, err)
					}
					var kept []string
					for _, i := range res.Kept() {
						kept = append(kept, b.IDs[i])
					}
					if !slices.Equal(kept, c.kept) {
						t.Errorf("pre-ANN %v %v: kept %v, want %v", pre, c.params, kept, c.kept)
					}
				}
			}
			_, err := p.Filter(context.Background(), nil, filterBatch(t, true))
			if !errors.Is(err, plugins.ErrGuest) || !strings.Contains(err.Error(), "param attr is required") {
				t.Errorf("no attr: %v", err)
			}
		})
	}
}

func TestRecency(t *testing.T) {
	h := newHost(t)
	const now = 1_700_000_000
	ts := plugins.Column{Name: "ts", Type: plugins.TypeInt64, Ints: []int64{now - 7200, now, 0, now + 100}, Valid: []bool{true, true, false, true}}
	b := &plugins.Batch{IDs: []string{"a", "b", "c", "d"}, Distances: []float32{0.1, 0.2, 0.3, 0.4}, Attributes: []plugins.Column{ts}}
	params := map[string]string{"weight": "0.5", "half_life_s": "3600", "now": "1700000000"}
	// a is two half-lives old (boost 0.5·0.25), b and d are fresh (d is in
	// the future: age 0), c has no timestamp.
	want := []float32{-0.1 + 0.125, -0.2 + 0.5, -0.3, -0.4 + 0.5}
	want[0], want[1], want[3] = -float32(0.1)+float32(0.125), -float32(0.2)+float32(0.5), -float32(0.4)+float32(0.5)
	for _, lang := range append(langs, "as") {
		t.Run(lang, func(t *testing.T) {
			p := load(t, h, "recency", lang)
			res, err := p.Rerank(context.Background(), params, b)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Scores, want) || !slices.Equal(res.Order, []int{1, 3, 0, 2}) {
				t.Errorf("scores %v order %v, want %v [1 3 0 2]", res.Scores, res.Order, want)
			}
			// With the host's clock (now ≫ ts = 2023) every boost is ~0 and
			// the distance order stays.
			res, err = p.Rerank(context.Background(), map[string]string{"half_life_s": "60"}, b)
			if err != nil || !slices.Equal(res.Order, []int{0, 1, 2, 3}) || res.Scores[2] != -0.3 {
				t.Errorf("host clock: %+v %v", res, err)
			}
		})
	}
}

func TestMMR(t *testing.T) {
	h := newHost(t)
	// a and a2 are near-duplicates close to the query; b is less relevant
	// but points elsewhere; c is least relevant.
	b := &plugins.Batch{
		IDs:       []string{"a", "a2", "b", "c"},
		Distances: []float32{0.1, 0.2, 0.3, 0.4},
		Dim:       2,
		Vectors:   []float32{1, 0.9, 1, 0.85, 0.2, 1, 1, -0.2},
		Query:     []float32{1, 1},
		Metric:    plugins.MetricCosine,
	}
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			p := load(t, h, "mmr", lang)
			for _, c := range []struct {
				lambda string
				order  []string
			}{
				{"0.5", []string{"a", "b", "a2", "c"}}, // diversity lifts b over a2
				{"1", []string{"a", "a2", "b", "c"}},   // pure relevance
			} {
				res, err := p.Rerank(context.Background(), map[string]string{"lambda": c.lambda}, b)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, i := range res.Order {
					ids = append(ids, b.IDs[i])
				}
				if !slices.Equal(ids, c.order) {
					t.Errorf("lambda %s: order %v, want %v", c.lambda, ids, c.order)
				}
				// Scores are count − rank.
				for rank, i := range res.Order {
					if res.Scores[i] != float32(4-rank) {
						t.Errorf("lambda %s: score of %s is %v, want %d", c.lambda, b.IDs[i], res.Scores[i], 4-rank)
					}
				}
			}
			noVec := *b
			noVec.Vectors, noVec.Dim = nil, 0
			_, err := p.Rerank(context.Background(), nil, &noVec)
			if !errors.Is(err, plugins.ErrGuest) || !strings.Contains(err.Error(), "needs the candidates' vectors") {
				t.Errorf("without vectors: %v", err)
			}
		})
	}
}

// TestAttrFilterStringLengths checks string matching at every length
// around the guests' 8-byte comparisons, on batches longer and shorter
// than their 16-way unrolled loops, with the matching value last.
func TestAttrFilterStringLengths(t *testing.T) {
	h := newHost(t)
	values := []string{"", "a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh", "abcdefghi", "abcdefgX", "abcdefghijklmnopq", "abcdefghijklmnopX", "b", "ba"}
	for _, lang := range append(langs, "as") {
		t.Run(lang, func(t *testing.T) {
			p := load(t, h, "attrfilter", lang)
			for _, n := range []int{len(values), 40} {
				ids := make([]string, n)
				tier := make([]string, n)
				for i := range n {
					ids[i] = fmt.Sprint(i)
					tier[i] = values[(i*7)%len(values)]
				}
				b := &plugins.Batch{IDs: ids, Attributes: []plugins.Column{{Name: "tier", Type: plugins.TypeString, Strings: tier}}}
				for _, eq := range values {
					res, err := p.Filter(context.Background(), map[string]string{"attr": "tier", "eq": eq}, b)
					if err != nil {
						t.Fatal(err)
					}
					for i, k := range res.Keep {
						if k != (tier[i] == eq) {
							t.Fatalf("n=%d eq=%q: candidate %d (%q) kept=%v", n, eq, i, tier[i], k)
						}
					}
				}
			}
		})
	}
}

func TestKeywords(t *testing.T) {
	h := newHost(t)
	text := plugins.Column{Name: "body", Type: plugins.TypeString,
		Strings: []string{"The young of the SHEEP.", "Sheep and goats; young goats are kids.", "A lamb", "ignored", "Wolves: of the Glasses!"},
		Valid:   []bool{true, true, true, false, true}}
	b := &plugins.Batch{IDs: []string{"a", "b", "c", "d", "e"}, Distances: []float32{0.1, 0.2, 0.3, 0.05, 0.4}, Attributes: []plugins.Column{text}}
	// young weighs 2 (its last weight), sheep 1, glass 1: total 4. a holds
	// young and sheep (3/4), b the same (repeats count once), c neither, d
	// has no text, e holds "glasses" (a plural of glass: 1/4). "wolf:x",
	// "wolf:-1", "wolf:1e999" and a 65-letter word are left out.
	params := map[string]string{"attr": "body", "weight": "0.5",
		"terms": "young:7 Sheep glass:1 wolf:x wolf:-1 wolf:1e999 young:2 " + strings.Repeat("w", 65)}
	want := make([]float32, len(b.IDs))
	for i, boost := range []float32{0.375, 0.375, 0, 0, 0.125} {
		want[i] = -b.Distances[i] + boost
	}
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			p := load(t, h, "keywords", lang)
			res, err := p.Rerank(context.Background(), params, b)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Scores, want) || !slices.Equal(res.Order, []int{0, 1, 3, 4, 2}) {
				t.Errorf("scores %v order %v, want %v [0 1 3 4 2]", res.Scores, res.Order, want)
			}
			// Without terms, or with an attribute nobody has, the distance order stays.
			for _, params := range []map[string]string{{"attr": "body"}, {"terms": "young", "attr": "none"}} {
				res, err = p.Rerank(context.Background(), params, b)
				if err != nil || !slices.Equal(res.Order, []int{3, 0, 1, 2, 4}) {
					t.Errorf("%v: %+v %v", params, res, err)
				}
			}
			many := make([]string, 257)
			for i := range many {
				many[i] = fmt.Sprintf("w%c%c", 'a'+i/26%26, 'a'+i%26)
			}
			_, err = p.Rerank(context.Background(), map[string]string{"attr": "body", "terms": strings.Join(many, " ")}, b)
			if err == nil || !strings.Contains(err.Error(), "more than 256 terms") {
				t.Errorf("257 terms: %v", err)
			}
		})
	}
}

// The Go and C builds of keywords give the same scores, bit for bit, on
// texts and weighted terms drawn at random (plurals, case, punctuation).
func TestKeywordsBuildsAgree(t *testing.T) {
	h := newHost(t)
	r := rand.New(rand.NewPCG(5, 6))
	vocab := []string{"sheep", "Sheep", "sheeps", "glass", "glasses", "boxes", "box", "studies", "study", "bus", "genus", "wool", "lamb", "lambs", "kids", "churches"}
	const n = 300
	texts, dists := make([]string, n), make([]float32, n)
	ids := make([]string, n)
	for i := range texts {
		var sb strings.Builder
		for range 1 + r.IntN(30) {
			sb.WriteString(vocab[r.IntN(len(vocab))])
			sb.WriteString([]string{" ", ", ", "; ", "-", ". "}[r.IntN(5)])
		}
		texts[i], dists[i], ids[i] = sb.String(), r.Float32(), fmt.Sprint(i)
	}
	b := &plugins.Batch{IDs: ids, Distances: dists, Attributes: []plugins.Column{{Name: "text", Type: plugins.TypeString, Strings: texts}}}
	goP, cP := load(t, h, "keywords", "go"), load(t, h, "keywords", "c")
	for q := range 20 {
		var terms []string
		for range 1 + r.IntN(6) {
			terms = append(terms, fmt.Sprintf("%s:%.3f", strings.ToLower(vocab[r.IntN(len(vocab))]), 20*r.Float64()))
		}
		params := map[string]string{"terms": strings.Join(terms, " "), "weight": fmt.Sprintf("%.2f", r.Float64())}
		a, errA := goP.Rerank(context.Background(), params, b)
		c, errC := cP.Rerank(context.Background(), params, b)
		if errA != nil || errC != nil || !slices.Equal(a.Scores, c.Scores) {
			t.Fatalf("query %d %v: go %v %v, c %v %v", q, params, a.Scores[:5], errA, c.Scores[:5], errC)
		}
	}
}
