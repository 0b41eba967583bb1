"""OpenTelemetry spans over a real gRPC call: gateway -> embedding -> backend.

vectorgate uses only the OpenTelemetry API; whoever runs it brings the SDK and
an exporter (e.g. ``opentelemetry-instrument vectorgate serve``). Here the SDK
records into memory for the duration of one test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.servers import ServerThread
from vectorgate import Client

trace = pytest.importorskip("opentelemetry.trace")
sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
in_memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
export = pytest.importorskip("opentelemetry.sdk.trace.export")


class _Switchable(export.SimpleSpanProcessor):  # type: ignore[misc]
    """Records only while ``on``: the global provider outlives this test."""

    on = False

    def on_end(self, span: Any) -> None:
        if self.on:
            super().on_end(span)


_EXPORTER = in_memory.InMemorySpanExporter()
_PROCESSOR = _Switchable(_EXPORTER)


@pytest.fixture
def spans() -> Iterator[Any]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, sdk_trace.TracerProvider):
        provider = sdk_trace.TracerProvider()
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()
    if not isinstance(provider, sdk_trace.TracerProvider):
        pytest.skip("another tracer provider is installed")
    if _PROCESSOR not in provider._active_span_processor._span_processors:
        provider.add_span_processor(_PROCESSOR)
    _EXPORTER.clear()
    _PROCESSOR.on = True
    try:
        yield _EXPORTER
    finally:
        _PROCESSOR.on = False
        _EXPORTER.clear()


def test_a_text_search_is_one_trace_gateway_embedding_backend(
    server: ServerThread, spans: Any
) -> None:
    with Client(server.grpc_target) as client:
        client.create_collection("traced")
        client.upsert("traced", [{"id": "a", "text": "the quick brown fox"}])
        spans.clear()
        assert client.search("traced", text="a fast fox", top_k=1)[0].id == "a"
    finished = {s.name: s for s in spans.get_finished_spans()}
    assert {"vectorgate Search", "embedding", "backend search"} <= set(finished)
    root = finished["vectorgate Search"]
    assert root.parent is None
    assert root.attributes["request_id"]
    for child in ("embedding", "backend search"):
        span = finished[child]
        assert span.context.trace_id == root.context.trace_id
        assert span.parent is not None and span.parent.span_id == root.context.span_id
    assert finished["backend search"].attributes["backend"] == "lancedb"
    assert finished["embedding"].attributes["model"]
