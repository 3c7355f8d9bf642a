#!/usr/bin/python3
"""Print the folder of benchmark dataset NAME, building it first if missing.

    scripts/dataset.py NAME     build the dataset unless cached; print its folder
    scripts/dataset.py --list   print the names

Only the folder goes to stdout (so scripts can write
`D=$(scripts/dataset.py NAME)`); progress goes to stderr. The script needs
nothing but Debian's /usr/bin/python3: it installs what it lacks with apt-get
(python3-numpy over OpenBLAS, and the package holding the source data), using
sudo when not run as root.

Datasets:

  fashion-mnist-784-euclidean
        Debian `dataset-fashion-mnist`: the 60,000 training images are the
        base, the 10,000 test images the queries; raw pixels 0..255 as
        float32, as in ann-benchmarks. l2.
  random-N-D-l2, random-N-D-cosine, random-N-D-ip
        N base vectors of dimension D, i.i.d. standard normal float32 from a
        fixed seed (the same bytes on every machine); 10,000 queries, or
        1,000 when N >= 1,000,000. Unstructured data, the hardest case for
        approximate search: meant for scale and throughput tests.
  fashion-sift-1000000-128-euclidean
        A million 128-dimensional SIFT-style descriptors (4 x 4 cells of 8
        gradient-orientation bins, normalised, clipped at 0.2, scaled to
        0..255 like SIFT's) of 16 x 16 patches on a grid over the
        Fashion-MNIST training images; 1,000 patches of the test images are
        the queries. Real image descriptors at the scale of SIFT1M, from a
        Debian package. l2.
  gcide-words-100-angular
        fastText skip-gram vectors, 100 dimensions, of the headwords of GCIDE
        (Debian `dict-gcide`, the Collaborative International Dictionary of
        English), trained on the dictionary's own text; 10,000 of them are
        the queries. Cosine, like ann-benchmarks' glove-100-angular: learned
        word embeddings rather than pixels.

Cache: $WEFT_CACHE (default ~/.cache/weft). Dataset NAME lives in
$WEFT_CACHE/datasets/NAME/; nothing is written in the repository. A folder is
built under a temporary name and renamed when complete, so it appears whole or
not at all; delete it to build it again. It holds:

  base.fvecs         the vectors to index; a vector's id is its row, from 0
  query.fvecs        the query vectors
  groundtruth.ivecs  per query, the ids of its exact k nearest base vectors,
                     nearest first (k = min(100, number of base vectors))
  distances.fvecs    per query, the distances of those k neighbours
  meta.json          {"name", "metric": "l2"|"cosine"|"ip", "dim", "n_base",
                      "n_query", "gt_k"}

Distances are "smaller is closer": the Euclidean distance (not squared) for
l2, 1 - cosine similarity for cosine, minus the inner product for ip. The
ground truth is exact: brute force in float64, ties broken by the smaller id.
Vectors are stored as given, not normalised.

.fvecs/.ivecs is the TEXMEX format of the SIFT/GIST benchmarks: each row is a
little-endian int32 d followed by d little-endian float32 (fvecs) or int32
(ivecs) values, so a file of n rows is n * (4 + 4d) bytes.
"""
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

CACHE = os.environ.get("WEFT_CACHE") or os.path.expanduser("~/.cache/weft")
SEED = 20240601   # every generated or shuffled dataset derives from it
MAX_K = 100       # neighbours kept per query in the ground truth
RANDOM_NAME = re.compile(r"random-(\d+)-(\d+)-(l2|cosine|ip)")


def say(message):
    print(f"dataset: {message}", file=sys.stderr, flush=True)


# ---- system packages -------------------------------------------------------

def is_installed(package):
    status = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Status}", package],
        capture_output=True, text=True).stdout
    return status == "installed"


def ensure_packages(*packages):
    """apt-get install whichever of packages is missing."""
    wanted = [p for p in packages if not is_installed(p)]
    if not wanted:
        return
    say("apt-get install " + " ".join(wanted))
    prefix = ["sudo"] if os.geteuid() != 0 else []
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt(*args, check=False):
        return subprocess.run(prefix + ["apt-get", *args], env=env,
                              stdout=sys.stderr, check=check).returncode

    if apt("install", "-y", "-qq", *wanted) != 0:
        # Probably a fresh machine without package lists: fetch them, retry.
        apt("update", "-qq", check=True)
        apt("install", "-y", "-qq", *wanted, check=True)


_numpy = None


def np_module():
    """numpy from Debian, on OpenBLAS.

    OpenBLAS goes in first; otherwise python3-numpy brings the reference
    BLAS, and the float64 ground truth runs several times slower.
    """
    global _numpy
    if _numpy is None:
        ensure_packages("libopenblas0-pthread")
        ensure_packages("python3-numpy")
        import numpy
        _numpy = numpy
    return _numpy


# ---- sources: each returns (base, queries, metric) as float32 arrays -------

def fashion_mnist():
    np = np_module()
    ensure_packages("dataset-fashion-mnist")
    folder = "/usr/share/datasets/fashion-mnist"

    def idx_images(filename):
        with gzip.open(os.path.join(folder, filename)) as f:
            data = f.read()
        magic, count, height, width = (int(v) for v in
                                       np.frombuffer(data, ">u4", count=4))
        if magic != 0x803:
            sys.exit(f"dataset: {filename}: not an IDX image file")
        pixels = np.frombuffer(data, np.uint8, offset=16)
        return pixels.reshape(count, height * width).astype(np.float32)

    return (idx_images("train-images-idx3-ubyte.gz"),
            idx_images("t10k-images-idx3-ubyte.gz"), "l2")


def sift_descriptors(np, images, stride=3, patch=16):
    """SIFT-style descriptors of patch x patch windows every stride pixels.

    Per pixel, the gradient's magnitude is shared between its two nearest
    of 8 orientation bins; a descriptor sums those over 4 x 4 cells, weighs
    each cell by a Gaussian of its distance from the patch centre, then
    normalises, clips at 0.2, normalises again and scales to 0..255 (SIFT's
    integer range). Returns (descriptors, gradient energy per patch).
    """
    imgs = images.reshape(len(images), 28, 28)
    gy, gx = np.gradient(imgs, axis=(1, 2))
    mag = np.hypot(gx, gy)
    pos = (np.arctan2(gy, gx) % (2 * np.pi)) * (8 / (2 * np.pi))
    lo = np.floor(pos).astype(np.int64) % 8
    frac = (pos - np.floor(pos)).astype(np.float32)
    cell = patch // 4
    starts = np.arange(0, 28 - patch + 1, stride)
    n, p = len(imgs), len(starts)
    centre = (np.arange(4) + 0.5) * cell - patch / 2
    weight = np.exp(-(centre[:, None] ** 2 + centre[None, :] ** 2)
                    / (2 * (patch / 2) ** 2)).astype(np.float32)
    out = np.zeros((n, p, p, 4, 4, 8), np.float32)
    for b in range(8):
        share = mag * ((lo == b) * (1 - frac) + (((lo + 1) % 8) == b) * frac)
        integral = np.zeros((n, 29, 29), np.float32)
        integral[:, 1:, 1:] = share.cumsum(1).cumsum(2)
        for cy in range(4):
            for cx in range(4):
                y0 = starts[:, None] + cy * cell
                x0 = starts[None, :] + cx * cell
                box = (integral[:, y0 + cell, x0 + cell]
                       - integral[:, y0, x0 + cell]
                       - integral[:, y0 + cell, x0]
                       + integral[:, y0, x0])
                out[:, :, :, cy, cx, b] = box * weight[cy, cx]
    d = out.reshape(n * p * p, 128)
    energy = np.linalg.norm(d, axis=1)
    d /= np.maximum(energy, 1e-12)[:, None]
    np.minimum(d, 0.2, out=d)
    d /= np.maximum(np.linalg.norm(d, axis=1), 1e-12)[:, None]
    return np.minimum(np.floor(d * 512), 255).astype(np.float32), energy


def fashion_sift():
    """SIFT-style descriptors of Fashion-MNIST patches: real, SIFT1M-sized."""
    np = np_module()
    train, test, _ = fashion_mnist()
    say("computing descriptors")
    base, energy = sift_descriptors(np, train)
    # Near-empty patches (background) have no gradients to describe.
    base = base[energy > np.quantile(energy, 0.15)]
    rng = np.random.default_rng([SEED, 3])
    if len(base) < 1_000_000:
        sys.exit(f"dataset: only {len(base)} descriptors, want 1,000,000")
    base = base[np.sort(rng.permutation(len(base))[:1_000_000])]
    queries, energy = sift_descriptors(np, test)
    queries = queries[energy > np.quantile(energy, 0.15)]
    queries = queries[rng.permutation(len(queries))[:1_000]]
    return base, queries, "l2"


def random_normal(n, dim, metric):
    np = np_module()
    queries = 1_000 if n >= 1_000_000 else 10_000
    base = np.random.default_rng([SEED, 0]).standard_normal(
        (n, dim), dtype=np.float32)
    query = np.random.default_rng([SEED, 1]).standard_normal(
        (queries, dim), dtype=np.float32)
    return base, query, metric


def gcide_words():
    """Word vectors learned from the GCIDE text, one per distinct headword.

    Training runs on one thread with a fixed seed, so a machine rebuilds the
    same vectors. Headwords missing from the training vocabulary still get a
    vector from their character n-grams, as fastText does for rare words.
    """
    np = np_module()
    ensure_packages("dict-gcide", "fasttext")
    with tempfile.TemporaryDirectory(prefix="gcide.") as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        say("reading GCIDE")
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
        say(f"training fastText on {len(text) >> 20} MiB, "
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
    order = np.random.default_rng([SEED, 2]).permutation(len(vectors))
    n_query = 10_000
    return vectors[order[n_query:]], vectors[order[:n_query]], "cosine"


FIXED = {
    "fashion-mnist-784-euclidean": fashion_mnist,
    "gcide-words-100-angular": gcide_words,
    "fashion-sift-1000000-128-euclidean": fashion_sift,
}


def source(name):
    """The function that makes dataset name, or None if there is none."""
    if name in FIXED:
        return FIXED[name]
    match = RANDOM_NAME.fullmatch(name)
    if match is None:
        return None
    n, dim, metric = int(match[1]), int(match[2]), match[3]
    if n < 1 or dim < 1:
        sys.exit("dataset: random-N-D-METRIC needs N and D of at least 1")
    return lambda: random_normal(n, dim, metric)


# ---- exact ground truth ------------------------------------------------------

def unit_rows(np, x):
    """x (float64) with each row scaled to length 1, in place; zero rows stay."""
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
    return x


def block_distances(np, q, b, b_norms2, metric):
    """Distances (float64) from the float64 queries q to every row of b."""
    if metric == "cosine":
        unit_rows(np, q)
    score = q @ b.T  # inner products, turned into distances in place
    if metric == "l2":
        # |q - b|^2 = -2 q.b + |b|^2 + |q|^2, clamped at 0 (squared here;
        # the square root is taken on the kept neighbours only)
        score *= -2
        score += b_norms2
        score += (q * q).sum(axis=1)[:, None]
        np.maximum(score, 0, out=score)
    elif metric == "cosine":
        np.subtract(1, score, out=score)
    else:
        np.negative(score, out=score)
    return score


def nearest_k(np, score, k, ids_out, dist_out):
    """Per row of score, the k smallest entries ordered by (value, column)."""
    # Everything up to the k-th smallest value, ties included, is a
    # candidate; the order on (value, id) then picks k of them.
    bounds = np.partition(score, k - 1, axis=1)[:, k - 1].copy()
    for row, bound in enumerate(bounds):
        values = score[row]
        candidates = np.flatnonzero(values <= bound)
        chosen = candidates[np.lexsort((candidates, values[candidates]))[:k]]
        ids_out[row] = chosen
        dist_out[row] = values[chosen]


def exact_neighbours(base, queries, metric, k):
    """The k nearest base ids of every query and their distances.

    All arithmetic in float64. Among base vectors at the same distance the
    smaller id comes first. Returns (int32 ids, float32 distances), the
    distances in the stored convention (smaller is closer).
    """
    np = np_module()
    b = base.astype(np.float64)
    if metric == "cosine":
        unit_rows(np, b)
    b_norms2 = (b * b).sum(axis=1)
    n_query = len(queries)
    ids = np.empty((n_query, k), np.int32)
    dist = np.empty((n_query, k), np.float64)
    # Queries per block: a block's distance matrix stays near 256 MiB.
    step = max(1, min(1024, (32 << 20) // len(base)))
    t0 = shown = time.time()
    for start in range(0, n_query, step):
        stop = min(start + step, n_query)
        score = block_distances(np, queries[start:stop].astype(np.float64),
                                b, b_norms2, metric)
        nearest_k(np, score, k, ids[start:stop], dist[start:stop])
        del score  # before the next block's matrix is allocated
        now = time.time()
        if now - shown > 10 or stop == n_query:
            shown = now
            say(f"ground truth {stop}/{n_query} queries, {now - t0:.0f}s")
    if metric == "l2":
        np.sqrt(dist, out=dist)
    return ids, dist.astype(np.float32)


# ---- files -------------------------------------------------------------------

def write_texmex(path, values):
    """Rows of 4-byte values (float32 or int32), each led by an int32 length."""
    np = np_module()
    n, dim = values.shape
    out = np.empty((n, 1 + dim), "<u4")
    out[:, 0] = dim
    out[:, 1:] = np.ascontiguousarray(values).view("<u4")
    with open(path, "wb") as f:
        f.write(out.data)  # the array's own buffer, no copy


def build(name, make, folder):
    """Make dataset name and move it into folder in one rename."""
    t0 = time.time()
    base, queries, metric = make()
    say(f"{name}: {len(base)} base, {len(queries)} queries, "
        f"dim {base.shape[1]}, {metric}")
    k = min(MAX_K, len(base))
    ids, dist = exact_neighbours(base, queries, metric, k)
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{name}.", dir=parent)
    try:
        os.chmod(staging, 0o755)
        for filename, values in (("base.fvecs", base),
                                 ("query.fvecs", queries),
                                 ("groundtruth.ivecs", ids),
                                 ("distances.fvecs", dist)):
            write_texmex(os.path.join(staging, filename), values)
        meta = {"name": name, "metric": metric, "dim": int(base.shape[1]),
                "n_base": len(base), "n_query": len(queries), "gt_k": k}
        with open(os.path.join(staging, "meta.json"), "w") as f:
            f.write(json.dumps(meta, indent=1) + "\n")
        try:
            os.rename(staging, folder)
        except OSError:
            # Another run may have finished the same dataset meanwhile.
            if not os.path.exists(os.path.join(folder, "meta.json")):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"{name} ready in {time.time() - t0:.0f}s")


def names():
    return list(FIXED) + ["random-<n>-<dim>-<l2|cosine|ip>"]


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        sys.exit(__doc__.strip())
    if argv[1] == "--list":
        print("\n".join(names()))
        return
    name = argv[1]
    make = source(name)
    if make is None:
        sys.exit(f"dataset: unknown dataset {name!r}; known names:\n  "
                 + "\n  ".join(names()))
    folder = os.path.join(CACHE, "datasets", name)
    if not os.path.exists(os.path.join(folder, "meta.json")):
        build(name, make, folder)
    print(folder)


if __name__ == "__main__":
    main(sys.argv)
