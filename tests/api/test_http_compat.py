"""The seeds' REST paths: ``/v1/vector/store|search``, OpenAI's vector store search and
embeddings, each with its documented request and response shape, against a real server."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from tests.servers.opensearch_server import OpenSearchTestServer
from tests.support.servers import ServerThread, make_config
from vectorgate import Client, F
from vectorgate_server.embeddings import EmbeddingRegistry

ML_TEXT = "Machine learning is a field of artificial intelligence that learns from data."

#: Documents with typed attributes for the filter tests.
ITEMS: list[dict[str, Any]] = [
    {
        "id": "paris",
        "text": "Paris is the capital of France, on the Seine.",
        "metadata": {
            "file_id": "file-1",
            "filename": "france.txt",
            "n": 1,
            "f": 0.5,
            "b": True,
            "s": "fr",
            "tags": ["city"],
        },
    },
    {
        "id": "berlin",
        "text": "Berlin is the capital of Germany.",
        "metadata": {
            "file_id": "file-2",
            "filename": "germany.txt",
            "n": 2,
            "f": 1.5,
            "b": False,
            "s": "de",
        },
    },
    {
        "id": "rome",
        "text": "Rome is the capital of Italy and was the centre of an empire.",
        "metadata": {"n": 3, "f": 2.5, "b": True, "s": "it"},
    },
    {
        "id": "madrid",
        "text": "Madrid is the capital of Spain.",
        "metadata": {"n": 10, "f": 10.0, "s": "es"},
    },
    {
        "id": "volcano",
        "text": "Magma rising through the crust erupts as lava, ash and gas.",
        "metadata": {"n": 0, "f": -1.0, "b": False},
    },
]


@pytest.fixture(scope="module")
def opensearch() -> Iterator[OpenSearchTestServer]:
    with OpenSearchTestServer() as server:
        yield server


@pytest.fixture(scope="module")
def srv(
    tmp_path_factory: pytest.TempPathFactory,
    embeddings: EmbeddingRegistry,
    opensearch: OpenSearchTestServer,
) -> Iterator[ServerThread]:
    """A LanceDB default store and, as in seed 000, a store named "opensearch"."""
    config = make_config(
        tmp_path_factory.mktemp("compat") / "data",
        {
            "default_store": "local",
            "vector_stores": {
                "local": {
                    "type": "lancedb",
                    "table_name": "embeddings",
                    "embedding_model": "all-MiniLM-L6-v2",
                },
                "opensearch": {
                    "type": "opensearch",
                    "hosts": [opensearch.url],
                    "index_name": "embeddings",
                    "embedding_model": "all-MiniLM-L6-v2",
                    "dimensions": 384,
                },
            },
        },
    )
    with ServerThread(config, embeddings) as server:
        yield server


@pytest.fixture(scope="module")
def http(srv: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.http_base, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def capitals(http: httpx.Client) -> str:
    r = http.post("/v1/collections", json={"collection": {"name": "capitals"}})
    assert r.status_code == 200, r.text
    r = http.post("/v1/collections/capitals/documents:upsert", json={"documents": ITEMS})
    assert r.status_code == 200, r.text
    return "capitals"


def _ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, r.text
    return r.json()


def _openai_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    if status < 500:
        assert r.headers["x-should-retry"] == "false"
    error: dict[str, Any] = body["error"]
    return error


# --------------------------------------------------------------------------- seed 000


def test_seed_000_store_then_search(http: httpx.Client) -> None:
    body = {
        "store": "opensearch",
        "documents": [
            {"id": "doc1", "text": ML_TEXT, "metadata": {"source": "wiki", "year": 2024}},
            {"id": "doc2", "text": "Sourdough bread rises with wild yeast.", "metadata": {}},
        ],
    }
    stored = _ok(http.post("/v1/vector/store", json=body))
    assert stored == {
        "store": "opensearch",
        "collection": "embeddings",  # the store's index_name
        "upserted_count": 2,
        "ids": ["doc1", "doc2"],
        "collection_created": True,
    }
    again = _ok(http.post("/v1/vector/store", json=body))
    assert again["collection_created"] is False

    found = _ok(
        http.post(
            "/v1/vector/search",
            json={"store": "opensearch", "query": "What is machine learning?", "top_k": 5},
        )
    )
    assert set(found) == {"store", "collection", "query", "results"}
    assert found["store"] == "opensearch" and found["collection"] == "embeddings"
    assert found["query"] == "What is machine learning?"
    assert [r["id"] for r in found["results"]] == ["doc1", "doc2"]
    first = found["results"][0]
    assert set(first) == {"id", "score", "text", "metadata"}
    assert first["text"] == ML_TEXT
    assert first["metadata"] == {"source": "wiki", "year": 2024}
    assert 0 < first["score"] <= 1

    # The collection was created with the store's settings, in the opensearch backend.
    info = _ok(http.get("/v1/collections/embeddings", params={"store": "opensearch"}))
    assert info["collection"]["backend"] == "opensearch"
    assert info["collection"]["embedding_model"] == "all-MiniLM-L6-v2"


def test_seed_000_defaults_filters_and_vectors(http: httpx.Client) -> None:
    vector = np.zeros(384, dtype="<f4")
    vector[0] = 1.0
    stored = _ok(
        http.post(
            "/v1/vector/store",
            json={
                "documents": [
                    {"id": "t1", "text": "Tea is brewed from leaves.", "metadata": {"k": 1}},
                    {"id": "t2", "text": "Coffee is brewed from beans.", "metadata": {"k": 2}},
                    {"id": "v1", "vector": base64.b64encode(vector.tobytes()).decode()},
                    {"id": "v2", "vector": [0.0, 1.0] + [0.0] * 382},
                ]
            },
        )
    )
    assert stored["store"] == "local" and stored["collection"] == "embeddings"
    openai_filter = {"type": "eq", "key": "k", "value": 2}
    found = _ok(
        http.post("/v1/vector/search", json={"query": "hot drink", "filters": openai_filter})
    )
    assert [r["id"] for r in found["results"]] == ["t2"]
    ours = {"condition": {"field": "k", "op": "FILTER_OPERATOR_EQ", "value": {"int_value": 1}}}
    found = _ok(http.post("/v1/vector/search", json={"query": "hot drink", "filter": ours}))
    assert [r["id"] for r in found["results"]] == ["t1"]
    found = _ok(http.post("/v1/vector/search", json={"query": "drink", "top_k": 1}))
    assert len(found["results"]) == 1


def test_seed_000_errors_name_the_body_fields(http: httpx.Client) -> None:
    r = http.post("/v1/vector/search", json={"store": "nowhere", "query": "x"})
    assert r.status_code == 404 and "nowhere" in r.json()["message"]
    r = http.post("/v1/vector/search", json={"query": ""})
    assert r.status_code == 400 and r.json()["message"].startswith("query:")
    r = http.post("/v1/vector/search", json={"query": "x", "top_k": 0})
    assert r.status_code == 400 and r.json()["message"].startswith("top_k:")
    r = http.post("/v1/vector/store", json={"documents": [{"id": "x", "txt": "y"}]})
    assert r.status_code == 400
    assert r.json()["details"][0]["metadata"]["field"] == "documents[0].txt"
    r = http.post("/v1/vector/store", json={"documents": [{"id": "x"}]})
    assert r.status_code == 400  # neither text nor vector


# --------------------------------------------------------------------------- vector stores


def test_vector_store_search_exact_shape(http: httpx.Client, capitals: str) -> None:
    page = _ok(
        http.post(
            f"/v1/vector_stores/{capitals}/search",
            json={"query": "What is the capital of France?"},
        )
    )
    assert list(page) == ["object", "search_query", "data", "has_more", "next_page"]
    assert page["object"] == "vector_store.search_results.page"
    assert page["search_query"] == "What is the capital of France?"
    assert page["has_more"] is False and page["next_page"] is None
    assert len(page["data"]) == len(ITEMS)  # default max_num_results 10
    first = page["data"][0]
    assert set(first) == {"file_id", "filename", "score", "attributes", "content"}
    assert first["file_id"] == "file-1" and first["filename"] == "france.txt"
    assert first["attributes"] == {**ITEMS[0]["metadata"], "id": "paris"}
    assert first["content"] == [{"type": "text", "text": ITEMS[0]["text"]}]
    no_file = next(d for d in page["data"] if d["attributes"]["id"] == "rome")
    assert no_file["file_id"] is None and no_file["filename"] is None
    scores = [d["score"] for d in page["data"]]
    assert scores == sorted(scores, reverse=True)
    # Also served without the /v1 prefix, identically.
    plain = _ok(
        http.post(
            f"/vector_stores/{capitals}/search", json={"query": "What is the capital of France?"}
        )
    )
    assert plain == page


def test_vector_store_search_options(http: httpx.Client, capitals: str) -> None:
    url = f"/v1/vector_stores/{capitals}/search"
    page = _ok(http.post(url, json={"query": "capital city", "max_num_results": 2}))
    assert len(page["data"]) == 2
    all_scores = [d["score"] for d in _ok(http.post(url, json={"query": "capital city"}))["data"]]
    threshold = sorted(all_scores)[len(all_scores) // 2]
    page = _ok(
        http.post(
            url,
            json={
                "query": "capital city",
                "ranking_options": {"ranker": "auto", "score_threshold": threshold},
            },
        )
    )
    assert page["data"] and all(d["score"] >= threshold for d in page["data"])
    assert len(page["data"]) < len(all_scores)

    page = _ok(http.post(url, json={"query": "capital city", "rewrite_query": True}))
    assert page["rewrite_query_applied"] is False
    assert page["search_query"] == "capital city"
    page = _ok(http.post(url, json={"query": "capital city", "rewrite_query": False}))
    assert "rewrite_query_applied" not in page

    error = _openai_error(
        http.post(url, json={"query": "x", "ranking_options": {"ranker": "fancy"}}), 400
    )
    assert error["param"] == "ranking_options.ranker"
    error = _openai_error(http.post(url, json={"query": "x", "max_num_results": 0}), 400)
    assert error["param"] == "max_num_results"
    assert error["message"].startswith("max_num_results:")
    error = _openai_error(http.post(url, json={"query": "x", "k": 3}), 400)
    assert error["param"] == "k" and error["code"] == "invalid_field"


def test_vector_store_search_query_list_merges(http: httpx.Client, capitals: str) -> None:
    url = f"/v1/vector_stores/{capitals}/search"
    single = {
        q: _ok(http.post(url, json={"query": q, "max_num_results": 2}))["data"]
        for q in ("volcanic eruption", "capital of Germany")
    }
    merged = _ok(http.post(url, json={"query": list(single), "max_num_results": 3}))
    assert merged["search_query"] == list(single)
    ids = [d["attributes"]["id"] for d in merged["data"]]
    assert "volcano" in ids and "berlin" in ids
    assert len(ids) == len(set(ids)) == 3
    best: dict[str, float] = {}
    for hits in single.values():
        for d in hits:
            best[d["attributes"]["id"]] = max(best.get(d["attributes"]["id"], -2.0), d["score"])
    for d in merged["data"]:
        if d["attributes"]["id"] in best:
            assert d["score"] == best[d["attributes"]["id"]]
    scores = [d["score"] for d in merged["data"]]
    assert scores == sorted(scores, reverse=True)
    assert _openai_error(http.post(url, json={"query": []}), 400)["param"] == "query"
    assert _openai_error(http.post(url, json={"query": ["ok", ""]}), 400)["param"] == "query[1]"


def _matches(meta: dict[str, Any], key: str, op: str, value: Any) -> bool:
    """Our portable semantics: ne / nin also match documents without the key."""
    if key not in meta:
        return op in ("ne", "nin")
    have = meta[key]

    def same(a: Any, b: Any) -> bool:
        return isinstance(a, bool) == isinstance(b, bool) and a == b

    if op == "eq":
        return same(have, value)
    if op == "ne":
        return not same(have, value)
    if op == "in":
        return any(same(have, v) for v in value)
    if op == "nin":
        return not any(same(have, v) for v in value)
    if isinstance(have, bool) or not isinstance(have, int | float):
        return False
    return {"gt": have > value, "gte": have >= value, "lt": have < value, "lte": have <= value}[op]


COMPARISONS: list[tuple[str, str, Any]] = [
    ("n", "eq", 2),
    ("n", "ne", 2),
    ("n", "gt", 2),
    ("n", "gte", 2),
    ("n", "lt", 2),
    ("n", "lte", 2),
    ("n", "in", [1, 3, 99]),
    ("n", "nin", [1, 3]),
    ("f", "gt", 1.0),
    ("f", "lte", 1.5),
    ("f", "eq", 10),
    ("s", "eq", "fr"),
    ("s", "ne", "fr"),
    ("s", "in", ["de", "it"]),
    ("s", "nin", ["de", "it"]),
    ("b", "eq", True),
    ("b", "eq", False),
    ("b", "ne", True),
    ("id", "eq", "rome"),
    ("id", "in", ["rome", "paris"]),
]


@pytest.mark.parametrize(("key", "op", "value"), COMPARISONS)
def test_openai_comparison_filters(
    http: httpx.Client, capitals: str, key: str, op: str, value: Any
) -> None:
    page = _ok(
        http.post(
            f"/v1/vector_stores/{capitals}/search",
            json={"query": "capital", "filters": {"type": op, "key": key, "value": value}},
        )
    )
    got = {d["attributes"]["id"] for d in page["data"]}
    expected = {
        item["id"]
        for item in ITEMS
        if _matches({**item["metadata"], "id": item["id"]}, key, op, value)
    }
    assert got == expected


def test_openai_compound_filters_nest(http: httpx.Client, capitals: str) -> None:
    flt = {
        "type": "or",
        "filters": [
            {
                "type": "and",
                "filters": [
                    {"type": "eq", "key": "b", "value": True},
                    {"type": "gt", "key": "n", "value": 1},
                ],
            },
            {
                "type": "and",
                "filters": [
                    {"type": "in", "key": "s", "value": ["de", "es"]},
                    {
                        "type": "or",
                        "filters": [
                            {"type": "lt", "key": "f", "value": 2},
                            {"type": "eq", "key": "n", "value": 10},
                        ],
                    },
                ],
            },
        ],
    }
    page = _ok(
        http.post(f"/v1/vector_stores/{capitals}/search", json={"query": "capital", "filters": flt})
    )
    assert {d["attributes"]["id"] for d in page["data"]} == {"rome", "berlin", "madrid"}


@pytest.mark.parametrize(
    ("flt", "param"),
    [
        ({"type": "eq", "key": "n"}, "filters.value"),
        ({"type": "eq", "value": 1}, "filters.key"),
        ({"type": "like", "key": "n", "value": 1}, "filters.type"),
        ({"type": "gt", "key": "n", "value": "2"}, "filters.value"),
        ({"type": "gt", "key": "b", "value": True}, "filters.value"),
        ({"type": "in", "key": "n", "value": 1}, "filters.value"),
        ({"type": "eq", "key": "n", "value": [1]}, "filters.value"),
        ({"type": "eq", "key": "n", "value": {"a": 1}}, "filters.value"),
        ({"type": "and", "filters": []}, "filters.filters"),
        (
            {"type": "and", "filters": [{"type": "eq", "key": "n", "value": 1, "x": 1}]},
            "filters.filters[0].x",
        ),
        (
            {"type": "or", "filters": [{"type": "eq", "key": "s", "value": None}]},
            "filters.filters[0].value",
        ),
    ],
)
def test_openai_filter_errors_name_the_param(
    http: httpx.Client, capitals: str, flt: dict[str, Any], param: str
) -> None:
    r = http.post(f"/v1/vector_stores/{capitals}/search", json={"query": "x", "filters": flt})
    assert _openai_error(r, 400)["param"] == param


def test_vector_store_milvus_parameters_on_other_backends_are_400(
    http: httpx.Client, capitals: str
) -> None:
    for key, value in (
        ("limit", 3),
        ("annsField", "vec"),
        ("searchParams", {"nprobe": 4}),
        ("consistencyLevel", "Strong"),
    ):
        r = http.post(f"/v1/vector_stores/{capitals}/search", json={"query": "x", key: value})
        error = _openai_error(r, 400)
        assert error["param"] == key
        assert "lancedb" in error["message"]


def test_vector_store_resolution_and_not_found(http: httpx.Client, capitals: str) -> None:
    r = http.post(
        "/v1/indexes",
        json={
            "index_name": "capitals-view",
            "litellm_params": {"vector_store_index": capitals, "vector_store_name": "local"},
            "policy_filter": {
                "condition": {
                    "field": "s",
                    "op": "FILTER_OPERATOR_EQ",
                    "value": {"string_value": "it"},
                }
            },
        },
    )
    assert r.status_code == 200, r.text
    page = _ok(http.post("/v1/vector_stores/capitals-view/search", json={"query": "capital"}))
    assert [d["attributes"]["id"] for d in page["data"]] == ["rome"]
    error = _openai_error(
        http.post("/v1/vector_stores/missing/search", json={"query": "capital"}), 404
    )
    assert error["code"] == "collection_not_found"
    assert error["type"] == "invalid_request_error"
    error = _openai_error(
        http.post("/v1/vector_stores/bad%20name/search", json={"query": "x"}), 400
    )
    assert error["param"] == "vector_store_id"
    r = http.get(f"/v1/vector_stores/{capitals}/search")
    assert r.status_code == 405 and set(r.json()) == {"error"}


def test_vector_store_search_equals_grpc_search(
    srv: ServerThread, http: httpx.Client, capitals: str
) -> None:
    flt = {
        "type": "and",
        "filters": [
            {"type": "gte", "key": "n", "value": 1},
            {"type": "ne", "key": "s", "value": "es"},
        ],
    }
    page = _ok(
        http.post(
            f"/v1/vector_stores/{capitals}/search",
            json={"query": "ancient empire capital", "max_num_results": 4, "filters": flt},
        )
    )
    with Client(srv.grpc_target) as client:
        hits = client.search(
            capitals,
            text="ancient empire capital",
            top_k=4,
            filter=(F("n") >= 1) & (F("s") != "es"),
        )
    assert [d["attributes"]["id"] for d in page["data"]] == [h.id for h in hits]
    assert [d["score"] for d in page["data"]] == [h.score for h in hits]
    assert len(hits) == 3


# --------------------------------------------------------------------------- embeddings


def test_embeddings_float_and_base64(http: httpx.Client, embeddings: EmbeddingRegistry) -> None:
    texts = ["The food was delicious", "The waiter was rude"]
    expected = embeddings.get().embed_sync(texts)
    out = _ok(http.post("/v1/embeddings", json={"input": texts, "model": "all-MiniLM-L6-v2"}))
    assert list(out) == ["object", "data", "model", "usage"]
    assert out["object"] == "list" and out["model"] == "all-MiniLM-L6-v2"
    assert [d["index"] for d in out["data"]] == [0, 1]
    assert all(d["object"] == "embedding" for d in out["data"])
    got = np.array([d["embedding"] for d in out["data"]], dtype=np.float32)
    assert got.shape == (2, 384)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # Counted with the local model's own tokenizer: 4 + 4 WordPiece tokens.
    assert out["usage"] == {"prompt_tokens": 8, "total_tokens": 8}

    b64 = _ok(
        http.post(
            "/v1/embeddings",
            json={
                "input": texts[0],
                "model": "sentence-transformers/all-MiniLM-L6-v2",
                "encoding_format": "base64",
                "dimensions": 384,
                "user": "u1",
            },
        )
    )
    assert b64["model"] == "all-MiniLM-L6-v2"  # aliases resolve to the canonical name
    decoded = np.frombuffer(base64.b64decode(b64["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(decoded, expected[0], atol=1e-6)
    plain = _ok(http.post("/embeddings", json={"input": texts[0], "model": "all-MiniLM-L6-v2"}))
    assert len(plain["data"][0]["embedding"]) == 384


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        ({"input": "x", "model": "text-embedding-3-small"}, 404, "model", "model_not_found"),
        ({"input": [1, 2, 3], "model": "all-MiniLM-L6-v2"}, 400, "input", "invalid_field"),
        ({"input": [[1, 2]], "model": "all-MiniLM-L6-v2"}, 400, "input", "invalid_field"),
        ({"input": "", "model": "all-MiniLM-L6-v2"}, 400, "input", "invalid_field"),
        ({"input": [], "model": "all-MiniLM-L6-v2"}, 400, "input", "invalid_field"),
        ({"input": ["a", 5], "model": "all-MiniLM-L6-v2"}, 400, "input[1]", "invalid_field"),
        ({"model": "all-MiniLM-L6-v2"}, 400, "input", "missing_field"),
        ({"input": "x"}, 400, "model", "missing_field"),
        (
            {"input": "x", "model": "all-MiniLM-L6-v2", "encoding_format": "int8"},
            400,
            "encoding_format",
            "invalid_field",
        ),
        (
            {"input": "x", "model": "all-MiniLM-L6-v2", "dimensions": 256},
            400,
            "dimensions",
            "invalid_field",
        ),
        (
            {"input": "x", "model": "all-MiniLM-L6-v2", "temperature": 1},
            400,
            "temperature",
            "invalid_field",
        ),
    ],
)
def test_embeddings_errors(
    http: httpx.Client, body: dict[str, Any], status: int, param: str, code: str
) -> None:
    error = _openai_error(http.post("/v1/embeddings", json=body), status)
    assert error["param"] == param
    assert error["code"] == code
    r = http.post("/v1/embeddings", content=b"{oops")
    assert _openai_error(r, 400)["message"].startswith("body: malformed JSON")


# --------------------------------------------------------------------------- official client


@pytest.fixture(scope="module")
def client(srv: ServerThread) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=srv.http_base + "/v1", api_key="sk-test", max_retries=0) as c:
        yield c


def test_openai_client_embeddings(client: openai.OpenAI, embeddings: EmbeddingRegistry) -> None:
    texts = ["vector databases", "a recipe for bread"]
    expected = embeddings.get().embed_sync(texts)
    # The client asks for base64 by default and decodes it itself.
    result = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts)
    got = np.array([d.embedding for d in result.data], dtype=np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert result.model == "all-MiniLM-L6-v2"
    assert result.usage.total_tokens > 0
    floats = client.embeddings.create(
        model="all-MiniLM-L6-v2", input=texts[0], encoding_format="float"
    )
    np.testing.assert_allclose(floats.data[0].embedding, expected[0], atol=1e-6)
    with pytest.raises(openai.NotFoundError) as err:
        client.embeddings.create(model="text-embedding-3-large", input="x")
    assert err.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        client.embeddings.create(model="all-MiniLM-L6-v2", input="x", dimensions=64)
    assert bad.value.param == "dimensions"


def test_openai_client_vector_store_search(client: openai.OpenAI, capitals: str) -> None:
    page = client.vector_stores.search(
        capitals,
        query="What is the capital of France?",
        max_num_results=3,
        filters={"type": "ne", "key": "s", "value": "de"},
        ranking_options={"ranker": "none", "score_threshold": 0.0},
        rewrite_query=False,
    )
    results = page.data
    assert len(results) == 3
    assert results[0].attributes is not None and results[0].attributes["id"] == "paris"
    assert results[0].file_id == "file-1" and results[0].filename == "france.txt"
    assert results[0].content[0].type == "text"
    assert "Paris" in results[0].content[0].text
    assert all(r.attributes is not None and r.attributes.get("s") != "de" for r in results)
    with pytest.raises(openai.BadRequestError) as bad:
        client.vector_stores.search(
            capitals, query="x", filters={"type": "gt", "key": "s", "value": "a"}
        )
    assert bad.value.param == "filters.value"


def test_openai_errors_are_not_retried(srv: ServerThread) -> None:
    calls: list[int] = []

    def count(request: httpx.Request) -> None:
        calls.append(1)

    hooks: dict[str, list[Callable[[httpx.Request], None]]] = {"request": [count]}
    with (
        openai.OpenAI(
            base_url=srv.http_base + "/v1",
            api_key="sk-test",
            max_retries=2,
            http_client=openai.DefaultHttpxClient(event_hooks=hooks),  # type: ignore[arg-type]
        ) as c,
        pytest.raises(openai.APIStatusError),
    ):
        c.embeddings.create(model="all-MiniLM-L6-v2", input=[""])
    assert len(calls) == 1
