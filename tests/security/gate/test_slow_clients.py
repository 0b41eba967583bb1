"""Slow clients (issue #14, item 9): slow headers and slow bodies are cut off.

A raw socket sends one byte per second: request heads must be complete within
``server.header_timeout_s``, bodies may not stall longer than
``server.body_timeout_s`` nor trickle below ``server.body_min_bytes_per_s``
after it. The server answers 408 (or just closes) and the connection is
closed. Timeouts here are 2 s so the test is short; the defaults (10 s, 30 s)
are checked in the configuration and examples/config.yaml.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.security.gate.conftest import MASTER, Gateway, start_gateway
from vectorgate_server.config import ServerSettings
from vectorgate_server.embeddings import EmbeddingRegistry

pytestmark = pytest.mark.timeout(240)

TIMEOUT = 2.0
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry
) -> Iterator[Gateway]:
    yield from start_gateway(
        tmp_path_factory.mktemp("slow"),
        embeddings,
        {"server": {"header_timeout_s": TIMEOUT, "body_timeout_s": TIMEOUT}},
    )


def _port(gw: Gateway) -> int:
    assert gw.server.server is not None
    return gw.server.server.ports.http


def _trickle(
    port: int, first: bytes, rest: bytes, interval: float, limit: float
) -> tuple[float, bytes]:
    """Send ``first`` at once, then ``rest`` one byte per ``interval`` s; return when the
    server closed the connection (seconds since the first byte, what it answered)."""
    sock = socket.create_connection(("127.0.0.1", port))
    started = time.monotonic()
    answer = b""
    with sock:
        sock.settimeout(interval)
        try:
            if first:
                sock.sendall(first)
            for byte in rest:
                try:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
                except TimeoutError:
                    pass
                if time.monotonic() - started > limit:
                    break
                sock.sendall(bytes([byte]))
            # Everything sent (or the server spoke): wait for the close.
            sock.settimeout(max(0.1, limit - (time.monotonic() - started)))
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            pass
    return time.monotonic() - started, answer


HEAD = (
    "POST /v1/collections/vi-lance:search HTTP/1.1\r\n"
    "Host: 127.0.0.1\r\n"
    f"Authorization: Bearer {MASTER}\r\n"
    "Content-Type: application/json\r\n"
    "X-Padding: " + "p" * 40 + "\r\n\r\n"
).encode()


@pytest.mark.parametrize("interval", [1.0, 0.5])
def test_slow_headers_are_cut_off(gateway: Gateway, interval: float) -> None:
    elapsed, answer = _trickle(_port(gateway), b"", HEAD, interval, limit=30)
    print(f"\nslow headers ({interval}s/byte): closed after {elapsed:.1f}s: {answer[:40]!r}")
    assert elapsed < TIMEOUT + 3, elapsed
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_a_connection_that_sends_nothing_is_closed(gateway: Gateway) -> None:
    elapsed, _answer = _trickle(_port(gateway), b"", b"", 1.0, limit=30)
    assert elapsed < TIMEOUT + 3, elapsed


def test_slow_headers_on_a_kept_alive_connection(gateway: Gateway) -> None:
    """The head timer starts again with the next request on the same connection."""
    ok = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    elapsed, answer = _trickle(_port(gateway), ok + HEAD[:5], HEAD[5:], 0.5, limit=30)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    assert elapsed < TIMEOUT + 3, elapsed


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/v1/collections/vi-lance:search", "application/json"),
        ("/v1/collections/vi-lance/documents:bulkUpsert", "application/x-ndjson"),
        ("/milvus/v2/vectordb/collections/list", "application/json"),
        ("/v1/vector_stores/vi-lance/search", "application/json"),
        ("/key/generate", "application/json"),
    ],
)
@pytest.mark.parametrize("interval", [1.0, 3.0])
def test_slow_bodies_are_cut_off(
    gateway: Gateway, path: str, content_type: str, interval: float
) -> None:
    body = b'{"query": "' + b"x" * 200 + b'"}'
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {MASTER}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    elapsed, answer = _trickle(_port(gateway), head + body[:3], body[3:], interval, limit=40)
    print(f"\nslow body to {path} ({interval}s/byte): closed after {elapsed:.1f}s: {answer[:40]!r}")
    assert elapsed < TIMEOUT + interval + 3, elapsed
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:300]


def test_slow_chunked_body(gateway: Gateway) -> None:
    head = (
        "POST /v1/collections/vi-lance/documents:bulkUpsert HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {MASTER}\r\nContent-Type: application/x-ndjson\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunks = b"".join(b"1\r\n \r\n" for _ in range(60))
    elapsed, answer = _trickle(_port(gateway), head, chunks, 0.3, limit=40)
    assert elapsed < TIMEOUT + 4, elapsed
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:300]


def test_normal_requests_are_unaffected(gateway: Gateway) -> None:
    for _ in range(3):
        r = gateway.http.get("/v1/indexes", headers=gateway.admin)
        assert r.status_code == 200
    time.sleep(TIMEOUT + 0.5)  # an idle kept-alive connection is closed by the keep-alive timer
    r = gateway.http.get("/v1/indexes", headers=gateway.admin)
    assert r.status_code == 200


def test_defaults_are_sane_and_documented() -> None:
    defaults = ServerSettings()
    assert defaults.header_timeout_s == 10.0
    assert defaults.body_timeout_s == 30.0
    assert defaults.body_min_bytes_per_s > 0
    example = yaml.safe_load((ROOT / "examples" / "config.yaml").read_text())["server"]
    assert example["header_timeout_s"] == defaults.header_timeout_s
    assert example["body_timeout_s"] == defaults.body_timeout_s
    assert example["body_min_bytes_per_s"] == defaults.body_min_bytes_per_s
