package hnsw

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"
	"unsafe"

	"github.com/weftdb/weft/index/distance"
	"github.com/weftdb/weft/index/indextest"
)

func buildSmall(t testing.TB, n, dim int, m distance.Metric, threads int) (*Index, []float32) {
	t.Helper()
	data := indextest.Clustered(11, n, dim, 8)
	cfg := DefaultConfig()
	cfg.M, cfg.EfConstruction, cfg.Metric = 6, 40, m
	idx, err := Build(context.Background(), data, dim, cfg, threads)
	if err != nil {
		t.Fatal(err)
	}
	return idx, data
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, m := range []distance.Metric{distance.L2, distance.Cosine} {
		idx, data := buildSmall(t, 700, 13, m, 2)
		for id := uint32(0); id < 700; id += 7 {
			if err := idx.Delete(id); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		n, err := idx.WriteTo(&buf)
		if err != nil || int(n) != idx.EncodedSize() || buf.Len() != idx.EncodedSize() {
			t.Fatalf("WriteTo = %d, %v; EncodedSize %d", n, err, idx.EncodedSize())
		}
		enc := buf.Bytes()
		got, err := Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.AppendEncoding(nil), enc) {
			t.Fatal("re-encoding a decoded index changed its bytes")
		}
		if got.Live() != idx.Live() || got.Len() != idx.Len() || got.Dim() != 13 || got.Metric() != m {
			t.Fatalf("decoded sizes: live %d/%d len %d dim %d", got.Live(), idx.Live(), got.Len(), got.Dim())
		}
		// Each row's vector is where EncodedVectorsOffset says.
		for _, row := range []uint32{0, 1, 350, 699} {
			at := idx.EncodedVectorsOffset() + 4*13*int(row)
			v := unsafe.Slice((*float32)(unsafe.Pointer(&enc[at])), 13)
			if !slices.Equal(v, idx.Vector(row)) {
				t.Fatalf("row %d at offset %d: %v, want %v", row, at, v, idx.Vector(row))
			}
		}
		for i := 0; i < 20; i++ {
			q := data[i*13 : (i+1)*13]
			a, b := idx.Search(q, 10, 50), got.Search(q, 10, 50)
			if !slices.Equal(a, b) {
				t.Fatalf("query %d: decoded index answers %v, original %v", i, b, a)
			}
		}
		// Delete on the decoded index must not write to the buffer.
		before := append([]byte(nil), enc...)
		if err := got.Delete(1); err != nil {
			t.Fatal(err)
		}
		got.Repair()
		if !bytes.Equal(before, enc) {
			t.Fatal("Delete or Repair wrote into the decoded buffer")
		}
	}
}

func TestDecodeRejectsCorruption(t *testing.T) {
	idx, _ := buildSmall(t, 200, 5, distance.L2, 1)
	enc := idx.AppendEncoding(nil)
	if _, err := Decode(enc[:len(enc)-1]); err == nil {
		t.Error("accepted a truncated buffer")
	}
	if _, err := Decode(append(enc, 0)); err == nil {
		t.Error("accepted trailing bytes")
	}
	l := makeLayout(idx.n, idx.dim, idx.m0, len(idx.upper))
	bad := append([]byte(nil), enc...)
	bad[l.links0+4] = 0xff // first neighbour of node 0 out of range
	bad[l.links0+5] = 0xff
	if _, err := Decode(bad); err == nil {
		t.Error("accepted an out-of-range neighbour id")
	}
	bad = append([]byte(nil), enc...)
	bad[l.links0] = 0xff // neighbour count above 2M
	if _, err := Decode(bad); err == nil {
		t.Error("accepted an oversized neighbour count")
	}
}

// TestEncodingPinned pins the bytes of a small single-threaded build (which
// is deterministic for a seed). If the format or the build algorithm changes
// on purpose, bump formatVersion when old encodings no longer decode, and
// replace the hash with the one this test reports.
func TestEncodingPinned(t *testing.T) {
	idx, _ := buildSmall(t, 64, 4, distance.L2, 1)
	if err := idx.Delete(3); err != nil {
		t.Fatal(err)
	}
	if idx.maxLevel == 0 || idx.deletedCount() != 1 {
		t.Fatal("case does not exercise upper layers and tombstones")
	}
	sum := sha256.Sum256(idx.AppendEncoding(nil))
	const want = "e1ff47e8a72886e719c1b6cb20ec7533f4b8869270f94e115da81e02b1eba86b"
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("encoding sha256 = %s, want %s", got, want)
	}
}

func FuzzDecode(f *testing.F) {
	idx, _ := buildSmall(f, 40, 3, distance.L2, 1)
	_ = idx.Delete(2)
	f.Add(idx.AppendEncoding(nil))
	empty, _ := Build(context.Background(), nil, 3, DefaultConfig(), 1)
	f.Add(empty.AppendEncoding(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes must be searchable without panicking.
		q := make([]float32, x.Dim())
		x.Search(q, 3, 8)
		x.SearchFiltered(q, 3, 8, allowFunc(func(id uint32) bool { return id%2 == 0 }))
		if x.Len() > 0 {
			_ = x.Delete(0)
			x.Repair()
			x.Search(q, 3, 8)
		}
	})
}
