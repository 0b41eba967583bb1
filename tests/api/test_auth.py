"""Master key, virtual keys and per-index permissions over gRPC and HTTP alike."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tests.support.servers import ServerThread, make_config
from vectorgate.v1 import (
    collection_admin_service_pb2 as cpb,
)
from vectorgate.v1 import (
    collection_admin_service_pb2_grpc as cgrpc,
)
from vectorgate.v1 import (
    index_admin_service_pb2 as ipb,
)
from vectorgate.v1 import (
    index_admin_service_pb2_grpc as igrpc,
)
from vectorgate.v1 import (
    key_service_pb2 as kpb,
)
from vectorgate.v1 import (
    key_service_pb2_grpc as kgrpc,
)
from vectorgate.v1 import (
    search_service_pb2 as spb,
)
from vectorgate.v1 import (
    search_service_pb2_grpc as sgrpc,
)
from vectorgate.v1 import (
    types_pb2,
)
from vectorgate.v1 import (
    upsert_service_pb2 as upb,
)
from vectorgate.v1 import (
    upsert_service_pb2_grpc as ugrpc,
)
from vectorgate_server.auth import (
    HTTP_ROUTES,
    PUBLIC,
    check_bind,
    route_declarations,
    undeclared_routes,
)
from vectorgate_server.embeddings import EmbeddingRegistry
from vectorgate_server.services.registry import Permission

MASTER = "sk-master-test-0123456789"
DIM = 4


@dataclass
class Env:
    srv: ServerThread
    http: httpx.Client
    channel: grpc.Channel
    keys: dict[str, str]


def _vec(x: float) -> list[float]:
    return [x, 1.0, 0.5, 0.25]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry) -> Iterator[Env]:
    data = tmp_path_factory.mktemp("auth") / "data"
    config = make_config(data, {"general_settings": {"master_key": MASTER}})
    with (
        ServerThread(config, embeddings) as srv,
        httpx.Client(base_url=srv.http_base, timeout=30) as http,
        grpc.insecure_channel(srv.grpc_target) as channel,
    ):
        admin = _bearer(MASTER)
        for real, index in (("real_a", "idx_a"), ("real_b", "idx_b")):
            r = http.post(
                "/v1/collections",
                json={"collection": {"name": real, "dimension": DIM, "embedding_model": "none"}},
                headers=admin,
            )
            assert r.status_code == 200, r.text
            r = http.post(
                "/v1/indexes",
                json={
                    "index_name": index,
                    "litellm_params": {"vector_store_index": real, "vector_store_name": "lancedb"},
                },
                headers=admin,
            )
            assert r.status_code == 200, r.text
            r = http.post(
                f"/v1/collections/{real}/documents:upsert",
                json={"documents": [{"id": "d1", "vector": {"values": _vec(0.1)}}]},
                headers=admin,
            )
            assert r.status_code == 200, r.text
        r = http.post(
            "/v1/indexes",
            json={
                "index_name": "idx_p",
                "litellm_params": {"vector_store_index": "real_a", "vector_store_name": "lancedb"},
                "policy_filter": {
                    "condition": {
                        "field": "tenant_id",
                        "op": "FILTER_OPERATOR_EQ",
                        "value": {"string_value": "acme"},
                    }
                },
            },
            headers=admin,
        )
        assert r.status_code == 200, r.text
        grants = {
            "rw_p": [{"index_name": "idx_p", "index_permissions": ["read", "write"]}],
            "rw_a": [{"index_name": "idx_a", "index_permissions": ["write", "read"]}],
            "r_a": [{"index_name": "idx_a", "index_permissions": ["read"]}],
            "w_a": [{"index_name": "idx_a", "index_permissions": ["write"]}],
            "rw_b": [{"index_name": "idx_b", "index_permissions": ["read", "write"]}],
        }
        keys: dict[str, str] = {}
        for name, grant in grants.items():
            r = http.post(
                "/key/generate",
                json={"allowed_vector_store_indexes": grant, "models": ["embedding-model"]},
                headers=admin,
            )
            assert r.status_code == 200, r.text
            keys[name] = r.json()["key"]
        yield Env(srv, http, channel, keys)


# --------------------------------------------------------------------------- declarations


def test_every_rpc_and_route_declares_a_permission(env: Env) -> None:
    server = env.srv.server
    assert server is not None
    assert server.rpcs
    for rpc in server.rpcs:
        assert isinstance(rpc.permission, Permission), rpc.full_name
    names = {rpc.full_name for rpc in server.rpcs}
    assert "/vectorgate.v1.KeyService/GenerateKey" in names
    routes = server.http.app.router.routes
    declared = route_declarations(server.rpcs)
    assert undeclared_routes(routes, declared) == []
    assert len(routes) >= len(declared) - len(HTTP_ROUTES)
    public = {key for key, value in declared.items() if value is PUBLIC}
    assert public == {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/openapi.json"),
        ("GET", "/metrics"),
        # The web console's static pages (no data: that comes from the API, with a key).
        ("GET", "/ui"),
        ("GET", "/ui/{path:path}"),
    }


def test_undeclared_route_is_denied() -> None:
    from starlette.routing import Route

    route = Route("/surprise", lambda request: None, methods=["POST"])
    assert undeclared_routes([route], {}) == [("POST", "/surprise")]


# --------------------------------------------------------------------------- master key


def test_public_routes_need_no_key(env: Env) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json", "/metrics"):
        assert env.http.get(path).status_code == 200, path


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic " + MASTER}, _bearer("sk-x")],
)
def test_http_without_valid_key_is_401(env: Env, headers: dict[str, str]) -> None:
    for method, path in [
        ("GET", "/v1/collections"),
        ("GET", "/v1/indexes"),
        ("POST", "/key/generate"),
        ("POST", "/v1/collections/real_a:search"),
        ("POST", "/v1/vector_stores/idx_a/search"),
        ("POST", "/v1/embeddings"),
        ("POST", "/v1/vector/search"),
    ]:
        r = env.http.request(method, path, json={}, headers=headers)
        assert r.status_code == 401, (path, r.text)
        assert MASTER not in r.text


def test_grpc_without_valid_key_is_unauthenticated(env: Env) -> None:
    stub = cgrpc.CollectionAdminServiceStub(env.channel)
    for metadata in [(), (("authorization", "Bearer nope"),)]:
        with pytest.raises(grpc.RpcError) as info:
            stub.ListCollections(cpb.ListCollectionsRequest(), metadata=metadata)
        assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    ok = stub.ListCollections(
        cpb.ListCollectionsRequest(), metadata=(("authorization", f"Bearer {MASTER}"),)
    )
    assert {c.name for c in ok.collections} >= {"real_a", "real_b"}


def test_keys_are_stored_hashed(env: Env) -> None:
    assert env.srv.server is not None
    db = Path(env.srv.server.config.server.data_dir) / "vectorgate.db"
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT * FROM virtual_keys").fetchall()
    finally:
        conn.close()
    dump = repr(rows)
    assert len(rows) >= len(env.keys)
    for key in env.keys.values():
        assert key.startswith("sk-") and len(key) >= 40
        assert key not in dump


def test_bind_refused_without_master_key() -> None:
    check_bind("127.0.0.1", master_key=False, allow_remote=False)
    check_bind("::1", master_key=False, allow_remote=False)
    check_bind("0.0.0.0", master_key=True, allow_remote=False)
    with pytest.raises(OSError, match="without a master key"):
        check_bind("0.0.0.0", master_key=False, allow_remote=False)
    check_bind("0.0.0.0", master_key=False, allow_remote=True)


def test_server_refuses_remote_bind_without_master_key(
    tmp_path: Path, embeddings: EmbeddingRegistry
) -> None:
    from vectorgate_server.runtime import Server

    config = make_config(tmp_path / "data", {"server": {"host": "0.0.0.0"}})
    with pytest.raises(OSError, match="--insecure-allow-remote"):
        Server(config, embeddings=embeddings)


# --------------------------------------------------------------------------- matrix

#: operation -> (permission, gRPC call, HTTP call); each takes (env, index, key).
Op = Callable[[Env, str, str], Any]


def _md(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


def _grpc_upsert(env: Env, index: str, key: str) -> None:
    doc = types_pb2.Document(id="k1", vector=types_pb2.Vector(values=_vec(0.2)))
    ugrpc.UpsertServiceStub(env.channel).UpsertDocuments(
        upb.UpsertDocumentsRequest(collection=index, documents=[doc]), metadata=_md(key)
    )


def _grpc_get(env: Env, index: str, key: str) -> None:
    ugrpc.UpsertServiceStub(env.channel).GetDocuments(
        upb.GetDocumentsRequest(collection=index, ids=["d1"]), metadata=_md(key)
    )


def _grpc_delete(env: Env, index: str, key: str) -> None:
    ugrpc.UpsertServiceStub(env.channel).DeleteDocuments(
        upb.DeleteDocumentsRequest(collection=index, ids=["nope"]), metadata=_md(key)
    )


def _grpc_search(env: Env, index: str, key: str) -> None:
    sgrpc.SearchServiceStub(env.channel).Search(
        spb.SearchRequest(collection=index, vector=types_pb2.Vector(values=_vec(0.1)), top_k=1),
        metadata=_md(key),
    )


def _grpc_describe(env: Env, index: str, key: str) -> None:
    cgrpc.CollectionAdminServiceStub(env.channel).GetCollection(
        cpb.GetCollectionRequest(name=index), metadata=_md(key)
    )


def _grpc_bulk(env: Env, index: str, key: str) -> None:
    doc = types_pb2.Document(id="k2", vector=types_pb2.Vector(values=_vec(0.3)))
    ugrpc.UpsertServiceStub(env.channel).BulkUpsertDocuments(
        iter([upb.BulkUpsertDocumentsRequest(collection=index, documents=[doc])]),
        metadata=_md(key),
    )


def _http(method: str, path: str, body: dict[str, Any] | None = None) -> Op:
    def call(env: Env, index: str, key: str) -> int:
        r = env.http.request(method, path.format(index=index), json=body, headers=_bearer(key))
        return r.status_code

    return call


GRPC_OPS: dict[str, tuple[str, Op]] = {
    "upsert": ("write", _grpc_upsert),
    "bulk": ("write", _grpc_bulk),
    "delete": ("write", _grpc_delete),
    "get": ("read", _grpc_get),
    "search": ("read", _grpc_search),
    "describe": ("read", _grpc_describe),
}

HTTP_OPS: dict[str, tuple[str, Op]] = {
    "upsert": (
        "write",
        _http(
            "POST",
            "/v1/collections/{index}/documents:upsert",
            {"documents": [{"id": "h1", "vector": {"values": _vec(0.4)}}]},
        ),
    ),
    "delete": ("write", _http("POST", "/v1/collections/{index}/documents:delete", {"ids": ["x"]})),
    "get": ("read", _http("POST", "/v1/collections/{index}/documents:get", {"ids": ["d1"]})),
    "search": (
        "read",
        _http(
            "POST", "/v1/collections/{index}:search", {"vector": {"values": _vec(0.1)}, "top_k": 1}
        ),
    ),
    "describe": ("read", _http("GET", "/v1/collections/{index}")),
}

GRANTS = {
    "rw_a": {"idx_a": {"read", "write"}},
    "r_a": {"idx_a": {"read"}},
    "w_a": {"idx_a": {"write"}},
    "rw_b": {"idx_b": {"read", "write"}},
}
# Real collection names and names that are no index at all are never granted.
NAMES = ["idx_a", "idx_b", "real_a", "real_b", "nothing"]


@pytest.mark.parametrize("key_name", sorted(GRANTS))
@pytest.mark.parametrize("op", sorted(GRPC_OPS))
def test_permission_matrix_grpc(env: Env, key_name: str, op: str) -> None:
    needed, call = GRPC_OPS[op]
    for name in NAMES:
        allowed = needed in GRANTS[key_name].get(name, set())
        try:
            call(env, name, env.keys[key_name])
        except grpc.RpcError as exc:
            assert not allowed, (key_name, op, name, exc.code(), exc.details())
            assert exc.code() is grpc.StatusCode.PERMISSION_DENIED, (key_name, op, name)
        else:
            assert allowed, (key_name, op, name)


@pytest.mark.parametrize("key_name", sorted(GRANTS))
@pytest.mark.parametrize("op", sorted(HTTP_OPS))
def test_permission_matrix_http(env: Env, key_name: str, op: str) -> None:
    needed, call = HTTP_OPS[op]
    for name in NAMES:
        allowed = needed in GRANTS[key_name].get(name, set())
        status = call(env, name, env.keys[key_name])
        assert status == (200 if allowed else 403), (key_name, op, name, status)


def test_store_named_by_a_key_is_denied(env: Env) -> None:
    key = env.keys["rw_a"]
    r = env.http.post(
        "/v1/collections/idx_a:search",
        json={"store": "default", "vector": {"values": _vec(0.1)}, "top_k": 1},
        headers=_bearer(key),
    )
    assert r.status_code == 403, r.text
    with pytest.raises(grpc.RpcError) as info:
        sgrpc.SearchServiceStub(env.channel).Search(
            spb.SearchRequest(
                targets=[spb.SearchTarget(collection="idx_b")],
                vector=types_pb2.Vector(values=_vec(0.1)),
                top_k=1,
            ),
            metadata=_md(key),
        )
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/collections", None),
        ("GET", "/v1/indexes", None),
        ("GET", "/v1/indexes/idx_a", None),
        ("DELETE", "/v1/indexes/idx_a", None),
        ("DELETE", "/v1/collections/idx_a", None),
        (
            "POST",
            "/v1/indexes",
            {
                "index_name": "mine",
                "litellm_params": {"vector_store_index": "real_b", "vector_store_name": "lancedb"},
            },
        ),
        ("POST", "/v1/collections", {"collection": {"name": "new", "dimension": 4}}),
        ("POST", "/v1/search", {"vector": {"values": [0.1, 0.1, 0.1, 0.1]}, "top_k": 1}),
    ],
)
def test_admin_and_unscoped_routes_denied_to_keys(
    env: Env, method: str, path: str, body: dict[str, Any] | None
) -> None:
    r = env.http.request(method, path, json=body, headers=_bearer(env.keys["rw_a"]))
    assert r.status_code == 403, r.text


def test_index_admin_denied_to_keys_over_grpc(env: Env) -> None:
    stub = igrpc.IndexAdminServiceStub(env.channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.ListIndexes(ipb.ListIndexesRequest(), metadata=_md(env.keys["rw_a"]))
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED


# --------------------------------------------------------------------------- key management


def test_key_lifecycle_over_http_and_grpc(env: Env) -> None:
    admin = _bearer(MASTER)
    r = env.http.post(
        "/key/generate",
        json={
            "allowed_vector_store_indexes": [
                {"index_name": "idx_b", "index_permissions": ["read"]}
            ],
            "key_alias": "team-b",
            "duration": "1d",
            "metadata": {"team": "b"},
        },
        headers=admin,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    key, token = body["key"], body["info"]["token"]
    assert body["info"]["key_alias"] == "team-b"
    assert body["info"]["expires"]
    info = env.http.get("/key/info", params={"key": token}, headers=admin).json()["info"]
    assert info["allowed_vector_store_indexes"] == [
        {"index_name": "idx_b", "index_permissions": ["read"]}
    ]
    assert key not in repr(info)
    own = env.http.get("/key/info", headers=_bearer(key)).json()["info"]
    assert own["token"] == token
    listed = env.http.get("/key/list", headers=admin).json()["keys"]
    assert token in {k["token"] for k in listed}
    assert key not in repr(listed)
    # A key sees no keys but its children.
    assert env.http.get("/key/list", headers=_bearer(key)).json().get("keys", []) == []
    stub = kgrpc.KeyServiceStub(env.channel)
    updated = stub.UpdateKey(
        kpb.UpdateKeyRequest(
            key=token,
            allowed_vector_store_indexes=[
                kpb.IndexGrant(index_name="idx_b", index_permissions=["read", "write"])
            ],
        ),
        metadata=_md(MASTER),
    )
    assert list(updated.info.allowed_vector_store_indexes[0].index_permissions) == [
        "read",
        "write",
    ]
    _grpc_upsert(env, "idx_b", key)
    r = env.http.post("/key/delete", json={"keys": [token]}, headers=admin)
    assert r.status_code == 200 and r.json()["deleted_keys"] == [token]
    r = env.http.get("/key/info", headers=_bearer(key))
    assert r.status_code == 401


def test_key_cannot_create_wider_key(env: Env) -> None:
    parent = env.keys["r_a"]
    wider = [
        {"allowed_vector_store_indexes": [{"index_name": "idx_a", "index_permissions": ["write"]}]},
        {"allowed_vector_store_indexes": [{"index_name": "idx_b", "index_permissions": ["read"]}]},
        {"models": ["other-model"]},
    ]
    for body in wider:
        r = env.http.post("/key/generate", json=body, headers=_bearer(parent))
        assert r.status_code == 403, (body, r.text)
    r = env.http.post(
        "/key/generate",
        json={
            "allowed_vector_store_indexes": [{"index_name": "idx_a", "index_permissions": ["read"]}]
        },
        headers=_bearer(parent),
    )
    assert r.status_code == 200, r.text
    child = r.json()
    assert child["info"]["models"] == ["embedding-model"]
    assert child["info"]["created_by"]
    assert (
        _http("POST", "/v1/collections/{index}/documents:get", {"ids": ["d1"]})(
            env, "idx_a", child["key"]
        )
        == 200
    )
    # The parent manages its child, not its siblings; the child cannot widen itself.
    listed = env.http.get("/key/list", headers=_bearer(parent)).json()["keys"]
    assert [k["token"] for k in listed] == [child["info"]["token"]]
    r = env.http.post(
        "/key/update",
        json={
            "key": child["info"]["token"],
            "allowed_vector_store_indexes": [
                {"index_name": "idx_a", "index_permissions": ["read", "write"]}
            ],
        },
        headers=_bearer(parent),
    )
    assert r.status_code == 403, r.text
    sibling = env.http.get("/key/info", params={"key": env.keys["rw_b"]}, headers=_bearer(parent))
    assert sibling.status_code == 404
    r = env.http.post("/key/generate", json={"duration": "1x"}, headers=_bearer(MASTER))
    assert r.status_code == 400 and "duration" in r.text


# --------------------------------------------------------------------------- policy filters


def _upsert_http(env: Env, index: str, key: str, docs: list[dict[str, Any]]) -> httpx.Response:
    return env.http.post(
        f"/v1/collections/{index}/documents:upsert", json={"documents": docs}, headers=_bearer(key)
    )


def test_policy_filter_applies_to_every_read_and_write(env: Env) -> None:
    key = env.keys["rw_p"]
    acme = {"id": "p1", "vector": {"values": _vec(0.7)}, "metadata": {"tenant_id": "acme"}}
    assert _upsert_http(env, "idx_p", key, [acme]).status_code == 200
    for metadata in ({"tenant_id": "evil"}, {}):
        doc = {"id": "p2", "vector": {"values": _vec(0.7)}, "metadata": metadata}
        r = _upsert_http(env, "idx_p", key, [doc])
        assert r.status_code == 403 and "documents[0].metadata" in r.text, r.text
    # Overwriting a document outside the policy by reusing its id is denied too.
    hijack = {"id": "d1", "vector": {"values": _vec(0.7)}, "metadata": {"tenant_id": "acme"}}
    assert _upsert_http(env, "idx_p", key, [hijack]).status_code == 403
    got = env.http.post(
        "/v1/collections/idx_p/documents:get", json={"ids": ["d1", "p1"]}, headers=_bearer(key)
    ).json()
    assert [d["id"] for d in got["documents"]] == ["p1"]
    hits = env.http.post(
        "/v1/collections/idx_p:search",
        json={"vector": {"values": _vec(0.1)}, "top_k": 10},
        headers=_bearer(key),
    ).json()["hits"]
    assert {h["id"] for h in hits} == {"p1"}
    r = env.http.post(
        "/v1/collections/idx_p/documents:delete", json={"ids": ["d1"]}, headers=_bearer(key)
    )
    assert r.status_code == 200
    still = env.http.post(
        "/v1/collections/real_a/documents:get", json={"ids": ["d1"]}, headers=_bearer(MASTER)
    ).json()
    assert [d["id"] for d in still["documents"]] == ["d1"]


def test_key_models_restrict_embeddings(env: Env) -> None:
    body = {"input": "hello", "model": "all-MiniLM-L6-v2"}
    r = env.http.post("/v1/embeddings", json=body, headers=_bearer(env.keys["rw_a"]))
    assert r.status_code == 403, r.text
    assert env.http.post("/v1/embeddings", json=body, headers=_bearer(MASTER)).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/vector_stores/{index}/search", {"query": "rocks"}),
        ("/vector_stores/{index}/search", {"query": "rocks"}),
        ("/v1/vector/search", {"collection": "{index}", "query": "rocks"}),
    ],
)
def test_compat_routes_scope_keys_to_their_indexes(
    env: Env, path: str, body: dict[str, Any]
) -> None:
    key = _bearer(env.keys["rw_a"])
    for index, allowed in (("idx_a", True), ("idx_b", False), ("real_a", False)):
        filled = {k: v.format(index=index) for k, v in body.items()}
        r = env.http.post(path.format(index=index), json=filled, headers=key)
        # idx_a is vectors-only, so a text query fails later, but not for want of rights.
        assert (r.status_code not in (401, 403)) if allowed else r.status_code == 403, (
            path,
            index,
            r.status_code,
            r.text,
        )
