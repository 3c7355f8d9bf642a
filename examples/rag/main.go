// Command rag answers questions from the GCIDE dictionary with passages
// stored in Weft: retrieval-augmented generation's retrieval half. It
// reads GCIDE (Debian's dict-gcide), cuts every entry into passages (one
// per sense or note), embeds them, stores them in a namespace with their
// headword and text, and answers a question with the passages nearest to
// it, reranked by the keywords Wasm plugin (examples/plugins/keywords),
// which promotes passages holding the question's rarer words.
//
//	go run ./examples/rag load  -vectors VEC              # store GCIDE (namespace gcide)
//	go run ./examples/rag ask   -vectors VEC "What do you call a young sheep?"
//	go run ./examples/rag eval  -vectors VEC              # questions.json: answer entry in the top 5?
//	go run ./examples/rag corpus > corpus.txt             # the passages' words, to train word vectors on
//
// The embedder is an interface (Embedder). Offline it averages word
// vectors trained on GCIDE itself (scripts/rag-model.sh prints their
// path): small and quick, weak against a real model. In production, point
// -openai-url (and -openai-model, -openai-dim, WEFT_RAG_OPENAI_KEY) at
// any OpenAI-compatible embeddings endpoint. python/rag.py is the same
// program in Python.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/weftdb/weft/sdk/weft"
)

// Settings both examples share.
const (
	keywordWeight = 0.5 // the keywords plugin's weight against cosine distance
	topK          = 5
	minCorrect    = 16 // eval fails below this many answers in the top 5
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rag:", err)
		os.Exit(1)
	}
}

type options struct {
	addr, namespace, vectors, plugin, questions string
	index, dict                                 string
	openAIURL, openAIModel                      string
	openAIDim                                   int
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: rag load|ask|eval|corpus [flags]")
	}
	cmd := args[0]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	var o options
	fs.StringVar(&o.addr, "addr", "http://127.0.0.1:7600", "Weft's address")
	fs.StringVar(&o.namespace, "namespace", "gcide", "the namespace holding the passages")
	fs.StringVar(&o.vectors, "vectors", "", "word vectors (.vec) for the offline embedder")
	fs.StringVar(&o.plugin, "plugin", "examples/plugins/keywords/go/keywords.wasm", "the keywords rerank plugin (load registers it)")
	fs.StringVar(&o.questions, "questions", "examples/rag/questions.json", "eval's questions and answer entries")
	fs.StringVar(&o.index, "gcide-index", gcideIndex, "GCIDE's dictd index")
	fs.StringVar(&o.dict, "gcide-dict", gcideDict, "GCIDE's dictd text")
	fs.StringVar(&o.openAIURL, "openai-url", "", "an OpenAI-compatible API (e.g. https://api.openai.com/v1) to embed with instead of word vectors; the key is WEFT_RAG_OPENAI_KEY")
	fs.StringVar(&o.openAIModel, "openai-model", "text-embedding-3-small", "the embedding model")
	fs.IntVar(&o.openAIDim, "openai-dim", 1536, "the embedding model's dimension")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ps, err := readPassages(o)
	if err != nil {
		return err
	}
	if cmd == "corpus" {
		return writeCorpus(out, ps)
	}
	stats := newCorpusStats(texts(ps))
	emb, err := newEmbedder(o, stats)
	if err != nil {
		return err
	}
	c, err := weft.New(o.addr, weft.WithTimeout(5*time.Minute))
	if err != nil {
		return err
	}
	defer c.Close()
	rag := &RAG{Client: c, Namespace: o.namespace, Embedder: emb, stats: stats}
	switch cmd {
	case "load":
		wasm, err := os.ReadFile(o.plugin)
		if err != nil {
			return fmt.Errorf("%w (build it with scripts/build-plugins.sh examples)", err)
		}
		start := time.Now()
		if err := rag.Load(ctx, ps, wasm); err != nil {
			return err
		}
		fmt.Fprintf(out, "stored %d passages of %d entries in %s in %.1fs\n", len(ps), countEntries(ps), o.namespace, time.Since(start).Seconds())
		start = time.Now()
		st, err := rag.WaitIndexed(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "indexed in %.1fs more: %d segments\n", time.Since(start).Seconds(), st.GetSegments())
		return nil
	case "ask":
		if fs.NArg() == 0 {
			return errors.New(`ask: give a question, e.g. rag ask "What do you call a young sheep?"`)
		}
		found, err := rag.Ask(ctx, strings.Join(fs.Args(), " "))
		if err != nil {
			return err
		}
		for i, p := range found {
			fmt.Fprintf(out, "%d. [%s] %s\n", i+1, p.Headword, p.Text)
		}
		return nil
	case "eval":
		qs, err := readQuestions(o.questions)
		if err != nil {
			return err
		}
		correct, err := rag.Eval(ctx, qs, out)
		if err != nil {
			return err
		}
		if correct < minCorrect {
			return fmt.Errorf("eval: %d of %d answers in the top %d, want at least %d", correct, len(qs), topK, minCorrect)
		}
		return nil
	}
	return fmt.Errorf("unknown command %q: want load, ask, eval or corpus", cmd)
}

func readPassages(o options) ([]Passage, error) {
	es, err := readEntries(o.index, o.dict)
	if err != nil {
		return nil, err
	}
	return passages(es, maxWords), nil
}

func newEmbedder(o options, stats corpusStats) (Embedder, error) {
	if o.openAIURL != "" {
		return &OpenAIEmbeddings{BaseURL: o.openAIURL, Model: o.openAIModel, APIKey: os.Getenv("WEFT_RAG_OPENAI_KEY"), Dim: o.openAIDim}, nil
	}
	if o.vectors == "" {
		return nil, errors.New("give -vectors (word vectors: scripts/rag-model.sh trains them) or -openai-url")
	}
	return LoadWordVectors(o.vectors, stats.count)
}

// writeCorpus writes the passages' words, a passage per line: what
// scripts/rag-model.sh trains word vectors on.
func writeCorpus(out io.Writer, ps []Passage) error {
	for _, p := range ps {
		if _, err := io.WriteString(out, strings.Join(words(p.Text), " ")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

func texts(ps []Passage) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Text
	}
	return out
}

func countEntries(ps []Passage) int {
	n := 0
	for _, p := range ps {
		if strings.HasSuffix(p.ID, "/0") {
			n++
		}
	}
	return n
}

// Question is one of eval's questions with the headwords that answer it.
type Question struct {
	Question string   `json:"question"`
	Answer   []string `json:"answer"`
}

func readQuestions(path string) ([]Question, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var qs []Question
	if err := json.Unmarshal(b, &qs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return qs, nil
}
