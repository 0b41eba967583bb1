"""A key's rights are its own narrowed by every key above it, as they are now.

``P`` is minted by the master key, ``C`` by ``P``, ``G`` by ``C``. Deleting,
expiring, downgrading or model-restricting ``P`` does the same to ``C`` and
``G`` at their very next call, over gRPC, transcoded REST and the
compatibility routes; restoring ``P`` restores them (their own grants never
changed). The Milvus REST passthrough sees the same effective rights.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

from tests.security.keys.conftest import LOCAL_MODEL, MASTER, REMOTE_MODEL, Gateway, bearer, md
from tests.support.servers import ServerThread, make_config
from vectorgate.v1 import key_service_pb2 as kpb
from vectorgate.v1 import key_service_pb2_grpc as kgrpc
from vectorgate.v1 import search_service_pb2 as spb
from vectorgate.v1 import search_service_pb2_grpc as sgrpc
from vectorgate.v1 import types_pb2
from vectorgate.v1 import upsert_service_pb2 as upb
from vectorgate.v1 import upsert_service_pb2_grpc as ugrpc
from vectorgate_server.embeddings import EmbeddingRegistry

RW = ["read", "write"]


def _grant(*pairs: tuple[str, list[str]]) -> list[dict[str, Any]]:
    return [{"index_name": i, "index_permissions": p} for i, p in pairs]


def _family(gateway: Gateway) -> tuple[str, str, str]:
    parent = gateway.mint(
        {"allowed_vector_store_indexes": _grant(("idx_vec", RW), ("idx_local", RW))}
    )
    child = gateway.mint(
        {"allowed_vector_store_indexes": _grant(("idx_vec", RW), ("idx_local", RW))}, key=parent
    )
    grandchild = gateway.mint({"allowed_vector_store_indexes": _grant(("idx_vec", RW))}, key=child)
    return parent, child, grandchild


def _update(gateway: Gateway, key: str, **changes: Any) -> None:
    r = gateway.http.post("/key/update", json={"key": key, **changes}, headers=bearer(MASTER))
    assert r.status_code == 200, r.text


def _grpc_read(gateway: Gateway, key: str) -> grpc.StatusCode:
    req = spb.SearchRequest(
        collection="idx_vec", top_k=1, vector=types_pb2.Vector(values=[1, 0, 0, 0])
    )
    try:
        sgrpc.SearchServiceStub(gateway.channel).Search(req, metadata=md(key))
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def _grpc_write(gateway: Gateway, key: str) -> grpc.StatusCode:
    doc = types_pb2.Document(id="w", vector=types_pb2.Vector(values=[0, 0, 1, 0]))
    req = upb.UpsertDocumentsRequest(collection="idx_vec", documents=[doc])
    try:
        ugrpc.UpsertServiceStub(gateway.channel).UpsertDocuments(req, metadata=md(key))
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def _rest_read(gateway: Gateway, key: str) -> int:
    return gateway.http.post(
        "/v1/collections/idx_vec:search",
        json={"vector": {"values": [1, 0, 0, 0]}, "top_k": 1},
        headers=bearer(key),
    ).status_code


def _rest_write(gateway: Gateway, key: str) -> int:
    body = {"documents": [{"id": "w", "vector": {"values": [0, 0, 1, 0]}}]}
    return gateway.http.post(
        "/v1/collections/idx_vec/documents:upsert", json=body, headers=bearer(key)
    ).status_code


def _compat_write(gateway: Gateway, key: str) -> int:
    body = {"collection": "idx_vec", "documents": [{"id": "c", "vector": [0, 1, 1, 0]}]}
    return gateway.http.post("/v1/vector/store", json=body, headers=bearer(key)).status_code


def _openai_read(gateway: Gateway, key: str) -> int:
    body = {"query": "local document"}
    return gateway.http.post(
        "/v1/vector_stores/idx_local/search", json=body, headers=bearer(key)
    ).status_code


def _all_ok(gateway: Gateway, key: str) -> None:
    assert _grpc_read(gateway, key) == grpc.StatusCode.OK
    assert _grpc_write(gateway, key) == grpc.StatusCode.OK
    assert _rest_read(gateway, key) == 200
    assert _rest_write(gateway, key) == 200
    assert _compat_write(gateway, key) == 200


def test_deleting_a_key_revokes_every_key_below_it(gateway: Gateway) -> None:
    parent, child, grandchild = _family(gateway)
    for key in (child, grandchild):
        _all_ok(gateway, key)
    r = gateway.http.post("/key/delete", json={"keys": [parent]}, headers=bearer(MASTER))
    assert r.status_code == 200, r.text
    assert len(r.json()["deleted_keys"]) == 3  # the key and both below it
    for key in (parent, child, grandchild):
        assert _grpc_read(gateway, key) == grpc.StatusCode.UNAUTHENTICATED
        assert _rest_read(gateway, key) == 401
        assert _compat_write(gateway, key) == 401
        assert _openai_read(gateway, key) == 401
        info = gateway.http.post("/key/info", json={}, headers=bearer(key))
        assert info.status_code == 401


def test_a_key_deleting_its_child_revokes_the_grandchild(gateway: Gateway) -> None:
    parent, child, grandchild = _family(gateway)
    r = gateway.http.post("/key/delete", json={"keys": [child]}, headers=bearer(parent))
    assert r.status_code == 200, r.text
    assert len(r.json()["deleted_keys"]) == 2
    for key in (child, grandchild):
        assert _grpc_read(gateway, key) == grpc.StatusCode.UNAUTHENTICATED
    _all_ok(gateway, parent)


def test_downgrading_a_key_narrows_every_key_below_it(gateway: Gateway) -> None:
    parent, child, grandchild = _family(gateway)
    _update(gateway, parent, allowed_vector_store_indexes=_grant(("idx_vec", ["read"])))
    for key in (parent, child, grandchild):
        assert _grpc_write(gateway, key) == grpc.StatusCode.PERMISSION_DENIED
        assert _rest_write(gateway, key) == 403
        assert _compat_write(gateway, key) == 403
        assert _grpc_read(gateway, key) == grpc.StatusCode.OK
        assert _rest_read(gateway, key) == 200
    # The child may not hand out what its parent lost.
    r = gateway.http.post(
        "/key/generate",
        json={"allowed_vector_store_indexes": _grant(("idx_vec", ["write"]))},
        headers=bearer(child),
    )
    assert r.status_code == 403, r.text
    assert _openai_read(gateway, child) == 403  # idx_local is no longer the parent's
    _update(gateway, parent, update_indexes=True, allowed_vector_store_indexes=[])
    for key in (child, grandchild):
        assert _grpc_read(gateway, key) == grpc.StatusCode.PERMISSION_DENIED
        assert _rest_read(gateway, key) == 403
    # Restoring the parent restores them: their own grants never changed.
    _update(
        gateway, parent, allowed_vector_store_indexes=_grant(("idx_vec", RW), ("idx_local", RW))
    )
    for key in (child, grandchild):
        _all_ok(gateway, key)


def test_expiring_a_key_expires_every_key_below_it(gateway: Gateway) -> None:
    parent, child, grandchild = _family(gateway)
    _update(gateway, parent, duration="1s")
    time.sleep(1.2)
    for key in (parent, child, grandchild):
        assert _grpc_read(gateway, key) == grpc.StatusCode.UNAUTHENTICATED
        r = gateway.http.post(
            "/v1/collections/idx_vec:search",
            json={"vector": {"values": [1, 0, 0, 0]}},
            headers=bearer(key),
        )
        assert r.status_code == 401 and "expired" in r.text, r.text


def test_restricting_models_above_restricts_every_key_below(gateway: Gateway) -> None:
    parent, child, grandchild = _family(gateway)
    before = gateway.provider_calls()
    search = {"query": "local document"}
    assert (
        gateway.http.post(
            "/v1/vector_stores/idx_local/search", json=search, headers=bearer(child)
        ).status_code
        == 200
    )
    _update(gateway, parent, models=[REMOTE_MODEL])
    r = gateway.http.post("/v1/vector_stores/idx_local/search", json=search, headers=bearer(child))
    assert r.status_code == 403 and LOCAL_MODEL in r.text, r.text
    for key in (child, grandchild):
        r = gateway.http.post(
            "/v1/embeddings", json={"input": "x", "model": LOCAL_MODEL}, headers=bearer(key)
        )
        assert r.status_code == 403, r.text
    assert gateway.provider_calls() == before


def test_grpc_key_service_sees_effective_rights(gateway: Gateway) -> None:
    parent, child, _ = _family(gateway)
    _update(gateway, parent, allowed_vector_store_indexes=_grant(("idx_vec", ["read"])))
    stub = kgrpc.KeyServiceStub(gateway.channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.GenerateKey(
            kpb.GenerateKeyRequest(
                allowed_vector_store_indexes=[
                    kpb.IndexGrant(index_name="idx_vec", index_permissions=["write"])
                ]
            ),
            metadata=md(child),
        )
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture(scope="module")
def milvus_gateway(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry
) -> Iterator[httpx.Client]:
    """A gateway whose store is Milvus Lite, for the native Milvus REST passthrough."""
    pytest.importorskip("milvus_lite", reason="Milvus Lite is not installed")
    base = tmp_path_factory.mktemp("cascade-milvus")
    config = make_config(
        base / "data",
        {
            "general_settings": {"master_key": MASTER},
            "vector_store_registry": [
                {
                    "vector_store_name": "milvus-store",
                    "litellm_params": {
                        "vector_store_id": "pt-registry",
                        "custom_llm_provider": "milvus",
                        "api_base": str(base / "milvus.db"),
                    },
                }
            ],
        },
    )
    with (
        ServerThread(config, embeddings) as srv,
        httpx.Client(base_url=srv.http_base, timeout=120) as http,
    ):
        r = http.post(
            "/v1/indexes",
            json={
                "index_name": "pt",
                "litellm_params": {
                    "vector_store_index": "pt_real",
                    "vector_store_name": "milvus-store",
                },
            },
            headers=bearer(MASTER),
        )
        assert r.status_code == 200, r.text
        yield http


def _native(http: httpx.Client, path: str, key: str, body: dict[str, Any]) -> httpx.Response:
    return http.post(f"/milvus/v2/vectordb/{path}", json=body, headers=bearer(key))


def test_the_milvus_passthrough_sees_effective_rights(milvus_gateway: httpx.Client) -> None:
    http = milvus_gateway
    grant = {"allowed_vector_store_indexes": _grant(("pt", RW))}
    r = http.post("/key/generate", json=grant, headers=bearer(MASTER))
    parent = r.json()["key"]
    r = http.post("/key/generate", json=grant, headers=bearer(parent))
    child = r.json()["key"]
    has = {"collectionName": "pt"}
    rows = {"collectionName": "pt", "data": [{"id": 1, "vector": [0.1, 0.2]}]}
    assert _native(http, "collections/has", child, has).status_code == 200
    r = http.post(
        "/key/update",
        json={"key": parent, "allowed_vector_store_indexes": _grant(("pt", ["read"]))},
        headers=bearer(MASTER),
    )
    assert r.status_code == 200, r.text
    assert _native(http, "entities/insert", child, rows).status_code == 403
    assert _native(http, "collections/has", child, has).status_code == 200
    r = http.post(
        "/key/update",
        json={"key": parent, "update_indexes": True, "allowed_vector_store_indexes": []},
        headers=bearer(MASTER),
    )
    assert r.status_code == 200, r.text
    assert _native(http, "collections/has", child, has).status_code == 403
    assert _native(http, "collections/list", child, {}).json().get("data") == []
    assert http.post("/key/delete", json={"keys": [parent]}, headers=bearer(MASTER)).is_success
    assert _native(http, "collections/has", child, has).status_code == 401
