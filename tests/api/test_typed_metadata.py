"""Typed metadata end to end through a real server: gRPC client, REST, compat routes.

Also the two contract corrections of the same issue: ListCollections reports
real document counts, and ``score_threshold: 0`` is a threshold.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.servers.pinecone_server import PineconeTestServer
from tests.support.servers import ServerThread, make_config
from vectorgate import Client, F, InvalidArgumentError
from vectorgate.v1 import types_pb2, upsert_service_pb2
from vectorgate_server.embeddings import EmbeddingRegistry

pytest_plugins = ["tests.support.pinecone_fixtures"]

BIG = 2**53 + 1
TYPED = {
    "ratio": 3.0,
    "count": 3,
    "big": BIG,
    "min": -(2**63),
    "flag": True,
    "tags": ["a", "b"],
}


@pytest.fixture(scope="module")
def srv(
    tmp_path_factory: pytest.TempPathFactory,
    embeddings: EmbeddingRegistry,
    pinecone_server: PineconeTestServer,
) -> Iterator[ServerThread]:
    """A server with the default LanceDB store and a Pinecone store (the test server)."""
    data = tmp_path_factory.mktemp("typed") / "data"
    mp = pytest.MonkeyPatch()
    mp.setenv("PINECONE_CONTROLLER_HOST", pinecone_server.url)
    try:
        config = make_config(
            data,
            {
                "vector_stores": {
                    "local": {"type": "lancedb", "uri": str(data / "lancedb")},
                    "pc": {"type": "pinecone", "api_key": pinecone_server.project_key("typed")},
                }
            },
        )
        with ServerThread(config, embeddings) as server:
            yield server
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def client(srv: ServerThread) -> Iterator[Client]:
    with Client(srv.grpc_target) as c:
        yield c


@pytest.fixture(scope="module")
def http(srv: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.http_base, timeout=60) as c:
        yield c


def _types(value: dict[str, object]) -> dict[str, str]:
    return {k: type(v).__name__ for k, v in value.items()}


def test_python_client_round_trips_types_exactly(client: Client) -> None:
    client.create_collection("typed_grpc", dimension=4, embedding_model="none", store="local")
    client.upsert(
        "typed_grpc",
        [
            {"id": "a", "vector": [1, 0, 0, 0], "metadata": TYPED},
            {"id": "b", "vector": [0, 1, 0, 0], "metadata": {"big": BIG - 1, "ratio": 2.5}},
        ],
        store="local",
    )
    [doc] = client.get("typed_grpc", ["a"], store="local")
    assert doc.metadata == TYPED
    assert _types(doc.metadata) == _types(TYPED)
    hits = client.search(
        "typed_grpc", vector=[1, 0, 0, 0], top_k=5, filter=F("big") == BIG, store="local"
    )
    assert [h.id for h in hits] == ["a"]
    assert hits[0].metadata == TYPED and _types(hits[0].metadata) == _types(TYPED)
    # Ranges on int64 are exact too.
    hits = client.search(
        "typed_grpc", vector=[1, 0, 0, 0], top_k=5, filter=F("big") >= BIG, store="local"
    )
    assert [h.id for h in hits] == ["a"]


def test_struct_clients_still_work_and_both_forms_are_answered(client: Client) -> None:
    """An old client sends and reads google.protobuf.Struct; the server answers both forms."""
    client.create_collection("typed_legacy", dimension=4, embedding_model="none", store="local")
    request = upsert_service_pb2.UpsertDocumentsRequest(collection="typed_legacy", store="local")
    doc = request.documents.add(id="x")
    doc.vector.values.extend([1, 0, 0, 0])
    doc.metadata.update({"year": 1979, "score": 0.5})
    stub = client._upsert
    stub.UpsertDocuments(request)
    got = stub.GetDocuments(
        upsert_service_pb2.GetDocumentsRequest(collection="typed_legacy", store="local", ids=["x"])
    )
    [pb] = got.documents
    assert pb.metadata["year"] == 1979 and pb.metadata["score"] == 0.5
    assert pb.typed_metadata["year"].int_value == 1979
    assert pb.typed_metadata["score"].float_value == 0.5
    # Setting both forms in one document is refused, naming the field.
    both = upsert_service_pb2.UpsertDocumentsRequest(collection="typed_legacy", store="local")
    d = both.documents.add(id="y")
    d.vector.values.extend([1, 0, 0, 0])
    d.metadata.update({"a": 1})
    d.typed_metadata["b"].CopyFrom(types_pb2.FilterValue(int_value=2))
    with pytest.raises(InvalidArgumentError) as err:
        client._call(stub.UpsertDocuments, both)
    assert err.value.field == "documents[0].metadata"


def test_rest_keeps_integers_and_floats(http: httpx.Client) -> None:
    r = http.post(
        "/v1/collections",
        json={
            "collection": {
                "name": "typed_rest",
                "store": "local",
                "dimension": 4,
                "embedding_model": "none",
            }
        },
    )
    assert r.status_code == 200, r.text
    # Raw JSON text: 3.0 is a float, 9007199254740993 an exact integer.
    body = (
        '{"store": "local", "documents": [{"id": "a", "vector": {"values": [1, 0, 0, 0]}, '
        '"metadata": {"ratio": 3.0, "count": 3, "big": 9007199254740993, '
        '"min": -9223372036854775808, "flag": true, "tags": ["a", "b"]}}, '
        '{"id": "b", "vector": {"values": [0, 1, 0, 0]}, "metadata": {"big": 9007199254740992}}]}'
    )
    r = http.post(
        "/v1/collections/typed_rest/documents:upsert",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200, r.text
    r = http.post("/v1/collections/typed_rest/documents:get", json={"store": "local", "ids": ["a"]})
    assert r.status_code == 200, r.text
    text = r.text
    assert '"ratio":3.0' in text.replace(" ", "")
    assert '"big":9007199254740993' in text.replace(" ", "")
    assert '"min":-9223372036854775808' in text.replace(" ", "")
    assert "typed_metadata" not in text  # one plain metadata object
    metadata = json.loads(text)["documents"][0]["metadata"]
    assert metadata == TYPED and _types(metadata) == _types(TYPED)
    # Search (transcoded) with a typed filter on the big integer.
    r = http.post(
        "/v1/collections/typed_rest:search",
        json={
            "store": "local",
            "vector": {"values": [1, 0, 0, 0]},
            "top_k": 5,
            "filter": {
                "condition": {
                    "field": "big",
                    "op": "FILTER_OPERATOR_EQ",
                    "value": {"int_value": "9007199254740993"},
                }
            },
        },
    )
    assert r.status_code == 200, r.text
    hits = json.loads(r.text)["hits"]
    assert [h["id"] for h in hits] == ["a"]
    assert hits[0]["metadata"] == TYPED and _types(hits[0]["metadata"]) == _types(TYPED)
    assert '"ratio":3.0' in r.text.replace(" ", "")
    # A nested object is refused, naming the field.
    r = http.post(
        "/v1/collections/typed_rest/documents:upsert",
        json={
            "store": "local",
            "documents": [
                {"id": "c", "vector": {"values": [1, 0, 0, 0]}, "metadata": {"bad": {"x": 1}}}
            ],
        },
    )
    assert r.status_code == 400, r.text
    assert r.json()["details"][0]["metadata"]["field"] == "documents[0].metadata.bad"


def test_compat_routes_keep_types(http: httpx.Client) -> None:
    body = (
        '{"store": "local", "collection": "typed_compat", "documents": [{"id": "a", '
        '"text": "typed numbers", "metadata": {"ratio": 3.0, "count": 3, '
        '"big": 9007199254740993, "min": -9223372036854775808, "flag": true, '
        '"tags": ["a", "b"]}}]}'
    )
    r = http.post("/v1/vector/store", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    r = http.post(
        "/v1/vector/search",
        json={"store": "local", "collection": "typed_compat", "query": "typed numbers"},
    )
    assert r.status_code == 200, r.text
    [result] = json.loads(r.text)["results"]
    assert result["metadata"] == TYPED and _types(result["metadata"]) == _types(TYPED)
    assert '"ratio":3.0' in r.text.replace(" ", "")
    # OpenAI's vector store search: attributes are the metadata, typed the same way.
    r = http.post("/v1/vector_stores/typed_compat/search", json={"query": "typed numbers"})
    assert r.status_code == 200, r.text
    attributes = json.loads(r.text)["data"][0]["attributes"]
    assert attributes["ratio"] == 3.0 and isinstance(attributes["ratio"], float)
    assert attributes["big"] == BIG and isinstance(attributes["big"], int)


def test_pinecone_refuses_integers_it_would_round(client: Client) -> None:
    client.create_collection("typedpc", dimension=4, embedding_model="none", store="pc")
    with pytest.raises(InvalidArgumentError) as err:
        client.upsert(
            "typedpc",
            [
                {"id": "ok", "vector": [1, 0, 0, 0], "metadata": {"n": 1}},
                {"id": "bad", "vector": [0, 1, 0, 0], "metadata": {"n": BIG}},
            ],
            store="pc",
        )
    assert err.value.field == "documents[1].metadata.n"
    assert "2^53" in str(err.value) and "pinecone" in str(err.value)
    assert client.get("typedpc", ["ok", "bad"], store="pc") == []  # nothing was written
    # 2**53 itself is exact in a double: accepted, read back exactly.
    client.upsert(
        "typedpc", [{"id": "edge", "vector": [1, 0, 0, 0], "metadata": {"n": 2**53}}], store="pc"
    )
    [doc] = client.get("typedpc", ["edge"], store="pc")
    assert doc.metadata == {"n": 2**53}
    with pytest.raises(InvalidArgumentError) as err:
        client.search("typedpc", vector=[1, 0, 0, 0], filter=F("n") == BIG, store="pc")
    assert err.value.field == "filter" and "'n'" in str(err.value)


def test_list_collections_reports_counts(client: Client, http: httpx.Client) -> None:
    client.create_collection("counted", dimension=4, embedding_model="none", store="local")
    client.upsert(
        "counted",
        [{"id": str(i), "vector": [1, i, 0, 0]} for i in range(3)],
        store="local",
    )
    listed = {c.name: c.document_count for c in client.list_collections(store="local")}
    assert listed["counted"] == client.get_collection("counted", store="local").document_count == 3
    r = http.get("/v1/collections", params={"store": "local"})
    assert r.status_code == 200, r.text
    counts = {c["name"]: int(c["document_count"]) for c in r.json()["collections"]}
    assert counts["counted"] == 3


def test_score_threshold_zero_is_a_threshold(client: Client) -> None:
    client.create_collection(
        "thresh", dimension=2, embedding_model="none", store="local", metric="cosine"
    )
    client.upsert(
        "thresh",
        [{"id": "same", "vector": [1, 0]}, {"id": "opposite", "vector": [-1, 0]}],
        store="local",
    )
    everything = client.search("thresh", vector=[1, 0], top_k=5, store="local")
    assert {h.id for h in everything} == {"same", "opposite"}  # unset: no threshold
    kept = client.search("thresh", vector=[1, 0], top_k=5, score_threshold=0.0, store="local")
    assert [h.id for h in kept] == ["same"]  # 0: drops the hit scoring -1
