"""Retrieval-augmented answers over the GCIDE dictionary, stored in Weft.

The same pipeline as the Go example (examples/rag): read GCIDE (Debian's
dict-gcide), cut each entry into passages, embed them, store them in a
Weft namespace, and answer a question with the passages nearest to it,
reranked by the keywords plugin (examples/plugins/keywords), which
promotes passages that contain the question's rarer words.

    python3 rag.py load --vectors VEC          # store GCIDE in namespace gcide
    python3 rag.py ask --vectors VEC "What do you call a young sheep?"
    python3 rag.py eval --vectors VEC          # questions.json: answer entry in the top 5?

VEC is a fastText .vec file (scripts/rag-model.sh trains one on GCIDE).
An OpenAI-compatible embeddings endpoint replaces it with --openai-url.
"""

import argparse
import base64
import collections
import gzip
import json
import math
import os
import re
import sys
import time
import urllib.request

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GCIDE_INDEX = "/usr/share/dictd/gcide.index"
GCIDE_DICT = "/usr/share/dictd/gcide.dict.dz"
MAX_WORDS = 1         # a passage's words before it takes no more paragraphs: one sense each
KEYWORD_WEIGHT = 0.5  # the keywords plugin's weight against cosine distance
TOP_K = 5
SEARCH_EF = 400       # the HNSW beam: the rerank's 100 candidates are the nearest almost always
MIN_CORRECT = 16      # eval fails below this many answers in the top 5
WORD = re.compile(r"[a-z]+")
with open(os.path.join(os.path.dirname(HERE), "stopwords.txt")) as _f:
    STOP = frozenset(w for line in _f if not line.startswith("#") for w in line.split())

_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def _b64(s):
    n = 0
    for c in s:
        n = n * 64 + _B64[c]
    return n


def words(text):
    """The lower-case words of text: what both embedders and the keyword
    weights see."""
    return WORD.findall(text.lower())


# ---- the corpus ----------------------------------------------------------

_PRON = re.compile(r"\\[^\\]*\\")            # \Lamb\ pronunciations
_SOURCE = re.compile(r"\[(?:1913 Webster|WordNet 1\.5|PJC|Century Dict\.|Webster 1828)[^\]]*\]")
_SOUND = re.compile(r'\([^()]*[\["][^()]*\)')  # (h[u^]n"[y^]) pronunciations
_ETYM = re.compile(r"\[[^\[\]]*\]")          # [AS. lamb; akin to ...]
_CITE = re.compile(r"--[A-Z][A-Za-z0-9_. ]*")  # --Shak.
_SPACE = re.compile(r"[ \t\n\r\f\v]+")


def clean(block):
    """A GCIDE block as plain text: no pronunciation, etymology, sources
    or citations; braces of cross references dropped."""
    t = _PRON.sub(" ", block)
    t = _SOUND.sub(" ", t)
    t = _SOURCE.sub(" ", t)
    for _ in range(2):  # etymologies nest once in a while
        t = _ETYM.sub(" ", t)
    t = _CITE.sub(" ", t)
    t = t.replace("{", "").replace("}", "")
    return _SPACE.sub(" ", t).strip()


def entries(index_path=GCIDE_INDEX, dict_path=GCIDE_DICT):
    """(headword, text) of every GCIDE block, in dictionary order. Several
    index lines point into one block (its variants); a block counts once,
    under the headword on its first line."""
    data = gzip.open(dict_path).read()
    seen = set()
    with open(index_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or parts[0].startswith("00-database"):
                continue
            off, n = _b64(parts[1]), _b64(parts[2])
            if off in seen:
                continue
            seen.add(off)
            block = data[off:off + n].decode("utf-8", "replace")
            head = block.split("\\", 1)[0].strip()
            if not head or "\n" in head:
                continue
            yield head, block


def passages(index_path=GCIDE_INDEX, dict_path=GCIDE_DICT, max_words=MAX_WORDS):
    """The passages to store: (id, headword, text). Each of an entry's
    senses and notes (its paragraphs, without the quotations that
    illustrate them) is a passage; one of fewer than max_words words takes
    the next along. A passage after an entry's first starts with
    "headword:" so that it carries its subject. Ids are block/part (the entry's number, the passage's in it)."""
    out = []
    for b, (head, block) in enumerate(entries(index_path, dict_path)):
        paras = []
        for p in re.split(r"\n[ \t\n\r\f\v]*\n", block):
            if len(p) - len(p.lstrip(" ")) >= 8:
                continue  # a quotation
            p = clean(p)
            if p:
                paras.append(p)
        cur, n, part = [], 0, 0
        for p in paras:
            w = len(p.split())
            if cur and n + w > max_words:
                out.append((f"{b}/{part}", head, " ".join(cur)))
                cur, n, part = [head + ":"], 0, part + 1
            cur.append(p)
            n += w
        if cur:
            out.append((f"{b}/{part}", head, " ".join(cur)))
    return out


# ---- embedders -----------------------------------------------------------

class WordVectors:
    """Averages fastText word vectors, each weighted by a / (a + p(word))
    (smooth inverse frequency: frequent words count less), over the words
    of a text. Offline and small; a stand-in for a real embedding model."""

    A = 1e-3

    def __init__(self, vec_path, frequency):
        with open(vec_path, encoding="utf-8", errors="replace") as f:
            n, dim = map(int, f.readline().split())
            self.index = {}
            rows = np.zeros((n, dim), dtype=np.float32)
            for i, line in enumerate(f):
                w, rest = line.rstrip().split(" ", 1)
                self.index[w] = i
                rows[i] = np.array(rest.split(" "), dtype=np.float32)
        self.vectors = rows
        self.dim = dim
        total = sum(frequency.values())
        self.weight = {w: self.A / (self.A + c / total) for w, c in frequency.items()}

    def embed(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in words(t):
                j = self.index.get(w)
                if j is not None and w not in STOP:
                    out[i] += self.weight.get(w, 1.0) * self.vectors[j]
        return out


class OpenAIEmbeddings:
    """Any OpenAI-compatible /embeddings endpoint (OpenAI, vLLM, Ollama,
    text-embeddings-inference, ...): the production choice."""

    def __init__(self, url, model, dim, api_key=None, batch=256):
        self.url, self.model, self.dim = url.rstrip("/") + "/embeddings", model, dim
        self.api_key, self.batch = api_key, batch

    def embed(self, texts):
        out = []
        for i in range(0, len(texts), self.batch):
            body = json.dumps({"model": self.model, "input": list(texts[i:i + self.batch])}).encode()
            req = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
            if self.api_key:
                req.add_header("Authorization", "Bearer " + self.api_key)
            with urllib.request.urlopen(req, timeout=60) as resp:
                data = json.load(resp)["data"]
            if sorted(d["index"] for d in data) != list(range(len(texts[i:i + self.batch]))):
                raise ValueError(f"embeddings endpoint: answer indexes do not match {len(texts[i:i + self.batch])} inputs")
            out.extend(d["embedding"] for d in sorted(data, key=lambda d: d["index"]))
        vecs = np.asarray(out, dtype=np.float32)
        if vecs.shape != (len(texts), self.dim):
            raise ValueError(f"embeddings endpoint: model {self.model} gave shape {vecs.shape}, want {len(texts)} × {self.dim}")
        return vecs


# ---- keyword weights for the rerank plugin -------------------------------

def stem(word):
    """word without a plural ending, as the keywords plugin reads the
    text's words: -ies → -y; -es after ss, x, zz, ch or sh; else -s, but
    not of -ss or -us; words of 3 letters or fewer as they are."""
    if len(word) <= 3:
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "zzes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us")):
        return word[:-1]
    return word


def corpus_stats(texts):
    """Counts over the stored passages, from one pass: how often each word
    occurs (the word vectors' weights) and how many texts hold each stemmed
    word (the keyword weights)."""
    count, df = collections.Counter(), collections.Counter()
    for t in texts:
        ws = words(t)
        count.update(ws)
        df.update({stem(w) for w in ws})
    return count, df


def keyword_terms(question, df, n_docs):
    """The keywords plugin's terms param: the question's content words
    with their inverse document frequency, "word:idf ..."."""
    terms = {}
    for w in words(question):
        if w in STOP or len(w) < 3:
            continue
        w = stem(w)
        terms[w] = math.log(n_docs / (1 + df.get(w, 0)))
    return " ".join(f"{w}:{idf:.3f}" for w, idf in sorted(terms.items()))


# ---- Weft ------------------------------------------------------------------

class RAG:
    """Passages in a Weft namespace, and the questions they answer."""

    def __init__(self, client, namespace, embedder, df, n_docs):
        self.client, self.namespace, self.embedder = client, namespace, embedder
        self.df, self.n_docs = df, n_docs

    def load(self, passages, keywords_wasm, batch=5000):
        """Registers the keywords plugin, creates the namespace (cosine,
        with the headword and text attributes) and stores the passages."""
        self.client.register_plugin("keywords", keywords_wasm, failure_policy="fail_open",
                                    description="promotes passages holding the question's keywords")
        self.client.create_namespace(self.namespace, dimension=self.embedder.dim, metric="cosine",
                                     schema={"headword": "string", "text": "string"})
        ns = self.client.namespace(self.namespace)
        for start in range(0, len(passages), batch):
            part = passages[start:start + batch]
            vecs = self.embedder.embed([t for _, _, t in part])
            keep = np.flatnonzero(np.any(vecs != 0, axis=1))  # no known word: nothing to find it by
            ns.upsert(ids=[part[i][0] for i in keep], vectors=vecs[keep],
                      attributes=[{"headword": part[i][1], "text": part[i][2]} for i in keep])

    def wait_indexed(self, timeout=600):
        """Waits until the indexer has folded every passage into indexed
        segments, so that questions are answered by the ANN index rather
        than by an exact scan of the unindexed WAL tail."""
        deadline = time.time() + timeout
        while True:
            st = self.client.get_namespace(self.namespace).stats
            if st.unindexed_documents == 0 and not st.indexing:
                return st
            if time.time() > deadline:
                raise TimeoutError(f"{self.namespace}: {st.unindexed_documents} passages still unindexed after {timeout}s")
            time.sleep(0.5)

    def ask(self, question):
        """The passages that best answer question, (id, headword, text):
        the nearest, reranked by the keywords plugin, one per entry (an
        entry's senses often crowd each other out), TOP_K of them."""
        v = self.embedder.embed([question])[0]
        if not v.any():
            raise ValueError(f"{question!r} has no word the embedder knows")
        terms = keyword_terms(question, self.df, self.n_docs)
        answer = self.client.namespace(self.namespace).query(
            v, top_k=4 * TOP_K, include_attributes=True, ef=SEARCH_EF,
            plugins=[("keywords", {"terms": terms, "attr": "text", "weight": KEYWORD_WEIGHT})])
        out, seen = [], set()
        for r in answer:
            head = r.attributes["headword"]
            if head not in seen and len(out) < TOP_K:
                seen.add(head)
                out.append((r.id, head, r.attributes["text"]))
        return out

    def eval(self, questions, out=sys.stdout):
        """Asks every question; counts those whose answer entry is found."""
        correct = 0
        for q in questions:
            heads = [h for _, h, _ in self.ask(q["question"])]
            answers = {a.lower() for a in q["answer"]}
            rank = next((i + 1 for i, h in enumerate(heads) if h.lower() in answers), 0)
            correct += rank > 0
            print(json.dumps({"question": q["question"], "answer": q["answer"], "rank": rank, "found": heads}), file=out)
        print(json.dumps({"correct": correct, "questions": len(questions), "top_k": TOP_K}), file=out)
        return correct


def main(argv=None):
    root = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["load", "ask", "eval"])
    ap.add_argument("question", nargs="*")
    ap.add_argument("--addr", default="http://127.0.0.1:7600")
    ap.add_argument("--namespace", default="gcide")
    ap.add_argument("--vectors", help="word vectors (.vec) for the offline embedder")
    ap.add_argument("--plugin", default=os.path.join(root, "examples/plugins/keywords/go/keywords.wasm"))
    ap.add_argument("--questions", default=os.path.join(os.path.dirname(HERE), "questions.json"))
    ap.add_argument("--openai-url", help="an OpenAI-compatible API to embed with; the key is WEFT_RAG_OPENAI_KEY")
    ap.add_argument("--openai-model", default="text-embedding-3-small")
    ap.add_argument("--openai-dim", type=int, default=1536, help="the embedding model's dimension")
    args = ap.parse_args(argv)
    try:
        import weft
    except ImportError:
        sys.path.insert(0, os.path.join(root, "sdk", "python"))
        import weft

    ps = passages()
    count, df = corpus_stats(t for _, _, t in ps)
    if args.openai_url:
        emb = OpenAIEmbeddings(args.openai_url, args.openai_model, args.openai_dim, os.environ.get("WEFT_RAG_OPENAI_KEY"))
    elif args.vectors:
        emb = WordVectors(args.vectors, count)
    else:
        sys.exit("rag: give --vectors (scripts/rag-model.sh trains word vectors) or --openai-url")
    rag = RAG(weft.Client(args.addr, timeout=300), args.namespace, emb, df, len(ps))
    if args.command == "load":
        start = time.time()
        with open(args.plugin, "rb") as f:
            rag.load(ps, f.read())
        print(f"stored {len(ps)} passages in {args.namespace} in {time.time() - start:.1f}s")
        start = time.time()
        st = rag.wait_indexed()
        print(f"indexed in {time.time() - start:.1f}s more: {st.segments} segments")
    elif args.command == "ask":
        if not args.question:
            sys.exit('rag: ask: give a question, e.g. rag.py ask "What do you call a young sheep?"')
        for i, (_, head, text) in enumerate(rag.ask(" ".join(args.question))):
            print(f"{i + 1}. [{head}] {text}")
    else:
        with open(args.questions) as f:
            questions = json.load(f)
        correct = rag.eval(questions)
        if correct < MIN_CORRECT:
            sys.exit(f"rag: eval: {correct} of {len(questions)} answers in the top {TOP_K}, want at least {MIN_CORRECT}")


if __name__ == "__main__":
    main()
