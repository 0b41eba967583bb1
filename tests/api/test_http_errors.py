"""The HTTP error mapping: statuses as grpc-gateway maps them, ``google.rpc.Status`` bodies
naming the field, and no 500 for any client mistake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.servers import ServerThread, make_config
from vectorgate_server.adapters.base import Capabilities
from vectorgate_server.domain import Op
from vectorgate_server.embeddings import EmbeddingRegistry

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


@pytest.fixture(scope="module")
def srv(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry
) -> Iterator[ServerThread]:
    config = make_config(
        tmp_path_factory.mktemp("errors") / "data",
        {
            "server": {"max_message_bytes": 64 * 1024},
            "limits": {"max_batch_documents": 5, "max_top_k": 50},
        },
    )
    with ServerThread(config, embeddings) as server:
        yield server


@pytest.fixture(scope="module")
def http(srv: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.http_base, timeout=60) as client:
        r = client.post("/v1/collections", json={"collection": {"name": "kb"}})
        assert r.status_code == 200, r.text
        r = client.post(
            "/v1/collections/kb/documents:upsert",
            json={"documents": [{"id": "a", "text": "hello world", "metadata": {"n": 1}}]},
        )
        assert r.status_code == 200, r.text
        yield client


def _status(r: httpx.Response, http_status: int, code: int) -> dict[str, Any]:
    assert r.status_code == http_status, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-request-id"]
    body: dict[str, Any] = r.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    return body


def _info(body: dict[str, Any]) -> dict[str, Any]:
    infos = [d for d in body["details"] if d["@type"] == ERROR_INFO]
    assert len(infos) == 1, body
    assert infos[0]["domain"] == "vectorgate.dev"
    info: dict[str, Any] = infos[0]
    return info


def _field(body: dict[str, Any]) -> str:
    field: str = _info(body)["metadata"]["field"]
    violations = [d for d in body["details"] if d["@type"] == BAD_REQUEST]
    if violations:
        assert violations[0]["field_violations"][0]["field"] == field
    return field


def test_malformed_json_names_the_position(http: httpx.Client) -> None:
    r = http.post("/v1/collections/kb:search", content=b'{"text": "hi",\n  "top_k": }')
    body = _status(r, 400, 3)
    assert "malformed JSON at line 2 column 12" in body["message"]
    meta = _info(body)["metadata"]
    assert meta["line"] == "2" and meta["column"] == "12"


def test_unknown_field_is_named(http: httpx.Client) -> None:
    r = http.post("/v1/collections/kb:search", json={"text": "hi", "topk": 3})
    body = _status(r, 400, 3)
    assert _field(body) == "topk"
    assert "unknown field 'topk'" in body["message"]
    r = http.post(
        "/v1/collections/kb/documents:upsert",
        json={"documents": [{"id": "x", "text": "y", "meta": {}}]},
    )
    assert _field(_status(r, 400, 3)) == "documents[0].meta"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"text": "hi", "top_k": "many"}, "top_k", "expected a 32-bit integer"),
        ({"text": "hi", "top_k": 1.5}, "top_k", "expected a 32-bit integer"),
        ({"text": "hi", "top_k": 2**40}, "top_k", "out of range"),
        ({"text": 7, "top_k": 1}, "text", "expected a string"),
        ({"text": "hi", "explain": "yes"}, "explain", "expected true or false"),
        ({"vector": {"packed": "not base64!"}, "top_k": 1}, "vector.packed", "base64"),
        ({"vector": {"values": [1, "x"]}, "top_k": 1}, "vector.values[1]", "number"),
        (
            {"text": "hi", "filter": {"condition": {"op": "FILTER_OPERATOR_BOGUS"}}},
            "filter.condition.op",
            "unknown value",
        ),
        ({"text": "hi", "filter": []}, "filter", "expected a JSON object"),
        ({"text": "hi", "vector": {"values": [1.0]}}, "vector", "only one of text, vector"),
        ({"text": "hi", "top_k": 3, "topK": 3}, "top_k", "given twice"),
        ({"text": "hi", "top_k": 0}, "top_k", "between 1 and 50"),
    ],
)
def test_wrong_types_are_400_naming_the_field(
    http: httpx.Client, body: dict[str, Any], field: str, words: str
) -> None:
    r = http.post("/v1/collections/kb:search", json=body)
    status = _status(r, 400, 3)
    assert _field(status) == field
    assert words in status["message"]


def test_query_parameter_errors(http: httpx.Client) -> None:
    body = _status(http.get("/v1/collections", params={"page_size": "ten"}), 400, 3)
    assert _field(body) == "page_size"
    body = _status(http.get("/v1/collections", params={"colour": "red"}), 400, 3)
    assert _field(body) == "colour"
    body = _status(http.get("/v1/collections/kb", params={"name": "other"}), 400, 3)
    assert "already set by the URL path" in body["message"]
    body = _status(http.post("/v1/collections/kb:search?top_k=3", json={"text": "x"}), 400, 3)
    assert "query parameters are not accepted here" in body["message"]


def test_path_and_body_must_agree(http: httpx.Client) -> None:
    r = http.post("/v1/collections/kb:search", json={"collection": "other", "text": "x"})
    body = _status(r, 400, 3)
    assert _field(body) == "collection"
    # The same value twice is fine.
    r = http.post("/v1/collections/kb:search", json={"collection": "kb", "text": "x", "top_k": 1})
    assert r.status_code == 200, r.text


def test_not_found_and_already_exists(http: httpx.Client) -> None:
    body = _status(http.get("/v1/collections/missing"), 404, 5)
    assert _info(body)["reason"] == "COLLECTION_NOT_FOUND"
    r = http.post("/v1/collections/missing:search", json={"text": "x", "top_k": 1})
    body = _status(r, 404, 5)
    assert _info(body)["reason"] == "COLLECTION_NOT_FOUND"
    body = _status(http.get("/v1/collections", params={"store": "nowhere"}), 404, 5)
    assert _info(body)["reason"] == "STORE_NOT_FOUND"
    body = _status(http.get("/v1/indexes/missing"), 404, 5)
    assert _info(body)["reason"] == "INDEX_NOT_FOUND"
    body = _status(http.post("/v1/collections", json={"collection": {"name": "kb"}}), 409, 6)
    assert _info(body)["reason"] == "COLLECTION_ALREADY_EXISTS"


def test_body_over_the_limit_is_413(http: httpx.Client) -> None:
    big = {"documents": [{"id": "big", "text": "x" * (70 * 1024)}]}
    body = _status(http.post("/v1/collections/kb/documents:upsert", json=big), 413, 8)
    assert "exceeds the limit of 65536 bytes" in body["message"]
    assert _info(body)["reason"] == "LIMIT_EXCEEDED"

    # Without a Content-Length (chunked), the limit applies as the body streams in.
    def chunks() -> Iterator[bytes]:
        yield b'{"documents": [{"id": "big", "text": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}]}'

    r = http.post("/v1/collections/kb/documents:upsert", content=chunks())
    _status(r, 413, 8)
    # NDJSON bulk: the limit is per line.
    line = b'{"documents": [{"id": "big", "text": "' + b"x" * (70 * 1024) + b'"}]}\n'
    r = http.post(
        "/v1/collections/kb/documents:bulkUpsert",
        content=line,
        headers={"content-type": "application/x-ndjson"},
    )
    _status(r, 413, 8)


def test_batch_too_large_is_429(http: httpx.Client) -> None:
    docs = [{"id": f"d{i}", "text": "x"} for i in range(6)]
    body = _status(
        http.post("/v1/collections/kb/documents:upsert", json={"documents": docs}), 429, 8
    )
    assert _field(body) == "documents"
    assert _info(body)["reason"] == "LIMIT_EXCEEDED"


def test_unsupported_operation_is_501(srv: ServerThread, http: httpx.Client) -> None:
    assert srv.server is not None
    adapter = srv.server.gateway.stores["lancedb"]
    saved = adapter.capabilities
    adapter.capabilities = Capabilities(filter_ops=frozenset({Op.EQ}))
    try:
        flt = {"condition": {"field": "n", "op": "FILTER_OPERATOR_GT", "value": {"int_value": 0}}}
        r = http.post("/v1/collections/kb:search", json={"text": "x", "top_k": 1, "filter": flt})
        body = _status(r, 501, 12)
        info = _info(body)
        assert info["reason"] == "UNSUPPORTED_OPERATION"
        assert info["metadata"]["backend"] == "lancedb"
    finally:
        adapter.capabilities = saved


def test_deadline_is_504(http: httpx.Client) -> None:
    r = http.post(
        "/v1/collections/kb:search",
        json={"text": "hello", "top_k": 1},
        headers={"X-Request-Timeout": "0.000000001"},
    )
    body = _status(r, 504, 4)
    assert _info(body)["reason"] == "DEADLINE_EXCEEDED"
    r = http.get("/v1/collections/kb", headers={"X-Request-Timeout": "soon"})
    assert _field(_status(r, 400, 3)) == "X-Request-Timeout"


def test_wrong_method_is_405_and_unknown_path_404(http: httpx.Client) -> None:
    r = http.get("/v1/collections/kb/documents:upsert")
    body = _status(r, 405, 12)
    assert r.headers["allow"] == "POST"
    assert body["details"] == []
    r = http.put("/v1/collections")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD, POST"
    body = _status(http.get("/v1/nothing/here"), 404, 5)
    assert "no route for GET /v1/nothing/here" in body["message"]
    assert body["details"] == []


def test_unexpected_exception_is_500_with_request_id_only(
    srv: ServerThread, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    assert srv.server is not None
    gateway = srv.server.gateway

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    saved = gateway.list_indexes
    gateway.list_indexes = boom  # type: ignore[method-assign]
    try:
        r = http.get("/v1/indexes", headers={"x-request-id": "req-500"})
    finally:
        gateway.list_indexes = saved  # type: ignore[method-assign]
    body = _status(r, 500, 13)
    assert body["message"] == "internal error (request id req-500)"
    assert "secret" not in r.text
    assert any("internal error" in rec.getMessage() for rec in caplog.records)


CLIENT_MISTAKES: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("POST", "/v1/collections", b"[]", {}),
    ("POST", "/v1/collections", b'"text"', {}),
    ("POST", "/v1/collections", b"\xff\xfe", {}),
    ("POST", "/v1/collections", b'{"collection": null}', {}),
    ("POST", "/v1/collections", b'{"collection": {"name": 5}}', {}),
    ("POST", "/v1/collections", b'{"collection": {"metric": 99}}', {}),
    ("POST", "/v1/collections", b'{"collection": {"index": {"params": [1]}}}', {}),
    ("POST", "/v1/collections", b'{"collection": {"create_time": "yesterday"}}', {}),
    ("POST", "/v1/collections", b'{"collection": {"name": "a b"}}', {}),
    ("POST", "/v1/collections/kb:search", b'{"text": "x", "native_params": {"bogus": 1}}', {}),
    ("POST", "/v1/collections/kb:search", b'{"text": "x", "native_params": 3}', {}),
    ("POST", "/v1/collections/kb:search", b'{"text": "x", "score_threshold": "high"}', {}),
    ("POST", "/v1/collections/kb:search", b'{"text": "x", "output_fields": ["nope"]}', {}),
    ("POST", "/v1/collections/kb:search", b"[" * 5000 + b"]" * 5000, {}),
    (
        "POST",
        "/v1/collections/kb:search",
        b'{"text": "x", "filter": ' + b'{"negate": ' * 200 + b"{}" + b"}" * 201,
        {},
    ),
    ("POST", "/v1/collections/kb:search", b'{"vector": {"packed": "AAA"}}', {}),
    ("POST", "/v1/collections/kb:search", b'{"vector": {"values": []}, "top_k": 1}', {}),
    (
        "POST",
        "/v1/collections/kb:search",
        b'{"text": "x", "filter": {"condition": {"field": "n", "op": "FILTER_OPERATOR_IN",'
        b' "value": {"int_value": "1"}}}}',
        {},
    ),
    ("POST", "/v1/collections/kb/documents:upsert", b'{"documents": [null]}', {}),
    (
        "POST",
        "/v1/collections/kb/documents:upsert",
        b'{"documents": [{"id": "x", "text": "y", "metadata": {"k": {"nested": 1}}}]}',
        {},
    ),
    (
        "POST",
        "/v1/collections/kb/documents:upsert",
        b'{"documents": [{"id": "x", "vector": {"values": [1e39]}}]}',
        {},
    ),
    ("POST", "/v1/collections/kb/documents:get", b'{"ids": "a"}', {}),
    ("POST", "/v1/collections/kb/documents:delete", b"{}", {}),
    ("POST", "/v1/collections/kb/documents:bulkUpsert", b"[1, 2]", {}),
    (
        "POST",
        "/v1/collections/kb/documents:bulkUpsert",
        b"{}\n[]\n",
        {"content-type": "application/x-ndjson"},
    ),
    ("POST", "/v1/collections/%00bad:search", b'{"text": "x"}', {}),
    ("GET", "/v1/collections?page_size=-1", b"", {}),
    ("GET", "/v1/collections?page_token=garbage", b"", {}),
    ("GET", "/v1/collections?page_size=1&page_size=2", b"", {}),
    ("POST", "/v1/indexes", b'{"index_name": "i", "litellm_params": {}}', {}),
    (
        "POST",
        "/v1/indexes",
        b'{"index_name": "i", "litellm_params": {"vector_store_index": "kb",'
        b' "vector_store_name": "lancedb"}, "policy_filter": {"all_of": {"filters": []}}}',
        {},
    ),
    ("POST", "/v1/retrieve", b'{"search": {"collection": "kb"}, "max_tokens": -5}', {}),
    ("POST", "/v1/vector/search", b'{"query": ["a"]}', {}),
    ("POST", "/v1/vector/store", b'{"documents": [{"id": 1}]}', {}),
    ("POST", "/v1/vector_stores/kb/search", b'{"query": {"a": 1}}', {}),
    (
        "POST",
        "/v1/vector_stores/kb/search",
        b'{"query": "x", "filters": {"type": "eq", "key": "n"}}',
        {},
    ),
    ("POST", "/v1/embeddings", b'{"input": [[1, 2]], "model": "all-MiniLM-L6-v2"}', {}),
    ("POST", "/v1/embeddings", b'{"input": "x", "model": "all-MiniLM-L6-v2", "dimensions": 8}', {}),
    ("GET", "/v1/collections/kb", b"", {"x-request-timeout": "-1"}),
]


@pytest.mark.parametrize(("method", "path", "body", "headers"), CLIENT_MISTAKES)
def test_no_client_mistake_is_a_500(
    http: httpx.Client, method: str, path: str, body: bytes, headers: dict[str, str]
) -> None:
    r = http.request(method, path, content=body or None, headers=headers)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    payload = r.json()
    assert "message" in payload or "error" in payload
