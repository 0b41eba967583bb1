"""The LanceDB adapter's connection, its tables and the timeout of every call."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

import lance
import lancedb
import pyarrow as pa
from lancedb.remote import ClientConfig, RetryConfig, TimeoutConfig

from ...domain import Filter, FloatArray, IndexSpec, Metadata
from ...errors import AlreadyExists, FailedPrecondition, NotFound, Unavailable
from ...filters.lancedb import compile_filter
from ..base import Capabilities
from .index import NO_INDEX_TYPES, index_build_params
from .layout import _METRIC_FROM_LANCE, _THREAD_ROWS, TEXT_COLUMN, _Layout
from .rows import _rows
from .state import _index_partitions, _Table

log = logging.getLogger(__name__.rpartition(".")[0])


_P = ParamSpec("_P")
_R = TypeVar("_R")
_C = TypeVar("_C", bound="LanceDBConnection")
T = TypeVar("T")


def _within_timeout(
    method: Callable[Concatenate[_C, _P], Coroutine[Any, Any, _R]],
) -> Callable[Concatenate[_C, _P], Coroutine[Any, Any, _R]]:
    """Bounds one call by the store's ``timeout_s`` (when set): past it, ``Unavailable``."""

    @functools.wraps(method)
    async def bounded(self: _C, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if self.timeout_s is None:
            return await method(self, *args, **kwargs)
        limit = asyncio.timeout(self.timeout_s)
        try:
            async with limit:
                return await method(self, *args, **kwargs)
        except TimeoutError:
            if not limit.expired():
                raise
            raise Unavailable(
                f"store {self.store!r}: no answer within {self.timeout_s:g}s (timeout_s)",
                metadata={"store": self.store},
            ) from None

    return bounded


class LanceDBConnection:
    """The connection of one LanceDB store and its open tables.

    The state below is set by :class:`~.adapter.LanceDBAdapter`'s constructor.
    """

    store: str
    uri: str
    index_min_rows: int
    auto_index: IndexSpec | None
    fast_scan: bool
    optimize_every_writes: int
    optimize_every_rows: int
    cleanup_older_than: timedelta
    recycle_connection_writes: int
    read_consistency_interval: timedelta | None
    timeout_s: float | None
    capabilities: Capabilities
    _writes_since_recycle: int
    _storage_options: dict[str, str]
    _api_key: str | None
    _remote: bool
    _db: Any
    _closed: bool
    _tables: dict[str, _Table]
    _open_lock: asyncio.Lock
    _ddl_lock: asyncio.Lock

    async def start(self) -> None:
        """Open the database (creating a local directory if needed)."""
        self._db = await self._connect()
        self._closed = False

    async def _connect(self) -> Any:
        kwargs: dict[str, Any] = {"read_consistency_interval": self.read_consistency_interval}
        if self._storage_options:
            kwargs["storage_options"] = self._storage_options
        if self._api_key:
            kwargs["api_key"] = self._api_key
        if self._remote:
            # LanceDB Cloud's client retries requests itself (3 times by default): off, so
            # the gateway's one retry policy (retry.py, bounded by the caller's deadline)
            # is the only one.
            timeouts = (
                TimeoutConfig(timeout=timedelta(seconds=self.timeout_s))
                if self.timeout_s is not None
                else TimeoutConfig()
            )
            kwargs["client_config"] = ClientConfig(
                retry_config=RetryConfig(retries=0, connect_retries=0, read_retries=0),
                timeout_config=timeouts,
            )
        return await lancedb.connect_async(self.uri, **kwargs)

    async def _recycle_connection(self) -> None:
        """Swap in a fresh connection and reopen every open table on it.

        Each table's handle is swapped under its write lock; calls already
        running keep the old handle (and through it the old connection) until
        they finish, and the old connection is freed when the last one does.
        """
        if self._closed or self._db is None:
            return
        started = time.perf_counter()
        fresh = await self._connect()
        self._db = fresh
        self._writes_since_recycle = 0
        for st in list(self._tables.values()):
            if st.dropped or self._closed:
                continue
            # Opened outside the write lock (reading the manifest and the
            # index metadata took up to a second under load, with every write
            # queued behind it); under the lock only the writes committed
            # since are caught up, so the swapped-in handle sees every write.
            table = await fresh.open_table(st.name)
            async with st.lock:
                if st.dropped or self._closed or self._tables.get(st.name) is not st:
                    table.close()
                    continue
                locked = time.perf_counter()
                await table.checkout_latest()
                st.table = table
                log.debug(
                    "reopened %s/%s on the new connection: %.1f ms under the write lock",
                    self.store,
                    st.name,
                    (time.perf_counter() - locked) * 1e3,
                )
        log.debug(
            "recycled the connection of store %s in %.1f ms",
            self.store,
            (time.perf_counter() - started) * 1e3,
        )

    def _connection(self) -> Any:
        if self._db is None or self._closed:
            raise Unavailable(f"store {self.store!r} is not open", metadata={"store": self.store})
        return self._db

    def _not_found(self, name: str) -> NotFound:
        return NotFound(
            f"collection {name!r} not found in store {self.store!r}",
            reason="COLLECTION_NOT_FOUND",
            metadata={"collection": name, "store": self.store},
        )

    def _already_exists(self, name: str) -> AlreadyExists:
        return AlreadyExists(
            f"collection {name!r} already exists in store {self.store!r}",
            reason="COLLECTION_ALREADY_EXISTS",
            metadata={"collection": name, "store": self.store},
        )

    async def _table_names(self) -> list[str]:
        db = self._connection()
        names: list[str] = []
        token: str | None = None
        while True:
            page = await db.list_tables(page_token=token)
            names.extend(page.tables)
            token = page.page_token
            if not token:
                return names

    async def _exists(self, name: str) -> bool:
        return name in await self._table_names()

    async def _open(self, name: str) -> _Table:
        """The state of an existing table; ``NotFound`` if there is none."""
        db = self._connection()
        st = self._tables.get(name)
        if st is None:
            async with self._open_lock:
                st = self._tables.get(name)
                if st is None:
                    st = await self._load(db, name)
                    self._tables[name] = st
        elif self.read_consistency_interval is not None:
            # Another process may have added columns.
            schema = await st.table.schema()
            if schema != st.layout.schema:
                st.layout = _Layout.from_schema(schema)
        if st.dropped:
            raise self._not_found(name)
        return st

    async def _load(self, db: Any, name: str) -> _Table:
        try:
            table = await db.open_table(name)
        except (ValueError, RuntimeError) as exc:
            if not await self._exists(name):
                raise self._not_found(name) from exc
            raise
        layout = _Layout.from_schema(await table.schema())
        st = _Table(name, table, layout)
        indices = list(await table.list_indices())
        st.has_fts = any(
            str(config.index_type).upper() == "FTS" and list(config.columns) == [TEXT_COLUMN]
            for config in indices
        )
        if layout.vector_column is not None:
            for config in indices:
                if layout.vector_column in list(config.columns):
                    st.has_index = True
                    st.index_name = str(config.name)
                    stats = await table.index_stats(config.name)
                    if stats is not None:
                        st.index_rows = int(stats.num_indexed_rows)
                        st.index_type = str(stats.index_type)
                        st.index_metric = _METRIC_FROM_LANCE.get(str(stats.distance_type))
                    st.index_partitions = await self._partitions(st, st.index_name)
                    planned = self._planned_index(layout)
                    if planned is not None and planned.type == st.index_type:
                        st.index_params = index_build_params(planned, layout.dimension or 0)
                    break
        return st

    async def _partitions(self, st: _Table, index_name: str) -> int:
        """The IVF partition count of the table's vector index (0 when unknown)."""
        if self._remote:
            return 0
        try:
            uri = await st.table.uri()
            return await asyncio.to_thread(
                _index_partitions, uri, index_name, self._storage_options
            )
        except Exception:
            log.warning(
                "could not read the partitions of %s on %s/%s; using Lance's default nprobes",
                index_name,
                self.store,
                st.name,
                exc_info=True,
            )
            return 0

    def _require_vectors(self, st: _Table) -> _Layout:
        layout = st.layout
        if layout.vector_column is None or layout.dimension is None or not layout.has_id:
            raise FailedPrecondition(
                f"table {st.name!r} in store {self.store!r} was not created by vectorgate and "
                "lacks a string 'id' column or a float vector column",
                metadata={"collection": st.name, "store": self.store},
            )
        return layout

    def _where(self, st: _Table, f: Filter, path: str = "filter") -> str:
        layout = st.layout
        return compile_filter(
            f,
            layout.types,
            path=path,
            columns=layout.columns,
            integer_keys=layout.integer_keys,
            int_columns=layout.int_columns,
        )

    async def _dataset(self, st: _Table) -> lance.LanceDataset:
        """The table's pylance dataset, through which writes and maintenance commit
        (one per table: its caches are not read again per call)."""
        if st.dataset is None:
            uri = await st.table.uri()
            st.dataset = await asyncio.to_thread(
                lance.dataset, uri, storage_options=self._storage_options or None
            )
        return st.dataset

    async def _cpu(self, rows: int, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a conversion inline, or in a worker thread when it is large."""
        if rows > _THREAD_ROWS:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    async def _read_rows(
        self,
        result: pa.Table,
        layout: _Layout,
        keys: Sequence[str],
        with_text: bool,
        with_vector: bool,
    ) -> list[tuple[str, str, Metadata, FloatArray | None]]:
        """(id, text, metadata, vector) per row of a query result (see :func:`~.rows._rows`)."""
        return await self._cpu(
            result.num_rows,
            _rows,
            result,
            layout,
            keys,
            with_text=with_text,
            with_vector=with_vector,
        )

    def _planned_index(self, layout: _Layout) -> IndexSpec | None:
        """The vector index a table gets: its spec's, the automatic one when the spec
        names none, or None (``FLAT``, automatic index off, or a foreign table)."""
        spec = layout.spec
        if spec is None:
            return None
        if spec.index.type == "":
            return self.auto_index
        if spec.index.type in NO_INDEX_TYPES:
            return None
        return spec.index
