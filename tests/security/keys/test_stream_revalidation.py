"""A stream re-checks its key before every message: once the key stops being valid
(deleted, expired, downgraded, or a key above it revoked), at most the batch
already accepted is written, never the rest of the stream.

Over gRPC ``BulkUpsertDocuments`` and the REST NDJSON bulk upsert. The stream
sends batch after batch; after batch ``K`` the key is revoked (from another
connection, with the master key) and the stream goes on. Only batches ``0..K+1``
may be stored, and the call fails with UNAUTHENTICATED / PERMISSION_DENIED
(401 / 403).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest

from tests.security.keys.conftest import MASTER, Gateway, bearer, md
from vectorgate.v1 import types_pb2
from vectorgate.v1 import upsert_service_pb2 as upb
from vectorgate.v1 import upsert_service_pb2_grpc as ugrpc

BATCHES = 12
PER_BATCH = 5
#: Batches sent before the key is revoked.
K = 3
_RUN = itertools.count()

Revoke = Callable[[httpx.Client, str, str], None]


def _update(admin: httpx.Client, key: str, **changes: Any) -> None:
    r = admin.post("/key/update", json={"key": key, **changes})
    assert r.status_code == 200, r.text


def _delete(admin: httpx.Client, key: str, parent: str) -> None:
    assert admin.post("/key/delete", json={"keys": [key]}).status_code == 200


def _expire(admin: httpx.Client, key: str, parent: str) -> None:
    _update(admin, key, duration="1s")
    time.sleep(1.1)


def _read_only(admin: httpx.Client, key: str, parent: str) -> None:
    _update(
        admin,
        key,
        allowed_vector_store_indexes=[{"index_name": "idx_vec", "index_permissions": ["read"]}],
    )


def _no_grants(admin: httpx.Client, key: str, parent: str) -> None:
    _update(admin, key, update_indexes=True, allowed_vector_store_indexes=[])


def _parent_deleted(admin: httpx.Client, key: str, parent: str) -> None:
    _delete(admin, parent, "")


def _parent_expired(admin: httpx.Client, key: str, parent: str) -> None:
    # The parent only: the stream's key is revoked because a key above it is.
    _expire(admin, parent, "")


def _parent_downgraded(admin: httpx.Client, key: str, parent: str) -> None:
    _read_only(admin, parent, "")


REVOCATIONS: dict[str, Revoke] = {
    "deleted": _delete,
    "expired": _expire,
    "downgraded": _read_only,
    "grants_removed": _no_grants,
    "parent_deleted": _parent_deleted,
    "parent_expired": _parent_expired,
    "parent_downgraded": _parent_downgraded,
}


def _keys(gateway: Gateway) -> tuple[str, str]:
    grant = [{"index_name": "idx_vec", "index_permissions": ["read", "write"]}]
    parent = gateway.mint({"allowed_vector_store_indexes": grant})
    child = gateway.mint({"allowed_vector_store_indexes": grant}, key=parent)
    return parent, child


def _batch(run: int, i: int) -> list[dict[str, Any]]:
    return [
        {"id": f"s{run}-b{i}-{j}", "vector": {"values": [1.0, float(i), float(j), 0.5]}}
        for j in range(PER_BATCH)
    ]


def _stored_batches(gateway: Gateway, run: int) -> set[int]:
    ids = [d["id"] for i in range(BATCHES) for d in _batch(run, i)]
    r = gateway.http.post(
        "/v1/collections/kb_vec/documents:get", json={"ids": ids}, headers=bearer(MASTER)
    )
    assert r.status_code == 200, r.text
    return {int(d["id"].split("-b")[1].split("-")[0]) for d in r.json().get("documents", [])}


def _pb_batch(run: int, i: int) -> upb.BulkUpsertDocumentsRequest:
    req = upb.BulkUpsertDocumentsRequest(collection="idx_vec" if i == 0 else "")
    for doc in _batch(run, i):
        req.documents.append(
            types_pb2.Document(
                id=doc["id"], vector=types_pb2.Vector(values=doc["vector"]["values"])
            )
        )
    return req


@pytest.mark.parametrize("how", sorted(REVOCATIONS))
def test_grpc_bulk_upsert_stops_within_one_batch(gateway: Gateway, how: str) -> None:
    run = next(_RUN)
    parent, key = _keys(gateway)
    with httpx.Client(base_url=gateway.srv.http_base, headers=bearer(MASTER), timeout=30) as admin:

        def requests() -> Iterator[upb.BulkUpsertDocumentsRequest]:
            for i in range(BATCHES):
                if i == K + 1:
                    REVOCATIONS[how](admin, key, parent)
                yield _pb_batch(run, i)
                time.sleep(0.05)

        stub = ugrpc.UpsertServiceStub(gateway.channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.BulkUpsertDocuments(requests(), metadata=md(key), timeout=60)
    assert info.value.code() in (
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
    ), info.value.details()
    stored = _stored_batches(gateway, run)
    assert set(range(K)) <= stored  # accepted before: written
    assert stored <= set(range(K + 2)), sorted(stored)  # at most one batch after


@pytest.mark.parametrize("how", sorted(REVOCATIONS))
def test_rest_ndjson_bulk_upsert_stops_within_one_batch(gateway: Gateway, how: str) -> None:
    run = next(_RUN)
    parent, key = _keys(gateway)
    with httpx.Client(base_url=gateway.srv.http_base, headers=bearer(MASTER), timeout=30) as admin:

        def body() -> Iterator[bytes]:
            for i in range(BATCHES):
                if i == K + 1:
                    REVOCATIONS[how](admin, key, parent)
                yield json.dumps({"documents": _batch(run, i)}).encode() + b"\n"
                time.sleep(0.05)

        headers = {**bearer(key), "Content-Type": "application/x-ndjson"}
        with httpx.Client(base_url=gateway.srv.http_base, timeout=60) as client:
            try:
                r = client.post(
                    "/v1/collections/idx_vec/documents:bulkUpsert", content=body(), headers=headers
                )
            except httpx.TransportError:
                status = None  # the server answered (and closed) before the body ended
            else:
                status = r.status_code
    assert status in (None, 401, 403), status
    stored = _stored_batches(gateway, run)
    assert set(range(K)) <= stored
    assert stored <= set(range(K + 2)), sorted(stored)


def test_a_stream_that_stays_valid_writes_everything(gateway: Gateway) -> None:
    run = next(_RUN)
    _, key = _keys(gateway)
    stub = ugrpc.UpsertServiceStub(gateway.channel)
    response = stub.BulkUpsertDocuments(
        iter([_pb_batch(run, i) for i in range(BATCHES)]), metadata=md(key), timeout=60
    )
    assert response.upserted_count == BATCHES * PER_BATCH
    assert _stored_batches(gateway, run) == set(range(BATCHES))
