"""Weft's Python client.

Talks to a Weft server (``weft serve`` or ``weft fabric``) in the Connect
protocol over HTTP with binary protobuf, using only the standard library
and the protobuf runtime; NumPy arrays are accepted for vectors.

    import weft
    client = weft.Client("http://127.0.0.1:7600")
    client.create_namespace("docs", dimension=3, metric="cosine")
    docs = client.namespace("docs")
    docs.upsert(ids=["a", "b"], vectors=[[1, 0, 0], [0, 1, 0]],
                attributes=[{"lang": "en"}, {"lang": "de"}])
    for r in docs.query([1, 0.1, 0], top_k=1,
                        filter={"eq": {"attribute": "lang", "value": {"stringValue": "en"}}}):
        print(r.id, r.distance)

Errors are :class:`WeftError` exceptions carrying the Connect code
(``invalid_argument``, ``not_found``, ``unavailable``, ...) and the
server's message, which says what to fix.
"""

from .client import Client, Namespace, QueryAnswer, Result, WeftError

__all__ = ["Client", "Namespace", "QueryAnswer", "Result", "WeftError"]
