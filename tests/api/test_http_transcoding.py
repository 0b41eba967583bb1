"""Every RPC through its ``google.api.http`` rule, against a real server, with httpx."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from tests.support.servers import ServerThread, make_config
from vectorgate import Client
from vectorgate_server.embeddings import EmbeddingRegistry

DOCS: list[dict[str, Any]] = [
    {
        "id": "volcano",
        "text": "Magma rising through the crust erupts as lava, ash and gas.",
        "metadata": {"domain": "geology", "year": 1980, "level": 2.5, "hot": True},
    },
    {
        "id": "sourdough",
        "text": "A sourdough starter is a fermented mix of flour and water that leavens bread.",
        "metadata": {"domain": "cooking", "year": 2020, "level": 1.0, "hot": False},
    },
    {
        "id": "black_hole",
        "text": "A collapsed star whose gravity is so strong that not even light escapes.",
        "metadata": {"domain": "physics", "year": 1970, "level": 3.0, "tags": ["space", "star"]},
    },
]


@pytest.fixture(scope="module")
def srv(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry
) -> Iterator[ServerThread]:
    config = make_config(tmp_path_factory.mktemp("transcoding") / "data")
    with ServerThread(config, embeddings) as server:
        yield server


@pytest.fixture(scope="module")
def http(srv: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.http_base, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def kb(http: httpx.Client) -> str:
    """A text collection holding DOCS."""
    r = http.post("/v1/collections", json={"collection": {"name": "kb"}})
    assert r.status_code == 200, r.text
    r = http.post("/v1/collections/kb/documents:upsert", json={"documents": DOCS})
    assert r.status_code == 200, r.text
    assert r.json() == {"upserted_count": 3}
    return "kb"


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]
    return response.json()


# --------------------------------------------------------------------------- collections


def test_collection_lifecycle(http: httpx.Client) -> None:
    created = _ok(
        http.post(
            "/v1/collections",
            json={"collection": {"name": "life", "metric": "DISTANCE_METRIC_L2"}},
        )
    )["collection"]
    assert created["name"] == "life"
    assert created["store"] == "lancedb"
    assert created["dimension"] == 384
    assert created["metric"] == "DISTANCE_METRIC_L2"
    assert created["embedding_model"] == "all-MiniLM-L6-v2"
    assert created["document_count"] == "0"  # int64: a string, as protobuf JSON says
    assert created["backend"] == "lancedb"
    assert created["create_time"].endswith("Z")

    got = _ok(http.get("/v1/collections/life"))["collection"]
    assert got["name"] == "life" and got["document_count"] == "0"
    # No index yet: searches are exact until the automatic one is built.
    status = got["index_status"]
    assert (status["state"], status["type"], status["auto_index_min_rows"]) == (
        "STATE_NONE",
        "IVF_SQ",
        "10000",
    )
    # The store as a query parameter (the path binds only `name`).
    assert _ok(http.get("/v1/collections/life", params={"store": "lancedb"}))["collection"]

    listed = _ok(http.get("/v1/collections", params={"page_size": 100}))
    assert "life" in [c["name"] for c in listed["collections"]]
    assert listed["next_page_token"] == ""

    assert _ok(http.delete("/v1/collections/life")) == {}
    assert http.get("/v1/collections/life").status_code == 404


def test_list_collections_pages_with_query_parameters(http: httpx.Client) -> None:
    for name in ("page_a", "page_b", "page_c"):
        _ok(
            http.post(
                "/v1/collections",
                json={"collection": {"name": name, "dimension": 2, "embedding_model": "none"}},
            )
        )
    names: list[str] = []
    token = ""
    while True:
        params: dict[str, Any] = {"pageSize": 2}  # lowerCamel accepted in the query too
        if token:
            params["page_token"] = token
        page = _ok(http.get("/v1/collections", params=params))
        assert len(page["collections"]) <= 2
        names += [c["name"] for c in page["collections"]]
        token = page["next_page_token"]
        if not token:
            break
    assert [n for n in names if n.startswith("page_")] == ["page_a", "page_b", "page_c"]
    for name in ("page_a", "page_b", "page_c"):
        _ok(http.delete(f"/v1/collections/{name}"))


def test_create_accepts_lower_camel_names(http: httpx.Client) -> None:
    body = {
        "collection": {
            "name": "camel",
            "embeddingModel": "none",
            "dimension": 3,
            "textField": "body",
        }
    }
    created = _ok(http.post("/v1/collections", json=body))["collection"]
    assert created["text_field"] == "body"
    assert created["embedding_model"] == "none"
    _ok(http.delete("/v1/collections/camel"))


# --------------------------------------------------------------------------- documents


def test_upsert_get_delete_documents(http: httpx.Client, kb: str) -> None:
    got = _ok(http.post(f"/v1/collections/{kb}/documents:get", json={"ids": ["sourdough", "nope"]}))
    assert [d["id"] for d in got["documents"]] == ["sourdough"]
    doc = got["documents"][0]
    assert doc["text"] == DOCS[1]["text"]
    assert doc["metadata"] == DOCS[1]["metadata"]
    assert "vector" not in doc

    with_vectors = _ok(
        http.post(
            f"/v1/collections/{kb}/documents:get",
            json={"ids": ["volcano"], "includeVectors": True},
        )
    )["documents"][0]
    packed = base64.b64decode(with_vectors["vector"]["packed"])
    vector = np.frombuffer(packed, dtype="<f4")
    assert vector.shape == (384,)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-3

    _ok(
        http.post(
            f"/v1/collections/{kb}/documents:upsert",
            json={"documents": [{"id": "temp", "text": "temporary", "metadata": {"x": 1}}]},
        )
    )
    _ok(http.post(f"/v1/collections/{kb}/documents:delete", json={"ids": ["temp"]}))
    assert _ok(http.post(f"/v1/collections/{kb}/documents:get", json={"ids": ["temp"]})) == {
        "documents": []
    }


def test_delete_documents_by_filter(http: httpx.Client) -> None:
    _ok(
        http.post(
            "/v1/collections",
            json={"collection": {"name": "del_f", "dimension": 2, "embedding_model": "none"}},
        )
    )
    docs = [
        {"id": f"d{i}", "vector": {"values": [1.0, float(i)]}, "metadata": {"n": i}}
        for i in range(6)
    ]
    _ok(http.post("/v1/collections/del_f/documents:upsert", json={"documents": docs}))
    flt = {"condition": {"field": "n", "op": "FILTER_OPERATOR_GTE", "value": {"int_value": "3"}}}
    _ok(http.post("/v1/collections/del_f/documents:delete", json={"filter": flt}))
    ids = [f"d{i}" for i in range(6)]
    left = _ok(http.post("/v1/collections/del_f/documents:get", json={"ids": ids}))
    assert [d["id"] for d in left["documents"]] == ["d0", "d1", "d2"]
    _ok(http.delete("/v1/collections/del_f"))


def test_vectors_as_values_or_packed_base64(http: httpx.Client) -> None:
    _ok(
        http.post(
            "/v1/collections",
            json={"collection": {"name": "vecs", "dimension": 4, "embedding_model": "none"}},
        )
    )
    a = np.array([1, 0, 0, 0], dtype="<f4")
    docs = [
        {"id": "a", "vector": {"packed": base64.b64encode(a.tobytes()).decode()}},
        {"id": "b", "vector": {"values": [0, 1, 0, 0]}},
        # URL-safe base64 without padding is accepted too.
        {
            "id": "c",
            "vector": {
                "packed": base64.urlsafe_b64encode(np.array([0, 0, 1, 0], dtype="<f4").tobytes())
                .decode()
                .rstrip("=")
            },
        },
    ]
    _ok(http.post("/v1/collections/vecs/documents:upsert", json={"documents": docs}))
    query = base64.b64encode(np.array([0.9, 0.1, 0, 0], dtype="<f4").tobytes()).decode()
    hits = _ok(
        http.post("/v1/collections/vecs:search", json={"vector": {"packed": query}, "top_k": 3})
    )["hits"]
    assert hits[0]["id"] == "a"
    assert {h["id"] for h in hits} == {"a", "b", "c"}
    _ok(http.delete("/v1/collections/vecs"))


def _ndjson(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def test_bulk_upsert_ndjson_and_json_array(http: httpx.Client) -> None:
    _ok(
        http.post(
            "/v1/collections",
            json={"collection": {"name": "bulk", "dimension": 2, "embedding_model": "none"}},
        )
    )

    def batch(start: int) -> dict[str, Any]:
        return {
            "documents": [
                {"id": f"n{i}", "vector": {"values": [1.0, float(i)]}}
                for i in range(start, start + 5)
            ]
        }

    r = http.post(
        "/v1/collections/bulk/documents:bulkUpsert",
        content=_ndjson([batch(0), batch(5), batch(10)]),
        headers={"content-type": "application/x-ndjson"},
    )
    assert _ok(r) == {"upserted_count": "15", "batch_count": 3}

    r = http.post("/v1/collections/bulk/documents:bulkUpsert", json=[batch(15), batch(20)])
    assert _ok(r) == {"upserted_count": "10", "batch_count": 2}

    ids = [f"n{i}" for i in range(25)]
    got = _ok(http.post("/v1/collections/bulk/documents:get", json={"ids": ids}))
    assert len(got["documents"]) == 25

    # An NDJSON body streamed in small chunks (a generator: chunked transfer encoding).
    def chunks() -> Iterator[bytes]:
        data = _ndjson([batch(25), batch(30)])
        for i in range(0, len(data), 7):
            yield data[i : i + 7]

    r = http.post(
        "/v1/collections/bulk/documents:bulkUpsert",
        content=chunks(),
        headers={"content-type": "application/x-ndjson"},
    )
    assert _ok(r) == {"upserted_count": "10", "batch_count": 2}

    # CRLF line ends, blank lines and a last line without a newline.
    data = orjson.dumps(batch(35)) + b"\r\n\r\n" + orjson.dumps(batch(40))
    r = http.post(
        "/v1/collections/bulk/documents:bulkUpsert",
        content=data,
        headers={"content-type": "application/jsonl; charset=utf-8"},
    )
    assert _ok(r) == {"upserted_count": "10", "batch_count": 2}
    _ok(http.delete("/v1/collections/bulk"))


def test_bulk_upsert_errors_name_the_message(http: httpx.Client, kb: str) -> None:
    r = http.post(
        f"/v1/collections/{kb}/documents:bulkUpsert",
        content=b'{"documents": [{"id": "x1", "text": "ok"}]}\n{"documents": [{"idd": 1}]}\n',
        headers={"content-type": "application/x-ndjson"},
    )
    assert r.status_code == 400
    assert r.json()["message"].startswith("requests[1].documents[0].idd: unknown field")
    r = http.post(
        f"/v1/collections/{kb}/documents:bulkUpsert",
        content=b'{"documents": []}\n{not json}\n',
        headers={"content-type": "application/x-ndjson"},
    )
    assert r.status_code == 400
    assert "line 2: malformed JSON" in r.json()["message"]
    # The path names the collection; a message naming another is refused.
    r = http.post(
        f"/v1/collections/{kb}/documents:bulkUpsert",
        json=[{"collection": "other", "documents": []}],
    )
    assert r.status_code == 400
    assert r.json()["message"].startswith("requests[0].collection: the URL path says 'kb'")
    r = http.post(f"/v1/collections/{kb}/documents:bulkUpsert", json=[])
    assert r.status_code == 400  # an empty stream


# --------------------------------------------------------------------------- search


def test_search_by_text_with_filter_and_explain(http: httpx.Client, kb: str) -> None:
    hits = _ok(
        http.post(f"/v1/collections/{kb}:search", json={"text": "baking bread", "top_k": 3})
    )["hits"]
    assert hits[0]["id"] == "sourdough"
    assert hits[0]["store"] == "lancedb" and hits[0]["collection"] == kb
    assert hits[0]["metadata"] == DOCS[1]["metadata"]
    assert isinstance(hits[0]["score"], float)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)

    flt = {
        "all_of": {
            "filters": [
                {
                    "condition": {
                        "field": "year",
                        "op": "FILTER_OPERATOR_LT",
                        "value": {"int_value": "2000"},
                    }
                },
                {
                    "condition": {
                        "field": "domain",
                        "op": "FILTER_OPERATOR_NE",
                        "value": {"string_value": "physics"},
                    }
                },
            ]
        }
    }
    filtered = _ok(
        http.post(
            f"/v1/collections/{kb}:search",
            json={
                "text": "baking bread",
                "topK": 3,
                "filter": flt,
                "outputFields": ["metadata.year"],
            },
        )
    )["hits"]
    assert [h["id"] for h in filtered] == ["volcano"]
    assert filtered[0]["metadata"] == {"year": 1980}
    assert filtered[0]["text"] == ""

    explained = _ok(
        http.post(
            f"/v1/collections/{kb}:search",
            json={"text": "x", "top_k": 2, "filter": flt, "explain": True},
        )
    )
    assert explained["hits"] == []
    assert explained["explanation"]["backend"] == "lancedb"
    assert "year" in explained["explanation"]["native_filter"]


def test_search_by_vector_matches_grpc(srv: ServerThread, http: httpx.Client, kb: str) -> None:
    with Client(srv.grpc_target) as client:
        vector = client.get(kb, ["volcano"], include_vectors=True)[0].vector
        grpc_hits = client.search(kb, vector=vector, top_k=3)
    packed = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
    hits = _ok(
        http.post(f"/v1/collections/{kb}:search", json={"vector": {"packed": packed}, "top_k": 3})
    )["hits"]
    assert [h["id"] for h in hits] == [h.id for h in grpc_hits]
    assert [h["score"] for h in hits] == [h.score for h in grpc_hits]


def test_multi_target_search_binding(http: httpx.Client, kb: str) -> None:
    # The additional binding `POST /v1/search` of the same RPC.
    hits = _ok(http.post("/v1/search", json={"collection": kb, "text": "lava", "top_k": 1}))
    assert hits["hits"][0]["id"] == "volcano"


def test_retrieve(http: httpx.Client, kb: str) -> None:
    out = _ok(
        http.post(
            "/v1/retrieve",
            json={
                "search": {"collection": kb, "text": "exploding mountains", "top_k": 2},
                "max_tokens": 200,
            },
        )
    )
    assert out["passages"]
    assert "lava" in out["context"]


# --------------------------------------------------------------------------- virtual indexes


def test_index_crud_and_search_through_it(http: httpx.Client, kb: str) -> None:
    body = {
        "index_name": "geo-view",
        "litellm_params": {"vector_store_index": kb, "vector_store_name": "lancedb"},
        "policy_filter": {
            "condition": {
                "field": "domain",
                "op": "FILTER_OPERATOR_EQ",
                "value": {"string_value": "geology"},
            }
        },
        "description": "geology only",
    }
    created = _ok(http.post("/v1/indexes", json=body))["index"]
    assert created["index_name"] == "geo-view"
    assert created["litellm_params"] == body["litellm_params"]
    assert created["policy_filter"] == body["policy_filter"]
    assert created["create_time"].endswith("Z")
    assert _ok(http.get("/v1/indexes/geo-view"))["index"]["description"] == "geology only"
    listed = _ok(http.get("/v1/indexes", params={"page_size": 10}))
    assert [i["index_name"] for i in listed["indexes"]] == ["geo-view"]

    hits = _ok(http.post("/v1/collections/geo-view:search", json={"text": "bread", "top_k": 3}))
    assert [h["id"] for h in hits["hits"]] == ["volcano"]
    assert hits["hits"][0]["collection"] == "geo-view"

    assert http.post("/v1/indexes", json=body).status_code == 409
    assert _ok(http.delete("/v1/indexes/geo-view")) == {}
    assert http.get("/v1/indexes/geo-view").status_code == 404


def test_request_id_and_timeout_headers(http: httpx.Client, kb: str) -> None:
    r = http.get(f"/v1/collections/{kb}", headers={"x-request-id": "my-id-123"})
    assert r.headers["x-request-id"] == "my-id-123"
    r = http.get(f"/v1/collections/{kb}")
    assert len(r.headers["x-request-id"]) == 32
    r = http.post(
        f"/v1/collections/{kb}:search",
        json={"text": "lava", "top_k": 1},
        headers={"x-request-timeout": "30"},
    )
    assert r.status_code == 200


def test_health(srv: ServerThread, http: httpx.Client) -> None:
    assert _ok(http.get("/healthz")) == {"status": "ok"}
    assert _ok(http.get("/readyz")) == {
        "status": "SERVING",
        "stores": {"lancedb": {"status": "SERVING", "backend": "lancedb"}},
    }


def test_readiness_follows_shutdown(tmp_path: Path, embeddings: EmbeddingRegistry) -> None:
    with ServerThread(make_config(tmp_path / "data"), embeddings) as server:
        base = server.http_base
        stores = {"lancedb": {"status": "SERVING", "backend": "lancedb"}}
        assert httpx.get(base + "/readyz").json() == {"status": "SERVING", "stores": stores}
        assert server.server is not None
        http_server = server.server.http
        http_server.serving = False
        r = httpx.get(base + "/readyz")
        assert r.status_code == 503 and r.json() == {"status": "NOT_SERVING", "stores": stores}
        http_server.serving = True
    with pytest.raises(httpx.ConnectError):
        httpx.get(base + "/healthz", timeout=2)
