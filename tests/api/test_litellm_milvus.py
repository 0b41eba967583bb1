"""Seed 004's own client: LiteLLM's ``vector_stores.search`` / ``asearch`` through ``/milvus``.

The gateway runs in front of a real Milvus (a ``milvus-lite server`` process,
reached over the network like a deployment would). A virtual index and a
virtual key are made through the gateway's own routes; the collection is
created and filled through ``/milvus`` as the seed's developer flow does.
LiteLLM then searches exactly as the seed shows (embedding through the
gateway's ``/v1``, the Milvus-specific parameters ``limit``, ``offset``,
``filter``, ``outputFields``, ``annsField`` and ``searchParams``), and each
hit is compared field by field with a direct pymilvus search on the same
collection with the same query vector.

LiteLLM runs offline: its cost map is the local copy and every socket it (or
anything else in this process) opens must be a loopback one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support.milvus_lite import MilvusLiteServer, free_port, milvus_lite_executable
from tests.support.servers import ServerThread, make_config
from vectorgate_server.embeddings import EmbeddingRegistry

# Before litellm is imported: no download of the model cost map.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")
pytestmark = [
    pytest.mark.integration,  # a Milvus Lite server process
    pytest.mark.skipif(
        milvus_lite_executable() is None, reason="the milvus-lite command is not installed"
    ),
    # LiteLLM's own typing, met by pydantic when LiteLLM builds its models.
    pytest.mark.filterwarnings("ignore:.*ReadOnly:UserWarning"),
]

MASTER = "sk-litellm-master-key"
STORE = "milvus-store"
INDEX = "books-index"
REAL = "books_real"
MODEL = "all-MiniLM-L6-v2"
TEXT = "book_intro"
VECTOR = "book_intro_vector"

BOOKS = [
    (1, "Paris is the capital of France and its largest city.", "France Geography", 120),
    (2, "Berlin is the capital of Germany.", "German Cities", 80),
    (3, "The Eiffel Tower stands in Paris, France.", "Landmarks of Paris", 200),
    (4, "Rome was the capital of the Roman Empire.", "Ancient Rome", 310),
    (5, "Madrid is Spain's capital, famous for its museums.", "Spanish Capitals", 95),
    (6, "Photosynthesis turns sunlight into chemical energy.", "Plant Biology", 400),
    (7, "Lyon is a French city known for its cuisine.", "French Food", 150),
    (8, "The Louvre in Paris is the world's most visited museum.", "Museums", 260),
]
QUERY = "What is the capital of France?"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Fail any connection to (or name lookup of) a non-loopback address, and record it."""
    refused: list[Any] = []
    connect = socket.socket.connect
    connect_ex = socket.socket.connect_ex

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _loopback(str(address[0])):
            refused.append(address)
            raise OSError(f"test: no network beyond loopback ({address!r})")

    def guarded_connect(self: socket.socket, address: Any) -> None:
        check(address)
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return connect_ex(self, address)

    resolve = socket.getaddrinfo

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if host is not None and not _loopback(name):
            refused.append(name)
            raise OSError(f"test: no name resolution beyond loopback ({name!r})")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield refused
    assert refused == []


@pytest.fixture(scope="module", autouse=True)
def litellm_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for every ``asearch``, as in an async application.

    LiteLLM caches its HTTP clients for the process (aiohttp sessions belong to
    the loop that made them); all are closed here, the async ones on their loop.
    """
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.run_until_complete(litellm.close_litellm_async_clients())
        cache = litellm.in_memory_llm_clients_cache
        for client in list(getattr(cache, "cache_dict", {}).values()):
            close = getattr(client, "close", None)
            if callable(close) and not asyncio.iscoroutinefunction(close):
                close()
        cache.flush_cache()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusLiteServer]:
    base = tmp_path_factory.mktemp("litellm-lite")
    server = MilvusLiteServer(base / "lite", free_port())
    server.data_dir.mkdir(parents=True)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def gateway(
    lite: MilvusLiteServer,
    tmp_path_factory: pytest.TempPathFactory,
    embeddings: EmbeddingRegistry,
) -> Iterator[tuple[ServerThread, str]]:
    """The gateway on the Lite server, with the index, a key and the books loaded."""
    base: Path = tmp_path_factory.mktemp("litellm-gateway")
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
                        "api_base": lite.uri,
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
        made = client.post(
            "/v1/indexes",
            json={
                "index_name": INDEX,
                "litellm_params": {"vector_store_index": REAL, "vector_store_name": STORE},
            },
            headers=admin,
        )
        assert made.status_code == 200, made.text
        generated = client.post(
            "/key/generate",
            json={
                # The developer creates the collection through the passthrough, as in
                # seed 004: collection lifecycle needs `admin` on the index.
                "allowed_vector_store_indexes": [
                    {"index_name": INDEX, "index_permissions": ["write", "read", "admin"]}
                ],
                "models": [MODEL],
            },
            headers=admin,
        )
        assert generated.status_code == 200, generated.text
        key: str = generated.json()["key"]
        auth = {"Authorization": f"Bearer {key}"}

        def milvus(action: str, body: dict[str, Any], headers: dict[str, str] = auth) -> Any:
            response = client.post(f"/milvus/v2/vectordb/{action}", json=body, headers=headers)
            assert response.status_code == 200, response.text
            answer = response.json()
            assert answer["code"] == 0, answer
            return answer.get("data")

        vectors = _embed(client, key, [text for _, text, _, _ in BOOKS])
        milvus(
            "collections/create",
            {
                "collectionName": INDEX,
                "schema": {
                    "fields": [
                        {"fieldName": "book_id", "dataType": "Int64", "isPrimary": True},
                        {
                            "fieldName": TEXT,
                            "dataType": "VarChar",
                            "elementTypeParams": {"max_length": "1024"},
                        },
                        {
                            "fieldName": "title",
                            "dataType": "VarChar",
                            "elementTypeParams": {"max_length": "256"},
                        },
                        {"fieldName": "word_count", "dataType": "Int64"},
                        {
                            "fieldName": VECTOR,
                            "dataType": "FloatVector",
                            "elementTypeParams": {"dim": str(len(vectors[0]))},
                        },
                    ]
                },
                "indexParams": [{"fieldName": VECTOR, "metricType": "L2", "indexType": "FLAT"}],
            },
            # Creating a collection is index admin (the one permission table): the
            # operator's master key; LiteLLM's key keeps its read/write permissions.
            headers=admin,
        )
        inserted = milvus(
            "entities/insert",
            {
                "collectionName": INDEX,
                "data": [
                    {
                        "book_id": book_id,
                        TEXT: text,
                        "title": title,
                        "word_count": words,
                        VECTOR: vector,
                    }
                    for (book_id, text, title, words), vector in zip(BOOKS, vectors, strict=True)
                ],
            },
        )
        assert inserted["insertCount"] == len(BOOKS)
        milvus("collections/flush", {"collectionName": INDEX})
        milvus("collections/load", {"collectionName": INDEX})
        yield server, key


def _embed(client: httpx.Client, key: str, texts: list[str]) -> list[list[float]]:
    response = client.post(
        "/v1/embeddings",
        json={"model": MODEL, "input": texts},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    return [item["embedding"] for item in response.json()["data"]]


def _real_name(server: ServerThread) -> str:
    assert server.server is not None
    from vectorgate_server.adapters.milvus import milvus_name

    index = server.server.gateway.indexes.lookup(INDEX)
    assert index is not None
    return milvus_name(index.collection)


SEED_PARAMS: list[dict[str, Any]] = [
    # The seed's Advanced Options (outputFields naming this collection's key field).
    {
        "limit": 10,
        "offset": 0,
        "annsField": VECTOR,
        "outputFields": ["book_id", TEXT, "title"],
        "filter": "book_id > 0",
        "searchParams": {"metric_type": "L2", "params": {"nprobe": 10}},
    },
    # A page further, a narrower filter, other fields, REST's metricType spelling.
    {
        "limit": 3,
        "offset": 2,
        "annsField": VECTOR,
        "outputFields": [TEXT, "word_count"],
        "filter": "word_count >= 100",
        "searchParams": {"metricType": "L2", "params": {}},
    },
    # Only the text field: attributes stay empty, no vector is copied into them.
    {"limit": 4, "annsField": VECTOR, "outputFields": [TEXT]},
]


def _litellm_kwargs(server: ServerThread, key: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "vector_store_id": INDEX,
        "query": QUERY,
        "custom_llm_provider": "milvus",
        "api_base": f"{server.http_base}/milvus",
        "api_key": key,
        "litellm_embedding_model": f"openai/{MODEL}",
        "litellm_embedding_config": {"api_base": f"{server.http_base}/v1", "api_key": key},
        "milvus_text_field": TEXT,
        **params,
    }


def _direct(lite: MilvusLiteServer, real: str, vector: list[float], params: dict[str, Any]) -> Any:
    from pymilvus import MilvusClient

    search_params = dict(params.get("searchParams") or {})
    if "metricType" in search_params:
        search_params["metric_type"] = search_params.pop("metricType")
    if params.get("offset"):
        search_params["offset"] = params["offset"]
    client = MilvusClient(uri=lite.uri)
    try:
        return client.search(
            real,
            data=[vector],
            anns_field=params["annsField"],
            limit=params.get("limit", 100),
            filter=params.get("filter", ""),
            output_fields=params.get("outputFields"),
            search_params=search_params,
        )[0]
    finally:
        client.close()


def _data(response: Any) -> list[dict[str, Any]]:
    data = response["data"] if isinstance(response, dict) else response.data
    return [item if isinstance(item, dict) else dict(item) for item in data]


def _compare(response: Any, direct: Any, params: dict[str, Any]) -> None:
    data = _data(response)
    assert len(data) == len(direct) > 0
    asked = params.get("outputFields") or []
    for got, hit in zip(data, direct, strict=True):
        entity = hit["entity"]
        # score: Milvus's float32 distance, as Milvus writes it
        assert got["score"] == pytest.approx(float(np.float32(hit["distance"])), rel=1e-6)
        assert [c["text"] for c in got["content"]] == [entity[TEXT]]
        # attributes: exactly the asked fields other than the text (LiteLLM drops "id")
        expected = {k: entity[k] for k in asked if k not in ("id", TEXT)}
        assert got["attributes"] == expected
        assert VECTOR not in got["attributes"]


@pytest.mark.parametrize("params", SEED_PARAMS, ids=["seed", "page2", "text-only"])
def test_litellm_search_matches_direct_pymilvus(
    gateway: tuple[ServerThread, str],
    lite: MilvusLiteServer,
    loopback_only: list[Any],
    params: dict[str, Any],
) -> None:
    server, key = gateway
    with httpx.Client(base_url=server.http_base, timeout=60) as client:
        vector = _embed(client, key, [QUERY])[0]
    response = litellm.vector_stores.search(**_litellm_kwargs(server, key, params))
    direct = _direct(lite, _real_name(server), vector, params)
    _compare(response, direct, params)
    if params.get("offset", 0) == 0:
        top = _data(response)[0]
        assert "capital of France" in top["content"][0]["text"]


@pytest.mark.parametrize("params", SEED_PARAMS, ids=["seed", "page2", "text-only"])
def test_litellm_asearch_matches_direct_pymilvus(
    litellm_loop: asyncio.AbstractEventLoop,
    gateway: tuple[ServerThread, str],
    lite: MilvusLiteServer,
    loopback_only: list[Any],
    params: dict[str, Any],
) -> None:
    server, key = gateway
    with httpx.Client(base_url=server.http_base, timeout=60) as client:
        vector = _embed(client, key, [QUERY])[0]
    response = litellm_loop.run_until_complete(
        litellm.vector_stores.asearch(**_litellm_kwargs(server, key, params))
    )
    direct = _direct(lite, _real_name(server), vector, params)
    _compare(response, direct, params)


def test_raw_passthrough_hits_carry_the_primary_key_and_no_unasked_vector(
    gateway: tuple[ServerThread, str], lite: MilvusLiteServer
) -> None:
    """What LiteLLM reads, before LiteLLM drops ``id``: the hit's key, its distance."""
    server, key = gateway
    with httpx.Client(base_url=server.http_base, timeout=60) as client:
        vector = _embed(client, key, [QUERY])[0]
        answer = client.post(
            "/milvus/v2/vectordb/entities/search",
            json={"collectionName": INDEX, "data": [vector], "annsField": VECTOR, "limit": 5},
            headers={"Authorization": f"Bearer {key}"},
        ).json()
    direct = _direct(lite, _real_name(server), vector, {"annsField": VECTOR, "limit": 5})
    assert answer["code"] == 0
    assert answer["topks"] == [5]
    assert [sorted(row) for row in answer["data"]] == [["distance", "id"]] * 5
    assert [row["id"] for row in answer["data"]] == [hit["book_id"] for hit in direct]
    # Milvus's float32 distances, written with float32's shortest digits (as Milvus does).
    assert [np.float32(row["distance"]) for row in answer["data"]] == [
        np.float32(hit["distance"]) for hit in direct
    ]
    assert all(len(repr(row["distance"])) <= 12 for row in answer["data"])


# --------------------------------------------------------------------------- golden shapes
#
# The same collection, the same requests: each /milvus answer against a direct
# pymilvus call on the real collection, field by field, and against the shape
# Milvus's REST v2 handler gives (milvus-io/milvus internal/distributed/proxy/
# httpserver; https://milvus.io/api-reference/restful/v2.6.x/). Neither server
# here has REST v2 to compare with directly: milvus-lite serves gRPC only, and
# Milvus 2.3.5 answers /v2/vectordb/... with 404 (its REST is v1).


def _post(server: ServerThread, key: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{server.http_base}/milvus/v2/vectordb/{action}",
        json={"collectionName": INDEX, **body},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["code"] == 0, answer
    # gin writes maps: keys sorted, at every level
    assert list(response.content.decode().split('"')[1:2]) == ["code"]
    return answer


@pytest.fixture
def direct(lite: MilvusLiteServer) -> Iterator[Any]:
    from pymilvus import MilvusClient

    client = MilvusClient(uri=lite.uri)
    try:
        yield client
    finally:
        client.close()


def test_golden_collection_answers(gateway: tuple[ServerThread, str], direct: Any) -> None:
    server, key = gateway
    real = _real_name(server)
    assert _post(server, key, "collections/has", {}) == {"code": 0, "data": {"has": True}}
    listed = _post(server, key, "collections/list", {})["data"]
    assert listed == [INDEX]
    described = _post(server, key, "collections/describe", {})
    assert set(described) == {"code", "data"}
    data = described["data"]
    info = direct.describe_collection(real)
    assert data["collectionName"] == INDEX
    assert real not in repr(data)
    assert data["consistencyLevel"] == info["consistency_level_name"]
    assert data["load"] == "LoadStateLoaded"
    assert data["indexes"] == [{"fieldName": VECTOR, "indexName": VECTOR, "metricType": "L2"}]
    by_name = {f["name"]: f for f in data["fields"]}
    assert list(by_name) == [f["name"] for f in info["fields"]]
    assert {n: f["type"] for n, f in by_name.items()} == {
        "book_id": "Int64",
        TEXT: "VarChar",
        "title": "VarChar",
        "word_count": "Int64",
        VECTOR: "FloatVector",
    }
    assert [n for n, f in by_name.items() if f["primaryKey"]] == ["book_id"]
    assert by_name[VECTOR]["params"] == [{"key": "dim", "value": "384"}]
    assert by_name[TEXT]["params"] == [{"key": "max_length", "value": "1024"}]
    assert _post(server, key, "indexes/list", {}) == {
        "code": 0,
        "data": direct.list_indexes(real),
    }
    index = _post(server, key, "indexes/describe", {"indexName": VECTOR})["data"]
    raw = direct.describe_index(real, VECTOR)
    assert index == [
        {
            "fieldName": raw["field_name"],
            "indexName": raw["index_name"],
            "indexType": raw["index_type"],
            "metricType": raw["metric_type"],
            "indexState": raw["state"],
            "indexedRows": raw["indexed_rows"],
            "pendingRowsCount": raw["pending_index_rows"],
            "totalRows": raw["total_rows"],
            "failReason": "",
        }
    ]


def test_golden_query_and_get(gateway: tuple[ServerThread, str], direct: Any) -> None:
    server, key = gateway
    real = _real_name(server)
    asked = _post(
        server,
        key,
        "entities/query",
        {"filter": "word_count > 100", "outputFields": ["title", "word_count"], "limit": 5},
    )
    assert set(asked) == {"code", "cost", "data"}
    expected = direct.query(
        real, filter="word_count > 100", output_fields=["title", "word_count"], limit=5
    )
    assert asked["data"] == [dict(row) for row in expected]
    # no outputFields: the primary key alone (not every field, not the vector)
    bare = _post(server, key, "entities/query", {"filter": "book_id in [2, 4]"})["data"]
    assert sorted(bare, key=lambda r: r["book_id"]) == [{"book_id": 2}, {"book_id": 4}]
    got = _post(server, key, "entities/get", {"id": [3, 5], "outputFields": ["title"]})
    assert set(got) == {"code", "cost", "data"}
    assert sorted(got["data"], key=lambda r: r["book_id"]) == sorted(
        (dict(r) for r in direct.get(real, ids=[3, 5], output_fields=["title"])),
        key=lambda r: r["book_id"],
    )
    assert _post(server, key, "entities/get", {"id": 1})["data"] == [{"book_id": 1}]


def test_golden_search_fields(gateway: tuple[ServerThread, str], direct: Any) -> None:
    server, key = gateway
    real = _real_name(server)
    with httpx.Client(base_url=server.http_base, timeout=60) as client:
        vectors = _embed(client, key, [QUERY, "museums"])
    answer = _post(
        server,
        key,
        "entities/search",
        {
            "data": vectors,
            "annsField": VECTOR,
            "limit": 3,
            "outputFields": ["title", "book_id"],
            "filter": "word_count < 300",
        },
    )
    assert set(answer) == {"code", "cost", "data", "topks"}
    assert answer["topks"] == [3, 3]
    expected = direct.search(
        real,
        data=vectors,
        anns_field=VECTOR,
        limit=3,
        output_fields=["title", "book_id"],
        filter="word_count < 300",
    )
    flat = [hit for per_query in expected for hit in per_query]
    assert len(answer["data"]) == len(flat) == 6
    for row, hit in zip(answer["data"], flat, strict=True):
        assert list(row) == ["book_id", "distance", "id", "title"]  # sorted, as gin writes
        assert row["id"] == row["book_id"] == hit["book_id"]
        assert row["title"] == hit["entity"]["title"]
        assert np.float32(row["distance"]) == np.float32(hit["distance"])


def test_golden_writes(gateway: tuple[ServerThread, str], direct: Any) -> None:
    server, key = gateway
    real = _real_name(server)
    row = {"book_id": 100, TEXT: "temporary", "title": "t", "word_count": 1, VECTOR: [0.0] * 384}
    inserted = _post(server, key, "entities/insert", {"data": [row]})
    assert inserted == {"code": 0, "cost": 0, "data": {"insertCount": 1, "insertIds": [100]}}
    upserted = _post(server, key, "entities/upsert", {"data": [{**row, "title": "u"}]})
    assert upserted == {"code": 0, "cost": 0, "data": {"upsertCount": 1, "upsertIds": [100]}}
    assert direct.get(real, ids=[100], output_fields=["title"])[0]["title"] == "u"
    deleted = _post(server, key, "entities/delete", {"filter": "book_id == 100"})
    assert deleted == {"code": 0, "cost": 0, "data": {}}
    assert direct.query(real, filter="book_id == 100", output_fields=["book_id"]) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"data": [[0.0] * 384], "annsField": VECTOR, "limit": -1}, "limit"),
        ({"data": [[0.0] * 384], "annsField": VECTOR, "offset": "2"}, "offset"),
        ({"data": [[0.0] * 384], "annsField": VECTOR, "outputFields": "title"}, "outputFields"),
        ({"data": [[0.0] * 384], "annsField": VECTOR, "searchParams": [1]}, "searchParams"),
        ({"data": [], "annsField": VECTOR}, "data"),
    ],
)
def test_malformed_search_names_the_field(
    gateway: tuple[ServerThread, str], body: dict[str, Any], field: str
) -> None:
    server, key = gateway
    response = httpx.post(
        f"{server.http_base}/milvus/v2/vectordb/entities/search",
        json={"collectionName": INDEX, **body},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] != 0
    assert answer["message"].startswith(f"{field}:")
