"""The API the web console relies on, over HTTP against a real server: ListDocuments
(pages, tokens, virtual index policy), ListStores, and the ingest upload route."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.servers import ServerThread
from vectorgate_server.ingest import Chunker, iter_chunks, local_token_counter, read_file


def _post(server: ServerThread, path: str, body: Any) -> httpx.Response:
    return httpx.post(server.http_base + path, json=body, timeout=60)


def _get(server: ServerThread, path: str, **params: Any) -> httpx.Response:
    return httpx.get(server.http_base + path, params=params, timeout=60)


def _field(response: httpx.Response) -> str:
    details = response.json()["details"]
    info = next(d for d in details if d["@type"].endswith("ErrorInfo"))
    return str(info["metadata"].get("field", ""))


@pytest.fixture
def docs(server: ServerThread) -> list[str]:
    assert _post(server, "/v1/collections", {"collection": {"name": "c"}}).status_code == 200
    ids = [f"doc-{i:02d}" for i in range(7)]
    documents = [
        {"id": i, "text": f"text {i}", "metadata": {"n": n, "even": n % 2 == 0}}
        for n, i in enumerate(ids)
    ]
    r = _post(server, "/v1/collections/c/documents:upsert", {"documents": documents})
    assert r.status_code == 200, r.text
    return ids


def test_list_documents_pages_in_id_order(server: ServerThread, docs: list[str]) -> None:
    seen: list[str] = []
    sizes: list[int] = []
    token = ""
    for _ in range(10):
        r = _get(server, "/v1/collections/c/documents", page_size=3, page_token=token)
        assert r.status_code == 200, r.text
        body = r.json()
        sizes.append(len(body["documents"]))
        seen.extend(d["id"] for d in body["documents"])
        assert all("vector" not in d for d in body["documents"])
        token = body["next_page_token"]
        if not token:
            break
    assert seen == docs
    assert sizes[:3] == [3, 3, 1]
    first = _get(server, "/v1/collections/c/documents", page_size=1).json()["documents"][0]
    assert first["metadata"] == {"n": 0, "even": True} and first["text"] == "text doc-00"
    with_vectors = _get(server, "/v1/collections/c/documents", page_size=1, include_vectors=True)
    assert with_vectors.json()["documents"][0]["vector"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page_size": 5000}, "page_size"),
        ({"page_size": -1}, "page_size"),
        ({"page_token": "not-a-token"}, "page_token"),
    ],
)
def test_list_documents_bad_paging_names_the_field(
    server: ServerThread, docs: list[str], params: dict[str, Any], field: str
) -> None:
    r = _get(server, "/v1/collections/c/documents", **params)
    assert r.status_code == 400, r.text
    assert _field(r) == field


def test_list_documents_token_is_bound_to_its_collection(
    server: ServerThread, docs: list[str]
) -> None:
    token = _get(server, "/v1/collections/c/documents", page_size=2).json()["next_page_token"]
    assert _post(server, "/v1/collections", {"collection": {"name": "d"}}).status_code == 200
    r = _get(server, "/v1/collections/d/documents", page_token=token)
    assert r.status_code == 400 and _field(r) == "page_token"
    assert _get(server, "/v1/collections/missing/documents").status_code == 404


def test_list_documents_through_a_virtual_index_applies_its_policy(
    server: ServerThread, docs: list[str]
) -> None:
    policy = {
        "condition": {"field": "even", "op": "FILTER_OPERATOR_EQ", "value": {"bool_value": True}}
    }
    r = _post(
        server,
        "/v1/indexes",
        {
            "index_name": "evens",
            "litellm_params": {"vector_store_name": "lancedb", "vector_store_index": "c"},
            "policy_filter": policy,
        },
    )
    assert r.status_code == 200, r.text
    seen: list[str] = []
    token = ""
    for _ in range(10):
        body = _get(server, "/v1/collections/evens/documents", page_size=2, page_token=token).json()
        assert len(body["documents"]) <= 2
        seen.extend(d["id"] for d in body["documents"])
        token = body["next_page_token"]
        if not token:
            break
    assert seen == docs[0::2]


def test_list_stores(server: ServerThread) -> None:
    r = _get(server, "/v1/stores")
    assert r.status_code == 200
    assert r.json() == {
        "stores": [
            {"name": "lancedb", "backend": "lancedb", "is_default": True, "keyword_search": True}
        ]
    }


INGEST = "/v1/collections/c/documents:ingest"


def _ingest(server: ServerThread, content: bytes, **params: Any) -> httpx.Response:
    return httpx.post(server.http_base + INGEST, params=params, content=content, timeout=120)


def test_ingest_uses_the_cli_chunker_and_ids(server: ServerThread, tmp_path: Any) -> None:
    assert _post(server, "/v1/collections", {"collection": {"name": "c"}}).status_code == 200
    text = "\n\n".join(
        f"Paragraph {i}. " + " ".join(f"Sentence {i}.{j} about topic {j}." for j in range(12))
        for i in range(6)
    )
    path = tmp_path / "notes.md"
    path.write_text(f"# Notes\n\n{text}\n")
    filetype, records = read_file(path)
    expected = list(
        iter_chunks(filetype, records, "notes.md", Chunker(local_token_counter(), 64, 8))
    )
    assert len(expected) > 3

    r = _ingest(server, path.read_bytes(), filename="notes.md", chunk_tokens=64, overlap=8)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ids"] == [c.id for c in expected]
    assert body["chunk_count"] == body["upserted_count"] == len(expected)
    stored = _post(server, "/v1/collections/c/documents:get", {"ids": body["ids"]}).json()
    assert [d["text"] for d in stored["documents"]] == [c.text for c in expected]
    assert stored["documents"][0]["metadata"] == expected[0].metadata

    again = _ingest(server, path.read_bytes(), filename="notes.md", chunk_tokens=64, overlap=8)
    assert again.json()["upserted_count"] == 0
    assert again.json()["present_count"] == len(expected)


@pytest.mark.parametrize(
    ("params", "content", "field"),
    [
        ({}, b"x", "filename"),
        ({"filename": "a/b.txt"}, b"x", "filename"),
        ({"filename": "..\\b.txt"}, b"x", "filename"),
        ({"filename": "run.exe"}, b"x", "filename"),
        ({"filename": "a.txt", "chunk_tokens": "4"}, b"x", "chunk_tokens"),
        ({"filename": "a.txt", "chunk_tokens": "many"}, b"x", "chunk_tokens"),
        ({"filename": "a.txt", "chunk_tokens": "50", "overlap": "50"}, b"x", "overlap"),
        ({"filename": "a.txt"}, b"\xff\xfe\xfa not utf-8", "body"),
        ({"filename": "a.jsonl"}, b'{"text": 3}\n', "body"),
        ({"filename": "a.pdf"}, b"%PDF-1.4 garbage", "body"),
    ],
)
def test_ingest_bad_input_names_the_field(
    server: ServerThread, params: dict[str, Any], content: bytes, field: str
) -> None:
    assert _post(server, "/v1/collections", {"collection": {"name": "c"}}).status_code == 200
    r = _ingest(server, content, **params)
    assert r.status_code == 400, r.text
    assert _field(r) == field, r.text


@pytest.mark.parametrize(
    "content_type",
    ["application/octet-stream", "text/markdown", "application/pdf", "application/json", None],
)
def test_ingest_takes_a_file_of_any_content_type(
    server: ServerThread, content_type: str | None
) -> None:
    """The console uploads as application/octet-stream; a file is a file whatever its type
    (the auth gate neither refuses the type nor parses the body as a JSON request)."""
    assert _post(server, "/v1/collections", {"collection": {"name": "c"}}).status_code == 200
    headers = {"Content-Type": content_type} if content_type else {}
    r = httpx.post(
        server.http_base + INGEST,
        params={"filename": "notes.md"},
        content=b"# Notes\n\nSome text about a topic.\n",
        headers=headers,
        timeout=120,
    )
    assert r.status_code == 200, r.text
    assert r.json()["chunk_count"] == 1


@pytest.mark.parametrize("depth", [65, 1_000, 1_025, 100_000])
def test_ingest_deep_jsonl_line_is_a_400_naming_the_limit(server: ServerThread, depth: int) -> None:
    assert _post(server, "/v1/collections", {"collection": {"name": "c"}}).status_code == 200
    line = '{"text": "x", "m": ' + "[" * depth + "1" + "]" * depth + "}\n"
    r = _ingest(server, line.encode(), filename="deep.jsonl")
    assert r.status_code == 400, r.text
    assert _field(r) == "body", r.text
    assert "line 1" in r.text and "64" in r.text, r.text


def test_ingest_into_a_missing_collection_is_404(server: ServerThread) -> None:
    r = _ingest(server, b"hello there.", filename="a.txt")
    assert r.status_code == 404
