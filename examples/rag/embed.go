package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// An Embedder turns texts into vectors of one dimension, similar texts
// into near vectors (cosine). It is the seam where a real model plugs in:
// OpenAIEmbeddings is the production choice, WordVectors the offline one.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Dimension() int
}

// WordVectors averages word vectors (fastText's .vec text format), each
// weighted by a/(a + p(word)), p the word's share of the corpus (smooth
// inverse frequency: frequent words count less; Arora et al., 2017), over
// a text's words that are neither stop words nor unknown. It runs offline
// in microseconds, and is far weaker than a trained sentence model.
type WordVectors struct {
	dim     int
	vectors map[string][]float32
	weight  map[string]float32
}

// sifA is the smooth inverse frequency's a.
const sifA = 1e-3

// LoadWordVectors reads a .vec file; frequency counts the corpus's words.
func LoadWordVectors(path string, frequency map[string]int) (*WordVectors, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w (scripts/rag-model.sh trains word vectors on GCIDE)", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	header, err := r.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var n, dim int
	if _, err := fmt.Sscan(header, &n, &dim); err != nil || n <= 0 || dim <= 0 {
		return nil, fmt.Errorf("%s: first line %q: want the word count and the dimension", path, strings.TrimSpace(header))
	}
	wv := &WordVectors{dim: dim, vectors: make(map[string][]float32, n), weight: map[string]float32{}}
	backing := make([]float32, n*dim)
	for i := range n {
		line, err := r.ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			return nil, fmt.Errorf("%s: %d of %d words: %w", path, i, n, err)
		}
		fields := strings.Fields(line)
		if len(fields) != dim+1 {
			return nil, fmt.Errorf("%s: line %d has %d values, want %d", path, i+2, len(fields)-1, dim)
		}
		v := backing[i*dim : (i+1)*dim : (i+1)*dim]
		for j, s := range fields[1:] {
			x, err := strconv.ParseFloat(s, 32)
			if err != nil {
				return nil, fmt.Errorf("%s: line %d: %w", path, i+2, err)
			}
			v[j] = float32(x)
		}
		wv.vectors[fields[0]] = v
	}
	total := 0
	for _, c := range frequency {
		total += c
	}
	for w, c := range frequency {
		wv.weight[w] = float32(sifA / (sifA + float64(c)/float64(total)))
	}
	return wv, nil
}

func (wv *WordVectors) Dimension() int { return wv.dim }

func (wv *WordVectors) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		sum := make([]float32, wv.dim)
		for _, w := range words(t) {
			v, ok := wv.vectors[w]
			if !ok || stopWords[w] {
				continue
			}
			weight, ok := wv.weight[w]
			if !ok {
				weight = 1
			}
			for j, x := range v {
				sum[j] += weight * x
			}
		}
		out[i] = sum
	}
	return out, nil
}

// OpenAIEmbeddings calls an OpenAI-compatible embeddings endpoint
// (POST {BaseURL}/embeddings): OpenAI's, or a model served by vLLM,
// Ollama, text-embeddings-inference, LiteLLM and the like.
type OpenAIEmbeddings struct {
	BaseURL string // e.g. https://api.openai.com/v1
	Model   string // e.g. text-embedding-3-small
	APIKey  string // sent as a bearer token when set
	Dim     int    // the model's dimension
	Batch   int    // texts per request; 0 means 256
	Client  *http.Client
}

func (o *OpenAIEmbeddings) Dimension() int { return o.Dim }

func (o *OpenAIEmbeddings) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	batch := o.Batch
	if batch <= 0 {
		batch = 256
	}
	client := o.Client
	if client == nil {
		client = http.DefaultClient
	}
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += batch {
		part := texts[start:min(start+batch, len(texts))]
		body, _ := json.Marshal(map[string]any{"model": o.Model, "input": part})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(o.BaseURL, "/")+"/embeddings", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		if o.APIKey != "" {
			req.Header.Set("Authorization", "Bearer "+o.APIKey)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("embeddings endpoint: %s: %.300s", resp.Status, b)
		}
		var answer struct {
			Data []struct {
				Index     int       `json:"index"`
				Embedding []float32 `json:"embedding"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &answer); err != nil {
			return nil, fmt.Errorf("embeddings endpoint: %w", err)
		}
		got := make([][]float32, len(part))
		for _, d := range answer.Data {
			if d.Index < 0 || d.Index >= len(part) || got[d.Index] != nil {
				return nil, fmt.Errorf("embeddings endpoint: answer has index %d for %d inputs", d.Index, len(part))
			}
			if o.Dim != 0 && len(d.Embedding) != o.Dim {
				return nil, fmt.Errorf("embeddings endpoint: model %s gave %d dimensions, want %d", o.Model, len(d.Embedding), o.Dim)
			}
			got[d.Index] = d.Embedding
		}
		for i, v := range got {
			if v == nil {
				return nil, fmt.Errorf("embeddings endpoint: no embedding for input %d", start+i)
			}
		}
		out = append(out, got...)
	}
	return out, nil
}
