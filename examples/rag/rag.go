package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/sdk/weft"
)

// RAG stores passages in a Weft namespace and finds those that answer a
// question.
type RAG struct {
	Client    *weft.Client
	Namespace string
	Embedder  Embedder
	stats     corpusStats // for the keyword weights of questions
}

// upsertBatch is how many passages one Upsert carries.
const upsertBatch = 5000

// Load creates the namespace (cosine, with the headword and text
// attributes), registers the keywords plugin and stores the passages.
func (r *RAG) Load(ctx context.Context, ps []Passage, keywordsWasm []byte) error {
	if _, err := r.Client.RegisterPlugin(ctx, "keywords", keywordsWasm, weft.FailOpen(),
		weft.PluginDescription("promotes passages holding the question's keywords (examples/plugins/keywords)")); err != nil {
		return fmt.Errorf("register the keywords plugin: %w", err)
	}
	if _, err := r.Client.CreateNamespace(ctx, r.Namespace, r.Embedder.Dimension(), weft.Cosine,
		weft.WithAttribute("headword", weft.TypeString), weft.WithAttribute("text", weft.TypeString)); err != nil {
		return fmt.Errorf("create namespace %s: %w", r.Namespace, err)
	}
	ns := r.Client.Namespace(r.Namespace)
	for start := 0; start < len(ps); start += upsertBatch {
		part := ps[start:min(start+upsertBatch, len(ps))]
		vecs, err := r.Embedder.Embed(ctx, texts(part))
		if err != nil {
			return err
		}
		docs := make([]*weft.Document, 0, len(part))
		for i, p := range part {
			if allZero(vecs[i]) {
				continue // no known word: nothing to find it by (cosine needs a direction)
			}
			docs = append(docs, weft.Doc(p.ID, vecs[i], weft.Attributes{"headword": weft.String(p.Headword), "text": weft.String(p.Text)}))
		}
		if _, err := ns.Upsert(ctx, docs...); err != nil {
			return fmt.Errorf("upsert passages %d–%d: %w", start, start+len(part), err)
		}
	}
	return nil
}

// WaitIndexed waits until the indexer has folded every passage into
// indexed segments, so that questions are answered by the ANN index
// rather than by an exact scan of the unindexed WAL tail.
func (r *RAG) WaitIndexed(ctx context.Context) (*weftv1.NamespaceStats, error) {
	for {
		ns, err := r.Client.GetNamespace(ctx, r.Namespace)
		if err != nil {
			return nil, err
		}
		if st := ns.GetStats(); st.GetUnindexedDocuments() == 0 && !st.GetIndexing() {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// searchEf is the HNSW beam: wide enough that the 100 candidates the
// rerank sees are the nearest 100 almost always, so the answers do not
// depend on how the index happened to be built.
const searchEf = 400

// Ask returns the passages that best answer question: the nearest ones,
// reranked by the keywords plugin with the question's keywords, one per
// entry (an entry's senses often crowd each other out), topK of them.
func (r *RAG) Ask(ctx context.Context, question string) ([]Passage, error) {
	vecs, err := r.Embedder.Embed(ctx, []string{question})
	if err != nil {
		return nil, err
	}
	if allZero(vecs[0]) {
		return nil, fmt.Errorf("%q has no word the embedder knows", question)
	}
	resp, err := r.Client.Namespace(r.Namespace).Query(ctx, vecs[0], 4*topK, weft.IncludeAttributes(), weft.Search(0, searchEf),
		weft.UsePlugin("keywords", map[string]string{
			"terms":  r.stats.keywordTerms(question),
			"attr":   "text",
			"weight": fmt.Sprint(keywordWeight),
		}))
	if err != nil {
		return nil, err
	}
	out := make([]Passage, 0, topK)
	for _, res := range resp.GetResults() {
		p := Passage{ID: res.GetId(), Headword: stringAttr(res, "headword"), Text: stringAttr(res, "text")}
		if !slices.ContainsFunc(out, func(q Passage) bool { return q.Headword == p.Headword }) {
			out = append(out, p)
		}
		if len(out) == topK {
			break
		}
	}
	return out, nil
}

// Eval asks every question and counts those whose answer entry is among
// the passages found; it writes one JSON line per question.
func (r *RAG) Eval(ctx context.Context, qs []Question, out io.Writer) (int, error) {
	correct := 0
	enc := json.NewEncoder(out)
	for _, q := range qs {
		found, err := r.Ask(ctx, q.Question)
		if err != nil {
			return 0, err
		}
		rank := slices.IndexFunc(found, func(p Passage) bool {
			return slices.ContainsFunc(q.Answer, func(a string) bool { return strings.EqualFold(a, p.Headword) })
		})
		if rank >= 0 {
			correct++
		}
		heads := make([]string, len(found))
		for i, p := range found {
			heads[i] = p.Headword
		}
		line := struct {
			Question string   `json:"question"`
			Answer   []string `json:"answer"`
			Rank     int      `json:"rank"` // 1..topK; 0 when not found
			Found    []string `json:"found"`
		}{q.Question, q.Answer, rank + 1, heads}
		if err := enc.Encode(line); err != nil {
			return 0, err
		}
	}
	return correct, enc.Encode(map[string]int{"correct": correct, "questions": len(qs), "top_k": topK})
}

func stringAttr(res *weftv1.QueryResult, name string) string {
	return res.GetAttributes()[name].GetStringValue()
}

func allZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
