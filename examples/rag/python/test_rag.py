"""rag.py's parts without a server: GCIDE blocks into passages, the
stemmer and keyword weights, both embedders (the OpenAI one against a
local server)."""

import base64
import gzip
import http.server
import json
import math
import threading

import numpy as np
import pytest

import rag

LAMB = '''Lamb \\Lamb\\ (l[a^]m), n. [AS. lamb; akin to D. & Dan. lam.]
   1. (Zool.) The young of the sheep.
      [1913 Webster]

   2. Any person who is as innocent or gentle as a lamb.
      [1913 Webster]

            The twelve apostles of the Lamb.      --Rev. xxi.
                                                  14.

   {Lamb's lettuce} (Bot.), an annual plant. --Shak.
      [1913 Webster]
'''
IGLOO = 'Igloo \\Ig"loo\\, n.\n   An Eskimo snow house.\n   [1913 Webster]\n'


def b64(v):
    digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    s = ""
    while True:
        s = digits[v % 64] + s
        v //= 64
        if v == 0:
            return s


def test_passages_match_the_go_example(tmp_path):
    text, index, off = b"", ["00-database-info\tA\tB"], []
    for block in (LAMB, IGLOO):
        off.append(len(text))
        index.append(block.split("\\")[0].strip() + f"\t{b64(len(text))}\t{b64(len(block))}")
        text += block.encode()
    index.append(f"lambkin\t{b64(off[0])}\t{b64(len(LAMB))}")
    (tmp_path / "t.index").write_text("\n".join(index) + "\n")
    (tmp_path / "t.dict.dz").write_bytes(gzip.compress(text))
    got = rag.passages(str(tmp_path / "t.index"), str(tmp_path / "t.dict.dz"))
    # The same passages as rag_test.go's TestPassagesFromGCIDEBlocks.
    assert got == [
        ("0/0", "Lamb", "Lamb , n. 1. (Zool.) The young of the sheep."),
        ("0/1", "Lamb", "Lamb: 2. Any person who is as innocent or gentle as a lamb."),
        ("0/2", "Lamb", "Lamb: Lamb's lettuce (Bot.), an annual plant."),
        ("1/0", "Igloo", "Igloo , n. An Eskimo snow house."),
    ]


def test_stem_and_keyword_terms():
    for w, want in {"studies": "study", "boxes": "box", "churches": "church", "stars": "star", "glass": "glass",
                    "genus": "genus", "bus": "bus", "glasses": "glass", "buzzes": "buzz", "maps": "map",
                    "teeth": "teeth", "horses": "horse"}.items():
        assert rag.stem(w) == want, w
    texts = ["The young of the sheep.", "A sheep's wool.", "Stars in the sky."]
    count, df = rag.corpus_stats(texts)
    assert count["sheep"] == 2 and count["s"] == 1 and df["star"] == 1
    assert rag.keyword_terms("What do you call a young Sheep?", df, len(texts)) == \
        f"sheep:{math.log(3 / 3):.3f} young:{math.log(3 / 2):.3f}"


def test_word_vectors(tmp_path):
    p = tmp_path / "w.vec"
    p.write_text("3 2\nsheep 1 0\nyoung 0 2\nthe 5 5\n")
    wv = rag.WordVectors(str(p), {"sheep": 1, "young": 3})
    got = wv.embed(["The young of the SHEEP, and a goat.", "goat"])
    ws, wy = np.float32(1e-3 / (1e-3 + 0.25)), np.float32(1e-3 / (1e-3 + 0.75))
    assert np.array_equal(got, np.array([[ws, wy * 2], [0, 0]], dtype=np.float32))


def test_openai_embeddings():
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/v1/embeddings" or self.headers.get("Authorization") != "Bearer k":
                self.send_response(401)
                self.end_headers()
                self.wfile.write(b'{"error":{"message":"bad key"}}')
                return
            seen.append(body)
            data = [{"index": i, "embedding": [len(t), 1]} for i, t in enumerate(body["input"])][::-1]
            out = json.dumps({"data": data}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_port}/v1/"
        o = rag.OpenAIEmbeddings(url, "m", 2, api_key="k", batch=2)
        assert o.embed(["a", "bb", "ccc"])[:, 0].tolist() == [1, 2, 3]
        assert [b["model"] for b in seen] == ["m", "m"]
        with pytest.raises(Exception, match="401"):
            rag.OpenAIEmbeddings(url, "m", 2, api_key="wrong").embed(["a"])
        with pytest.raises(ValueError, match="want 1 × 3"):
            rag.OpenAIEmbeddings(url, "m", 3, api_key="k").embed(["a"])
    finally:
        srv.shutdown()
