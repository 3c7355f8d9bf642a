"""The Python half of the cross-client test (cmd/weft TestPythonClientMatchesGo).

crossclient.py ADDR NAMESPACE VECTORS.npy ATTRS.json QUERIES.npy PLUGIN
creates NAMESPACE, upserts the 10,000 documents in one request, runs each
query with a filter and the plugin, and prints one JSON line per query:
the result ids and the float32 bits of their distances.
"""

import json
import pathlib
import struct
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import weft  # noqa: E402

addr, name, vectors_path, attrs_path, queries_path, plugin = sys.argv[1:]
vectors = np.load(vectors_path)
attrs = json.load(open(attrs_path))
queries = np.load(queries_path)
c = weft.Client(addr)
c.create_namespace(name, dimension=vectors.shape[1], metric="l2")
ns = c.namespace(name)
ns.upsert(ids=[f"d{i}" for i in range(len(vectors))], vectors=vectors, attributes=attrs)
for q in queries:
    answer = ns.query(q, top_k=10, recall_target=1,
                      filter={"eq": {"attribute": "lang", "value": {"stringValue": "de"}}},
                      plugins=[(plugin, {"attr": "n", "min": "1000"})])
    print(json.dumps({"ids": [r.id for r in answer],
                      "bits": [struct.unpack("<I", struct.pack("<f", r.distance))[0] for r in answer]}))
