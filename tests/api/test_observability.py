"""/metrics after real gRPC traffic; request ids in logs and in responses."""

from __future__ import annotations

import json
import logging
import re

import grpc
import httpx
import numpy as np
import pytest

from tests.support.servers import ServerThread
from vectorgate import Client
from vectorgate.errors import VectorgateError as ClientError
from vectorgate.v1 import search_service_pb2, search_service_pb2_grpc
from vectorgate_server import observability

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def _scrape(server: ServerThread) -> dict[str, float]:
    response = httpx.get(f"{server.http_base}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, float] = {}
    for line in response.text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


def _value(samples: dict[str, float], name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for key, value in samples.items():
        metric, _, rest = key.partition("{")
        if metric != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total


def test_metrics_move_after_grpc_traffic(server: ServerThread) -> None:
    before = _scrape(server)
    with Client(server.grpc_target) as client:
        client.create_collection("obs")
        client.upsert("obs", [{"id": "a", "text": "hello world", "metadata": {"n": 1}}])
        client.upsert("obs", [{"id": "v", "vector": np.ones(384, dtype=np.float32)}])
        for _ in range(3):
            client.search("obs", text="hello", top_k=1)
        with pytest.raises(ClientError):
            client.search("missing_collection", vector=[1.0] * 384)
    observability.record_fanout_failure("bench-probe")
    after = _scrape(server)

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved("vectorgate_requests_total", method="Search", code="OK") == 3
    assert moved("vectorgate_requests_total", method="UpsertDocuments", code="OK") == 2
    assert moved("vectorgate_request_errors_total", method="Search", code="NOT_FOUND") == 1
    assert moved("vectorgate_request_duration_seconds_count", method="Search") == 4
    assert moved("vectorgate_backend_requests_total", operation="search", outcome="ok") >= 3
    assert moved("vectorgate_backend_duration_seconds_count", operation="upsert") >= 2
    assert moved("vectorgate_backend_requests_total", backend="lancedb") > 0
    assert moved("vectorgate_embedding_duration_seconds_count") >= 4
    assert moved("vectorgate_embedding_texts_total") >= 4
    assert moved("vectorgate_fanout_failures_total", store="bench-probe") == 1


def test_request_id_returned_and_in_every_log_line(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append((record.getMessage(), getattr(record, "request_id", "")))

    assert server.server is not None
    gateway = server.server.gateway
    adapter = gateway.stores[gateway.default_store]
    assert isinstance(adapter, observability.InstrumentedAdapter)
    inner = adapter.inner
    original = inner.describe_collection
    probe = logging.getLogger("vectorgate_server.probe")

    async def logging_describe(name: str) -> object:
        probe.warning("describing %s", name)
        return await original(name)

    monkeypatch.setattr(inner, "describe_collection", logging_describe)
    handler = Capture()
    handler.addFilter(observability.RequestIdFilter())
    logger = logging.getLogger("vectorgate_server")
    logger.addHandler(handler)
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = search_service_pb2_grpc.SearchServiceStub(channel)
            request = search_service_pb2.SearchRequest(collection="nope", text="x", top_k=1)
            with pytest.raises(grpc.RpcError) as info:
                stub.Search(request, metadata=(("x-request-id", "req-123"),), timeout=10)
            err = info.value
            assert isinstance(err, grpc.Call)
            assert ("x-request-id", "req-123") in tuple(err.initial_metadata() or ())
            # Without a request id from the caller, one is made and returned.
            with pytest.raises(grpc.RpcError) as info:
                stub.Search(request, timeout=10)
            err = info.value
            assert isinstance(err, grpc.Call)
            made = dict(err.initial_metadata() or ())["x-request-id"]
            assert made
    finally:
        logger.removeHandler(handler)
    lines = [rid for message, rid in seen if message == "describing nope"]
    assert lines == ["req-123", made]


def test_json_formatter_carries_request_id() -> None:
    formatter = observability.JsonFormatter()
    record = logging.LogRecord(
        "vectorgate_server.x", logging.INFO, __file__, 1, "hi %s", ("a",), None
    )
    with observability.request_id_scope("rid-1"):
        assert observability.RequestIdFilter().filter(record)
    data = json.loads(formatter.format(record))
    assert data["message"] == "hi a"
    assert data["request_id"] == "rid-1"
    assert data["level"] == "INFO"
