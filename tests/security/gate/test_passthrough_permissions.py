"""One permission table for every face (issue #14, item 5).

The Milvus passthrough's rules are *derived* from the RPC table: every
endpoint maps to an RPC, and a key is refused on it exactly when that RPC
would refuse it. Collection lifecycle (create, drop, release, index
create/drop) is ADMIN: the master key, or the index permission ``admin`` on
the virtual index naming the collection, over gRPC, transcoded REST and the
passthrough alike. ``read``/``write`` keys keep working for data.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import itertools
from typing import Any

import grpc
import httpx
import pytest

from tests.security.gate.conftest import MASTER, Gateway
from vectorgate import Client
from vectorgate.errors import VectorgateError
from vectorgate_server import milvus_rest
from vectorgate_server.services.registry import Permission, Rpc

pytestmark = pytest.mark.timeout(240)

INDEX = "vi-milvus"
SCHEMA = {
    "fields": [
        {"fieldName": "pk", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": 4}},
    ]
}
#: A body each endpoint accepts (or at least understands) for INDEX.
BODIES: dict[str, dict[str, Any]] = {
    "collections/create": {
        "schema": SCHEMA,
        "indexParams": [{"fieldName": "v", "metricType": "L2"}],
    },
    "entities/insert": {"data": [{"pk": 1, "v": [0.1, 0.2, 0.3, 0.4]}]},
    "entities/upsert": {"data": [{"pk": 2, "v": [0.1, 0.2, 0.3, 0.4]}]},
    "entities/delete": {"filter": "pk in [2]"},
    "entities/search": {"data": [[0.1, 0.2, 0.3, 0.4]], "annsField": "v", "limit": 1},
    "entities/query": {"filter": "pk >= 0", "outputFields": ["pk"]},
    "entities/get": {"id": [1], "outputFields": ["pk"]},
    "indexes/create": {"indexParams": [{"fieldName": "v", "metricType": "L2"}]},
    "indexes/drop": {"indexName": "v"},
    "indexes/describe": {"indexName": "v"},
}
GRANTS = ("read", "write", "admin")


def _post(gw: Gateway, endpoint: str, key: str, body: dict[str, Any]) -> httpx.Response:
    return gw.http.post(
        f"/milvus/v2/vectordb/{endpoint}", json=body, headers={"Authorization": f"Bearer {key}"}
    )


def _rpcs(gw: Gateway) -> dict[str, Rpc]:
    assert gw.server.server is not None
    return {rpc.full_name: rpc for rpc in gw.server.server.rpcs}


def _allowed(rpc: Rpc, grants: frozenset[str]) -> bool:
    """Whether a key holding ``grants`` on the index may call ``rpc`` on it (the RPC table)."""
    if rpc.permission is Permission.ADMIN:
        return rpc.per_index and "admin" in grants
    return rpc.permission.value in grants


def _has(gw: Gateway) -> bool:
    r = _post(gw, "collections/has", MASTER, {"collectionName": INDEX})
    assert r.status_code == 200, r.text
    return bool(r.json()["data"]["has"])


def _recreate(gw: Gateway) -> None:
    if _has(gw):
        assert _post(gw, "collections/drop", MASTER, {"collectionName": INDEX}).json()["code"] == 0
    body = {"collectionName": INDEX, **BODIES["collections/create"]}
    r = _post(gw, "collections/create", MASTER, body)
    assert r.json()["code"] == 0, r.text


def test_every_passthrough_endpoint_maps_to_an_rpc(gateway: Gateway) -> None:
    """The table is complete: each endpoint the module serves names an RPC of the table."""
    rpcs = _rpcs(gateway)
    served = set()
    for node in ast.walk(ast.parse(inspect.getsource(milvus_rest))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            group, _, action = node.value.partition("/")
            if group in ("collections", "entities", "indexes", "partitions", "aliases") and action:
                served.add(node.value)
    assert served, "no endpoint literal found in milvus_rest"
    unmapped = served - set(milvus_rest.ENDPOINTS)
    assert not unmapped, f"passthrough endpoints without an RPC mapping: {sorted(unmapped)}"
    for endpoint, name in milvus_rest.ENDPOINTS.items():
        assert name in rpcs, (endpoint, name)
    # Lifecycle is ADMIN: exactly the endpoints that create, drop or take out of service.
    admin = {e for e, n in milvus_rest.ENDPOINTS.items() if rpcs[n].permission is Permission.ADMIN}
    assert admin == {
        "collections/create",
        "collections/drop",
        "collections/release",
        "indexes/create",
        "indexes/drop",
    }


@pytest.mark.parametrize(
    "grants",
    [frozenset(c) for n in range(1, 4) for c in itertools.combinations(GRANTS, n)],
    ids=lambda g: "+".join(sorted(g)),
)
def test_passthrough_permission_equals_its_rpcs(gateway: Gateway, grants: frozenset[str]) -> None:
    """Each endpoint refuses (403) exactly the keys its RPC refuses, and nothing else."""
    rpcs = _rpcs(gateway)
    key = gateway.key({INDEX: sorted(grants)})
    _recreate(gateway)
    # Lifecycle last, so that data endpoints run against an existing collection.
    order = sorted(
        milvus_rest.ENDPOINTS,
        key=lambda e: (e in ("collections/drop", "collections/create"), e),
    )
    for endpoint in order:
        rpc = rpcs[milvus_rest.ENDPOINTS[endpoint]]
        r = _post(gateway, endpoint, key, {"collectionName": INDEX, **BODIES.get(endpoint, {})})
        assert r.status_code < 500, (endpoint, r.text)
        if endpoint == "collections/list":
            listed = r.json()["data"]
            assert listed == ([INDEX] if "read" in grants else []), (grants, listed)
            continue
        if _allowed(rpc, grants):
            assert r.status_code != 403, (endpoint, sorted(grants), r.text)
        else:
            assert r.status_code == 403, (endpoint, sorted(grants), r.text)
    if "admin" not in grants:
        assert _has(gateway), "a key without admin dropped the collection"


def test_write_key_cannot_touch_the_collection_lifecycle(gateway: Gateway) -> None:
    _recreate(gateway)
    writer = gateway.key({INDEX: ["read", "write"]})
    for endpoint in ("collections/drop", "collections/release", "indexes/drop"):
        r = _post(gateway, endpoint, writer, {"collectionName": INDEX, "indexName": "v"})
        assert r.status_code == 403, (endpoint, r.text)
    assert _has(gateway)
    # Any schema, any index: refused.
    for endpoint in ("collections/create", "indexes/create"):
        for body in (
            {"dimension": 8},
            BODIES["collections/create"],
            {"schema": {"fields": []}},
            BODIES["indexes/create"],
        ):
            r = _post(gateway, endpoint, writer, {"collectionName": INDEX, **body})
            assert r.status_code == 403, (endpoint, body, r.text)
    # Data still works with read/write (LiteLLM keys keep working).
    r = _post(
        gateway, "entities/insert", writer, {"collectionName": INDEX, **BODIES["entities/insert"]}
    )
    assert r.json()["code"] == 0, r.text


def test_admin_grant_is_limited_to_its_own_index(gateway: Gateway) -> None:
    owner = gateway.key({INDEX: ["read", "write", "admin"]})
    for name in ("vi-other", "other_real", "milvus_real", "vi-lance"):
        r = _post(gateway, "collections/drop", owner, {"collectionName": name})
        assert r.status_code == 403, (name, r.text)


@pytest.mark.parametrize(
    "endpoint",
    [
        "collections/rename",
        "users/create",
        "roles/create",
        "aliases/create",
        "partitions/create",
        "databases/drop",
        "collections/compact",
        "collections/fields/add",
        "import/create",
    ],
)
def test_unknown_endpoints_are_refused(gateway: Gateway, endpoint: str) -> None:
    owner = gateway.key({INDEX: ["read", "write", "admin"]})
    for key in (owner, MASTER):
        r = _post(gateway, endpoint, key, {"collectionName": INDEX})
        assert r.status_code == 404, (endpoint, r.text)


def _grpc(gw: Gateway, key: str) -> Client:
    return Client(gw.server.grpc_target, api_key=key)


def test_grpc_lifecycle_follows_the_same_table(gateway: Gateway) -> None:
    """CreateCollection/DeleteCollection named by the virtual index act on its collection
    for a key holding ``admin`` on it; PERMISSION_DENIED without; the master key as before."""
    name = "vi-lance"
    writer = gateway.key({name: ["read", "write"]})
    owner = gateway.key({name: ["read", "write", "admin"]})
    with _grpc(gateway, MASTER) as master, contextlib.suppress(VectorgateError):
        master.delete_collection("lance_real")
    with _grpc(gateway, writer) as client:
        with pytest.raises(VectorgateError) as err:
            client.create_collection(name, dimension=4, embedding_model="none")
        assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
    with _grpc(gateway, owner) as client:
        created = client.create_collection(name, dimension=4, embedding_model="none")
        assert created.name == name
        client.upsert(name, [{"id": "a", "text": "x", "vector": [0.1, 0.2, 0.3, 0.4]}])
        assert client.get_collection(name).name == name
    with _grpc(gateway, MASTER) as master:
        assert master.get_collection("lance_real").name == "lance_real"  # the backing collection
    for key in (writer, gateway.key({name: ["read"]})):
        with _grpc(gateway, key) as client, pytest.raises(VectorgateError) as err:
            client.delete_collection(name)
        assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
    with _grpc(gateway, owner) as client:
        # Not another index, not a real name, not a store override, not the index registry.
        for other in ("vi-milvus", "lance_real"):
            with pytest.raises(VectorgateError) as err:
                client.delete_collection(other)
            assert err.value.code == grpc.StatusCode.PERMISSION_DENIED, other
        with pytest.raises(VectorgateError) as err:
            client.delete_collection(name, store="local")
        assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
        client.delete_collection(name)
    with _grpc(gateway, MASTER) as master, pytest.raises(VectorgateError) as err:
        master.get_collection("lance_real")
    assert err.value.code == grpc.StatusCode.NOT_FOUND


def test_transcoded_rest_lifecycle_follows_the_same_table(gateway: Gateway) -> None:
    name = "vi-lance"
    writer = gateway.key({name: ["read", "write"]})
    owner = gateway.key({name: ["admin"]})
    body = {"collection": {"name": name, "dimension": 4, "embedding_model": "none"}}
    for key, expected in ((writer, 403), (owner, 200)):
        r = gateway.http.post(
            "/v1/collections", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        assert r.status_code == expected, r.text
    r = gateway.http.delete(
        f"/v1/collections/{name}", headers={"Authorization": f"Bearer {writer}"}
    )
    assert r.status_code == 403, r.text
    r = gateway.http.delete(f"/v1/collections/{name}", headers={"Authorization": f"Bearer {owner}"})
    assert r.status_code == 200, r.text
    # The virtual index registry stays master-only, whatever the key holds.
    for method, path in (("DELETE", f"/v1/indexes/{name}"), ("GET", "/v1/indexes")):
        r = gateway.http.request(method, path, headers={"Authorization": f"Bearer {owner}"})
        assert r.status_code == 403, (method, path, r.text)


def test_admin_grant_does_not_cover_a_policy_filtered_index(gateway: Gateway) -> None:
    """An index with a policy filter shares its collection: lifecycle stays with the master key."""
    gateway.index(
        "vi-tenant",
        "local",
        "shared_real",
        policy_filter={
            "condition": {
                "field": "tenant",
                "op": "FILTER_OPERATOR_EQ",
                "value": {"string_value": "a"},
            }
        },
    )
    owner = gateway.key({"vi-tenant": ["read", "write", "admin"]})
    with _grpc(gateway, owner) as client, pytest.raises(VectorgateError) as err:
        client.create_collection("vi-tenant", dimension=4, embedding_model="none")
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED


def test_admin_is_a_grantable_index_permission(gateway: Gateway) -> None:
    owner = gateway.key({INDEX: ["read", "admin"]})
    r = gateway.http.get("/key/info", params={"key": owner}, headers=gateway.admin)
    assert r.status_code == 200, r.text
    # A key can hand on what it has, not more.
    r = gateway.http.post(
        "/key/generate",
        json={
            "allowed_vector_store_indexes": [{"index_name": INDEX, "index_permissions": ["write"]}]
        },
        headers={"Authorization": f"Bearer {owner}"},
    )
    assert r.status_code == 403, r.text
    r = gateway.http.post(
        "/key/generate",
        json={
            "allowed_vector_store_indexes": [{"index_name": INDEX, "index_permissions": ["admin"]}]
        },
        headers={"Authorization": f"Bearer {owner}"},
    )
    assert r.status_code == 200, r.text
