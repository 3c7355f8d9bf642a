package plugins

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// echoHash is what the echo modules (testdata/go/echo, CASE_ECHO in
// testdata/hostile/hostile.c) compute for candidate i: an FNV-1a hash of
// everything the input says about it.
func echoHash(b *Batch, params map[string]string, i int) float32 {
	h := uint32(2166136261)
	bytes := func(p []byte) {
		for _, c := range p {
			h ^= uint32(c)
			h *= 16777619
		}
	}
	u32 := func(v uint32) { bytes(binary.LittleEndian.AppendUint32(nil, v)) }
	u64 := func(v uint64) { bytes(binary.LittleEndian.AppendUint64(nil, v)) }
	str := func(s string) { u32(uint32(len(s))); bytes([]byte(s)) }
	str(b.IDs[i])
	if b.Distances != nil {
		u32(math.Float32bits(b.Distances[i]))
	}
	for _, name := range []string{"b", "f", "i", "l", "s", "missing"} {
		var c *Column
		for k := range b.Attributes {
			if b.Attributes[k].Name == name {
				c = &b.Attributes[k]
			}
		}
		if c == nil {
			u32(0)
			continue
		}
		u32(uint32(c.Type))
		if c.Valid != nil && !c.Valid[i] {
			u32(0)
			continue
		}
		u32(1)
		switch c.Type {
		case TypeString:
			str(c.Strings[i])
		case TypeInt64:
			u64(uint64(c.Ints[i]))
		case TypeFloat64:
			u64(math.Float64bits(c.Floats[i]))
		case TypeBool:
			u32(uint32(b2u8(c.Bools[i])))
		case TypeStringList:
			u32(uint32(len(c.Lists[i])))
			for _, s := range c.Lists[i] {
				str(s)
			}
		}
	}
	if b.Vectors != nil {
		for _, x := range b.Vectors[i*b.Dim : (i+1)*b.Dim] {
			u32(math.Float32bits(x))
		}
	}
	for _, x := range b.Query {
		u32(math.Float32bits(x))
	}
	for _, k := range []string{"k1", "k2", "absent"} {
		if v, ok := params[k]; ok {
			str(v)
		} else {
			u32(0xFFFFFFFF)
		}
	}
	u32(uint32(b.TopK))
	u32(uint32(b.Metric))
	return float32(h & 0xFFFFFF)
}

func randomBatch(r *rand.Rand, n int) *Batch {
	words := []string{"", "a", "gold", "naïve", "日本語", "with space", "abcdefghijklmnop", "x/y:z@w"}
	word := func() string { return words[r.IntN(len(words))] }
	b := &Batch{IDs: make([]string, n), TopK: r.IntN(100), Metric: Metric(r.IntN(4))}
	rows := make([]map[string]any, n)
	for i := range n {
		b.IDs[i] = fmt.Sprintf("id-%d-%s", i, word())
		row := map[string]any{}
		if r.IntN(4) > 0 {
			row["s"] = word()
		}
		if r.IntN(4) > 0 {
			row["i"] = r.Int64() - math.MaxInt64/2
		}
		if r.IntN(4) > 0 {
			row["f"] = r.NormFloat64() * 1e6
		}
		if r.IntN(4) > 0 {
			row["b"] = r.IntN(2) == 1
		}
		if r.IntN(4) > 0 {
			l := make([]string, r.IntN(4))
			for j := range l {
				l[j] = word()
			}
			row["l"] = l
		}
		rows[i] = row
	}
	cols, err := ColumnsFromRows(rows)
	if err != nil {
		panic(err)
	}
	b.Attributes = cols
	if r.IntN(4) > 0 {
		b.Distances = make([]float32, n)
		for i := range b.Distances {
			b.Distances[i] = r.Float32()
		}
	}
	if r.IntN(2) == 0 {
		b.Dim = 1 + r.IntN(5)
		b.Vectors = make([]float32, n*b.Dim)
		for i := range b.Vectors {
			b.Vectors[i] = float32(r.NormFloat64())
		}
		b.Query = b.Vectors[:0:0]
		if r.IntN(2) == 0 {
			b.Query = make([]float32, b.Dim)
			for i := range b.Query {
				b.Query[i] = float32(r.NormFloat64())
			}
		}
	}
	return b
}

// TestABIConformance sends random batches (every attribute type, missing
// values, lists, unicode, vectors, query, params) to the echo modules of
// both SDKs and checks that each candidate's hash, computed by the guest
// from what it decoded, is the host's: the encoder and both SDKs' decoders
// agree on every field.
func TestABIConformance(t *testing.T) {
	cfg := testConfig()
	cfg.CallDeadline = 2 * time.Second
	cfg.InitDeadline = 30 * time.Second
	h := newTestHost(t, cfg)
	for _, path := range []string{"testdata/go/echo.wasm", "testdata/hostile/echo.wasm"} {
		t.Run(filepath.Dir(path), func(t *testing.T) {
			wasm, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			p := mustLoad(t, h, path, wasm, Options{})
			r := rand.New(rand.NewPCG(1, 2))
			for round := range 60 {
				n := r.IntN(40)
				if round%20 == 0 {
					n = 3000
				}
				b := randomBatch(r, n)
				params := map[string]string{"k1": "v1", "k2": "", "other": "x"}
				if round%3 == 0 {
					params = nil
				}
				res, err := p.Rerank(context.Background(), params, b)
				if err != nil {
					t.Fatal(err)
				}
				if n > 1 && res.Scores[0] == res.Scores[1] {
					t.Fatalf("round %d: two candidates hash alike: %v", round, res.Scores[:2])
				}
				for i := range n {
					if want := echoHash(b, params, i); res.Scores[i] != want {
						t.Fatalf("round %d, candidate %d of %d: guest hash %v, host %v", round, i, n, res.Scores[i], want)
					}
				}
			}
		})
	}
}
