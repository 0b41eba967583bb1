"""A body is judged by what the route parses, never by what its Content-Type mentions.

Every route declares the body it takes (JSON; JSON or NDJSON for the streaming
upsert; a file of any type for the console's upload; none); any other
Content-Type is a 415 before the route runs, and the auth gate inspects exactly
what the route will parse. Checked over every route the server has (transcoded
RPCs, compatibility routes, OpenAI routes, the Milvus passthrough), with content
types that merely mention JSON or NDJSON.
"""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route

from tests.security.keys.conftest import MASTER, REMOTE_MODEL, Gateway, bearer
from vectorgate_server.http.common import BodyKind

#: Not JSON, whatever the body holds: 415 on every JSON route.
REFUSED = [
    "text/plain",
    "text/plain; charset=utf-8; x=application/json",
    "application/x-ndjson",
    "application/jsonl",
    "application/ndjson",
    "multipart/form-data; boundary=xyz",
    "application/x-www-form-urlencoded",
    "application/xml",
    "application/jsonx",
    "text/json",
    "ndjson",
    "application/json-seq",
]
#: JSON, whatever else the header says: parsed as JSON by the route, so inspected.
#: (application/octet-stream names no type, as no header: LiteLLM's async Milvus
#: search sends it, so the endpoint check must hold for it as for JSON.)
ACCEPTED = [
    None,
    "application/octet-stream",
    "application/json",
    "application/json; charset=utf-8",
    "application/json; x=ndjson",
    "application/json;ndjson",
    "Application/JSON",
    "application/vnd.vectorgate+json",
]


def _headers(key: str, content_type: str | None) -> dict[str, str]:
    headers = bearer(key)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return headers


@pytest.mark.parametrize("path", ["/v1/embeddings", "/embeddings"])
@pytest.mark.parametrize("content_type", REFUSED + ACCEPTED)
def test_embeddings_model_limit_holds_for_any_content_type(
    gateway: Gateway, path: str, content_type: str | None
) -> None:
    """The reported bypass: the remote model with a key limited to the local one."""
    before = gateway.provider_calls()
    body = f'{{"input": "hello", "model": "{REMOTE_MODEL}"}}'
    r = gateway.http.post(
        path, content=body, headers=_headers(gateway.keys["local_only"], content_type)
    )
    assert r.status_code == (415 if content_type in REFUSED else 403), r.text
    assert "error" in r.json()  # the OpenAI error body of these routes
    assert gateway.provider_calls() == before


def _concrete(path: str) -> str:
    values = {"group": "collections", "action": "list"}
    return re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: values.get(m.group(1), "kb_vec"), path)


def _body_routes(
    gateway: Gateway, *, any_type: bool = False
) -> list[tuple[str, str, frozenset[str]]]:
    """(method, concrete path, accepted kinds, as the route's gate enforces them) of every
    route that takes a body."""
    assert gateway.srv.server is not None
    out = []
    for route in gateway.srv.server.http.app.router.routes:
        if not isinstance(route, Route):
            continue
        for method in sorted((route.methods or set()) & {"POST", "PUT", "PATCH"}):
            fmt = route.app.body_format  # the auth gate in front of every route
            if fmt.any_type and not any_type:
                # Parses its one way whatever the type says: the passthrough (JSON, see
                # below) and the console's file upload.
                continue
            out.append((method, _concrete(route.path), frozenset(k.value for k in fmt.kinds)))
    return out


def _any_type_routes(gateway: Gateway) -> list[str]:
    assert gateway.srv.server is not None
    return [
        route.path
        for route in gateway.srv.server.http.app.router.routes
        if isinstance(route, Route)
        and getattr(route.app, "body_format", None) is not None
        and route.app.body_format.any_type
        and BodyKind.JSON in route.app.body_format.kinds
    ]


@pytest.mark.parametrize("content_type", [*REFUSED, None])
def test_the_passthrough_parses_json_whatever_the_declared_type(
    gateway: Gateway, content_type: str | None
) -> None:
    # Milvus's REST handlers bind the body as JSON without looking at the Content-Type
    # (LiteLLM's Milvus provider sends application/octet-stream), so the passthrough
    # does the same: it is the one such route, and it parses (and checks) JSON.
    assert _any_type_routes(gateway) == ["/milvus/v2/vectordb/{group}/{action}"]
    headers = {"Authorization": f"Bearer {MASTER}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    r = gateway.http.post("/milvus/v2/vectordb/collections/list", content=b"{}", headers=headers)
    assert r.status_code == 200 and r.json()["code"] == 0, (content_type, r.text)
    bad = gateway.http.post(
        "/milvus/v2/vectordb/collections/list", content=b"{not json", headers=headers
    )
    assert bad.status_code == 400 and bad.json()["code"] != 0, (content_type, bad.text)


def test_every_route_declares_its_body(gateway: Gateway) -> None:
    routes = _body_routes(gateway, any_type=True)
    assert len(routes) >= 20
    assert all(kinds for _, _, kinds in routes)
    assert {path for _, path, kinds in routes if "ndjson" in kinds} == {
        "/v1/collections/kb_vec/documents:bulkUpsert"
    }


@pytest.mark.parametrize("content_type", REFUSED)
def test_every_route_refuses_a_type_it_does_not_parse(gateway: Gateway, content_type: str) -> None:
    for method, path, kinds in _body_routes(gateway):
        if "ndjson" in kinds and content_type.split(";")[0] in (
            "application/x-ndjson",
            "application/jsonl",
            "application/ndjson",
        ):
            continue  # the streaming upsert takes NDJSON
        r = gateway.http.request(
            method, path, content=b"{}", headers=_headers(MASTER, content_type)
        )
        if kinds == {"file"}:
            # An upload (the console's ingest) takes a file of any type, read by the
            # route's file reader, never as a JSON request: its type is no 415.
            assert r.status_code != 415 and r.status_code < 500, (method, path, r.text)
            continue
        assert r.status_code == 415, (method, path, content_type, r.status_code, r.text)
        # A key: refused as well (403 first on the routes it may not call at all).
        key = _headers(gateway.keys["any_model"], content_type)
        r = gateway.http.request(method, path, content=b"{}", headers=key)
        assert r.status_code in (403, 415), (method, path, content_type, r.status_code, r.text)


@pytest.mark.parametrize("content_type", ACCEPTED)
def test_json_routes_take_json_under_any_spelling(
    gateway: Gateway, content_type: str | None
) -> None:
    r = gateway.http.post(
        "/v1/collections/idx_vec:search",
        content=b'{"vector": {"values": [1, 0, 0, 0]}, "top_k": 1}',
        headers=_headers(gateway.keys["any_model"], content_type),
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("content_type", ACCEPTED)
@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/collections/idx_vec:search",
            b'{"vector": {"values": [1, 0, 0, 0]}, "native_params": {"x": {"api_base": "http://x"}}}',
        ),
        ("/v1/vector/search", b'{"collection": "idx_vec", "query": "q", "api_key": "sk-x"}'),
        ("/v1/vector_stores/idx_vec/search", b'{"query": "q", "filters": {"url": "http://x"}}'),
        ("/v1/embeddings", b'{"input": "q", "model": "m", "api_base": "http://x"}'),
    ],
)
def test_the_gate_inspects_every_json_body(
    gateway: Gateway, content_type: str | None, path: str, body: bytes
) -> None:
    r = gateway.http.post(
        path, content=body, headers=_headers(gateway.keys["any_model"], content_type)
    )
    assert r.status_code == 400, r.text


def test_ndjson_stream_lines_are_checked_one_by_one(gateway: Gateway) -> None:
    """The streaming upsert parses NDJSON: every line is authorized as it arrives."""
    key = gateway.keys["local_only"]
    lines = [
        b'{"documents": [{"id": "v1", "vector": {"values": [1, 0, 0, 0]}}]}',
        b'{"collection": "kb_vec", "documents": [{"id": "v2", "vector": {"values": [0, 1, 0, 0]}}]}',  # noqa: E501
    ]
    for content_type in (
        "application/x-ndjson",
        "application/jsonl",
        "application/ndjson; charset=utf-8",
    ):
        r = gateway.http.post(
            "/v1/collections/idx_vec/documents:bulkUpsert",
            content=b"\n".join(lines),
            headers=_headers(key, content_type),
        )
        assert r.status_code in (400, 403), r.text  # the second line names a real collection
    ok = gateway.http.post(
        "/v1/collections/idx_vec/documents:bulkUpsert",
        content=lines[0] + b"\n",
        headers=_headers(key, "application/x-ndjson"),
    )
    assert ok.status_code == 200, ok.text
    before = gateway.provider_calls()
    remote = gateway.http.post(
        "/v1/collections/idx_remote/documents:bulkUpsert",
        content=b'{"documents": [{"id": "t", "text": "embed me"}]}\n',
        headers=_headers(key, "application/x-ndjson"),
    )
    assert remote.status_code == 403, remote.text
    assert gateway.provider_calls() == before


def test_routes_without_a_body_ignore_the_content_type(gateway: Gateway) -> None:
    for content_type in ("text/plain", "multipart/form-data; boundary=x", None):
        r = gateway.http.request(
            "GET", "/v1/indexes", content=b"junk", headers=_headers(MASTER, content_type)
        )
        assert r.status_code == 200, r.text
