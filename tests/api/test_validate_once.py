"""Bad metadata is refused once, by the application layer, on every face and every backend.

A real server with one store per backend family (LanceDB, embedded Qdrant,
pgvector on a real PostgreSQL, the OpenSearch and Pinecone test servers). Each
bad document goes through each face (the Python gRPC client, a raw gRPC
Struct request, the transcoded REST route, the ``/v1/vector/store`` compat
route): the answer is INVALID_ARGUMENT / HTTP 400 naming the field, with the
one message of the application layer (so no adapter re-checks it: the same
text whatever the backend), and nothing is written.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from tests.servers.opensearch_server import OpenSearchTestServer
from tests.servers.pinecone_server import PineconeTestServer
from tests.support.pgserver import PgvectorServer
from tests.support.servers import ServerThread, make_config
from vectorgate import Client, InvalidArgumentError
from vectorgate.v1 import upsert_service_pb2
from vectorgate_server.embeddings import EmbeddingRegistry

STORES = ("lance", "qdrant", "pg", "os", "pc")

#: (metadata as JSON, the field named, the start of the application layer's message)
BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"bad key": 1}, "documents[0].metadata.bad key", "metadata keys must match"),
    ({"id": "x"}, "documents[0].metadata.id", "'id' is reserved"),
    ({"k": {"nested": 1}}, "documents[0].metadata.k", "nested objects are not supported"),
    ({"k": ["a", 2]}, "documents[0].metadata.k[1]", "list metadata values must be strings"),
]


@pytest.fixture(scope="module")
def srv(
    tmp_path_factory: pytest.TempPathFactory,
    embeddings: EmbeddingRegistry,
    pgvector_server: PgvectorServer,
    opensearch_server: OpenSearchTestServer,
    pinecone_server: PineconeTestServer,
) -> Iterator[ServerThread]:
    root = tmp_path_factory.mktemp("validate_once")
    mp = pytest.MonkeyPatch()
    mp.setenv("PINECONE_CONTROLLER_HOST", pinecone_server.url)
    stores = {
        "lance": {"type": "lancedb", "uri": str(root / "lance")},
        "qdrant": {"type": "qdrant", "path": str(root / "q")},
        "pg": {
            "type": "pgvector",
            "dsn": pgvector_server.dsn(),
            "schema_name": f"vo_{root.name.lower().replace('-', '_')}"[:60],
        },
        "os": {"type": "opensearch", "hosts": [opensearch_server.url]},
        "pc": {"type": "pinecone", "api_key": pinecone_server.project_key("validate_once")},
    }
    try:
        config = make_config(root / "data", {"vector_stores": stores, "default_store": "lance"})
        with ServerThread(config, embeddings) as server:
            yield server
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def client(srv: ServerThread) -> Iterator[Client]:
    with Client(srv.grpc_target) as c:
        for store in STORES:
            c.create_collection("vo", dimension=2, embedding_model="none", store=store)
        yield c


@pytest.fixture(scope="module")
def http(srv: ServerThread, client: Client) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.http_base, timeout=60) as c:
        yield c


def _doc(metadata: dict[str, Any]) -> dict[str, Any]:
    return {"id": "bad", "vector": [1.0, 0.5], "metadata": metadata}


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize(("metadata", "field", "message"), BAD)
def test_every_face_refuses_bad_metadata_the_same_way(
    client: Client,
    http: httpx.Client,
    store: str,
    metadata: dict[str, Any],
    field: str,
    message: str,
) -> None:
    messages: set[str] = set()
    # 1. The Python client (gRPC).
    with pytest.raises(InvalidArgumentError) as err:
        client.upsert("vo", [_doc(metadata)], store=store)
    assert err.value.field == field
    messages.add(err.value.message)
    # 2. A raw gRPC request with a Struct.
    request = upsert_service_pb2.UpsertDocumentsRequest(collection="vo", store=store)
    pb = request.documents.add(id="bad")
    pb.vector.values.extend([1.0, 0.5])
    pb.metadata.update(metadata)
    with pytest.raises(InvalidArgumentError) as err:
        client._call(client._upsert.UpsertDocuments, request)
    assert err.value.field == field
    messages.add(err.value.message)
    # 3. The transcoded REST route and 4. the compat route.
    for path, body in (
        (
            "/v1/collections/vo/documents:upsert",
            {"store": store, "documents": [{**_doc(metadata), "vector": {"values": [1.0, 0.5]}}]},
        ),
        ("/v1/vector/store", {"store": store, "collection": "vo", "documents": [_doc(metadata)]}),
    ):
        r = http.post(path, json=body)
        assert r.status_code == 400, r.text
        status = r.json()  # google.rpc.Status
        assert status["code"] == 3  # INVALID_ARGUMENT
        [info] = [d for d in status["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
        assert info["metadata"]["field"] == field, path
        messages.add(status["message"])
    # One check, one message, whatever the face and the backend.
    assert len(messages) == 1 and message in messages.pop()
    assert client.get("vo", ["bad"], store=store) == []


@pytest.mark.parametrize("store", STORES)
def test_non_finite_numbers_are_refused(client: Client, store: str) -> None:
    request = upsert_service_pb2.UpsertDocumentsRequest(collection="vo", store=store)
    pb = request.documents.add(id="bad")
    pb.vector.values.extend([1.0, 0.5])
    pb.metadata.update({"n": math.inf})
    with pytest.raises(InvalidArgumentError) as err:
        client._call(client._upsert.UpsertDocuments, request)
    assert err.value.field == "documents[0].metadata.n"
    assert "numbers must be finite" in err.value.message


def test_a_type_change_is_refused_by_the_collection_rule(client: Client) -> None:
    """The one rule every adapter applies with its collection's state (shared code)."""
    for store in STORES:
        client.upsert(
            "vo", [{"id": "t1", "vector": [1, 0], "metadata": {"kind": "a"}}], store=store
        )
        with pytest.raises(InvalidArgumentError) as err:
            client.upsert(
                "vo", [{"id": "t2", "vector": [0, 1], "metadata": {"kind": 5}}], store=store
            )
        assert err.value.field == "documents[0].metadata.kind", store
        assert "stores string values under 'kind'" in err.value.message, store


def test_nul_is_refused_by_the_application_for_pgvector_only(client: Client) -> None:
    """PostgreSQL cannot store U+0000: a capability, checked before the adapter is called."""
    doc = {"id": "n1", "text": "a\x00b", "vector": [1, 0], "metadata": {"s": ["x", "y\x00"]}}
    with pytest.raises(InvalidArgumentError) as err:
        client.upsert("vo", [doc], store="pg")
    assert err.value.field == "documents[0].text"
    assert "'pgvector'" in err.value.message and "U+0000" in err.value.message
    with pytest.raises(InvalidArgumentError) as err:
        client.upsert("vo", [{**doc, "text": "ab"}], store="pg")
    assert err.value.field == "documents[0].metadata.s[1]"
    client.upsert("vo", [doc], store="lance")  # LanceDB stores it
    [got] = client.get("vo", ["n1"], store="lance")
    assert got.text == "a\x00b" and got.metadata == {"s": ["x", "y\x00"]}


def test_nul_in_a_columnar_batch_is_refused_for_pgvector_too(client: Client) -> None:
    """The columnar path applies the same capability check, naming the column cell."""
    vectors = np.asarray([[1, 0], [0, 1]], dtype=np.float32)
    with pytest.raises(InvalidArgumentError) as err:
        client.upsert("vo", ids=["c1", "c2"], vectors=vectors, texts=["ok", "a\x00b"], store="pg")
    assert err.value.field == "columns.texts[1]"
    assert "U+0000" in err.value.message
    with pytest.raises(InvalidArgumentError) as err:
        client.upsert(
            "vo", ids=["c1", "c2"], vectors=vectors, metadata={"s": ["x", "y\x00"]}, store="pg"
        )
    assert err.value.field == "columns.metadata[0].values[1]"
    assert client.get("vo", ["c1", "c2"], store="pg") == []
    client.upsert("vo", ids=["c1", "c2"], vectors=vectors, texts=["ok", "a\x00b"], store="lance")
    assert len(client.get("vo", ["c1", "c2"], store="lance")) == 2
