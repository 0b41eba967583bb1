"""A key's ``models`` bounds every embedding a request causes, on every face.

The key ``local_only`` may read and write the indexes ``idx_local`` (local model)
and ``idx_remote`` (a collection pinned to a remote model, served by a real HTTP
provider on loopback that records every call), but embed only with the local
model. Whatever the route or RPC (text search, upsert by text, bulk upsert,
retrieve, multi-target and hybrid search, the compatibility routes,
``/v1/embeddings``), reaching the remote model is PERMISSION_DENIED / 403
naming it, and the provider never sees a request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from tests.security.keys.conftest import LOCAL_MODEL, MASTER, REMOTE_MODEL, Gateway, bearer, md
from vectorgate.v1 import search_service_pb2 as spb
from vectorgate.v1 import search_service_pb2_grpc as sgrpc
from vectorgate.v1 import types_pb2
from vectorgate.v1 import upsert_service_pb2 as upb
from vectorgate.v1 import upsert_service_pb2_grpc as ugrpc


def _grpc_reason(err: grpc.RpcError) -> str:
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info.reason
    return ""


def _search(index: str) -> spb.SearchRequest:
    return spb.SearchRequest(collection=index, text="what is in here", top_k=3)


def _docs(n: int = 2) -> list[types_pb2.Document]:
    return [types_pb2.Document(id=f"n{i}", text=f"new text {i}") for i in range(n)]


GrpcCall = Callable[[grpc.Channel, str, str], Any]


def _g_search(ch: grpc.Channel, index: str, key: str) -> Any:
    return sgrpc.SearchServiceStub(ch).Search(_search(index), metadata=md(key))


def _g_hybrid(ch: grpc.Channel, index: str, key: str) -> Any:
    req = _search(index)
    req.mode = spb.SEARCH_MODE_HYBRID
    return sgrpc.SearchServiceStub(ch).Search(req, metadata=md(key))


def _g_targets(ch: grpc.Channel, index: str, key: str) -> Any:
    req = spb.SearchRequest(text="what is in here", top_k=3)
    # With a target the key may embed for: a denied one still denies the whole call.
    req.targets.add(collection="idx_local")
    req.targets.add(collection=index if index != "idx_local" else "idx_vec")
    return sgrpc.SearchServiceStub(ch).Search(req, metadata=md(key))


def _g_retrieve(ch: grpc.Channel, index: str, key: str) -> Any:
    req = spb.RetrieveRequest(search=_search(index), max_tokens=200)
    return sgrpc.SearchServiceStub(ch).Retrieve(req, metadata=md(key))


def _g_upsert(ch: grpc.Channel, index: str, key: str) -> Any:
    req = upb.UpsertDocumentsRequest(collection=index, documents=_docs())
    return ugrpc.UpsertServiceStub(ch).UpsertDocuments(req, metadata=md(key))


def _g_bulk(ch: grpc.Channel, index: str, key: str) -> Any:
    def requests() -> Iterator[upb.BulkUpsertDocumentsRequest]:
        yield upb.BulkUpsertDocumentsRequest(collection=index, documents=_docs())
        yield upb.BulkUpsertDocumentsRequest(documents=_docs(3)[2:])

    return ugrpc.UpsertServiceStub(ch).BulkUpsertDocuments(requests(), metadata=md(key))


GRPC_CALLS: dict[str, GrpcCall] = {
    "search": _g_search,
    "hybrid": _g_hybrid,
    "targets": _g_targets,
    "retrieve": _g_retrieve,
    "upsert": _g_upsert,
    "bulk": _g_bulk,
}

#: (method, path, body) of HTTP faces; ``{i}`` is the index.
HTTP_CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "rest_search": ("/v1/collections/{i}:search", {"text": "what is in here", "top_k": 3}),
    "rest_search_any": ("/v1/search", {"collection": "{i}", "text": "what is in here", "top_k": 2}),
    "rest_retrieve": ("/v1/retrieve", {"search": {"collection": "{i}", "text": "q", "top_k": 2}}),
    "rest_upsert": (
        "/v1/collections/{i}/documents:upsert",
        {"documents": [{"id": "h", "text": "t"}]},
    ),
    "rest_bulk": (
        "/v1/collections/{i}/documents:bulkUpsert",
        {"documents": [{"id": "b", "text": "t"}]},
    ),
    "openai_search": ("/v1/vector_stores/{i}/search", {"query": "what is in here"}),
    "openai_search_unversioned": ("/vector_stores/{i}/search", {"query": ["a", "b"]}),
    "compat_search": ("/v1/vector/search", {"collection": "{i}", "query": "what is in here"}),
    "compat_store": (
        "/v1/vector/store",
        {"collection": "{i}", "documents": [{"id": "c", "text": "t"}]},
    ),
}


def _fill(value: Any, index: str) -> Any:
    if isinstance(value, str):
        return value.replace("{i}", index)
    if isinstance(value, dict):
        return {k: _fill(v, index) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, index) for v in value]
    return value


@pytest.mark.parametrize("call", sorted(GRPC_CALLS))
def test_grpc_cannot_reach_a_model_the_key_excludes(gateway: Gateway, call: str) -> None:
    before = gateway.provider_calls()
    with pytest.raises(grpc.RpcError) as info:
        GRPC_CALLS[call](gateway.channel, "idx_remote", gateway.keys["local_only"])
    err = info.value
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED, err.details()
    assert REMOTE_MODEL in (err.details() or "")
    assert _grpc_reason(err) == "MODEL_NOT_ALLOWED"
    assert gateway.provider_calls() == before


@pytest.mark.parametrize("call", sorted(GRPC_CALLS))
def test_grpc_the_allowed_model_still_works(gateway: Gateway, call: str) -> None:
    GRPC_CALLS[call](gateway.channel, "idx_local", gateway.keys["local_only"])


@pytest.mark.parametrize("call", sorted(HTTP_CALLS))
def test_http_cannot_reach_a_model_the_key_excludes(gateway: Gateway, call: str) -> None:
    path, body = HTTP_CALLS[call]
    before = gateway.provider_calls()
    r = gateway.http.post(
        _fill(path, "idx_remote"),
        json=_fill(body, "idx_remote"),
        headers=bearer(gateway.keys["local_only"]),
    )
    assert r.status_code == 403, r.text
    assert REMOTE_MODEL in r.text
    assert gateway.provider_calls() == before


@pytest.mark.parametrize("call", sorted(HTTP_CALLS))
def test_http_the_allowed_model_still_works(gateway: Gateway, call: str) -> None:
    path, body = HTTP_CALLS[call]
    r = gateway.http.post(
        _fill(path, "idx_local"),
        json=_fill(body, "idx_local"),
        headers=bearer(gateway.keys["local_only"]),
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", ["/v1/embeddings", "/embeddings"])
@pytest.mark.parametrize("model", [REMOTE_MODEL, "openai/text-embedding-3-small"])
def test_embeddings_route(gateway: Gateway, path: str, model: str) -> None:
    before = gateway.provider_calls()
    body = {"input": ["one", "two"], "model": model}
    r = gateway.http.post(path, json=body, headers=bearer(gateway.keys["local_only"]))
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["type"] == "permission_error" and error["param"] == "model"
    assert REMOTE_MODEL in error["message"]
    assert gateway.provider_calls() == before
    ok = gateway.http.post(
        path, json={"input": "x", "model": LOCAL_MODEL}, headers=bearer(gateway.keys["local_only"])
    )
    assert ok.status_code == 200, ok.text
    # Keys without a model list, and the master key, may use the remote model.
    for key in (gateway.keys["any_model"], MASTER):
        assert gateway.http.post(path, json=body, headers=bearer(key)).status_code == 200


def test_a_key_minted_by_a_restricted_key_is_restricted_too(gateway: Gateway) -> None:
    grants = [{"index_name": "idx_remote", "index_permissions": ["read"]}]
    child = gateway.mint({"allowed_vector_store_indexes": grants}, key=gateway.keys["local_only"])
    before = gateway.provider_calls()
    with pytest.raises(grpc.RpcError) as info:
        _g_search(gateway.channel, "idx_remote", child)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert gateway.provider_calls() == before


def test_aliases_name_the_same_model(gateway: Gateway) -> None:
    """A key listing the model under an alias may use it under its canonical name."""
    grants = [{"index_name": "idx_local", "index_permissions": ["read"]}]
    key = gateway.mint(
        {
            "allowed_vector_store_indexes": grants,
            "models": ["sentence-transformers/all-MiniLM-L6-v2"],
        }
    )
    _g_search(gateway.channel, "idx_local", key)
