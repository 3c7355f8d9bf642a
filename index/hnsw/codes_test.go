package hnsw

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/indextest"
)

// SearchCodes walks the graph on RaBitQ estimates and refines exactly: on
// real data (the Fashion-MNIST subset, by L2 and by cosine) its recall@10
// stays near a full-precision search's while it reads only refine vectors
// a query and returns exact distances; a dot-product index has no codes.
func TestSearchCodes(t *testing.T) {
	ctx := context.Background()
	base, qs, dim := indextest.FashionMNIST()
	for _, metric := range []distance.Metric{distance.L2, distance.Cosine} {
		cfg := DefaultConfig()
		cfg.Metric = metric
		idx, err := Build(ctx, base, dim, cfg, 2)
		if err != nil {
			t.Fatal(err)
		}
		built, err := idx.BuildCodes(ctx, nil, 7, 2)
		if err != nil {
			t.Fatal(err)
		}
		// Searched after an encoding round trip: the segment's copy.
		codes, err := DecodeCodes(built.AppendEncoding(nil), idx)
		if err != nil {
			t.Fatal(err)
		}
		if full := len(base) * 4; codes.Bytes()*16 > full {
			t.Fatalf("%v: codes take %d bytes, over a sixteenth of the vectors' %d", metric, codes.Bytes(), full)
		}
		ref := base
		if metric == distance.Cosine {
			ref = idx.Vectors()
		}
		const ef, refine = 64, 40
		nq := len(qs) / dim
		var recall float64
		for i := range nq {
			q := qs[i*dim : (i+1)*dim]
			qq := normalized(q, dim, metric)
			truth := indextest.BruteForce(ref, qq, metric, 10, nil)
			reads := 0
			got, scored := idx.SearchCodes(q, 10, ef, refine, codes, func(id uint32) []float32 {
				reads++
				return idx.Vector(id)
			})
			if len(got) != 10 || reads > refine || scored < ef {
				t.Fatalf("%v: %d results, %d vectors read (refine %d), %d estimates", metric, len(got), reads, refine, scored)
			}
			ids := make([]uint32, len(got))
			for j, r := range got {
				ids[j] = r.ID
				if exact := idx.dist(qq, r.ID); exact != r.Dist {
					t.Fatalf("%v: result %d distance %v, exact %v", metric, r.ID, r.Dist, exact)
				}
			}
			recall += indextest.Recall(ids, truth, func(id uint32) float32 {
				return metric.Distance(qq, ref[int(id)*dim:int(id+1)*dim])
			})
		}
		recall /= float64(nq)
		t.Logf("%v: recall@10 with codes (ef %d, refine %d) %.3f; codes %d bytes for %d of vectors", metric, ef, refine, recall, codes.Bytes(), len(base)*4)
		if recall < 0.95 {
			t.Errorf("%v: recall@10 with codes %.3f, want ≥ 0.95", metric, recall)
		}
	}
	dot := DefaultConfig()
	dot.Metric = distance.Dot
	idx, err := Build(ctx, base, dim, dot, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idx.BuildCodes(ctx, nil, 1, 1); !errors.Is(err, ErrCodesMetric) {
		t.Fatalf("codes of a dot-product index: %v", err)
	}
}

// FuzzDecodeCodes: any bytes decode to codes of the index or an error,
// never a panic.
func FuzzDecodeCodes(f *testing.F) {
	data := indextest.Clustered(1, 50, 8, 3)
	idx, err := Build(context.Background(), data, 8, DefaultConfig(), 1)
	if err != nil {
		f.Fatal(err)
	}
	c, err := idx.BuildCodes(context.Background(), nil, 3, 1)
	if err != nil {
		f.Fatal(err)
	}
	enc := c.AppendEncoding(nil)
	f.Add(enc)
	f.Add(enc[:len(enc)-1])
	f.Add(enc[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeCodes(b, idx)
		if err != nil {
			return
		}
		got.Bytes()
		idx.SearchCodes(data[:8], 3, 8, 4, got, idx.Vector)
	})
}

// An index decoded from its links alone searches on codes exactly as the
// whole one does, and after AttachVectors searches at full precision as
// it does too.
func TestDecodeLinks(t *testing.T) {
	ctx := context.Background()
	base, qs, dim := indextest.FashionMNIST()
	base, qs = base[:2000*dim], qs[:20*dim]
	idx, err := Build(ctx, base, dim, DefaultConfig(), 2)
	if err != nil {
		t.Fatal(err)
	}
	enc := idx.AppendEncoding(nil)
	links, err := DecodeLinks(enc[:idx.EncodedVectorsOffset()])
	if err != nil {
		t.Fatal(err)
	}
	if links.HasVectors() || links.Len() != idx.Len() {
		t.Fatalf("links-only index: has vectors %v, %d nodes", links.HasVectors(), links.Len())
	}
	if _, err := DecodeLinks(enc); err == nil {
		t.Fatal("DecodeLinks took a whole encoding")
	}
	if _, err := Decode(enc[:idx.EncodedVectorsOffset()]); err == nil {
		t.Fatal("Decode took an encoding without vectors")
	}
	built, err := idx.BuildCodes(ctx, nil, 7, 2)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := DecodeCodes(built.AppendEncoding(nil), links)
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(qs) / dim {
		q := qs[i*dim : (i+1)*dim]
		want, _ := idx.SearchCodes(q, 10, 32, 32, codes, idx.Vector)
		got, _ := links.SearchCodes(q, 10, 32, 32, codes, idx.Vector)
		if !slices.Equal(got, want) {
			t.Fatalf("query %d on links: %v, want %v", i, got, want)
		}
	}
	if err := links.AttachVectors(base[:dim]); err == nil {
		t.Fatal("attached too few vectors")
	}
	if err := links.AttachVectors(idx.Vectors()); err != nil {
		t.Fatal(err)
	}
	for i := range len(qs) / dim {
		q := qs[i*dim : (i+1)*dim]
		if got, want := links.Search(q, 10, 40), idx.Search(q, 10, 40); !slices.Equal(got, want) {
			t.Fatalf("query %d after AttachVectors: %v, want %v", i, got, want)
		}
	}
}
