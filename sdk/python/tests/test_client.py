"""The Python client against a real weft serve."""

import os

import numpy as np
import pytest

import weft
from conftest import BOOTSTRAP_KEY, ROOT


def brute_force(vectors, q, k, keep=None):
    d = np.sqrt(((vectors.astype(np.float64) - q.astype(np.float64)) ** 2).sum(axis=1))
    order = [i for i in np.argsort(d, kind="stable") if keep is None or keep(i)]
    return order[:k], d


def test_upsert_query_filter_get_delete(server):
    c = weft.Client(server.addr)
    c.create_namespace("py", dimension=16, metric="l2", schema={"lang": "string"})
    assert [n.name for n in c.list_namespaces()] == ["py"]
    ns = c.namespace("py")
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((10_000, 16)).astype(np.float32)
    ids = [f"d{i}" for i in range(len(vectors))]
    langs = ["en", "de", "fr", "es"]
    attrs = [{"lang": langs[i % 4], "n": i, "tags": ["t", str(i % 3)], "even": i % 2 == 0, "w": i / 10} for i in range(len(vectors))]
    assert ns.upsert(ids=ids, vectors=vectors, attributes=attrs) == ids  # one request of 10,000
    assert c.get_namespace("py").stats.document_count == 10_000

    q = rng.standard_normal(16).astype(np.float32)
    want, dist = brute_force(vectors, q, 10, keep=lambda i: i % 4 == 1)
    answer = ns.query(q, top_k=10, recall_target=1, include_attributes=True,
                      filter={"eq": {"attribute": "lang", "value": {"stringValue": "de"}}})
    assert [r.id for r in answer] == [ids[i] for i in want]
    for r, i in zip(answer, want):
        assert abs(r.distance - dist[i]) < 1e-4
        assert r.attributes == attrs[i]
    assert answer.stats.documents_scanned > 0

    got = ns.get(["d3", "missing", "d5"], include_vectors=True)
    assert [d["id"] for d in got] == ["d3", "d5"]
    assert np.array_equal(np.array(got[0]["vector"], dtype=np.float32), vectors[3])
    assert ns.delete(filter={"eq": {"attribute": "lang", "value": {"stringValue": "fr"}}}) == 2_500
    assert ns.delete(ids=["d0", "d1"]) == 2
    assert c.get_namespace("py").stats.document_count == 10_000 - 2_502

    # Documents as dicts; the server names those without an id.
    made = ns.upsert([{"vector": [0.5] * 16, "attributes": {"lang": "en"}}, {"id": "x", "vector": np.ones(16)}])
    assert made[1] == "x" and len(made[0]) == 36


def test_errors_carry_the_connect_code(server):
    c = weft.Client(server.addr)
    with pytest.raises(weft.WeftError) as e:
        c.namespace("nope").query([1.0, 2.0], top_k=3)
    assert e.value.code == "not_found"
    c.create_namespace("e", dimension=4, metric="cosine")
    with pytest.raises(weft.WeftError) as e:
        c.namespace("e").upsert(ids=["a"], vectors=[[1.0, 2.0]])
    assert e.value.code == "invalid_argument" and "dimension" in e.value.message
    with pytest.raises(weft.WeftError) as e:
        c.create_namespace("e", dimension=4)
    assert e.value.code == "already_exists"
    with pytest.raises(ValueError):
        c.namespace("e").upsert(ids=["a", "b"], vectors=[[1.0, 0, 0, 0]])
    with pytest.raises(ValueError):
        c.namespace("e").upsert(ids=["a"], vectors=[[1.0, 0, 0, 0]], attributes=[{"bad": {"nested": 1}}])
    down = weft.Client("http://127.0.0.1:9", timeout=2, retries=1)
    with pytest.raises(weft.WeftError) as e:
        down.list_namespaces()
    assert e.value.code == "unavailable"


def test_api_keys(server_with_key):
    with pytest.raises(weft.WeftError) as e:
        weft.Client(server_with_key.addr).list_namespaces()
    assert e.value.code == "unauthenticated"
    c = weft.Client(server_with_key.addr, api_key=BOOTSTRAP_KEY)
    c.create_namespace("k", dimension=2, metric="l2")
    c.namespace("k").upsert(ids=["a"], vectors=np.array([[1.0, 2.0]]))
    assert [r.id for r in c.namespace("k").query(np.array([1.0, 2.0]), top_k=1)] == ["a"]


def test_the_installed_package_is_tested():
    if os.environ.get("WEFT_TEST_INSTALLED"):
        assert "site-packages" in weft.__file__, weft.__file__


def test_plugins_register_list_run_delete(server):
    c = weft.Client(server.addr)
    wasm = (ROOT / "examples" / "plugins" / "attrfilter" / "go" / "attrfilter.wasm").read_bytes()
    p = c.register_plugin("keep", wasm, failure_policy="fail_open", deadline_ms=500, description="attrfilter")
    assert p.name == "keep" and p.size_bytes == len(wasm) and p.deadline_ms == 500
    assert [q.name for q in c.list_plugins()] == ["keep"]
    c.create_namespace("pl", dimension=2, metric="l2", schema={"n": "int"})
    ns = c.namespace("pl")
    ns.upsert(ids=[f"d{i}" for i in range(10)], vectors=[[float(i), 0.0] for i in range(10)],
              attributes=[{"n": i} for i in range(10)])
    answer = ns.query([0.0, 0.0], top_k=3, plugins=[("keep", {"attr": "n", "min": "5"})])
    assert [r.id for r in answer] == ["d5", "d6", "d7"]
    with pytest.raises(ValueError):
        c.register_plugin("x", wasm, failure_policy="sometimes")
    with pytest.raises(weft.WeftError) as e:
        c.register_plugin("bad", b"not wasm")
    assert e.value.code == "invalid_argument"
    c.delete_plugin("keep")
    assert c.list_plugins() == []
