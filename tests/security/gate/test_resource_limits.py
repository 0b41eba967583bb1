"""Resource exhaustion (issue #14, item 6).

* One streamed body limit on every route: a body over ``server.max_message_bytes``
  is refused with 413 as it streams in (Content-Length or chunked), never
  buffered: the server's memory stays flat while 100 MB are offered.
* A deadline on every backend call, the passthrough's pymilvus calls included
  (the store's ``timeout_s`` by default, the caller's ``X-Request-Timeout`` /
  gRPC deadline when shorter).
* Bounded concurrency per store: with a Milvus server stalled (SIGSTOP) and
  more passthrough calls hanging on it than it has threads, the key routes,
  the index routes and the other stores keep answering.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from tests.security._http import PeakRss, send_body
from tests.security.gate.conftest import MASTER, Gateway, start_gateway
from tests.support.milvus_lite import MilvusLiteServer, free_port, milvus_lite_executable
from tests.support.servers import ServerThread, make_config
from vectorgate import Client
from vectorgate.errors import VectorgateError
from vectorgate_server.embeddings import EmbeddingRegistry

pytestmark = pytest.mark.timeout(300)

LIMIT = 4 * 1024 * 1024
MB = 1024 * 1024


@pytest.fixture(scope="module")
def small(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry
) -> Iterator[Gateway]:
    """The security gateway with a 4 MiB body limit."""
    yield from start_gateway(
        tmp_path_factory.mktemp("limits"),
        embeddings,
        {"server": {"max_message_bytes": LIMIT}},
    )


def _port(gw: Gateway) -> int:
    assert gw.server.server is not None
    return gw.server.server.ports.http


#: (path, content type) over every face: passthrough, transcoded REST, compatibility, keys.
ROUTES = [
    ("/milvus/v2/vectordb/collections/list", "application/json"),
    ("/milvus/v2/vectordb/entities/insert", "application/json"),
    ("/milvus/v2/vectordb/entities/search", "text/plain"),
    ("/v1/collections/vi-lance/documents:upsert", "application/json"),
    ("/v1/collections/vi-lance/documents:bulkUpsert", "application/json"),
    ("/v1/collections", "application/json"),
    ("/v1/vector_stores/vi-lance/search", "application/json"),
    ("/v1/embeddings", "application/json; charset=utf-8"),
    ("/v1/vector/store", "application/octet-stream"),
    ("/key/generate", "application/json"),
    ("/v1/indexes", "application/json"),
]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(("path", "content_type"), ROUTES, ids=[r[0] for r in ROUTES])
def test_oversized_body_is_refused_while_streaming(
    small: Gateway, path: str, content_type: str, chunked: bool
) -> None:
    key = small.key({"vi-milvus": ["read", "write"], "vi-lance": ["read", "write"]})
    for token in (MASTER, key):
        with PeakRss() as rss:
            result = send_body(
                _port(small),
                path,
                {"Authorization": f"Bearer {token}", "Content-Type": content_type},
                100 * MB,
                chunked=chunked,
            )
        print(
            f"\n{path} chunked={chunked}: {result.status}, sent {result.sent // MB} MB, "
            f"RSS +{rss.growth // MB} MB"
        )
        # 413, or refused outright (a key on an admin route) without reading the body.
        refused = (413, 403) if token != MASTER else (413,)
        assert result.status in refused or (result.status is None and result.sent < 50 * MB), (
            path,
            result,
        )
        assert result.sent < 50 * MB, "the server kept reading a body it had refused"
        assert rss.growth < 48 * MB, f"RSS grew by {rss.growth // MB} MB"


def test_two_hundred_megabytes_to_the_passthrough(small: Gateway) -> None:
    key = small.key({"vi-milvus": ["read"]})
    with PeakRss() as rss:
        result = send_body(
            _port(small),
            "/milvus/v2/vectordb/collections/list",
            {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            200 * MB,
            chunked=True,
            fill=b"[",
        )
    assert result.status == 413, result
    assert rss.growth < 48 * MB, rss.growth // MB


def test_body_under_the_limit_still_works(small: Gateway) -> None:
    key = small.key({"vi-milvus": ["read"]})
    pad = " " * (LIMIT - 100)
    r = small.http.post(
        "/milvus/v2/vectordb/collections/list",
        content=("{}" + pad).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert r.status_code == 200 and r.json()["data"] == ["vi-milvus"], r.text


# --------------------------------------------------------------------------- stalled store

STALLED = "vi-stalled"
CONCURRENCY = 4


@pytest.fixture
def milvus(tmp_path: Path) -> Iterator[MilvusLiteServer]:
    if milvus_lite_executable() is None:
        pytest.skip("milvus-lite server command not installed")
    server = MilvusLiteServer(tmp_path / "milvus-data", free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def stalled_gateway(
    tmp_path: Path, milvus: MilvusLiteServer, embeddings: EmbeddingRegistry
) -> Iterator[tuple[ServerThread, httpx.Client]]:
    config = make_config(
        tmp_path / "gw",
        {
            "general_settings": {"master_key": MASTER},
            "vector_stores": {
                "local": {"type": "lancedb"},
                "m": {
                    "type": "milvus",
                    "uri": milvus.uri,
                    "timeout_s": 40,
                    "max_concurrency": CONCURRENCY,
                },
            },
            "default_store": "local",
        },
    )
    with (
        ServerThread(config, embeddings) as server,
        httpx.Client(base_url=server.http_base, timeout=120) as http,
    ):
        admin = {"Authorization": f"Bearer {MASTER}"}
        for name, store, collection in ((STALLED, "m", "stalled_real"), ("vi-l", "local", "l")):
            r = http.post(
                "/v1/indexes",
                json={
                    "index_name": name,
                    "litellm_params": {
                        "vector_store_index": collection,
                        "vector_store_name": store,
                    },
                },
                headers=admin,
            )
            assert r.status_code == 200, r.text
        with Client(server.grpc_target, api_key=MASTER) as client:
            client.create_collection(STALLED, dimension=4, embedding_model="none")
            client.create_collection("vi-l", dimension=4, embedding_model="none")
            client.upsert("vi-l", [{"id": "a", "text": "x", "vector": [0.1, 0.2, 0.3, 0.4]}])
        yield server, http


def test_stalled_store_starves_nothing_else(
    stalled_gateway: tuple[ServerThread, httpx.Client], milvus: MilvusLiteServer
) -> None:
    server, http = stalled_gateway
    admin = {"Authorization": f"Bearer {MASTER}"}
    r = http.post(
        "/key/generate",
        json={
            "allowed_vector_store_indexes": [{"index_name": STALLED, "index_permissions": ["read"]}]
        },
        headers=admin,
    )
    key = r.json()["key"]
    hanging: list[httpx.Response | Exception] = []

    def hang(n: int) -> None:
        endpoint = ("collections/describe", "entities/query", "collections/has")[n % 3]
        try:
            with httpx.Client(base_url=server.http_base, timeout=120) as c:
                hanging.append(
                    c.post(
                        f"/milvus/v2/vectordb/{endpoint}",
                        json={"collectionName": STALLED, "filter": "id != ''", "limit": 1},
                        headers={"Authorization": f"Bearer {key}"},
                    )
                )
        except Exception as exc:  # recorded; asserted below
            hanging.append(exc)

    milvus.signal(signal.SIGSTOP)
    threads = [threading.Thread(target=hang, args=(n,)) for n in range(3 * CONCURRENCY)]
    try:
        for t in threads:
            t.start()
        time.sleep(2.0)  # every slot of the stalled store is taken, the rest queue
        assert not hanging, "the stalled calls should still hang"
        for _ in range(3):
            for method, path, body in (
                ("GET", "/key/info", None),
                ("GET", "/v1/indexes", None),
                ("GET", "/v1/collections/vi-l", None),
                (
                    "POST",
                    "/v1/collections/vi-l:search",
                    {"vector": {"values": [0.1, 0.2, 0.3, 0.4]}, "top_k": 1},
                ),
            ):
                started = time.monotonic()
                params = {"key": key} if path == "/key/info" else None
                r = http.request(method, path, json=body, params=params, headers=admin, timeout=10)
                elapsed = time.monotonic() - started
                assert r.status_code == 200, (path, r.text)
                assert elapsed < 5, f"{path} took {elapsed:.1f}s while a store is stalled"
        # The caller's deadline bounds a passthrough call on the stalled store, queue included.
        started = time.monotonic()
        r = http.post(
            "/milvus/v2/vectordb/collections/describe",
            json={"collectionName": STALLED},
            headers={"Authorization": f"Bearer {key}", "X-Request-Timeout": "1"},
        )
        elapsed = time.monotonic() - started
        assert r.status_code == 504, r.text
        assert elapsed < 5, elapsed
        # ... and over gRPC (deadline 1 s) and transcoded REST.
        with Client(server.grpc_target, api_key=key, timeout=1) as client:
            started = time.monotonic()
            with pytest.raises(VectorgateError) as err:
                client.get_collection(STALLED)
            assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
            assert time.monotonic() - started < 5
        r = http.get(
            f"/v1/collections/{STALLED}",
            headers={"Authorization": f"Bearer {key}", "X-Request-Timeout": "1"},
        )
        assert r.status_code == 504, r.text
    finally:
        milvus.signal(signal.SIGCONT)
        for t in threads:
            t.join(120)
    assert len(hanging) == len(threads)
    for outcome in hanging:
        assert isinstance(outcome, httpx.Response) and outcome.status_code < 500, outcome


def test_passthrough_calls_carry_the_store_timeout(
    tmp_path: Path, milvus: MilvusLiteServer, embeddings: EmbeddingRegistry
) -> None:
    """Without a caller deadline, a stalled passthrough call ends at the store's timeout_s."""
    config = make_config(
        tmp_path / "gw2",
        {
            "general_settings": {"master_key": MASTER},
            "vector_stores": {"m": {"type": "milvus", "uri": milvus.uri, "timeout_s": 2}},
            "default_store": "m",
        },
    )
    with (
        ServerThread(config, embeddings) as server,
        httpx.Client(base_url=server.http_base, timeout=60) as http,
    ):
        admin = {"Authorization": f"Bearer {MASTER}"}
        r = http.post(
            "/v1/indexes",
            json={
                "index_name": STALLED,
                "litellm_params": {"vector_store_index": "stalled_real", "vector_store_name": "m"},
            },
            headers=admin,
        )
        assert r.status_code == 200, r.text
        milvus.signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            r = http.post(
                "/milvus/v2/vectordb/collections/has",
                json={"collectionName": STALLED},
                headers=admin,
            )
            elapsed = time.monotonic() - started
        finally:
            milvus.signal(signal.SIGCONT)
        print(f"\nstalled passthrough call answered after {elapsed:.2f}s (timeout_s 2)")
        # It waited on the backend for the store's timeout, then said so: 504.
        assert 1.5 < elapsed < 15, elapsed
        assert r.status_code == 504, r.text
