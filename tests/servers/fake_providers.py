"""A small model-provider server on loopback, for the remote embedding and rerank tests.

Real HTTP (``http.server`` in a thread). It answers:

* ``POST /v1/embeddings`` (OpenAI) and
  ``POST /openai/deployments/{deployment}/embeddings?api-version=...`` (Azure)
  with deterministic vectors: each text's vector is derived from its sha256,
  so the same text always gets the same vector;
* ``POST /v1/rerank`` (Cohere style): relevance = the fraction of query
  words found in the document.

Every request is recorded (:class:`Recorded`). ``script`` queues canned
failures: each entry is ``(status, headers)`` returned (with an error body)
by the next matching request instead of the normal answer.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

DIMENSION = 8


def fake_vector(text: str, dimension: int = DIMENSION) -> list[float]:
    """The deterministic unit vector the fake server returns for ``text``."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dimension)
    vector /= np.linalg.norm(vector)
    return [float(x) for x in vector]


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeProviders:
    """The server's state; start with :meth:`start`, stop with :meth:`stop`."""

    requests: list[Recorded] = field(default_factory=list)
    script: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    #: Seconds to sleep before answering (all requests).
    delay_s: float = 0.0
    dimension: int = DIMENSION
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeProviders:
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                parts = urlsplit(self.path)
                with state._lock:
                    state.requests.append(
                        Recorded(
                            "POST",
                            parts.path,
                            parse_qs(parts.query),
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                    canned = state.script.popleft() if state.script else None
                if state.delay_s:
                    threading.Event().wait(state.delay_s)
                if canned is not None:
                    status, headers = canned
                    self._send(
                        status,
                        {"error": {"message": f"canned failure {status}", "type": "test"}},
                        headers,
                    )
                    return
                if parts.path.endswith("/embeddings"):
                    self._embeddings(body)
                elif parts.path.endswith("/rerank"):
                    self._rerank(body)
                else:
                    self._send(404, {"error": {"message": "no such route"}})

            def _embeddings(self, body: Any) -> None:
                texts = body.get("input") if isinstance(body, dict) else None
                if isinstance(texts, str):
                    texts = [texts]
                if not isinstance(texts, list) or not texts:
                    self._send(400, {"error": {"message": "input: required"}})
                    return
                if any(t == "REJECT ME" for t in texts):
                    self._send(400, {"error": {"message": "This input is too long (test)"}})
                    return
                data = [
                    {
                        "object": "embedding",
                        "index": i,
                        "embedding": fake_vector(t, state.dimension),
                    }
                    for i, t in enumerate(texts)
                ]
                data.reverse()  # answers may come in any order: clients sort by index
                self._send(200, {"object": "list", "data": data, "model": body.get("model")})

            def _rerank(self, body: Any) -> None:
                query = str(body.get("query", "")).lower().split()
                docs = [str(d) for d in body.get("documents", [])]
                top_n = int(body.get("top_n") or len(docs))
                scored = []
                for i, doc in enumerate(docs):
                    words = set(doc.lower().split())
                    hits = sum(1 for w in query if w in words)
                    scored.append({"index": i, "relevance_score": hits / max(len(query), 1)})
                scored.sort(key=lambda r: (-r["relevance_score"], r["index"]))
                self._send(200, {"id": "test", "results": scored[:top_n]})

            def _send(
                self, status: int, payload: Any, headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeProviders:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
