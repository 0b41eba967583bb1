"""A client that goes away cancels its request (issue #14, item 7).

A REST bulk upsert (NDJSON, chunked) whose client disconnects mid-stream
stops writing, as a gRPC cancel does: after the disconnect no further batch
reaches the store, even when megabytes of the stream already sit, unread, in
the server's socket buffer. Both ways a client goes: closing (FIN) and
resetting (RST) the connection; over the transcoded REST route and the
compatibility store route.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import struct
import termios
import time
from collections.abc import Iterator

import orjson
import pytest

from tests.security.gate.conftest import MASTER, Gateway, start_gateway
from vectorgate import Client
from vectorgate.errors import VectorgateError
from vectorgate_server.embeddings import EmbeddingRegistry

pytestmark = pytest.mark.timeout(240)

BATCH = 10
#: Batches sent: more than the server writes before the client goes, few enough to all
#: reach the server's socket buffers (so a FIN follows them at once).
LINES = 200


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry
) -> Iterator[Gateway]:
    yield from start_gateway(tmp_path_factory.mktemp("disconnect"), embeddings)


def _line(collection: str, start: int) -> bytes:
    # Text only: the server embeds each batch (the local model), so writing is much
    # slower than sending and the stream piles up unread in the socket buffers.
    docs = [
        {"id": f"d{i}", "text": f"document {i}: the quick brown fox jumps over the lazy dog"}
        for i in range(start, start + BATCH)
    ]
    return orjson.dumps({"collection": collection, "documents": docs}) + b"\n"


def _unsent(sock: socket.socket) -> int:
    """Bytes the client's kernel has not yet had acknowledged (Linux SIOCOUTQ)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def _count(gw: Gateway, collection: str) -> int:
    with Client(gw.server.grpc_target, api_key=MASTER) as client:
        return client.get_collection(collection).document_count


def _fresh(gw: Gateway, name: str) -> None:
    with Client(gw.server.grpc_target, api_key=MASTER) as client:
        with contextlib.suppress(VectorgateError):  # absent
            client.delete_collection(name)
        client.create_collection(name)


@pytest.mark.parametrize("how", ["fin", "rst"])
@pytest.mark.parametrize("key_kind", ["master", "virtual"])
def test_ndjson_bulk_upsert_stops_when_the_client_goes(
    gateway: Gateway, how: str, key_kind: str
) -> None:
    name = "lance_real"
    _fresh(gateway, name)
    collection = "vi-lance"
    token = MASTER if key_kind == "master" else gateway.key({collection: ["read", "write"]})
    assert gateway.server.server is not None
    port = gateway.server.server.ports.http
    sock = socket.create_connection(("127.0.0.1", port))
    head = (
        f"POST /v1/collections/{collection}/documents:bulkUpsert HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/x-ndjson\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    sock.sendall(head.encode())
    # Many batches at once: far more than the server writes before the client goes,
    # most of them still unread in the socket buffers when it does.
    sock.setblocking(False)
    sent = 0
    start = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sent < LINES:
        line = _line(collection, start)
        chunk = f"{len(line):x}\r\n".encode() + line + b"\r\n"
        try:
            sock.sendall(chunk)
        except BlockingIOError:
            break  # the buffers are full: the server lags behind
        sent += 1
        start += BATCH
    # Wait for the server to have written something, then go away mid-stream.
    waited = time.monotonic() + 30
    while _count(gateway, name) == 0 and time.monotonic() < waited:
        time.sleep(0.05)
    if how == "rst":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        # A FIN travels behind the data still queued on the client's side: wait until
        # all of it has reached the server (its socket buffer), then close.
        drained = time.monotonic() + 30
        while _unsent(sock) and time.monotonic() < drained:
            time.sleep(0.05)
        assert not _unsent(sock)
    sock.close()
    time.sleep(0.5)  # the write in flight at the disconnect is cancelled or settles
    first = _count(gateway, name)
    time.sleep(2.5)
    second = _count(gateway, name)
    print(f"\n{how}: sent {sent} batches, {first} documents after the disconnect, {second} later")
    assert first < sent * BATCH, "the whole stream was written: nothing was left to cancel"
    assert second == first, f"kept writing after the client left: {first} -> {second}"


def test_disconnect_after_the_body_cancels_a_running_request(gateway: Gateway) -> None:
    """A JSON-array bulk upsert (the body complete) is cancelled when its client goes."""
    name = "lance_real"
    _fresh(gateway, name)
    collection = "vi-lance"
    body = b"[" + b",".join(_line(collection, i * BATCH)[:-1] for i in range(200)) + b"]"
    assert gateway.server.server is not None
    sock = socket.create_connection(("127.0.0.1", gateway.server.server.ports.http))
    head = (
        f"POST /v1/collections/{collection}/documents:bulkUpsert HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {MASTER}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    waited = time.monotonic() + 30
    while _count(gateway, name) == 0 and time.monotonic() < waited:
        time.sleep(0.05)
    sock.close()
    time.sleep(0.5)
    first = _count(gateway, name)
    time.sleep(2.5)
    second = _count(gateway, name)
    print(f"\njson body: {first} documents after the disconnect, {second} later")
    assert first < 200 * BATCH
    assert second == first, (first, second)
