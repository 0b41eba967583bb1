"""Milvus transport: the ``MilvusClient`` connection, Milvus Lite servers, calls in the
store's worker threads and the translation of SDK errors."""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import grpc
from pymilvus import MilvusClient, MilvusException

from ... import deadline
from ...errors import (
    BackendAuthFailed,
    NotFound,
    Unavailable,
    VectorgateError,
)
from ...retry import backend_error
from ..base import url_without_credentials

if TYPE_CHECKING:
    from ...domain import Metric
    from ...workers import StoreWorkers
    from ..base import Capabilities
    from .layout import _Defaults, _Layout

log = logging.getLogger(__name__)


def _drop_mvcc_fallback_warning(record: logging.LogRecord) -> bool:
    """Milvus Lite returns no session timestamp, so every ``query_iterator`` (``scan``)
    would warn that it falls back to a client-side one; that fallback is what we want."""
    return "failed to get mvccTs" not in record.getMessage()


logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_drop_mvcc_fallback_warning)

T = TypeVar("T")

BACKEND: Final = "milvus"

#: Keepalive of the gateway's gRPC channel to Milvus. pymilvus pings every 10 s,
#: even with no call in flight; gRPC servers take that as abuse and answer GOAWAY
#: ``too_many_pings`` (ENHANCE_YOUR_CALM): the C-core server (Milvus Lite) allows
#: one ping per 5 minutes with calls in flight and none on an idle connection
#: (``grpc.http2.min_ping_interval_without_data_ms``, ``max_ping_strikes`` 2), and
#: grpc-go (Milvus) enforces ``keepalive.EnforcementPolicy`` (MinTime 5 minutes
#: unless configured). So: no pings without calls, and at most one every 6 minutes
#: during a call (to notice a peer that vanished mid-call).
KEEPALIVE_TIME_MS: Final = 360_000

KEEPALIVE_TIMEOUT_MS: Final = 20_000


def grpc_options() -> dict[str, int]:
    """The channel options the gateway gives pymilvus (keepalive the servers accept)."""
    return {
        "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
        "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
        "grpc.keepalive_permit_without_calls": 0,
    }


#: Milvus servers with BM25 functions (full-text search).
_FULL_TEXT_SERVER: Final = (2, 5)

#: Rows per ``query_iterator`` round trip of ``scan`` (Milvus caps a query window at 16384).
_ITERATOR_BATCH: Final = 4096

_DEFAULT_TIMEOUT_S: Final = 60.0

#: pymilvus / Milvus codes meaning "could not reach or use the server".
_UNAVAILABLE_CODES: Final = frozenset({2, 8, 9})

_NOT_FOUND_RE: Final = re.compile(
    r"collection not found|can't find collection|collection '[^']*' does not exist",
    re.IGNORECASE,
)

_LITE_LOCK = threading.Lock()

_LITE_USERS: dict[str, int] = {}


def _lite_acquire(path: str) -> None:
    with _LITE_LOCK:
        _LITE_USERS[path] = _LITE_USERS.get(path, 0) + 1


def _lite_release(path: str) -> None:
    with _LITE_LOCK:
        users = _LITE_USERS.get(path, 0) - 1
        if users > 0:
            _LITE_USERS[path] = users
            return
        _LITE_USERS.pop(path, None)
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(path)


class MilvusConnection:
    """The connection of one Milvus store and the calls made through it.

    The state below is set by :class:`~.adapter.MilvusAdapter`'s constructor.
    """

    store: str
    capabilities: Capabilities
    workers: StoreWorkers
    _uri: str
    _token: str
    _db_name: str
    _timeout: float
    _lite_path: str | None
    _lite_acquired: bool
    _index_type: str | None
    _index_params: dict[str, Any]
    _metric_default: Metric | None
    _text_field: str | None
    _defaults: _Defaults
    _client: MilvusClient | None
    _server_version: str
    #: Whether the engine has BM25 functions (known once started).
    _full_text: bool
    _layouts: dict[str, _Layout]
    _loaded: set[str]
    #: Why the last connect failed, when the server refused the store's credentials.
    _auth_failure: str | None = None

    # ------------------------------------------------------------------ properties

    @property
    def is_lite(self) -> bool:
        """True for a Milvus Lite database file."""
        return self._lite_path is not None

    @property
    def db_name(self) -> str:
        """The configured database (``default`` when none is configured)."""
        return self._db_name or "default"

    @property
    def server_version(self) -> str:
        """The engine's version as it reports it (empty until started)."""
        return self._server_version

    @property
    def full_text_search(self) -> bool:
        """Whether the engine has BM25 full-text search (known once started)."""
        return self._full_text

    @property
    def display_uri(self) -> str:
        """The uri without credentials, for messages."""
        if self._lite_path is not None:
            return self._lite_path
        return url_without_credentials(self._uri)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._client is not None:
            return
        self._client = await self.workers.run(self._connect)
        self._full_text = _has_full_text(self._server_version, lite=self.is_lite)
        self.capabilities = dataclasses.replace(self.capabilities, keyword_search=self._full_text)

    def _connect(self) -> MilvusClient:
        uri = self._uri
        if self._lite_path is not None:
            Path(self._lite_path).parent.mkdir(parents=True, exist_ok=True)
            uri = self._lite_path
            _lite_acquire(self._lite_path)
            self._lite_acquired = True
        try:
            # Embedded Lite too: pymilvus reaches its server over a gRPC channel.
            client = MilvusClient(
                uri=uri,
                token=self._token,
                db_name=self._db_name,
                timeout=self._timeout,
                grpc_options=grpc_options(),
            )
            self._server_version = str(client.get_server_version(timeout=self._timeout))
        except (MilvusException, grpc.RpcError, OSError) as exc:
            self._release_lite()
            failure = self._failure("connect", exc)
            if isinstance(failure, BackendAuthFailed):
                self._auth_failure = failure.message
                raise failure from exc
            raise Unavailable(
                f"milvus store {self.store!r} at {self.display_uri} is unavailable: {_message(exc)}"
            ) from exc
        self._auth_failure = None
        return client

    async def close(self) -> None:
        client, self._client = self._client, None
        self._layouts.clear()
        self._loaded.clear()
        if client is not None:
            await self.workers.run(self._close_client, client)
        self.workers.close()

    def _close_client(self, client: MilvusClient) -> None:
        try:
            client.close()
        except Exception:  # closing must not fail
            log.debug("closing milvus client of store %s failed", self.store, exc_info=True)
        self._release_lite()

    def _release_lite(self) -> None:
        if self._lite_path is not None and self._lite_acquired:
            self._lite_acquired = False
            _lite_release(self._lite_path)

    # ------------------------------------------------------------------ calls

    def require_client(self) -> MilvusClient:
        """The connected ``MilvusClient`` (for the native REST passthrough).

        ``Unavailable`` if the adapter is not started. Calls on it bypass the
        adapter: run them with :meth:`run_client`, and after creating or
        dropping a collection through it, call :meth:`forget_collection`.
        """
        return self._require_client()

    async def run_client(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A blocking client call in the store's bounded threads, with the store's
        timeout cut to the caller's deadline (SDK errors are not translated)."""
        kwargs.setdefault("timeout", deadline.bound(self._timeout))
        return await self.workers.run(fn, *args, **kwargs)

    def forget_collection(self, name: str) -> None:
        """Drop what the adapter cached about collection ``name`` (schema, load state)."""
        self._forget(name)

    def _require_client(self) -> MilvusClient:
        if self._client is None:
            if self._auth_failure is not None:
                raise BackendAuthFailed(
                    self._auth_failure, metadata={"store": self.store, "backend": BACKEND}
                )
            raise Unavailable(f"milvus store {self.store!r} at {self.display_uri} is not connected")
        return self._client

    async def _call(
        self,
        what: str,
        fn: Callable[..., T],
        *args: Any,
        collection: str | None = None,
        **kwargs: Any,
    ) -> T:
        """Run a blocking client call in a thread, translating SDK errors."""
        kwargs.setdefault("timeout", deadline.bound(self._timeout))
        try:
            return await self.workers.run(fn, *args, **kwargs)
        except MilvusException as exc:
            raise self._translate(exc, what, collection) from exc
        except grpc.RpcError as exc:
            raise self._failure(what, exc) from exc

    def _translate(
        self, exc: MilvusException, what: str, collection: str | None
    ) -> VectorgateError | MilvusException:
        code = exc.code
        message = _message(exc)
        if collection is not None and (code == 100 or _NOT_FOUND_RE.search(message)):
            self._forget(collection)
            return NotFound(
                f"collection {collection!r} does not exist in store {self.store!r}",
                metadata={"store": self.store, "collection": collection},
            )
        status = _grpc_status(exc)
        if status is not None:
            error = self._classified(what, exc, status)
            if error is not None:
                return error
        if code in _UNAVAILABLE_CODES:
            return self._unavailable(what, exc)
        return exc

    def _failure(self, what: str, exc: BaseException) -> VectorgateError:
        """The domain error of a failed call, by the one table of backend failures
        (:mod:`~vectorgate_server.retry`); ``Unavailable`` when it names no gRPC code."""
        status = _grpc_status(exc)
        if status is not None:
            error = self._classified(what, exc, status)
            if error is not None:
                return error
        return self._unavailable(what, exc)

    def _classified(
        self, what: str, exc: BaseException, code: grpc.StatusCode
    ) -> VectorgateError | None:
        # pymilvus already retried a failed RPC within the call's timeout (cut to the
        # caller's deadline): the gateway's retry policy adds none (``retryable=False``).
        return backend_error(
            code,
            store=self.store,
            backend=BACKEND,
            where=f"milvus store {self.store!r} at {self.display_uri}",
            cause=f"{what} failed: {_message(exc)}",
            retryable=False,
        )

    def _unavailable(self, what: str, exc: BaseException) -> Unavailable:
        return Unavailable(
            f"milvus store {self.store!r} at {self.display_uri}: {what} failed: {_message(exc)}",
            metadata={"store": self.store, "backend": BACKEND},
            retryable=False,
        )

    def _forget(self, name: str) -> None:
        self._layouts.pop(name, None)
        self._loaded.discard(name)

    async def _read(
        self, layout: _Layout, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        """A read that needs the collection loaded; loads it (again) when Milvus says so."""
        await self._ensure_loaded(layout)
        try:
            return await self._call(what, fn, *args, collection=layout.name, **kwargs)
        except MilvusException as exc:
            if exc.code != 101 and "not loaded" not in _message(exc).lower():
                raise
        self._loaded.discard(layout.name)
        await self._ensure_loaded(layout)
        return await self._call(what, fn, *args, collection=layout.name, **kwargs)

    async def _ensure_loaded(self, layout: _Layout) -> None:
        if layout.name in self._loaded:
            return
        client = self._require_client()
        state = await self._call(
            "get_load_state", client.get_load_state, layout.stored, collection=layout.name
        )
        if str(getattr(state.get("state"), "name", state.get("state"))) != "Loaded":
            await self._call(
                "load_collection", client.load_collection, layout.stored, collection=layout.name
            )
        self._loaded.add(layout.name)


def _grpc_status(exc: BaseException) -> grpc.StatusCode | None:
    """The gRPC status behind a pymilvus error: its own code, or its cause's.

    pymilvus wraps some RPC failures in a ``MilvusException`` of its own code
    (a refused token at connect is code 2, "illegal connection params or server
    unavailable", raised from the ``UNAUTHENTICATED`` RPC error).
    """
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        code = seen.code() if isinstance(seen, grpc.RpcError) else getattr(seen, "code", None)
        if isinstance(code, grpc.StatusCode):
            return code
        seen = seen.__cause__ or seen.__context__
    return None


def _message(exc: BaseException) -> str:
    if isinstance(exc, MilvusException):
        return str(exc.message)
    if isinstance(exc, grpc.RpcError):
        details = exc.details() if hasattr(exc, "details") else None
        return str(details or exc)
    return str(exc)


def _scan_page(
    client: MilvusClient,
    collection: str,
    *,
    expr: str,
    output_fields: list[str],
    limit: int,
    timeout: float | None,
) -> list[dict[str, Any]]:
    """The first ``limit`` rows (ascending primary key) matching ``expr``."""
    iterator = client.query_iterator(
        collection,
        batch_size=min(limit, _ITERATOR_BATCH),
        filter=expr,
        output_fields=output_fields,
        timeout=timeout,
    )
    rows: list[dict[str, Any]] = []
    try:
        while len(rows) < limit:
            batch = iterator.next()
            if not batch:
                break
            rows.extend(batch)
    finally:
        iterator.close()
    return rows[:limit]


def _has_full_text(version: str, *, lite: bool) -> bool:
    """Whether an engine reporting ``version`` has BM25 functions.

    Milvus Lite reports ``milvus_lite-X.Y.Z`` (also as ``milvus-lite server``);
    its 3.x line, like servers from 2.5 on, has them. An unparseable version
    of a server counts as without (creating the function would fail).
    """
    match = re.search(r"(\d+)\.(\d+)", version)
    if match is None:
        return lite
    release = (int(match.group(1)), int(match.group(2)))
    return release >= _FULL_TEXT_SERVER
