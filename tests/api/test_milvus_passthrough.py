"""The seed's Milvus REST v2 client and complete example, unchanged, through ``/milvus``.

Runs against the gateway's Milvus Lite store with a virtual key limited to one
virtual index; also: read-only keys, other indexes and unknown endpoints are refused.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import milvus_rest_client
from tests.support.servers import ServerThread, make_config
from vectorgate_server.embeddings import EmbeddingRegistry

pytest.importorskip("milvus_lite", reason="Milvus Lite (pymilvus[milvus_lite]) is not installed")

MASTER = "sk-1234-passthrough-master"
STORE = "milvus-store"

#: The seed's "Complete Example", verbatim.
#: Milvus Lite and the real Milvus 2.3.5 server as processes.
pytestmark = pytest.mark.integration

EXAMPLE = """from milvus_rest_client import MilvusRESTClient, DataType  # Use the client from above
import random
import time

# ----------------------------
# üîê CONFIGURATION
# ----------------------------
uri = "http://0.0.0.0:4000/milvus"  # IMPORTANT: Use the '/milvus' endpoint
token = "sk-my-virtual-key"
collection_name = "dall-e-6"  # Your virtual index name

# ----------------------------
# üìã STEP 1 ‚Äî Initialize Client
# ----------------------------
milvus_client = MilvusRESTClient(uri=uri, token=token)
print(f"‚úÖ Connected to DB: {uri} successfully")

# ----------------------------
# üóëÔ∏è  STEP 2 ‚Äî Drop Existing Collection (if needed)
# ----------------------------
check_collection = milvus_client.has_collection(collection_name)
if check_collection:
    milvus_client.drop_collection(collection_name)
    print(f"üóëÔ∏è  Dropped the existing collection {collection_name} successfully")

# ----------------------------
# üìê STEP 3 ‚Äî Create Collection Schema
# ----------------------------
dim = 64  # Vector dimension

print("üìê Creating the collection schema")
schema = milvus_client.create_schema()
schema.add_field(
    "book_id", DataType.INT64, is_primary=True, description="customized primary id"
)
schema.add_field("word_count", DataType.INT64, description="word count")
schema.add_field(
    "book_intro", DataType.FLOAT_VECTOR, dim=dim, description="book introduction"
)

# ----------------------------
# üîç STEP 4 ‚Äî Create Index
# ----------------------------
print("üîç Preparing index parameters with default AUTOINDEX")
index_params = milvus_client.prepare_index_params()
index_params.add_index("book_intro", metric_type="L2")

# ----------------------------
# üèóÔ∏è  STEP 5 ‚Äî Create Collection
# ----------------------------
print(f"üèóÔ∏è  Creating collection: {collection_name}")
milvus_client.create_collection(
    collection_name, schema=schema, index_params=index_params
)
collection_property = milvus_client.describe_collection(collection_name)
print(f"‚úÖ Collection created: {collection_property}")

# ----------------------------
# üì§ STEP 6 ‚Äî Insert Data
# ----------------------------
nb = 1000
insert_rounds = 2
start = 0
total_rt = 0

print(f"üì§ Inserting {nb*insert_rounds} entities into collection")
for i in range(insert_rounds):
    vector = [random.random() for _ in range(dim)]
    rows = [
        {"book_id": i, "word_count": random.randint(1, 100), "book_intro": vector}
        for i in range(start, start + nb)
    ]
    t0 = time.time()
    milvus_client.insert(collection_name, rows)
    ins_rt = time.time() - t0
    start += nb
    total_rt += ins_rt
print(f"‚úÖ Insert completed in {round(total_rt, 4)} seconds")

# ----------------------------
# üíæ STEP 7 ‚Äî Flush Collection
# ----------------------------
print("üíæ Flushing collection")
start_flush = time.time()
milvus_client.flush(collection_name)
end_flush = time.time()
print(f"‚úÖ Flush completed in {round(end_flush - start_flush, 4)} seconds")

# ----------------------------
# üîç STEP 8 ‚Äî Search
# ----------------------------
nq = 3
search_params = {"metric_type": "L2", "params": {"level": 2}}
limit = 2

print(f"üîç Performing {5} search operations")
for i in range(5):
    search_vectors = [[random.random() for _ in range(dim)] for _ in range(nq)]
    t0 = time.time()
    results = milvus_client.search(
        collection_name,
        data=search_vectors,
        limit=limit,
        search_params=search_params,
        anns_field="book_intro",
    )
    t1 = time.time()
    print(f"‚úÖ Search {i} results: {results}")
    print(f"   Search {i} latency: {round(t1-t0, 4)} seconds")
"""  # noqa: RUF001


def _configured(source: str, uri: str, token: str) -> str:
    """The example with its two configuration values pointed at the test server."""
    source = source.replace('uri = "http://0.0.0.0:4000/milvus"', f"uri = {uri!r}", 1).replace(
        'token = "sk-my-virtual-key"', f"token = {token!r}", 1
    )
    assert uri in source and token in source
    return source


@pytest.fixture(scope="module", params=["milvus-lite", "milvus-server"])
def gateway(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    embeddings: EmbeddingRegistry,
) -> Iterator[tuple[ServerThread, httpx.Client]]:
    """The gateway on Milvus Lite, then on the session's real Milvus server."""
    base = tmp_path_factory.mktemp("passthrough")
    api_base = str(base / "milvus.db")
    if request.param == "milvus-server":
        api_base = request.getfixturevalue("milvus_server").uri
    config = make_config(
        base / "data",
        {
            "general_settings": {"master_key": MASTER},
            "vector_store_registry": [
                {
                    "vector_store_name": STORE,
                    "litellm_params": {
                        "vector_store_id": "can-be-anything",
                        "custom_llm_provider": "milvus",
                        "api_base": api_base,
                    },
                }
            ],
        },
    )
    with (
        ServerThread(config, embeddings) as server,
        httpx.Client(base_url=server.http_base, timeout=120) as client,
    ):
        admin = {"Authorization": f"Bearer {MASTER}"}
        for index, real in (("dall-e-6", "real-collection-name"), ("other", "other_real")):
            r = client.post(
                "/v1/indexes",
                json={
                    "index_name": index,
                    "litellm_params": {"vector_store_index": real, "vector_store_name": STORE},
                },
                headers=admin,
            )
            assert r.status_code == 200, r.text
        yield server, client


def _key(client: httpx.Client, index: str, permissions: list[str]) -> str:
    r = client.post(
        "/key/generate",
        json={
            "allowed_vector_store_indexes": [
                {"index_name": index, "index_permissions": permissions}
            ],
            "models": ["embedding-model"],
        },
        headers={"Authorization": f"Bearer {MASTER}"},
    )
    assert r.status_code == 200, r.text
    key: str = r.json()["key"]
    return key


def test_seed_complete_example_runs_unchanged(
    gateway: tuple[ServerThread, httpx.Client], capsys: pytest.CaptureFixture[str]
) -> None:
    server, client = gateway
    token = _key(client, "dall-e-6", ["write", "read", "admin"])
    uri = f"{server.http_base}/milvus"
    sys.modules.setdefault("milvus_rest_client", milvus_rest_client)
    namespace: dict[str, Any] = {"__name__": "seed_example"}
    for _ in range(2):  # the second run drops the collection the first created
        exec(compile(_configured(EXAMPLE, uri, token), "seed_example", "exec"), namespace)
    out = capsys.readouterr().out
    assert out.count("Search 4 results") == 2
    assert "Dropped the existing collection dall-e-6" in out
    assert "real-collection-name" not in out
    mc = milvus_rest_client.MilvusRESTClient(uri=uri, token=token)
    described = mc.describe_collection("dall-e-6")
    assert described["collectionName"] == "dall-e-6"
    rows = mc._make_request(
        "/v2/vectordb/entities/query",
        {"collectionName": "dall-e-6", "filter": "book_id >= 0", "outputFields": ["count(*)"]},
    )["data"]
    assert rows[0]["count(*)"] == 2000
    results = namespace["results"]
    assert len(results) == 3 * 2 and all("distance" in hit for hit in results)


def _post(client: httpx.Client, path: str, key: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(
        f"/milvus/v2/vectordb/{path}", json=body, headers={"Authorization": f"Bearer {key}"}
    )


def test_passthrough_permissions(gateway: tuple[ServerThread, httpx.Client]) -> None:
    _, client = gateway
    reader = _key(client, "dall-e-6", ["read"])
    writer = _key(client, "dall-e-6", ["write", "read", "admin"])
    # A read-only key: every write endpoint is 403.
    for path in (
        "collections/create",
        "collections/drop",
        "collections/flush",
        "entities/insert",
        "entities/upsert",
        "entities/delete",
        "indexes/create",
        "indexes/drop",
    ):
        r = _post(client, path, reader, {"collectionName": "dall-e-6", "data": []})
        assert r.status_code == 403, (path, r.text)
    assert (
        _post(client, "collections/has", reader, {"collectionName": "dall-e-6"}).json()["code"] == 0
    )
    # Another index, the real collection name, unknown endpoints, pinned fields.
    for name in ("other", "real-collection-name", "other_real"):
        r = _post(client, "collections/has", writer, {"collectionName": name})
        assert r.status_code == 403, (name, r.text)
    assert _post(client, "collections/list", writer, {}).json()["data"] == ["dall-e-6"]
    r = _post(client, "users/create", writer, {"userName": "x"})
    assert r.status_code == 404
    r = _post(client, "collections/rename", writer, {"collectionName": "dall-e-6"})
    assert r.status_code == 404
    r = _post(
        client, "collections/has", writer, {"collectionName": "dall-e-6", "dbName": "other_db"}
    )
    assert r.status_code == 400 and "dbName" in r.text
    r = _post(
        client,
        "entities/search",
        writer,
        {"collectionName": "dall-e-6", "data": [[0.0] * 64], "partitionNames": ["p"]},
    )
    assert r.status_code == 400 and "partitionNames" in r.text
    r = _post(client, "collections/has", writer, {"collectionName": "dall-e-6", "uri": "x"})
    assert r.status_code == 400 and "uri" in r.text
    # Entity rows are data: a field named like an endpoint is not refused.
    schema = {
        "fields": [
            {"fieldName": "pk", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "url", "dataType": "VarChar", "elementTypeParams": {"max_length": 64}},
            {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}},
        ]
    }
    other = _key(client, "other", ["read", "write", "admin"])
    index = [{"fieldName": "v", "metricType": "L2"}]
    body = {"collectionName": "other", "schema": schema, "indexParams": index}
    assert _post(client, "collections/create", other, body).json()["code"] == 0
    rows = [{"pk": 1, "url": "https://example.com", "v": [0.1, 0.2]}]
    r = _post(client, "entities/insert", other, {"collectionName": "other", "data": rows})
    assert r.json()["data"]["insertCount"] == 1, r.text
    got = _post(
        client,
        "entities/get",
        other,
        {
            "collectionName": "other",
            "id": [1],
            "outputFields": ["url"],
            "consistencyLevel": "Strong",
        },
    ).json()
    assert got["data"][0]["url"] == "https://example.com"
    assert _post(client, "collections/drop", other, {"collectionName": "other"}).json()["code"] == 0
    r = client.post("/milvus/v2/vectordb/collections/has", json={"collectionName": "dall-e-6"})
    assert r.status_code == 401
