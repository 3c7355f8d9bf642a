"""The client: one HTTP POST per call, protobuf in and out (Connect)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from google.protobuf import json_format
from google.protobuf.message import Message

from .v1 import document_pb2, namespace_pb2, plugin_pb2, query_pb2, types_pb2

_METRICS = {
    "cosine": types_pb2.METRIC_COSINE,
    "l2": types_pb2.METRIC_L2,
    "dot": types_pb2.METRIC_DOT,
}
_CONSISTENCY = {
    "strong": query_pb2.CONSISTENCY_STRONG,
    "eventual": query_pb2.CONSISTENCY_EVENTUAL,
}


class WeftError(Exception):
    """A call the server refused or that could not reach it.

    ``code`` is the Connect code (``invalid_argument``, ``not_found``,
    ``already_exists``, ``resource_exhausted``, ``unavailable``,
    ``unauthenticated``, ``deadline_exceeded``, ...), ``message`` the
    server's explanation.
    """

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class Result:
    """One query result, nearest first."""

    id: str
    distance: float
    score: float
    attributes: dict = field(default_factory=dict)
    vector: list | None = None


@dataclass
class QueryAnswer:
    """A query's results and the server's stats (a weft.v1.QueryStats)."""

    results: list
    stats: Any

    def __iter__(self):
        return iter(self.results)

    def __len__(self):
        return len(self.results)


# Codes whose calls never reached a handler, or were refused before any
# effect: an idempotent call is sent again after them.
_RETRYABLE = {"unavailable"}

# HTTP statuses Connect maps to codes, for answers without a JSON body.
_STATUS_CODES = {
    400: "invalid_argument",
    401: "unauthenticated",
    403: "permission_denied",
    404: "unimplemented",
    408: "deadline_exceeded",
    409: "already_exists",
    413: "resource_exhausted",
    429: "unavailable",
    502: "unavailable",
    503: "unavailable",
    504: "unavailable",
}


class Client:
    """A Weft server at ``address`` (``http://host:port``).

    ``api_key`` is sent as ``Authorization: Bearer <key>`` (``weft keys
    create`` makes keys). ``timeout`` bounds each call in seconds; calls
    that change nothing (gets, queries, listings) are retried ``retries``
    times when the server cannot be reached or answers ``unavailable``.
    """

    def __init__(self, address: str = "http://127.0.0.1:7600", api_key: str | None = None,
                 timeout: float = 30.0, retries: int = 2):
        if "://" not in address:
            address = "http://" + address
        self.address = address.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries

    def _call(self, service: str, method: str, request: Message, response: Message,
              idempotent: bool = False) -> Message:
        url = f"{self.address}/weft.v1.{service}/{method}"
        headers = {"Content-Type": "application/proto", "Connect-Protocol-Version": "1"}
        if self.api_key:
            headers["Authorization"] = "Bearer " + self.api_key
        body = request.SerializeToString()
        attempts = 1 + (self.retries if idempotent else 0)
        for attempt in range(attempts):
            try:
                req = urllib.request.Request(url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as r:
                    response.ParseFromString(r.read())
                    return response
            except urllib.error.HTTPError as e:
                err = _error_of(e.code, e.read())
            except (urllib.error.URLError, ConnectionError) as e:
                reason = getattr(e, "reason", e)
                err = WeftError("unavailable", f"cannot reach {self.address}: {reason}")
            except TimeoutError:
                err = WeftError("deadline_exceeded", f"no answer from {self.address} within {self.timeout} s")
            if err.code not in _RETRYABLE or attempt == attempts - 1:
                raise err
            time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    # Namespaces.

    def create_namespace(self, name: str, dimension: int, metric: str = "cosine",
                         schema: Mapping[str, str] | None = None, shard_key: str = "") -> Any:
        """Creates a namespace; returns its weft.v1.Namespace.

        ``metric`` is cosine, l2 or dot; ``schema`` maps attribute names to
        string, int, float, bool or string_list.
        """
        if metric not in _METRICS:
            raise ValueError(f"metric {metric!r}: want cosine, l2 or dot")
        ns = namespace_pb2.Namespace(name=name, dimension=dimension, metric=_METRICS[metric], shard_key=shard_key)
        for attr, typ in (schema or {}).items():
            ns.schema.add(name=attr, type=types_pb2.AttributeType.Value("ATTRIBUTE_TYPE_" + typ.upper()))
        resp = self._call("NamespaceService", "CreateNamespace",
                          namespace_pb2.CreateNamespaceRequest(namespace=ns), namespace_pb2.CreateNamespaceResponse())
        return resp.namespace

    def get_namespace(self, name: str) -> Any:
        """Returns the weft.v1.GetNamespaceResponse: the config and stats."""
        return self._call("NamespaceService", "GetNamespace", namespace_pb2.GetNamespaceRequest(name=name),
                          namespace_pb2.GetNamespaceResponse(), idempotent=True)

    def list_namespaces(self) -> list:
        """Returns every namespace's weft.v1.Namespace."""
        out, token = [], ""
        while True:
            resp = self._call("NamespaceService", "ListNamespaces",
                              namespace_pb2.ListNamespacesRequest(page_token=token),
                              namespace_pb2.ListNamespacesResponse(), idempotent=True)
            out.extend(resp.namespaces)
            token = resp.next_page_token
            if not token:
                return out

    def delete_namespace(self, name: str) -> None:
        self._call("NamespaceService", "DeleteNamespace", namespace_pb2.DeleteNamespaceRequest(name=name),
                   namespace_pb2.DeleteNamespaceResponse())

    def namespace(self, name: str) -> "Namespace":
        return Namespace(self, name)

    # Plugins.

    def register_plugin(self, name: str, wasm: bytes, failure_policy: str = "fail_closed",
                        deadline_ms: int = 0, description: str = "") -> Any:
        """Registers a WebAssembly plugin module; returns its weft.v1.Plugin.

        ``failure_policy`` is fail_closed (a failing plugin fails the
        query) or fail_open (its hook is skipped).
        """
        if failure_policy not in ("fail_closed", "fail_open"):
            raise ValueError(f"failure_policy {failure_policy!r}: want fail_closed or fail_open")
        req = plugin_pb2.RegisterPluginRequest(
            name=name, wasm=wasm, deadline_ms=deadline_ms, description=description,
            failure_policy=plugin_pb2.FailurePolicy.Value("FAILURE_POLICY_" + failure_policy.upper()))
        return self._call("PluginService", "RegisterPlugin", req, plugin_pb2.RegisterPluginResponse()).plugin

    def list_plugins(self) -> list:
        """The registered plugins (weft.v1.Plugin)."""
        return list(self._call("PluginService", "ListPlugins", plugin_pb2.ListPluginsRequest(),
                               plugin_pb2.ListPluginsResponse(), idempotent=True).plugins)

    def delete_plugin(self, name: str) -> None:
        self._call("PluginService", "DeletePlugin", plugin_pb2.DeletePluginRequest(name=name),
                   plugin_pb2.DeletePluginResponse())


class Namespace:
    """The documents and queries of one namespace."""

    def __init__(self, client: Client, name: str):
        self.client = client
        self.name = name

    def upsert(self, documents: Iterable[Mapping] | None = None, *, ids: Sequence[str] | None = None,
               vectors: Any = None, attributes: Sequence[Mapping] | None = None) -> list:
        """Inserts or replaces documents (1..10,000 per call); returns their ids.

        Either ``documents``, dicts with ``id``, ``vector`` and
        ``attributes``, or ``vectors`` (a NumPy array of rows, or a list of
        lists) with optional ``ids`` and ``attributes`` of the same length.
        A document without an id gets one from the server.
        """
        req = document_pb2.UpsertRequest(namespace=self.name)
        if documents is not None:
            if vectors is not None or ids is not None or attributes is not None:
                raise ValueError("pass documents, or vectors with ids and attributes, not both")
            for d in documents:
                _add_document(req, d.get("id", ""), d["vector"], d.get("attributes"))
        else:
            if vectors is None:
                raise ValueError("pass documents or vectors")
            rows = _rows(vectors)
            for name, seq in (("ids", ids), ("attributes", attributes)):
                if seq is not None and len(seq) != len(rows):
                    raise ValueError(f"{len(seq)} {name} for {len(rows)} vectors")
            for i, v in enumerate(rows):
                _add_document(req, ids[i] if ids is not None else "", v, attributes[i] if attributes is not None else None)
        resp = self.client._call("DocumentService", "Upsert", req, document_pb2.UpsertResponse())
        return list(resp.ids)

    def query(self, vector: Any, top_k: int = 10, *, filter: Mapping | None = None,
              include_attributes: bool = False, include_vectors: bool = False,
              consistency: str = "strong", ef: int = 0, nprobe: int = 0, recall_target: float = 0,
              refine: int = 0, plugins: Sequence = (), allow_partial: bool = False) -> QueryAnswer:
        """The ``top_k`` documents nearest ``vector``.

        ``filter`` is a weft.v1.Filter in protobuf JSON, e.g.
        ``{"and": {"filters": [{"eq": {"attribute": "lang", "value": {"stringValue": "en"}}},
        {"range": {"attribute": "year", "gte": {"intValue": "2020"}}}]}}``.
        ``plugins`` are plugin names, or (name, params) pairs.
        """
        if consistency not in _CONSISTENCY:
            raise ValueError(f"consistency {consistency!r}: want strong or eventual")
        req = query_pb2.QueryRequest(namespace=self.name, vector=_row(vector), top_k=top_k,
                                     include_attributes=include_attributes, include_vectors=include_vectors,
                                     consistency=_CONSISTENCY[consistency], allow_partial=allow_partial)
        if filter is not None:
            json_format.ParseDict(filter, req.filter)
        if ef or nprobe or recall_target or refine:
            req.search.CopyFrom(types_pb2.SearchParams(ef=ef, nprobe=nprobe, recall_target=recall_target, refine=refine))
        for p in plugins:
            name, params = (p, {}) if isinstance(p, str) else p
            req.plugins.add(name=name, params={k: str(v) for k, v in params.items()})
        resp = self.client._call("QueryService", "Query", req, query_pb2.QueryResponse(), idempotent=True)
        return QueryAnswer(results=[Result(id=r.id, distance=r.distance, score=r.score,
                                           attributes={k: _value(v) for k, v in r.attributes.items()},
                                           vector=list(r.vector) if include_vectors else None)
                                    for r in resp.results], stats=resp.stats)

    def get(self, ids: Sequence[str], include_vectors: bool = False, include_attributes: bool = True) -> list:
        """The documents with these ids that exist, as dicts, in the order asked."""
        resp = self.client._call("DocumentService", "Get",
                                 document_pb2.GetRequest(namespace=self.name, ids=list(ids),
                                                         include_vectors=include_vectors,
                                                         include_attributes=include_attributes),
                                 document_pb2.GetResponse(), idempotent=True)
        return [{"id": d.id, "vector": list(d.vector) if include_vectors else None,
                 "attributes": {k: _value(v) for k, v in d.attributes.items()}} for d in resp.documents]

    def delete(self, ids: Sequence[str] | None = None, filter: Mapping | None = None) -> int:
        """Deletes by ids or by a filter (protobuf JSON); returns how many."""
        req = document_pb2.DeleteRequest(namespace=self.name, ids=list(ids or []))
        if filter is not None:
            json_format.ParseDict(filter, req.filter)
        return self.client._call("DocumentService", "Delete", req, document_pb2.DeleteResponse()).deleted_count


def _error_of(status: int, body: bytes) -> WeftError:
    """A Connect error body ({"code": ..., "message": ...}) as an exception."""
    try:
        e = json.loads(body)
        return WeftError(e.get("code", _STATUS_CODES.get(status, "unknown")), e.get("message", ""))
    except (ValueError, AttributeError):
        return WeftError(_STATUS_CODES.get(status, "unknown"), body.decode("utf-8", "replace")[:500] or f"HTTP {status}")


def _rows(vectors: Any) -> list:
    """Rows of a NumPy array (as float32 values) or of a list of lists."""
    if hasattr(vectors, "ndim"):  # a NumPy array, without importing NumPy
        if vectors.ndim != 2:
            raise ValueError(f"vectors: want a 2-d array of rows, got {vectors.ndim} dimensions")
        return vectors.astype("float32").tolist()
    return [_row(v) for v in vectors]


def _row(v: Any) -> list:
    if hasattr(v, "astype"):
        return v.astype("float32").ravel().tolist()
    return [float(x) for x in v]


def _add_document(req, id_: str, vector: Any, attributes: Mapping | None) -> None:
    d = req.documents.add(id=id_ or "", vector=_row(vector))
    for k, v in (attributes or {}).items():
        d.attributes[k].CopyFrom(_attribute(k, v))


def _attribute(name: str, v: Any) -> Any:
    a = types_pb2.AttributeValue()
    if isinstance(v, bool):
        a.bool_value = v
    elif isinstance(v, int):
        a.int_value = v
    elif isinstance(v, float):
        a.float_value = v
    elif isinstance(v, str):
        a.string_value = v
    elif isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
        a.string_list_value.values.extend(v)
    else:
        raise ValueError(f"attribute {name!r}: {type(v).__name__} is not a string, int, float, bool or list of strings")
    return a


def _value(a: Any) -> Any:
    kind = a.WhichOneof("kind")
    if kind == "string_list_value":
        return list(a.string_list_value.values)
    return getattr(a, kind) if kind else None
