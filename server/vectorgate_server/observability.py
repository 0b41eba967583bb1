"""Metrics, structured logs with request ids, and optional tracing.

* Prometheus metrics (``prometheus_client``'s default registry), served at
  ``/metrics`` on the HTTP server (:func:`mount_metrics`):

  - ``vectorgate_requests_total{method,code}``, ``vectorgate_request_errors_total{method,code}``
    and ``vectorgate_request_duration_seconds{method}``: every RPC of the table,
    whichever transport called it (:func:`instrument_rpcs` wraps the handlers);
  - ``vectorgate_backend_requests_total{store,backend,operation,outcome}`` and
    ``vectorgate_backend_duration_seconds{store,backend,operation}``: every
    adapter call (:class:`InstrumentedAdapter`, wrapped once in the runtime);
  - ``vectorgate_embedding_duration_seconds{model}`` and
    ``vectorgate_embedding_texts_total{model}`` (:func:`instrument_embeddings`);
  - ``vectorgate_fanout_failures_total{store}``: stores that failed in a
    multi-store call that still answered (:func:`record_fanout_failure`);
  - ``vectorgate_gc_frozen_objects``: the start-up objects that full garbage
    collections skip (:mod:`~vectorgate_server.gc_freeze`), next to
    ``prometheus_client``'s own ``python_gc_*`` counters;
  - ``vectorgate_http_requests_total{method,route,status,status_class}`` and
    ``vectorgate_http_request_duration_seconds{method,route}``: every HTTP
    request, whatever the route (transcoded RPCs, compatibility routes, the
    Milvus passthrough, health, ``/metrics`` itself), labelled by the route
    *template* (``/milvus/v2/vectordb/{group}/{action}``), never the raw path
    (:class:`ObservedHttp`).

* Access log: one line per HTTP request at INFO on ``vectorgate_server.http.access``
  (method, route template, status, duration, request id; never the query
  string, the raw path or a header value).

* Logs: :func:`configure_logging` installs a JSON (one object a line) or text
  formatter; every record carries the current request id (a context variable
  set for the duration of each RPC, copied into threads by ``asyncio.to_thread``).
  Records are formatted where they are logged and written to stderr by one
  writer thread (:class:`NonBlockingStreamHandler`), so a log reader that stops
  reading (a full pipe) never blocks the event loop: past a bounded backlog,
  records are dropped and counted in ``vectorgate_log_records_dropped_total``.

* Tracing: when ``opentelemetry-api`` is importable, :func:`span` opens spans
  (gateway RPC -> embedding -> backend operation); otherwise it does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import gc
import importlib
import inspect
import json
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
import numpy as np
import numpy.typing as npt
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from .adapters.base import Adapter, Capabilities
from .domain import CollectionInfo, CollectionSpec, Document, Explanation, Filter, Hit, SearchQuery
from .embeddings import EmbeddingRegistry, SupportsWarmUp
from .embeddings.base import Embedder
from .errors import VectorgateError, classify
from .services.registry import CallContext, Rpc
from .workers import CallSlots

__all__ = [
    "InstrumentedAdapter",
    "ObservedHttp",
    "configure_logging",
    "current_request_id",
    "instrument_adapter",
    "instrument_embeddings",
    "instrument_rpcs",
    "metrics_payload",
    "mount_metrics",
    "record_fanout_failure",
    "request_id_or_new",
    "span",
]

T = TypeVar("T")

#: Latency buckets (seconds): sub-millisecond to tens of seconds.
BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)

REQUESTS = Counter(
    "vectorgate_requests",
    "RPCs handled, by method and final gRPC status code",
    ["method", "code"],
)
REQUEST_ERRORS = Counter(
    "vectorgate_request_errors",
    "RPCs that ended with a status other than OK",
    ["method", "code"],
)
REQUEST_LATENCY = Histogram(
    "vectorgate_request_duration_seconds",
    "Time spent in the RPC handler",
    ["method"],
    buckets=BUCKETS,
)
BACKEND_REQUESTS = Counter(
    "vectorgate_backend_requests",
    "Adapter (backend) operations, by store, backend, operation and outcome",
    ["store", "backend", "operation", "outcome"],
)
BACKEND_LATENCY = Histogram(
    "vectorgate_backend_duration_seconds",
    "Time spent in adapter (backend) operations",
    ["store", "backend", "operation"],
    buckets=BUCKETS,
)
EMBEDDING_LATENCY = Histogram(
    "vectorgate_embedding_duration_seconds",
    "Time to embed one batch of texts",
    ["model"],
    buckets=BUCKETS,
)
EMBEDDING_TEXTS = Counter(
    "vectorgate_embedding_texts",
    "Texts embedded",
    ["model"],
)
FANOUT_FAILURES = Counter(
    "vectorgate_fanout_failures",
    "Stores that failed during a multi-store (fan-out) call that still answered",
    ["store"],
)


HTTP_REQUESTS = Counter(
    "vectorgate_http_requests",
    "HTTP requests, by method, route template, HTTP status and status class",
    ["method", "route", "status", "status_class"],
)
HTTP_LATENCY = Histogram(
    "vectorgate_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response",
    ["method", "route"],
    buckets=BUCKETS,
)


GC_FROZEN_OBJECTS = Gauge(
    "vectorgate_gc_frozen_objects",
    "Objects kept out of Python's garbage collections since start-up (see gc_freeze); "
    "0 means every full collection walks the whole start-up heap",
)
GC_FROZEN_OBJECTS.set_function(gc.get_freeze_count)


def record_fanout_failure(store: str) -> None:
    """Count a store that failed inside a fan-out call (partial failure)."""
    FANOUT_FAILURES.labels(store=store).inc()


def metrics_payload() -> tuple[bytes, str]:
    """The Prometheus text exposition of every metric, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


def mount_metrics(app: Any, path: str = "/metrics") -> None:
    """Add ``GET /metrics`` to a Starlette application."""
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def metrics(request: Request) -> Response:
        body, content_type = metrics_payload()
        return Response(body, headers={"Content-Type": content_type})

    app.router.routes.insert(0, Route(path, metrics, methods=["GET"]))


# --------------------------------------------------------------------------- tracing

_TRACER: Any = None
with contextlib.suppress(ImportError):  # only with opentelemetry-api installed
    _TRACER = importlib.import_module("opentelemetry.trace").get_tracer("vectorgate")


@contextlib.contextmanager
def span(name: str, **attributes: str) -> Iterator[None]:
    """An OpenTelemetry span when ``opentelemetry-api`` is installed; nothing otherwise."""
    if _TRACER is None:
        yield
        return
    with _TRACER.start_as_current_span(name, attributes=attributes):
        yield


# --------------------------------------------------------------------------- request ids

_REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar(
    "vectorgate_request_id", default=""
)


def current_request_id() -> str:
    """The id of the request being handled in this context ("" outside requests)."""
    return _REQUEST_ID.get()


@contextlib.contextmanager
def request_id_scope(request_id: str) -> Iterator[None]:
    """Make ``request_id`` the current request id for the block."""
    token = _REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        _REQUEST_ID.reset(token)


#: Longest accepted caller-given request id; longer ones are replaced by a fresh id.
MAX_REQUEST_ID = 128


def request_id_or_new(given: str) -> str:
    """The caller's request id when it is short and printable, else a fresh one."""
    if given and len(given) <= MAX_REQUEST_ID and given.isprintable():
        return given
    return os.urandom(16).hex()


class RequestIdFilter(logging.Filter):
    """Gives every record a ``request_id`` attribute (explicit ``extra`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = _REQUEST_ID.get()
        return True


_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "")
        if request_id:
            data["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in data and key != "request_id":
                data[key] = value if isinstance(value, str | int | float | bool) else repr(value)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

LOG_RECORDS_DROPPED = Counter(
    "vectorgate_log_records_dropped",
    "Log records dropped because the log output (stderr) did not keep up",
)


class NonBlockingStreamHandler(logging.Handler):
    """Writes formatted records to a stream from its own thread, never from the caller's.

    Records are formatted where they are logged (so the request id and the
    exception are those of the call) and queued; a writer thread writes them.
    The event loop therefore never waits on the log output: a stderr pipe that
    nobody reads, or a log collector that stalls, would otherwise block every
    request at its access-log line. When ``max_queued`` lines are waiting the
    new ones are dropped and counted (``vectorgate_log_records_dropped_total``),
    and the writer says how many once the output moves again.
    """

    #: Seconds :meth:`flush` (and so interpreter exit) waits for queued lines.
    FLUSH_TIMEOUT_S = 2.0

    def __init__(self, stream: Any, max_queued: int = 10_000) -> None:
        super().__init__()
        self.stream = stream
        #: (records dropped just before this line, the line); ``None`` ends the writer.
        #: A line of ``None`` carries only a count (see :meth:`flush`).
        self._queue: queue.Queue[tuple[int, str | None] | None] = queue.Queue(max_queued)
        self._dropped = 0
        self._dropped_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._write_loop, name="vectorgate-log-writer", daemon=True
        )
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        # The count of the records dropped since the last accepted one travels with the
        # next accepted one, so the notice is written where the loss happened, not before
        # lines that were logged earlier and were still queued.
        with self._dropped_lock:
            try:
                self._queue.put_nowait((self._dropped, line))
            except queue.Full:
                self._dropped += 1
                LOG_RECORDS_DROPPED.inc()
                return
            self._dropped = 0

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                dropped, line = item
                if dropped:
                    self.stream.write(
                        f"vectorgate: {dropped} log records dropped (log output too slow)\n"
                    )
                if line is not None:
                    self.stream.write(line + "\n")
                self.stream.flush()
            except Exception:  # a closed or broken stream: nothing else to tell it to
                pass
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait (at most :attr:`FLUSH_TIMEOUT_S`) until the queued lines are written, and
        the count of records dropped since the last queued one with them."""
        deadline = time.monotonic() + self.FLUSH_TIMEOUT_S
        while True:
            with self._dropped_lock:
                if self._dropped:
                    with contextlib.suppress(queue.Full):  # a full queue: on the next turn
                        self._queue.put_nowait((self._dropped, None))
                        self._dropped = 0
                done = not self._dropped and not self._queue.unfinished_tasks
            if done or time.monotonic() >= deadline:
                return
            time.sleep(0.005)

    def close(self) -> None:
        """Flush; the writer keeps running. Libraries that configure logging on import
        close every existing handler (pymilvus's ``dictConfig`` does) while the handler
        stays installed, so closing must not silence it: :meth:`stop` ends the writer."""
        self.flush()
        super().close()

    def stop(self) -> None:
        """Flush, then end the writer thread (a handler that is replaced)."""
        self.close()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)


def configure_logging(level: str | int, fmt: str | None = None) -> None:
    """Log to stderr as ``json`` or ``text``; ``None`` picks text on a TTY, JSON otherwise.

    Lines are written by a thread of their own (:class:`NonBlockingStreamHandler`).
    """
    if fmt is None:
        fmt = "text" if sys.stderr.isatty() else "json"
    if fmt not in ("json", "text"):
        raise ValueError(f"unknown log format {fmt!r} (json or text)")
    handler = NonBlockingStreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if isinstance(old, NonBlockingStreamHandler):
            old.stop()
    root.addHandler(handler)
    root.setLevel(level)


# --------------------------------------------------------------------------- RPCs


def _code_of(exc: BaseException) -> str:
    if isinstance(exc, VectorgateError):
        return classify(exc).code.name
    if isinstance(exc, grpc.aio.AbortError):
        return "ABORTED_BY_HANDLER"
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED.name
    return grpc.StatusCode.INTERNAL.name


def _deadline_or_cancelled(started: float, timeout: float) -> str:
    if time.monotonic() - started >= timeout:
        return grpc.StatusCode.DEADLINE_EXCEEDED.name
    return grpc.StatusCode.CANCELLED.name


def _instrument_handler(rpc: Rpc) -> Callable[[Any, CallContext], Awaitable[Any]]:
    inner = rpc.handler
    method = rpc.method
    latency = REQUEST_LATENCY.labels(method=method)
    ok = REQUESTS.labels(method=method, code="OK")

    async def handler(request: Any, ctx: CallContext) -> Any:
        token = _REQUEST_ID.set(ctx.request_id)
        started = time.perf_counter()
        try:
            with span(f"vectorgate {method}", request_id=ctx.request_id):
                response = await inner(request, ctx)
        except BaseException as exc:
            code = _code_of(exc)
            # The transport cancels the handler when the caller's deadline passes.
            timeout = ctx.timeout
            if code == "CANCELLED" and timeout is not None:
                code = _deadline_or_cancelled(ctx.started, timeout)
            REQUESTS.labels(method=method, code=code).inc()
            REQUEST_ERRORS.labels(method=method, code=code).inc()
            raise
        else:
            ok.inc()
            return response
        finally:
            latency.observe(time.perf_counter() - started)
            _REQUEST_ID.reset(token)

    # Keep the permission mark and the name for anything that inspects the handler.
    for attr in ("__vectorgate_permission__", "__name__", "__qualname__", "__doc__"):
        if hasattr(inner, attr):
            with contextlib.suppress(AttributeError, TypeError):
                setattr(handler, attr, getattr(inner, attr))
    return handler


def instrument_rpcs(rpcs: Sequence[Rpc]) -> list[Rpc]:
    """The RPC table with every handler timed, counted and given the request id."""
    return [dataclasses.replace(rpc, handler=_instrument_handler(rpc)) for rpc in rpcs]


# --------------------------------------------------------------------------- adapters


class InstrumentedAdapter:
    """An :class:`Adapter` that records every operation of the adapter it wraps."""

    def __init__(self, inner: Adapter, slots: CallSlots | None = None) -> None:
        self.inner = inner
        #: The store's ``max_concurrency``: operations in flight at once (None: unbounded).
        self.slots = slots
        self.store: str = inner.store
        self.backend: str = inner.backend
        self.capabilities: Capabilities = inner.capabilities

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def _run(self, operation: str, call: Awaitable[T]) -> T:
        if self.slots is None or operation in _UNBOUNDED_OPERATIONS:
            return await self._measured(operation, call)
        try:
            async with self.slots.held():
                return await self._measured(operation, call)
        finally:
            # A call refused a slot never ran: close it without a "never awaited" warning.
            if inspect.iscoroutine(call) and inspect.getcoroutinestate(call) == "CORO_CREATED":
                call.close()

    async def _measured(self, operation: str, call: Awaitable[T]) -> T:
        labels = {"store": self.store, "backend": self.backend, "operation": operation}
        started = time.perf_counter()
        outcome = "ok"
        try:
            with span(f"backend {operation}", **labels):
                return await call
        except BaseException as exc:
            outcome = type(exc).__name__
            raise
        finally:
            BACKEND_LATENCY.labels(**labels).observe(time.perf_counter() - started)
            BACKEND_REQUESTS.labels(**labels, outcome=outcome).inc()

    async def start(self) -> None:
        await self._run("start", self.inner.start())
        # Some adapters settle their capabilities on connecting (Milvus: keyword search).
        self.capabilities = self.inner.capabilities

    async def close(self) -> None:
        await self._run("close", self.inner.close())

    async def create_collection(self, spec: CollectionSpec) -> CollectionInfo:
        return await self._run("create_collection", self.inner.create_collection(spec))

    async def describe_collection(self, name: str) -> CollectionInfo:
        return await self._run("describe_collection", self.inner.describe_collection(name))

    async def list_collections(self) -> list[str]:
        return await self._run("list_collections", self.inner.list_collections())

    async def drop_collection(self, name: str) -> None:
        await self._run("drop_collection", self.inner.drop_collection(name))

    async def count(self, name: str, filter: Filter | None = None) -> int:
        return await self._run("count", self.inner.count(name, filter))

    async def upsert(self, name: str, documents: Sequence[Document]) -> None:
        await self._run("upsert", self.inner.upsert(name, documents))

    async def get(self, name: str, ids: Sequence[str], include_vectors: bool) -> list[Document]:
        return await self._run("get", self.inner.get(name, ids, include_vectors))

    async def delete(
        self, name: str, ids: Sequence[str] | None = None, filter: Filter | None = None
    ) -> None:
        await self._run("delete", self.inner.delete(name, ids, filter))

    async def search(self, name: str, query: SearchQuery) -> list[Hit]:
        return await self._run("search", self.inner.search(name, query))

    async def explain(self, name: str, query: SearchQuery) -> Explanation:
        return await self._run("explain", self.inner.explain(name, query))

    async def scan(
        self, name: str, *, after: str | None, limit: int, include_vectors: bool
    ) -> list[Document]:
        return await self._run(
            "scan",
            self.inner.scan(name, after=after, limit=limit, include_vectors=include_vectors),
        )


#: Lifecycle operations, never held back by ``max_concurrency``.
_UNBOUNDED_OPERATIONS = frozenset({"start", "close"})


def instrument_adapter(adapter: Adapter, slots: CallSlots | None = None) -> Adapter:
    """Wrap an adapter (once) so its operations are measured and, with ``slots``, bounded."""
    if isinstance(adapter, InstrumentedAdapter):
        return adapter
    return InstrumentedAdapter(adapter, slots)


# --------------------------------------------------------------------------- embeddings


class InstrumentedEmbedder:
    """An :class:`Embedder` that records the time of each batch."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        model = inner.name
        self._latency = EMBEDDING_LATENCY.labels(model=model)
        self._texts = EMBEDDING_TEXTS.labels(model=model)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def max_batch(self) -> int:
        return self.inner.max_batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        started = time.perf_counter()
        try:
            with span("embedding", model=self.inner.name):
                return await self.inner.embed(texts)
        finally:
            self._latency.observe(time.perf_counter() - started)
            self._texts.inc(len(texts))

    def embed_sync(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        started = time.perf_counter()
        try:
            return self.inner.embed_sync(texts)
        finally:
            self._latency.observe(time.perf_counter() - started)
            self._texts.inc(len(texts))

    def warm_up(self) -> None:
        if isinstance(self.inner, SupportsWarmUp):
            self.inner.warm_up()

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


def instrument_embeddings(registry: EmbeddingRegistry) -> EmbeddingRegistry:
    """A registry with the same names, aliases and default whose embedders are measured."""
    out = EmbeddingRegistry()
    names = registry.names()
    if not names:
        return registry
    default = registry.default_name
    for name in names:
        embedder = registry.get(name)
        wrapped = embedder if isinstance(embedder, InstrumentedEmbedder) else None
        out.register(
            wrapped or InstrumentedEmbedder(embedder),
            aliases=registry.aliases(name)[1:],
            default=name == default,
        )
    return out


# --------------------------------------------------------------------------- HTTP

#: The scope key under which :class:`ObservedHttp` leaves the request id for the routes.
REQUEST_ID_SCOPE_KEY = "vectorgate.request_id"
#: The ``route`` label of a request no route matched (never the raw path).
UNMATCHED_ROUTE = "(unmatched)"

ACCESS_LOG = logging.getLogger("vectorgate_server.http.access")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_Asgi = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class _RouteTemplates:
    """The path template of the route the router chose, found from the scope it left.

    Starlette's router copies the matched route's ``endpoint`` into the scope;
    this maps it back to the route (rebuilt whenever the route list changes,
    since routes are added after the application is built).
    """

    def __init__(self, routes: list[Any]) -> None:
        self._routes = routes
        self._seen: list[Any] = []
        self._by_endpoint: dict[int, list[Any]] = {}

    def _rebuild(self) -> None:
        self._seen = list(self._routes)
        self._by_endpoint = {}
        for route in self._seen:
            endpoint = getattr(route, "endpoint", None)
            if endpoint is not None and hasattr(route, "path"):
                self._by_endpoint.setdefault(id(endpoint), []).append(route)

    def template(self, scope: MutableMapping[str, Any]) -> str:
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return UNMATCHED_ROUTE
        candidates = self._by_endpoint.get(id(endpoint))
        if candidates is None or len(self._seen) != len(self._routes):
            self._rebuild()
            candidates = self._by_endpoint.get(id(endpoint), [])
        path = scope.get("path", "")
        for route in candidates:
            if len(candidates) == 1 or route.path_regex.match(path):
                return str(getattr(route, "template", "") or route.path)
        return UNMATCHED_ROUTE


class ObservedHttp:
    """ASGI wrapper around the HTTP router: request id, metrics and access log per request.

    The request id (the caller's ``x-request-id`` when acceptable, else a fresh
    one) is left in the scope for the routes (which answer it in their bodies
    and headers), made the current request id for log records, and added as
    ``x-request-id`` to any response that does not carry it already.
    """

    def __init__(self, app: _Asgi, routes: list[Any]) -> None:
        self.app = app
        self._templates = _RouteTemplates(routes)
        # Metric children by label values (prometheus_client's labels() takes a lock).
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = ""
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                given = value.decode("latin-1")
                break
        request_id = request_id_or_new(given)
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        status = 500
        started = time.perf_counter()
        token = _REQUEST_ID.set(request_id)

        async def observed_send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", ()))
                if not any(k.lower() == b"x-request-id" for k, _ in headers):
                    headers.append((b"x-request-id", request_id.encode("latin-1")))
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            elapsed = time.perf_counter() - started
            method = str(scope.get("method", ""))
            if method not in _METHODS:  # label values stay bounded whatever a client sends
                method = "OTHER"
            route = self._templates.template(scope)
            counter = self._counters.get((method, route, status))
            if counter is None:
                counter = HTTP_REQUESTS.labels(
                    method=method,
                    route=route,
                    status=str(status),
                    status_class=f"{status // 100}xx",
                )
                self._counters[(method, route, status)] = counter
            counter.inc()
            histogram = self._histograms.get((method, route))
            if histogram is None:
                histogram = HTTP_LATENCY.labels(method=method, route=route)
                self._histograms[(method, route)] = histogram
            histogram.observe(elapsed)
            ACCESS_LOG.info(
                "%s %s %d %.1fms",
                method,
                route,
                status,
                elapsed * 1000,
                extra={
                    "http_method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )
            _REQUEST_ID.reset(token)
