"""The OpenSearch test server's own semantics, where the contract suite does not reach.

Request and response shapes follow OpenSearch's REST API documentation; these
tests pin the ones the adapter depends on (error bodies, bulk item results,
refresh visibility, query evaluation per field type, k-NN scores, the standard
analyzer and BM25 scores of ``match``, checked against hand-computed values).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pytest

from tests.servers.opensearch_server import (
    OpenSearchTestServer,
    decode_norm,
    encode_norm,
    standard_analyze,
)


@pytest.fixture(scope="module")
def server() -> Iterator[OpenSearchTestServer]:
    with OpenSearchTestServer() as srv:
        yield srv


@pytest.fixture
def http(server: OpenSearchTestServer) -> Iterator[httpx.Client]:
    server.reset()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def ndjson(*lines: dict[str, Any]) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


def bulk(http: httpx.Client, *lines: dict[str, Any], **params: str) -> httpx.Response:
    return http.post(
        "/_bulk",
        content=ndjson(*lines),
        params=params,
        headers={"content-type": "application/x-ndjson"},
    )


KNN_INDEX = {
    "settings": {"index": {"knn": True}},
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "vector": {
                "type": "knn_vector",
                "dimension": 2,
                "method": {"name": "hnsw", "engine": "lucene", "space_type": "l2"},
            },
            "tag": {"type": "keyword"},
            "n": {"type": "double"},
            "flag": {"type": "boolean"},
        },
    },
}


def test_info(http: httpx.Client) -> None:
    body = http.get("/").json()
    assert body["version"]["distribution"] == "opensearch"
    assert body["version"]["number"] == "2.19.1"
    assert body["tagline"].startswith("The OpenSearch Project")


def test_index_lifecycle_and_error_shapes(http: httpx.Client) -> None:
    created = http.put("/docs", json=KNN_INDEX)
    assert created.json() == {"acknowledged": True, "shards_acknowledged": True, "index": "docs"}
    again = http.put("/docs", json=KNN_INDEX)
    assert again.status_code == 400
    error = again.json()
    assert error["status"] == 400
    assert error["error"]["type"] == "resource_already_exists_exception"
    assert error["error"]["root_cause"][0]["type"] == "resource_already_exists_exception"
    assert error["error"]["index"] == "docs"
    assert error["error"]["reason"].startswith("index [docs/")

    assert http.head("/docs").status_code == 200
    missing = http.head("/nope")
    assert (missing.status_code, missing.content) == (404, b"")

    for method, path in [
        ("GET", "/nope/_mapping"),
        ("GET", "/nope"),
        ("POST", "/nope/_search"),
        ("POST", "/nope/_count"),
        ("DELETE", "/nope"),
        ("POST", "/nope/_delete_by_query"),
    ]:
        response = http.request(method, path, json={"query": {"match_all": {}}})
        assert response.status_code == 404, path
        assert response.json() == {
            "error": {
                "root_cause": [
                    {
                        "type": "index_not_found_exception",
                        "reason": "no such index [nope]",
                        "index": "nope",
                        "resource.id": "nope",
                        "resource.type": "index_or_alias",
                        "index_uuid": "_na_",
                    }
                ],
                "type": "index_not_found_exception",
                "reason": "no such index [nope]",
                "index": "nope",
                "resource.id": "nope",
                "resource.type": "index_or_alias",
                "index_uuid": "_na_",
            },
            "status": 404,
        }
    assert http.delete("/docs").json() == {"acknowledged": True}
    assert http.head("/docs").status_code == 404


@pytest.mark.parametrize("name", ["Upper", "_x", "-x", "+x", "a b", "a*b", "a,b", "a:b", "a|b"])
def test_invalid_index_names(http: httpx.Client, name: str) -> None:
    response = http.put(f"/{name}")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_index_name_exception"


def test_mapping_validation(http: httpx.Client) -> None:
    def create(properties: dict[str, Any], settings: dict[str, Any] | None = None) -> Any:
        return http.put(
            "/m",
            json={
                "settings": settings or {"index.knn": True},
                "mappings": {"properties": properties},
            },
        )

    bad = [
        {"v": {"type": "knn_vector"}},
        {"v": {"type": "knn_vector", "dimension": 16001}},
        {"v": {"type": "knn_vector", "dimension": 2, "method": {"name": "hnsw", "engine": "x"}}},
        {
            "v": {
                "type": "knn_vector",
                "dimension": 2,
                "method": {"name": "hnsw", "engine": "lucene", "space_type": "l1"},
            }
        },
        {
            "v": {
                "type": "knn_vector",
                "dimension": 2,
                "method": {"name": "hnsw", "engine": "lucene", "parameters": {"ef_search": 5}},
            }
        },
        {"v": {"type": "nope"}},
        {"k": {"type": "keyword", "bogus": 1}},
    ]
    for properties in bad:
        response = create(properties)
        assert response.status_code == 400, properties
        assert response.json()["error"]["type"] == "mapper_parsing_exception", properties
    unknown_setting = create({}, {"index.bogus": 1})
    assert unknown_setting.status_code == 400
    assert "unknown setting [index.bogus]" in unknown_setting.json()["error"]["reason"]
    # the method is stored resolved, like OpenSearch returns it
    assert create(
        {"v": {"type": "knn_vector", "dimension": 2, "method": {"name": "hnsw"}}}
    ).is_success
    method = http.get("/m/_mapping").json()["m"]["mappings"]["properties"]["v"]["method"]
    assert method == {"name": "hnsw", "engine": "faiss", "space_type": "l2", "parameters": {}}


def test_bulk_items_and_errors(http: httpx.Client) -> None:
    http.put("/docs", json=KNN_INDEX)
    response = bulk(
        http,
        {"index": {"_index": "docs", "_id": "a"}},
        {"vector": [1, 2], "tag": "x"},
        {"index": {"_index": "docs", "_id": "b"}},
        {"vector": [1, 2, 3]},
        {"index": {"_index": "docs", "_id": "c"}},
        {"vector": [0, 1], "unknown": 1},
        {"index": {"_index": "docs", "_id": "d"}},
        {"vector": [0, 1], "n": "not a number"},
        {"index": {"_index": "docs", "_id": "a"}},
        {"vector": [3, 4], "tag": 5},
        {"delete": {"_index": "docs", "_id": "zzz"}},
        refresh="wait_for",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["errors"] is True
    items = [next(iter(item.items())) for item in body["items"]]
    assert [op for op, _ in items] == ["index"] * 5 + ["delete"]
    results = [result for _, result in items]
    assert (results[0]["status"], results[0]["result"], results[0]["_version"]) == (
        201,
        "created",
        1,
    )
    assert results[1]["status"] == 400
    assert results[1]["error"]["type"] == "mapper_parsing_exception"
    assert (
        results[1]["error"]["caused_by"]["reason"]
        == "Vector dimension mismatch. Expected: 2, Given: 3"
    )
    assert results[1]["error"]["reason"].startswith(
        "failed to parse field [vector] of type [knn_vector]"
    )
    assert results[2]["error"]["type"] == "strict_dynamic_mapping_exception"
    assert results[2]["error"]["reason"] == (
        "mapping set to strict, dynamic introduction of [unknown] within [_doc] is not allowed"
    )
    assert results[3]["error"]["type"] == "mapper_parsing_exception"
    assert "field [n] of type [double]" in results[3]["error"]["reason"]
    assert (results[4]["status"], results[4]["result"], results[4]["_version"]) == (
        200,
        "updated",
        2,
    )
    assert (results[5]["status"], results[5]["result"]) == (404, "not_found")
    assert "error" not in results[5]
    # a keyword field coerces the number 5 to the string "5", as OpenSearch does
    count = http.post("/docs/_count", json={"query": {"term": {"tag": "5"}}}).json()
    assert count["count"] == 1

    only_missing_delete = bulk(http, {"delete": {"_index": "docs", "_id": "zzz"}}).json()
    assert only_missing_delete["errors"] is False


def test_bulk_request_errors(http: httpx.Client) -> None:
    http.put("/docs", json=KNN_INDEX)
    no_newline = http.post("/_bulk", content=json.dumps({"delete": {"_index": "docs", "_id": "a"}}))
    assert no_newline.status_code == 400
    assert "terminated by a newline" in no_newline.json()["error"]["reason"]
    update = bulk(http, {"update": {"_index": "docs", "_id": "a"}}, {"doc": {}})
    assert update.status_code == 400
    unknown_param = bulk(http, {"delete": {"_index": "docs", "_id": "a"}}, pipeline="x")
    assert unknown_param.status_code == 400
    assert "unrecognized parameter" in unknown_param.json()["error"]["reason"]


def test_bulk_auto_creates_missing_index_but_delete_does_not(
    http: httpx.Client, server: OpenSearchTestServer
) -> None:
    deleted = bulk(http, {"delete": {"_index": "ghost", "_id": "a"}}).json()
    assert deleted["errors"] is True
    error = deleted["items"][0]["delete"]
    assert error["status"] == 404
    assert error["error"]["type"] == "index_not_found_exception"
    assert "ghost" not in server.indices

    created = bulk(http, {"index": {"_index": "ghost", "_id": "a"}}, {"title": "hi", "n": 1.5})
    assert created.json()["errors"] is False
    mapping = http.get("/ghost/_mapping").json()["ghost"]["mappings"]["properties"]
    assert mapping["title"] == {
        "type": "text",
        "fields": {"keyword": {"type": "keyword", "ignore_above": 256}},
    }
    assert mapping["n"] == {"type": "float"}


def test_refresh_visibility(http: httpx.Client) -> None:
    http.put("/docs", json=KNN_INDEX)
    bulk(http, {"index": {"_index": "docs", "_id": "a"}}, {"vector": [1, 0]})
    # real-time get sees the write, search and count do not until a refresh
    assert http.get("/docs/_doc/a").json()["found"] is True
    assert http.post("/docs/_count", json={}).json()["count"] == 0
    assert http.post("/docs/_search", json={}).json()["hits"]["total"]["value"] == 0
    http.post("/docs/_refresh")
    assert http.post("/docs/_count", json={}).json()["count"] == 1

    wait_for = http.post(
        "/docs/_delete_by_query", params={"refresh": "wait_for"}, json={"query": {"match_all": {}}}
    )
    assert wait_for.status_code == 400
    dbq = http.post(
        "/docs/_delete_by_query", params={"refresh": "true"}, json={"query": {"match_all": {}}}
    ).json()
    assert (dbq["total"], dbq["deleted"], dbq["failures"]) == (1, 1, [])
    assert http.post("/docs/_count", json={}).json()["count"] == 0


def test_mget(http: httpx.Client) -> None:
    http.put("/docs", json=KNN_INDEX)
    bulk(http, {"index": {"_index": "docs", "_id": "a"}}, {"vector": [1, 0], "tag": "x"})
    body = http.post(
        "/docs/_mget", params={"_source_excludes": "vector"}, json={"ids": ["a", "b"]}
    ).json()
    assert body["docs"][0]["_source"] == {"tag": "x"}
    assert body["docs"][0]["found"] is True
    assert body["docs"][1] == {"_index": "docs", "_id": "b", "found": False}
    missing = http.post("/ghost/_mget", json={"ids": ["a"]}).json()
    assert missing["docs"][0]["error"]["type"] == "index_not_found_exception"
    assert http.post("/docs/_mget", json={"ids": []}).status_code == 400


def test_unknown_requests_are_rejected(http: httpx.Client) -> None:
    http.put("/docs", json=KNN_INDEX)
    rejected = [
        http.get("/_cluster/health"),
        http.post("/docs/_update_by_query", json={}),
        http.post("/docs/_search", json={"query": {"match": {"tag": "x"}}}),
        http.post("/docs/_search", json={"aggs": {}}),
        http.post("/docs/_search", params={"scroll": "1m"}, json={}),
        http.post("/docs/_search", json={"query": {"bool": {"must": [], "bogus": 1}}}),
        http.post("/docs/_search", json={"query": {"term": {"tag": "x", "n": 1}}}),
        http.post("/docs/_count", json={"size": 1}),
    ]
    for response in rejected:
        assert response.status_code == 400, response.request.url


def search_ids(http: httpx.Client, query: dict[str, Any], index: str = "docs") -> set[str]:
    response = http.post(f"/{index}/_search", json={"size": 100, "query": query})
    assert response.status_code == 200, response.text
    return {hit["_id"] for hit in response.json()["hits"]["hits"]}


def test_query_semantics(http: httpx.Client) -> None:
    http.put("/docs", json=KNN_INDEX)
    docs = {
        "a": {"vector": [1, 0], "tag": "x", "n": 5, "flag": True},
        "b": {"vector": [0, 1], "tag": ["x", "y"], "n": 5.5},
        "c": {"vector": [1, 1], "tag": "5", "flag": False},
        "d": {"vector": [2, 2]},
    }
    lines: list[dict[str, Any]] = []
    for doc_id, source in docs.items():
        lines += [{"index": {"_index": "docs", "_id": doc_id}}, source]
    bulk(http, *lines, refresh="true")
    assert search_ids(http, {"term": {"tag": "x"}}) == {"a", "b"}
    assert search_ids(http, {"term": {"tag": {"value": 5}}}) == {"c"}  # keyword coercion
    assert search_ids(http, {"term": {"n": "5"}}) == {"a"}  # numeric parsing
    assert search_ids(http, {"term": {"flag": "false"}}) == {"c"}
    assert search_ids(http, {"term": {"unmapped": "x"}}) == set()
    assert search_ids(http, {"terms": {"tag": ["y", "5"]}}) == {"b", "c"}
    assert search_ids(http, {"range": {"n": {"gt": 5}}}) == {"b"}
    assert search_ids(http, {"range": {"n": {"gte": 5, "lt": 5.5}}}) == {"a"}
    assert search_ids(http, {"exists": {"field": "flag"}}) == {"a", "c"}
    assert search_ids(http, {"ids": {"values": ["a", "zz"]}}) == {"a"}
    assert search_ids(http, {"bool": {"must_not": [{"exists": {"field": "n"}}]}}) == {"c", "d"}
    assert search_ids(
        http, {"bool": {"should": [{"term": {"tag": "y"}}, {"ids": {"values": ["d"]}}]}}
    ) == {
        "b",
        "d",
    }
    # with a filter clause, should is optional unless minimum_should_match is given
    assert search_ids(
        http,
        {"bool": {"filter": [{"exists": {"field": "vector"}}], "should": [{"term": {"tag": "y"}}]}},
    ) == {"a", "b", "c", "d"}
    assert search_ids(
        http,
        {
            "bool": {
                "filter": [{"exists": {"field": "vector"}}],
                "should": [{"term": {"tag": "y"}}],
                "minimum_should_match": 1,
            }
        },
    ) == {"b"}
    bad = http.post("/docs/_search", json={"query": {"term": {"n": "abc"}}})
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["type"] == "search_phase_execution_exception"
    assert error["root_cause"][0]["type"] == "query_shard_exception"


def knn_body(vector: list[float], k: int, **extra: Any) -> dict[str, Any]:
    return {"size": 10, "query": {"knn": {"vector": {"vector": vector, "k": k, **extra}}}}


def test_knn_filter_is_applied_before_top_k(http: httpx.Client) -> None:
    http.put("/docs", json=KNN_INDEX)
    lines: list[dict[str, Any]] = []
    for i in range(10):
        tag = "far" if i >= 8 else "near"
        lines += [
            {"index": {"_index": "docs", "_id": f"d{i}"}},
            {"vector": [float(i), 0.0], "tag": tag},
        ]
    bulk(http, *lines, refresh="true")
    body = knn_body([0.0, 0.0], 2, filter={"term": {"tag": "far"}})
    hits = http.post("/docs/_search", json=body).json()["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["d8", "d9"]
    assert hits[0]["_score"] == pytest.approx(1 / (1 + 64), rel=1e-6)
    top = http.post("/docs/_search", json=knn_body([0.0, 0.0], 3)).json()["hits"]
    assert [h["_id"] for h in top["hits"]] == ["d0", "d1", "d2"]
    assert top["total"]["value"] == 3
    wrong_dim = http.post("/docs/_search", json=knn_body([0.0], 3))
    assert wrong_dim.status_code == 400
    k_zero = http.post("/docs/_search", json=knn_body([0.0, 0.0], 0))
    assert k_zero.status_code == 400
    ef = http.post(
        "/docs/_search", json=knn_body([0.0, 0.0], 3, method_parameters={"ef_search": 50})
    )
    assert ef.status_code == 200
    assert http.post("/docs/_search", json=knn_body([0.0, 0.0], 3, bogus=1)).status_code == 400


def test_knn_needs_an_ann_field_and_engine_filters(http: httpx.Client) -> None:
    flat = {"mappings": {"properties": {"vector": {"type": "knn_vector", "dimension": 2}}}}
    http.put("/flat", json=flat)
    assert http.post("/flat/_search", json=knn_body([1.0, 0.0], 1)).status_code == 400
    nmslib = json.loads(json.dumps(KNN_INDEX))
    nmslib["mappings"]["properties"]["vector"]["method"]["engine"] = "nmslib"
    http.put("/nms", json=nmslib)
    filtered = http.post("/nms/_search", json=knn_body([1.0, 0.0], 1, filter={"match_all": {}}))
    assert filtered.status_code == 400
    assert "does not support filters" in filtered.text


def opensearch_scores(
    space: str, q: np.ndarray, m: np.ndarray, *, exact: bool, modern: bool, engine: str
) -> np.ndarray:
    """The documented OpenSearch score formulas, written from the docs in float64."""
    q64, m64 = q.astype(np.float64), m.astype(np.float64)
    if space == "l2":
        return 1 / (1 + ((m64 - q64) ** 2).sum(axis=1))
    dot = m64 @ q64
    if space == "innerproduct":
        return np.where(dot > 0, dot + 1, 1 / (1 - np.minimum(dot, 0)))
    cos = dot / (np.linalg.norm(m64, axis=1) * np.linalg.norm(q64))
    if exact:
        return (1 + cos) / 2 if modern else 1 + cos
    if modern or engine == "lucene":
        return (1 + cos) / 2
    return 1 / (1 + (1 - cos))


@pytest.mark.parametrize("version", ["2.17.0", "2.19.1"])
@pytest.mark.parametrize("space", ["l2", "cosinesimil", "innerproduct"])
@pytest.mark.parametrize("engine", ["lucene", "nmslib"])
def test_scores_follow_opensearch_formulas(version: str, space: str, engine: str) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((6, 4)).astype(np.float32)
    q = rng.standard_normal(4).astype(np.float32)
    with OpenSearchTestServer(version=version) as srv, httpx.Client(base_url=srv.url) as http:
        mapping = {
            "settings": {"index.knn": True},
            "mappings": {
                "properties": {
                    "vector": {
                        "type": "knn_vector",
                        "dimension": 4,
                        "method": {"name": "hnsw", "engine": engine, "space_type": space},
                    }
                }
            },
        }
        assert http.put("/s", json=mapping).is_success
        lines: list[dict[str, Any]] = []
        for i, v in enumerate(vectors):
            lines += [{"index": {"_index": "s", "_id": str(i)}}, {"vector": v.tolist()}]
        bulk(http, *lines, refresh="true")
        modern = version == "2.19.1"
        approx = http.post("/s/_search", json=knn_body(q.tolist(), 6)).json()["hits"]["hits"]
        exact_body = {
            "size": 6,
            "query": {
                "script_score": {
                    "query": {"match_all": {}},
                    "script": {
                        "lang": "knn",
                        "source": "knn_score",
                        "params": {
                            "field": "vector",
                            "query_value": q.tolist(),
                            "space_type": space,
                        },
                    },
                }
            },
        }
        exact = http.post("/s/_search", json=exact_body).json()["hits"]["hits"]
    for hits, is_exact in ((approx, False), (exact, True)):
        expected = opensearch_scores(
            space, q, vectors, exact=is_exact, modern=modern, engine=engine
        )
        got = {int(h["_id"]): h["_score"] for h in hits}
        assert len(got) == 6
        for i, score in got.items():
            assert score == pytest.approx(expected[i], rel=1e-5, abs=1e-6)
        assert [h["_score"] for h in hits] == sorted((h["_score"] for h in hits), reverse=True)


def test_basic_auth() -> None:
    with (
        OpenSearchTestServer(username="admin", password="s3cret") as srv,
        httpx.Client(base_url=srv.url) as http,
    ):
        assert http.get("/").status_code == 401
        token = base64.b64encode(b"admin:wrong").decode()
        assert http.get("/", headers={"authorization": f"Basic {token}"}).status_code == 401
        token = base64.b64encode(b"admin:s3cret").decode()
        assert http.get("/", headers={"authorization": f"Basic {token}"}).status_code == 200


def test_dynamic_templates_and_dotted_keys(http: httpx.Client) -> None:
    body = {
        "mappings": {
            "dynamic": "strict",
            "dynamic_templates": [
                {"s": {"path_match": "meta.str.*", "mapping": {"type": "keyword"}}},
                {"n": {"path_match": "meta.num.*", "mapping": {"type": "double"}}},
            ],
            "properties": {
                "meta": {
                    "type": "object",
                    "dynamic": True,
                    "properties": {"str": {"type": "object"}, "num": {"type": "object"}},
                }
            },
        }
    }
    http.put("/t", json=body)
    response = bulk(
        http,
        {"index": {"_index": "t", "_id": "1"}},
        {"meta": {"str": {"a~b": "2024-01-01", "c": "x"}, "num": {"k": 1}}},
        {"index": {"_index": "t", "_id": "2"}},
        {"meta": {"num": {"k": "text"}}},
        {"index": {"_index": "t", "_id": "3"}},
        {"meta": {"str": {"x.y": "v"}}},
        refresh="true",
    ).json()
    results = [item["index"] for item in response["items"]]
    assert "error" not in results[0]
    assert results[1]["error"]["type"] == "mapper_parsing_exception"
    # a dotted key is an object path: the template maps meta.str.x to keyword, so the
    # object cannot be indexed (why the adapter writes "." in keys as "~")
    assert results[2]["error"]["type"] == "mapper_parsing_exception"
    props = http.get("/t/_mapping").json()["t"]["mappings"]["properties"]["meta"]["properties"]
    assert props["str"]["properties"]["a~b"] == {"type": "keyword"}  # no date detection
    assert props["num"]["properties"]["k"] == {"type": "double"}
    assert "x" not in props["str"]["properties"]
    assert search_ids(http, {"term": {"meta.str.a~b": "2024-01-01"}}, "t") == {"1"}


def test_boolean_clause_limit(http: httpx.Client) -> None:
    http.put("/docs", json=KNN_INDEX)
    ok = {"bool": {"should": [{"term": {"tag": str(i)}} for i in range(1024)]}}
    assert http.post("/docs/_count", json={"query": ok}).status_code == 200
    too_many = {"bool": {"should": [{"term": {"tag": str(i)}} for i in range(1025)]}}
    response = http.post("/docs/_count", json={"query": too_many})
    assert response.status_code == 400
    assert response.json()["error"]["root_cause"][0]["type"] == "too_many_nested_clauses"


# --------------------------------------------------------------------------- full text (BM25)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("ZX-4471-Q stainless reel", ["zx", "4471", "q", "stainless", "reel"]),
        ("The QUICK brown fox.", ["the", "quick", "brown", "fox"]),
        ("e.g. U.S.A. don't can\u2019t", ["e.g", "u.s.a", "don't", "can\u2019t"]),
        ("3.14 1,000.5 v2 2nd foo_bar _ __", ["3.14", "1,000.5", "v2", "2nd", "foo_bar"]),
        ("a:b 1:2 1;2 a;b wi-fi", ["a:b", "1", "2", "1;2", "a", "b", "wi", "fi"]),
        ("naïve ÉCOLE İstanbul", ["naïve", "école", "istanbul"]),
        ("東京は日本 カタカナ", ["東", "京", "は", "日", "本", "カタカナ"]),
        ("สวัสดีครับ hello", ["สวัสดีครับ", "hello"]),
        ("👍🏽 ok 🇫🇷", ["👍🏽", "ok", "🇫🇷"]),
        ("  ¡¿!? --- ...  ", []),
    ],
)
def test_standard_analyzer(text: str, tokens: list[str]) -> None:
    assert standard_analyze(text) == tokens


def test_standard_analyzer_splits_long_tokens() -> None:
    assert [len(t) for t in standard_analyze("x" * 600)] == [255, 255, 90]


def test_norms_are_lucene_small_floats() -> None:
    # SmallFloat.intToByte4: lengths below 24 are exact, then 3 mantissa bits.
    assert [decode_norm(encode_norm(n)) for n in range(32)] == list(range(32))
    assert decode_norm(encode_norm(40)) == 40
    assert decode_norm(encode_norm(41)) == 40
    assert decode_norm(encode_norm(100)) == 96  # 100 - 24 = 76 -> 0b1001xxx -> 72
    assert decode_norm(encode_norm(1000)) == 984  # 976 -> 15 << 6 = 960
    decoded = [decode_norm(encode_norm(n)) for n in range(5000)]
    assert decoded == sorted(decoded) and all(d <= n for n, d in enumerate(decoded))


TEXT_INDEX = {
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "body": {"type": "text"},
            "tag": {"type": "keyword"},
        },
    }
}
#: A tiny corpus; "e" has no body, so docCount of body is 4.
CORPUS = {
    "a": {"body": "red apple", "tag": "fruit"},
    "b": {"body": "red red car", "tag": "car"},
    "c": {"body": "green apple pie with cream", "tag": "fruit"},
    "d": {"body": ["blue", "car"], "tag": "car"},
    "e": {"tag": "none"},
}


def bm25(tf: int, dl: int, df: int, n: int, avgdl: float, boost: float = 1.0) -> float:
    """Lucene's BM25 of one term, written out: idf * tf / (tf + k1 * (1 - b + b * dl / avgdl))."""
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return boost * idf * tf / (tf + 1.2 * (1 - 0.75 + 0.75 * dl / avgdl))


def index_corpus(http: httpx.Client, corpus: dict[str, dict[str, Any]]) -> None:
    assert http.put("/t", json=TEXT_INDEX).status_code == 200
    lines: list[dict[str, Any]] = []
    for doc_id, source in corpus.items():
        lines += [{"index": {"_index": "t", "_id": doc_id}}, source]
    assert not bulk(http, *lines, refresh="true").json()["errors"]


def scores(http: httpx.Client, query: dict[str, Any], **body: Any) -> dict[str, float]:
    response = http.post("/t/_search", json={"query": query, **body})
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]["hits"]
    assert [h["_score"] for h in hits] == sorted((h["_score"] for h in hits), reverse=True)
    return {h["_id"]: h["_score"] for h in hits}


def test_match_scores_are_bm25(http: httpx.Client) -> None:
    index_corpus(http, CORPUS)
    # body lengths: a 2, b 3, c 5, d 2 (two values of one token) -> N = 4, avgdl = 12 / 4
    n, avgdl = 4, 3.0
    red = {"a": bm25(1, 2, 2, n, avgdl), "b": bm25(2, 3, 2, n, avgdl)}
    apple = {"a": bm25(1, 2, 2, n, avgdl), "c": bm25(1, 5, 2, n, avgdl)}
    got = scores(http, {"match": {"body": "RED"}})
    assert got == pytest.approx(red, rel=1e-6)
    assert list(got) == ["b", "a"]  # tf 2 beats tf 1
    # hand-checked value: idf = ln(1 + 2.5 / 2.5) = ln 2; b: 2 / (2 + 1.2 * 1) * ln 2
    assert got["b"] == pytest.approx(math.log(2) * 2 / 3.2, rel=1e-6)
    # OR (default): the sum of the matching terms' scores
    both = scores(http, {"match": {"body": "red apple"}})
    assert both == pytest.approx(
        {"a": red["a"] + apple["a"], "b": red["b"], "c": apple["c"]}, rel=1e-6
    )
    assert next(iter(both)) == "a"
    # AND: every term must occur
    assert scores(
        http, {"match": {"body": {"query": "red apple", "operator": "and"}}}
    ) == pytest.approx({"a": red["a"] + apple["a"]}, rel=1e-6)
    # boost multiplies, a repeated query word counts twice, a rare term has a higher idf
    assert scores(http, {"match": {"body": {"query": "red", "boost": 2}}}) == pytest.approx(
        {k: 2 * v for k, v in red.items()}, rel=1e-6
    )
    assert scores(http, {"match": {"body": "red red"}}) == pytest.approx(
        {k: 2 * v for k, v in red.items()}, rel=1e-6
    )
    assert scores(http, {"match": {"body": "cream"}}) == pytest.approx(
        {"c": bm25(1, 5, 1, n, avgdl)}, rel=1e-6
    )
    # multi-valued fields: the document length counts the tokens of every value
    assert scores(http, {"match": {"body": "car"}}) == pytest.approx(
        {"d": bm25(1, 2, 2, n, avgdl), "b": bm25(1, 3, 2, n, avgdl)}, rel=1e-6
    )
    response = http.post("/t/_search", json={"query": {"match": {"body": "red apple"}}}).json()
    assert response["hits"]["max_score"] == response["hits"]["hits"][0]["_score"]
    assert response["hits"]["total"] == {"value": 3, "relation": "eq"}
    # no token, no match (zero_terms_query none); an unmapped field matches nothing
    assert scores(http, {"match": {"body": "--- !"}}) == {}
    assert scores(http, {"match": {"nope": "red"}}) == {}
    assert scores(http, {"match": {"body": "zebra"}}) == {}


def test_bm25_statistics_follow_refresh_and_norm_encoding(http: httpx.Client) -> None:
    long_text = " ".join(["apple"] + [f"w{i}" for i in range(99)])  # 100 tokens, norm -> 96
    index_corpus(http, {"a": {"body": "apple pie"}, "b": {"body": long_text}})
    n, avgdl = 2, 102 / 2
    assert scores(http, {"match": {"body": "apple"}}) == pytest.approx(
        {"a": bm25(1, 2, 2, n, avgdl), "b": bm25(1, 96, 2, n, avgdl)}, rel=1e-6
    )
    # statistics are those of the searchable (refreshed) documents only
    bulk(http, {"index": {"_index": "t", "_id": "c"}}, {"body": "pear"})
    before = scores(http, {"match": {"body": "apple"}})
    assert before == pytest.approx({"a": bm25(1, 2, 2, n, avgdl), "b": bm25(1, 96, 2, n, avgdl)})
    http.post("/t/_refresh")
    after = scores(http, {"match": {"body": "apple"}})
    assert after == pytest.approx(
        {"a": bm25(1, 2, 2, 3, 103 / 3), "b": bm25(1, 96, 2, 3, 103 / 3)}, rel=1e-6
    )


def test_match_in_bool_clauses(http: httpx.Client) -> None:
    index_corpus(http, CORPUS)
    red = scores(http, {"match": {"body": "red"}})
    apple = scores(http, {"match": {"body": "apple"}})
    fruit = {"term": {"tag": "fruit"}}
    # a filter restricts without scoring; must scores
    assert scores(
        http, {"bool": {"must": [{"match": {"body": "red apple"}}], "filter": [fruit]}}
    ) == pytest.approx({"a": red["a"] + apple["a"], "c": apple["c"]}, rel=1e-6)
    # filter context only: matching documents score 0
    assert scores(http, {"bool": {"filter": [{"match": {"body": "red"}}]}}) == {"a": 0.0, "b": 0.0}
    # should clauses add their scores (each match is a scoring clause)
    assert scores(
        http, {"bool": {"should": [{"match": {"body": "red"}}, {"match": {"body": "apple"}}]}}
    ) == pytest.approx({"a": red["a"] + apple["a"], "b": red["b"], "c": apple["c"]}, rel=1e-6)
    # a constant-score clause adds its boost
    assert scores(
        http, {"bool": {"must": [{"match": {"body": "apple"}}], "should": [fruit]}}
    ) == pytest.approx({"a": apple["a"] + 1.0, "c": apple["c"] + 1.0}, rel=1e-6)
    # the bool's boost multiplies its clauses' scores
    assert scores(
        http, {"bool": {"must": [{"match": {"body": "red"}}], "boost": 3}}
    ) == pytest.approx({k: 3 * v for k, v in red.items()}, rel=1e-6)
    assert scores(http, {"bool": {"must_not": [{"match": {"body": "red apple"}}]}}) == {
        "d": 0.0,
        "e": 0.0,
    }
    count = http.post("/t/_count", json={"query": {"match": {"body": "apple"}}}).json()
    assert count["count"] == 2
    # top hits and total: size cuts the hits, not the count; track_total_hits false omits it
    top = http.post("/t/_search", json={"query": {"match": {"body": "red apple"}}, "size": 1})
    assert [h["_id"] for h in top.json()["hits"]["hits"]] == ["a"]
    assert top.json()["hits"]["total"]["value"] == 3
    untracked = http.post(
        "/t/_search",
        json={"query": {"match": {"body": "red"}}, "track_total_hits": False},
    ).json()["hits"]
    assert "total" not in untracked and len(untracked["hits"]) == 2


@pytest.mark.parametrize(
    "query",
    [
        {"match": {"tag": "fruit"}},  # keyword field: not implemented
        {"match": {"body": {"query": "red", "fuzziness": "AUTO"}}},
        {"match": {"body": {"query": "red", "minimum_should_match": 1}}},
        {"match": {"body": {"query": "red", "operator": "xor"}}},
        {"match": {"body": {"operator": "and"}}},
        {"match": {"body": ["red"]}},
        {"match": {"body": None}},
        {"match": {"body": "red", "tag": "car"}},
        {"match": {"body": {"query": "red", "boost": -1}}},
        {"match_phrase": {"body": "red apple"}},
        {"multi_match": {"query": "red", "fields": ["body"]}},
    ],
)
def test_unimplemented_match_forms_are_rejected(http: httpx.Client, query: dict[str, Any]) -> None:
    index_corpus(http, CORPUS)
    response = http.post("/t/_search", json={"query": query})
    assert response.status_code == 400, response.text


def test_match_terms_count_towards_the_clause_limit(http: httpx.Client) -> None:
    index_corpus(http, CORPUS)
    ok = " ".join(f"w{i}" for i in range(1024))
    assert http.post("/t/_search", json={"query": {"match": {"body": ok}}}).status_code == 200
    too_many = ok + " w1024"
    response = http.post("/t/_search", json={"query": {"match": {"body": too_many}}})
    assert response.status_code == 400
    assert response.json()["error"]["root_cause"][0]["type"] == "too_many_nested_clauses"


def test_index_names_follow_the_documented_restrictions(http: httpx.Client) -> None:
    # create-index: lowercase; no leading _ or -; no space , : " * + / \ | ? # > <.
    for bad in ("Upper", "_x", "-x", "a b", "a,b", "a:b", "a+b", "a#b", "a*b", "a?b"):
        response = http.put("/" + quote(bad, safe=""))
        assert response.status_code == 400, bad
        assert response.json()["error"]["type"] == "invalid_index_name_exception"
    # An undocumented limit is not enforced (names of more than 255 bytes).
    assert http.put("/" + "x" * 300).status_code == 200


def test_undocumented_knn_rules_are_not_enforced() -> None:
    # The documentation calls nmslib deprecated "While still supported" and shows a
    # Lucene method with m 2048; neither is refused.
    with OpenSearchTestServer(version="3.1.0") as srv, httpx.Client(base_url=srv.url) as http:
        for engine, parameters in (("nmslib", {}), ("lucene", {"m": 2048})):
            index = json.loads(json.dumps(KNN_INDEX))
            index["mappings"]["properties"]["vector"]["method"].update(
                engine=engine, parameters=parameters
            )
            assert http.put(f"/{engine}", json=index).status_code == 200, engine


def test_what_the_server_does_not_emulate_says_so(http: httpx.Client) -> None:
    response = http.put("/aliased", json={"aliases": {"a": {}}})
    assert response.status_code == 400
    assert "this test server does not emulate aliases" in response.json()["error"]["reason"]
    unknown = http.get("/_cat/indices")
    assert unknown.status_code == 400
    assert "does not emulate" in unknown.json()["error"]["reason"]
    # Documented keys and mapping parameters it lacks are refused as its own limits.
    http.put("/plain")
    aggs = http.post("/plain/_search", json={"aggs": {"n": {"terms": {"field": "x"}}}})
    assert aggs.status_code == 400
    assert "does not emulate" in aggs.json()["error"]["reason"]
    norms = {"mappings": {"properties": {"t": {"type": "text", "norms": False}}}}
    refused = http.put("/norms", json=norms)
    assert refused.status_code == 400
    assert "does not emulate" in refused.json()["error"]["reason"]


def test_refresh_interval_takes_every_documented_time_unit(http: httpx.Client) -> None:
    for i, value in enumerate(("-1", "1d", "2h", "3m", "4s", "5ms", "6micros", "7nanos")):
        body = {"settings": {"index": {"refresh_interval": value}}}
        assert http.put(f"/interval-{i}", json=body).status_code == 200, value
    bad = http.put("/interval-bad", json={"settings": {"index": {"refresh_interval": "1w"}}})
    assert bad.status_code == 400
