"""Search latency over gRPC and over HTTP/JSON, on the same server and data, side by side.

    python bench/bench_http_vs_grpc.py [--smoke] [--iterations N] [--top-k K]
                                       [--out bench/results/http_vs_grpc.json]

Starts ``vectorgate serve`` as a child process (gRPC and HTTP on free ports,
an embedded LanceDB store in a temporary directory), loads a vectors-only
collection of 10,000 random 384-d float32 vectors (seeded, so every run
searches the same data), then runs the same searches through each client,
interleaved (the order rotates every iteration), so all see the same server
state, caches and machine load:

* ``grpc``: the generated sync stub ``SearchServiceStub.Search`` on one
  channel, the query vector ``packed``;
* ``http``: one keep-alive ``httpx.Client``, ``POST /v1/collections/{c}:search``
  with the JSON body ``{"vector": {"packed": <base64>}, "top_k": K}``, the
  response decoded with ``orjson``;
* ``http_raw`` (diagnostic): the same HTTP request from a minimal keep-alive
  socket client that writes each request in one ``send``. httpx writes the
  headers and the body separately, which costs an extra server wake-up per
  request; this row shows the server's HTTP path without that.

Each timed call includes serialising the request and decoding the response
on the client. Reported: p50, p99 and mean in milliseconds, and whether the
clients returned the same ids in the same order. The target is HTTP (httpx)
p50 <= gRPC p50 + 0.5 ms. A text-query row (embedding included) follows.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import grpc
import httpx
import numpy as np
import orjson

from vectorgate.v1 import collection_admin_service_pb2 as cpb
from vectorgate.v1 import collection_admin_service_pb2_grpc as cgrpc
from vectorgate.v1 import search_service_pb2 as spb
from vectorgate.v1 import search_service_pb2_grpc as sgrpc
from vectorgate.v1 import types_pb2
from vectorgate.v1 import upsert_service_pb2 as upb
from vectorgate.v1 import upsert_service_pb2_grpc as ugrpc

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "results" / "http_vs_grpc.json"
COLLECTION = "bench"
DIMENSION = 384
DOCUMENTS = 10_000
TARGET_MS = 0.5
BANNER = re.compile(r"serving gRPC on [\d.]+:(\d+) and HTTP on [\d.]+:(\d+)")
QUERY_TEXTS = [
    "how do I reset my password",
    "vector databases for retrieval augmented generation",
    "the billing problem reported yesterday",
    "slow query on the orders table",
]


def start_server(data_dir: Path) -> tuple[subprocess.Popen[str], int, int]:
    """``vectorgate serve`` on free ports; (process, gRPC port, HTTP port)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "VECTORGATE_LOG_LEVEL": "WARNING"}
    for name in ("LANCEDB_URI", "VECTOR_STORE_TYPE", "QDRANT_URL", "MILVUS_HOST"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vectorgate_server",
            "serve",
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--data-dir",
            str(data_dir),
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
        cwd=str(ROOT),
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"server exited with {proc.wait()}")
        match = BANNER.search(line)
        if match:
            return proc, int(match.group(1)), int(match.group(2))
    proc.kill()
    raise TimeoutError("server did not start")


def load(channel: grpc.Channel, vectors: np.ndarray[Any, Any]) -> None:
    """A vectors-only collection of ``vectors`` (ids ``d0``...), via gRPC."""
    admin = cgrpc.CollectionAdminServiceStub(channel)
    admin.CreateCollection(
        cpb.CreateCollectionRequest(
            collection=types_pb2.Collection(
                name=COLLECTION,
                dimension=DIMENSION,
                metric=types_pb2.DISTANCE_METRIC_COSINE,
                embedding_model="none",
            )
        )
    )
    upsert = ugrpc.UpsertServiceStub(channel)
    for start in range(0, len(vectors), 1000):
        request = upb.UpsertDocumentsRequest(collection=COLLECTION)
        for i in range(start, min(start + 1000, len(vectors))):
            doc = request.documents.add(id=f"d{i}", text=f"document {i}")
            doc.vector.packed = vectors[i].astype("<f4").tobytes()
            doc.metadata.update({"group": i % 10})
        upsert.UpsertDocuments(request, timeout=120)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {
        "p50_ms": round(percentile(ms, 50), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "n": len(ms),
    }


class RawHttp:
    """A minimal keep-alive HTTP/1.1 client writing each request in one ``send``.

    Diagnostic only: it isolates the server's HTTP path from the client
    library. httpx (through httpcore/h11) writes the request headers and the
    body in two ``send`` calls, so the server wakes twice per request.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.host = f"127.0.0.1:{port}".encode()
        self.buffer = b""

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (
            b"POST "
            + path.encode()
            + b" HTTP/1.1\r\nhost: "
            + self.host
            + b"\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
        )
        self.sock.sendall(head + body)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        header, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = header.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in lines
            if line.lower().startswith(b"content-length")
        )
        while len(rest) < length:
            rest += self._recv()
        self.buffer = rest[length:]
        return status, rest[:length]

    def _recv(self) -> bytes:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


TRANSPORTS = ("grpc", "http", "http_raw")


def run(
    stub: sgrpc.SearchServiceStub,
    http: httpx.Client,
    raw: RawHttp,
    queries: list[dict[str, Any]],
    iterations: int,
    warmup: int,
    collection: str = COLLECTION,
) -> tuple[dict[str, list[float]], int]:
    """Interleaved timings per transport (the order rotates) and result mismatches."""
    times: dict[str, list[float]] = {t: [] for t in TRANSPORTS}
    mismatches = 0
    path = f"/v1/collections/{collection}:search"
    for i in range(warmup + iterations):
        query = queries[i % len(queries)]
        shift = i % len(TRANSPORTS)
        ids: dict[str, list[str]] = {}
        for transport in TRANSPORTS[shift:] + TRANSPORTS[:shift]:
            t0 = time.perf_counter()
            if transport == "grpc":
                response = stub.Search(query["proto"], timeout=30)
                hits = [h.id for h in response.hits]
                status = 200
            elif transport == "http":
                reply = http.post(path, content=orjson.dumps(query["json"]))
                status = reply.status_code
                hits = [h["id"] for h in orjson.loads(reply.content)["hits"]]
            else:
                status, content = raw.post(path, orjson.dumps(query["json"]))
                hits = [h["id"] for h in orjson.loads(content)["hits"]]
            elapsed = time.perf_counter() - t0
            if status != 200:
                raise RuntimeError(f"{transport}: HTTP {status}")
            if i >= warmup:
                times[transport].append(elapsed)
            ids[transport] = hits
        if not ids["grpc"] == ids["http"] == ids["http_raw"]:
            mismatches += 1
    return times, mismatches


def vector_queries(rng: np.random.Generator, count: int, top_k: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(count):
        vector = rng.standard_normal(DIMENSION).astype("<f4")
        packed = vector.tobytes()
        proto = spb.SearchRequest(collection=COLLECTION, top_k=top_k)
        proto.vector.packed = packed
        body = {"vector": {"packed": base64.b64encode(packed).decode()}, "top_k": top_k}
        out.append({"proto": proto, "json": body})
    return out


def text_queries(collection: str, top_k: int) -> list[dict[str, Any]]:
    return [
        {
            "proto": spb.SearchRequest(collection=collection, text=text, top_k=top_k),
            "json": {"text": text, "top_k": top_k},
        }
        for text in QUERY_TEXTS
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="quick run (fewer iterations)")
    parser.add_argument("--iterations", type=int, help="timed searches per transport")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    iterations = args.iterations or (100 if args.smoke else 2000)
    warmup = 20 if args.smoke else 200
    text_iterations = 20 if args.smoke else 200

    rng = np.random.default_rng(20240607)
    vectors = rng.standard_normal((DOCUMENTS, DIMENSION)).astype(np.float32)
    queries = vector_queries(rng, 256, args.top_k)

    with tempfile.TemporaryDirectory(prefix="vg-bench-") as tmp:
        proc, grpc_port, http_port = start_server(Path(tmp) / "data")
        try:
            channel = grpc.insecure_channel(
                f"127.0.0.1:{grpc_port}",
                options=[("grpc.max_receive_message_length", 64 << 20)],
            )
            load(channel, vectors)
            stub = sgrpc.SearchServiceStub(channel)
            raw = RawHttp(http_port)
            with httpx.Client(
                base_url=f"http://127.0.0.1:{http_port}",
                headers={"content-type": "application/json"},
                timeout=30,
            ) as http:
                vector_times, mismatches = run(stub, http, raw, queries, iterations, warmup)
                text_coll = COLLECTION + "_text"
                admin = cgrpc.CollectionAdminServiceStub(channel)
                admin.CreateCollection(
                    cpb.CreateCollectionRequest(collection=types_pb2.Collection(name=text_coll))
                )
                upsert = upb.UpsertDocumentsRequest(collection=text_coll)
                for i in range(200):
                    upsert.documents.add(id=f"t{i}", text=f"note {i} about {QUERY_TEXTS[i % 4]}")
                ugrpc.UpsertServiceStub(channel).UpsertDocuments(upsert, timeout=120)
                text_times, text_mismatches = run(
                    stub,
                    http,
                    raw,
                    text_queries(text_coll, args.top_k),
                    text_iterations,
                    10,
                    text_coll,
                )
            raw.close()
            channel.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()

    rows: dict[str, dict[str, Any]] = {
        "vector_search": {t: summary(vector_times[t]) for t in TRANSPORTS},
        "text_search": {t: summary(text_times[t]) for t in TRANSPORTS},
    }
    rows["vector_search"]["mismatches"] = mismatches
    rows["text_search"]["mismatches"] = text_mismatches
    delta = rows["vector_search"]["http"]["p50_ms"] - rows["vector_search"]["grpc"]["p50_ms"]
    raw_delta = (
        rows["vector_search"]["http_raw"]["p50_ms"] - rows["vector_search"]["grpc"]["p50_ms"]
    )
    passed = delta <= TARGET_MS
    print(
        f"\n{DOCUMENTS} x {DIMENSION}-d vectors (LanceDB, cosine), top_k={args.top_k}, "
        f"{iterations} interleaved searches per transport\n"
    )
    print(f"{'search':<14}{'transport':<10}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'n':>7}")
    for name, row in rows.items():
        for transport in TRANSPORTS:
            s = row[transport]
            print(
                f"{name:<14}{transport:<10}{s['p50_ms']:>9.3f}{s['p99_ms']:>9.3f}"
                f"{s['mean_ms']:>9.3f}{s['n']:>7}"
            )
    print(
        f"\nHTTP p50 - gRPC p50 = {delta:+.3f} ms (target <= +{TARGET_MS} ms): "
        f"{'PASS' if passed else 'FAIL'}; result mismatches: {mismatches} vector, "
        f"{text_mismatches} text"
    )
    print(
        f"(diagnostic) one-write HTTP/1.1 client p50 - gRPC p50 = {raw_delta:+.3f} ms: the "
        "server's HTTP path alone"
    )
    result = {
        "benchmark": "http_vs_grpc",
        "documents": DOCUMENTS,
        "dimension": DIMENSION,
        "top_k": args.top_k,
        "iterations": iterations,
        "smoke": args.smoke,
        "results": rows,
        "http_minus_grpc_p50_ms": round(delta, 3),
        "http_raw_minus_grpc_p50_ms": round(raw_delta, 3),
        "target_ms": TARGET_MS,
        "passed": passed,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "clients": {
            "grpc": "generated sync stub",
            "http": f"httpx {httpx.__version__} keep-alive Client",
            "http_raw": "diagnostic one-write HTTP/1.1 keep-alive socket client",
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if passed and not mismatches else 1


if __name__ == "__main__":
    raise SystemExit(main())
