#!/usr/bin/python3
"""Print the folder of benchmark dataset NAME, building it first if missing.

    scripts/dataset.py NAME

Names that ../shared/datasets/get knows pass through to it. This script adds
real datasets that `get` lacks, written by `get`'s own code (same cache, same
files, same exact ground truth), so benchmarks read them the same way:

  gcide-words-100-angular   fastText skip-gram vectors, 100 dimensions, of
                            the headwords of GCIDE (Debian `dict-gcide`, the
                            Collaborative International Dictionary of
                            English), trained on the dictionary's own text.
                            Cosine, like ann-benchmarks' glove-100-angular:
                            learned word embeddings rather than pixels.

Only the folder goes to stdout; progress goes to stderr.
"""
import importlib.machinery
import importlib.util
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
GET = os.path.join(HERE, "..", "..", "shared", "datasets", "get")


def load_get():
    loader = importlib.machinery.SourceFileLoader("weft_get", GET)
    spec = importlib.util.spec_from_loader("weft_get", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def gcide_words(get):
    """Word vectors learned from the GCIDE text, one per distinct headword.

    Training runs on one thread with a fixed seed, so a machine rebuilds the
    same vectors. Headwords missing from the training vocabulary still get a
    vector from their character n-grams, as fastText does for rare words.
    """
    np = get.numpy()
    get.apt_install("dict-gcide", "fasttext")
    with tempfile.TemporaryDirectory(prefix="gcide.") as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        get.log("dataset: reading GCIDE")
        text = subprocess.run(["zcat", "/usr/share/dictd/gcide.dict.dz"],
                              capture_output=True, check=True).stdout
        text = text.decode("utf-8", "replace").lower()
        with open(corpus, "w") as f:
            for line in text.splitlines():
                words = re.findall(r"[a-z]+", line)
                if words:
                    f.write(" ".join(words) + "\n")
        words = set()
        with open("/usr/share/dictd/gcide.index", encoding="utf-8",
                  errors="replace") as f:
            for line in f:
                head = line.split("\t", 1)[0].lower()
                if re.fullmatch(r"[a-z]{2,}", head):
                    words.add(head)
        words = sorted(words)
        get.log(f"dataset: training fastText on {len(text) >> 20} MiB, "
                f"{len(words)} headwords")
        model = os.path.join(tmp, "model")
        subprocess.run(["fasttext", "skipgram", "-input", corpus,
                        "-output", model, "-dim", "100", "-minCount", "5",
                        "-epoch", "5", "-thread", "1", "-seed", "1",
                        "-verbose", "1"], check=True, stdout=sys.stderr)
        out = subprocess.run(["fasttext", "print-word-vectors", model + ".bin"],
                             input="\n".join(words) + "\n", text=True,
                             capture_output=True, check=True).stdout
    vectors = np.array([row.split()[1:] for row in out.splitlines()],
                       dtype=np.float32)
    assert vectors.shape == (len(words), 100), vectors.shape
    vectors = vectors[np.linalg.norm(vectors, axis=1) > 0]
    order = np.random.default_rng([get.SEED, 2]).permutation(len(vectors))
    n_query = 10_000
    return vectors[order[n_query:]], vectors[order[:n_query]], "cosine"


OURS = {"gcide-words-100-angular": gcide_words}


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        sys.exit(__doc__.strip())
    name = argv[1]
    if name not in OURS:
        os.execv(GET, [GET, name])
    get = load_get()
    folder = os.path.join(get.CACHE, "datasets", name)
    if not os.path.exists(f"{folder}/meta.json"):
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        get.materialise(name, lambda: OURS[name](get), folder)
    print(folder)


if __name__ == "__main__":
    main(sys.argv)
