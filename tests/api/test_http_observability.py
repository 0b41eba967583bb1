"""Every HTTP route is observable: metrics, one access log line, the request id.

The route table is read from the running application, so a route added later
is covered without editing this file: each route gets one real request (its
path parameters filled in, a query string and a key attached) and must move
``vectorgate_http_requests_total`` and the latency histogram under its route
template, answer ``x-request-id``, and leave exactly one access log line that
names the template and never the raw path, the query string or the key.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import Route

from tests.support.servers import ServerProcess, ServerThread, make_config
from vectorgate_server import observability
from vectorgate_server.embeddings import EmbeddingRegistry

_PARAM = re.compile(r"\{[^}]+\}")

MASTER = "sk-observability-master-key"
#: Put into every request's query string; must appear in no log line.
SECRET = "s3cr3t-query-value"


def _scrape(base: str) -> list[tuple[str, dict[str, str], float]]:
    response = httpx.get(f"{base}/metrics", timeout=10)
    assert response.status_code == 200
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def _value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(
        value
        for metric, have, value in samples
        if metric == name and all(have.get(k) == v for k, v in labels.items())
    )


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.addFilter(observability.RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def secured(tmp_path: Path, embeddings: EmbeddingRegistry) -> Iterator[ServerThread]:
    config = make_config(tmp_path / "data", {"general_settings": {"master_key": MASTER}})
    with ServerThread(config, embeddings) as srv:
        yield srv


@pytest.fixture
def access_log() -> Iterator[_Capture]:
    handler = _Capture()
    logger = logging.getLogger("vectorgate_server")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _routes(server: ServerThread) -> list[tuple[str, str, str]]:
    """(method, route template as labelled, a concrete path) for every route of the app."""
    assert server.server is not None
    found = []
    for route in server.server.http.app.router.routes:
        assert isinstance(route, Route), route
        template = getattr(route, "template", route.path)
        path = _PARAM.sub("obsx", route.path)
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            found.append((method, template, path))
    return found


def test_every_route_has_metrics_a_log_line_and_a_request_id(
    secured: ServerThread, access_log: _Capture
) -> None:
    routes = _routes(secured)
    templates = {template for _, template, _ in routes}
    # The faces the issue names are all in the table (so all are checked below).
    for expected in (
        "/milvus/v2/vectordb/{group}/{action}",
        "/v1/embeddings",
        "/embeddings",
        "/v1/vector_stores/{vector_store_id}/search",
        "/v1/vector/store",
        "/v1/vector/search",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    ):
        assert expected in templates
    assert any(path.startswith("/key/") for path in templates)
    assert any(path.startswith("/v1/indexes") for path in templates)
    assert any(path.startswith("/v1/collections") for path in templates)

    before = _scrape(secured.http_base)
    sent: dict[tuple[str, str], str] = {}
    with httpx.Client(base_url=secured.http_base, timeout=30) as client:
        for number, (method, template, path) in enumerate(routes):
            request_id = f"obs-{number}"
            response = client.request(
                method,
                path,
                params={"token": SECRET},
                headers={"authorization": f"Bearer {MASTER}", "x-request-id": request_id},
                json={} if method in ("POST", "PUT", "PATCH") else None,
            )
            assert response.headers.get("x-request-id") == request_id, (method, template)
            sent[(method, template)] = request_id
        # A path no route matches is counted under one label, never its raw path.
        missing = client.get("/no/such/route/obsx", params={"token": SECRET})
        assert missing.status_code == 404
        assert missing.headers["x-request-id"]
    after = _scrape(secured.http_base)

    silent = []
    for method, template, _ in routes:
        moved = _value(
            after, "vectorgate_http_requests_total", method=method, route=template
        ) - _value(before, "vectorgate_http_requests_total", method=method, route=template)
        timed = _value(
            after, "vectorgate_http_request_duration_seconds_count", method=method, route=template
        ) - _value(
            before, "vectorgate_http_request_duration_seconds_count", method=method, route=template
        )
        # /metrics is scraped once more after our request (its own scrape counts too).
        if moved < 1 or timed < 1:
            silent.append((method, template))
    assert silent == []
    assert (
        _value(after, "vectorgate_http_requests_total", route=observability.UNMATCHED_ROUTE)
        - _value(before, "vectorgate_http_requests_total", route=observability.UNMATCHED_ROUTE)
        == 1
    )
    classes = {
        labels["status_class"]
        for name, labels, _ in after
        if name == "vectorgate_http_requests_total"
    }
    assert {"2xx", "4xx"} <= classes

    lines = [r for r in access_log.records if r.name == "vectorgate_server.http.access"]
    for (method, template), request_id in sent.items():
        mine = [r for r in lines if getattr(r, "request_id", "") == request_id]
        assert len(mine) == 1, (method, template, len(mine))
        record = mine[0]
        assert record.levelno == logging.INFO
        assert getattr(record, "route", None) == template
        assert getattr(record, "http_method", None) == method
        assert isinstance(getattr(record, "status", None), int)
        assert isinstance(getattr(record, "duration_ms", None), float)
    for record in lines:
        text = record.getMessage() + repr(vars(record))
        assert SECRET not in text
        assert MASTER not in text
        assert "obsx" not in text  # the template, never the raw path


def test_status_class_and_request_id_of_a_failing_route(
    secured: ServerThread, access_log: _Capture
) -> None:
    before = _scrape(secured.http_base)
    response = httpx.post(
        f"{secured.http_base}/milvus/v2/vectordb/entities/search",
        json={"collectionName": "x"},
        headers={"authorization": "Bearer sk-wrong-key"},
        timeout=30,
    )
    assert response.status_code == 401
    made = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    after = _scrape(secured.http_base)
    route = "/milvus/v2/vectordb/{group}/{action}"
    labels = {"method": "POST", "route": route, "status": "401", "status_class": "4xx"}
    assert (
        _value(after, "vectorgate_http_requests_total", **labels)
        - _value(before, "vectorgate_http_requests_total", **labels)
        == 1
    )
    mine = [r for r in access_log.records if getattr(r, "request_id", "") == made]
    assert [getattr(r, "status", None) for r in mine if r.name.endswith(".access")] == [401]


def test_a_stalled_log_reader_never_stalls_the_server(tmp_path: Path) -> None:
    """stderr is a pipe nobody reads (as a supervisor that stopped reading). Once the
    pipe's buffer is full, a server that writes its access log from the event loop
    blocks in write() and stops answering every request; this one keeps answering."""
    proc = ServerProcess(
        ["serve", "--grpc-port", "0", "--http-port", "0", "--data-dir", str(tmp_path / "d")],
        env={"VECTORGATE_MASTER_KEY": MASTER},
    )
    try:
        proc.wait_ready()
        # ~300 bytes an access line: 1500 requests write ~450 KB, past a pipe's
        # buffer (64 KiB on Linux) several times over.
        with httpx.Client(base_url=f"http://127.0.0.1:{proc.http_port}", timeout=10) as client:
            for _ in range(1500):
                assert client.get("/healthz").status_code == 200
    finally:
        proc.terminate()
        proc.kill()


def test_log_backlog_is_bounded_and_drops_are_counted() -> None:
    """The writer thread is stuck in write(); logging still returns at once, the
    backlog stops at its capacity and every record past it is counted."""
    release = threading.Event()
    entered = threading.Event()
    written: list[str] = []

    class Stuck(io.StringIO):
        def write(self, text: str) -> int:
            entered.set()
            release.wait(30)
            written.append(text)
            return len(text)

    handler = observability.BackgroundStreamHandler(Stuck(), capacity=5)
    handler.setFormatter(observability.JsonFormatter())
    log = logging.getLogger("vectorgate_server.test.backlog")
    log.propagate = False
    log.addHandler(handler)
    before = _value(_dropped(), "vectorgate_log_records_dropped_total")
    try:
        started = time.monotonic()
        log.warning("line %d", 0)
        assert entered.wait(10)
        for n in range(1, 20):
            log.warning("line %d", n)
        assert time.monotonic() - started < 1.0
        # One line is in the stuck write(), five wait: fourteen are dropped.
        assert _value(_dropped(), "vectorgate_log_records_dropped_total") - before == 14
        release.set()
        handler.flush()
        assert [json.loads(t)["message"] for t in written] == [f"line {n}" for n in range(6)]
    finally:
        release.set()
        log.removeHandler(handler)
        handler.close()


def _dropped() -> list[tuple[str, dict[str, str], float]]:
    text = generate_latest().decode()
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]
