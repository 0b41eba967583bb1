"""Seed 004 over HTTP on a Milvus store (Milvus Lite): the LiteLLM registry entry's
``vector_store_id`` resolves to its store, and the seed's native Milvus parameters reach
the Milvus adapter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.servers import ServerThread, make_config
from vectorgate_server.embeddings import EmbeddingRegistry

pytest.importorskip("milvus_lite", reason="Milvus Lite (pymilvus[milvus_lite]) is not installed")

STORE = "milvus-knowledgebase"
VECTOR_STORE_ID = "my-collection-name"
BOOKS: list[dict[str, Any]] = [
    {
        "id": "b1",
        "text": "Paris is the capital of France.",
        "metadata": {"book_id": 1, "title": "France"},
    },
    {
        "id": "b2",
        "text": "Berlin is the capital of Germany.",
        "metadata": {"book_id": 2, "title": "Germany"},
    },
    {
        "id": "b3",
        "text": "The Nile is the longest river in Africa.",
        "metadata": {"book_id": 3, "title": "Nile"},
    },
]


@pytest.fixture(scope="module")
def http(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry
) -> Iterator[httpx.Client]:
    base = tmp_path_factory.mktemp("milvus")
    config = make_config(
        base / "data",
        {
            "vector_store_registry": [
                {
                    "vector_store_name": STORE,
                    "litellm_params": {
                        "vector_store_id": VECTOR_STORE_ID,
                        "custom_llm_provider": "milvus",
                        "api_base": str(base / "milvus.db"),
                        "litellm_embedding_model": "all-MiniLM-L6-v2",
                    },
                }
            ],
        },
    )
    with (
        ServerThread(config, embeddings) as server,
        httpx.Client(base_url=server.http_base, timeout=120) as client,
    ):
        # Seed 000's store route creates the registry entry's collection on first use.
        r = client.post("/v1/vector/store", json={"store": STORE, "documents": BOOKS})
        assert r.status_code == 200, r.text
        assert r.json()["collection"] == VECTOR_STORE_ID
        assert r.json()["collection_created"] is True
        yield client


def _page(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    assert page["object"] == "vector_store.search_results.page"
    return page


def test_registry_vector_store_id_searches_its_milvus_store(http: httpx.Client) -> None:
    # The seed's proxy example, verbatim.
    page = _page(
        http.post(
            f"/v1/vector_stores/{VECTOR_STORE_ID}/search",
            json={"query": "What is the capital of France?"},
        )
    )
    first = page["data"][0]
    assert first["attributes"] == {"book_id": 1, "title": "France", "id": "b1"}
    assert first["content"] == [{"type": "text", "text": "Paris is the capital of France."}]
    assert first["file_id"] is None and first["filename"] is None
    info = http.get(f"/v1/collections/{VECTOR_STORE_ID}", params={"store": STORE})
    assert info.json()["collection"]["backend"] == "milvus"


def test_seed_native_parameters_reach_milvus(http: httpx.Client) -> None:
    body = {
        "query": "capital city",
        "limit": 2,
        "offset": 0,
        "dbName": "default",
        "annsField": "vector",
        "outputFields": ["text"],
        # vectorgate's Milvus layout keeps numeric metadata in the JSON field metadata_num.
        "filter": 'metadata_num["book_id"] > 1',
        "searchParams": {"metric_type": "COSINE", "params": {"ef": 64}},
        "consistencyLevel": "Strong",
        "milvus_text_field": "text",
    }
    page = _page(http.post(f"/v1/vector_stores/{VECTOR_STORE_ID}/search", json=body))
    ids = [d["attributes"]["id"] for d in page["data"]]
    assert len(ids) == 2 and "b1" not in ids  # the native filter applied
    # `limit` sizes the page when max_num_results is absent.
    page = _page(
        http.post(
            f"/v1/vector_stores/{VECTOR_STORE_ID}/search", json={"query": "capital", "limit": 1}
        )
    )
    assert len(page["data"]) == 1
    # OpenAI filters and native filters together.
    page = _page(
        http.post(
            f"/v1/vector_stores/{VECTOR_STORE_ID}/search",
            json={
                "query": "capital",
                "filter": 'metadata_num["book_id"] > 1',
                "filters": {"type": "eq", "key": "title", "value": "Nile"},
            },
        )
    )
    assert [d["attributes"]["id"] for d in page["data"]] == ["b3"]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"limit": 5, "max_num_results": 2}, "limit"),
        ({"consistencyLevel": "Sometimes"}, "consistencyLevel"),
        ({"dbName": "other"}, "dbName"),
        ({"partitionNames": ["nope"]}, "partitionNames"),
    ],
)
def test_bad_native_parameters_are_400(
    http: httpx.Client, extra: dict[str, Any], param: str
) -> None:
    r = http.post(f"/v1/vector_stores/{VECTOR_STORE_ID}/search", json={"query": "capital", **extra})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == param, error
    assert error["message"].startswith(param)
