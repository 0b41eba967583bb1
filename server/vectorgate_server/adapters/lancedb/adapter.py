"""The LanceDB adapter: collections, reads and searches."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from ... import domain
from ...errors import FailedPrecondition
from ...filters.lancedb import quote_identifier, sql_literal
from ..base import Capabilities
from ..configs.lancedb import DEFAULT_INDEX_MIN_ROWS
from ..reads import in_request_order

if TYPE_CHECKING:
    from ..configs import LanceDBConfig
from ..spec import StoredSpec, spec_json
from .connection import _within_timeout
from .fastscan import FastScanIndex
from .index import (
    AUTO_INDEX,
    INDEX_TYPES,
    NATIVE_PARAMS,
    NO_INDEX_TYPES,
    index_build_params,
    search_defaults,
    validate_index_spec,
    validate_native_params,
)
from .layout import (
    _ID_CHUNK,
    _LANCE_METRIC,
    BACKEND,
    ID_COLUMN,
    SPEC_KEY,
    TEXT_COLUMN,
    VECTOR_COLUMN,
    _Layout,
)
from .rows import _canonical, _id_list_sql
from .state import _IdSet, _Table, _vector_query
from .write import LanceDBWriter

log = logging.getLogger(__name__.rpartition(".")[0])


def _projection(
    layout: _Layout, output: domain.OutputFields, score_column: str
) -> tuple[list[str], list[str]]:
    """(selected columns, metadata keys) of a search returning ``output`` and its score."""
    keys: list[str] = []
    if output.metadata:
        keys = [
            k for k in layout.columns if output.metadata_keys is None or k in output.metadata_keys
        ]
    columns = [ID_COLUMN, score_column]
    if output.text and layout.has_text:
        columns.append(TEXT_COLUMN)
    if output.vector:
        assert layout.vector_column is not None
        columns.append(layout.vector_column)
    columns.extend(layout.select(keys))
    return columns, keys


class LanceDBAdapter(LanceDBWriter):
    """A LanceDB database (local directory, object store or LanceDB Cloud) as a store."""

    backend = BACKEND

    def __init__(
        self,
        store: str,
        uri: str,
        *,
        index_min_rows: int = DEFAULT_INDEX_MIN_ROWS,
        auto_index: domain.IndexSpec | None = AUTO_INDEX,
        fast_scan: bool = True,
        max_write_batch: int = 10_000,
        optimize_every_writes: int = 20,
        optimize_every_rows: int = 100_000,
        cleanup_older_than: timedelta = timedelta(seconds=15),
        recycle_connection_writes: int = 200,
        read_consistency_interval: timedelta | None = None,
        storage_options: Mapping[str, str] | None = None,
        api_key: str | None = None,
        timeout_s: float | None = None,
    ) -> None:
        if index_min_rows < 1 or max_write_batch < 1:
            raise ValueError("index_min_rows and max_write_batch must be positive")
        self.store = store
        self.uri = uri
        #: A table whose spec asks for an index, or names none (the automatic
        #: index), gets it built in the background once it holds this many rows.
        self.index_min_rows = index_min_rows
        #: The index of collections created without an index type (None: they stay exact).
        self.auto_index = auto_index
        #: The automatic index gets a fast-scan index next to it (see :mod:`.fastscan`).
        self.fast_scan = fast_scan
        self.optimize_every_writes = optimize_every_writes
        self.optimize_every_rows = optimize_every_rows
        #: Versions older than this are deleted by each optimize. Lance's own
        #: default keeps 7 days of versions, and optimize (which holds the write
        #: lock) slows with every version kept: under a steady 12 single-row
        #: writes/s, 60 s of versions made each optimize take ~190 ms (stalling
        #: the writes queued behind it), 10 s ~105 ms. A reader in another
        #: process must refresh within this window (read_consistency_interval).
        self.cleanup_older_than = cleanup_older_than
        #: Open a fresh connection after this many writes (0: never). A LanceDB
        #: connection's native memory grows with every table version it has
        #: seen (~25 KB per single-row write measured, lancedb 0.40, with or
        #: without its cache-size settings) and is only returned when the
        #: connection goes: without this, a steady write load grew RSS without
        #: bound (+15 % in 90 s); with it, RSS stays flat.
        self.recycle_connection_writes = recycle_connection_writes
        self._writes_since_recycle = 0
        self.read_consistency_interval = read_consistency_interval
        self._storage_options = dict(storage_options or {})
        self._api_key = api_key
        #: Longest one call may take (None: unbounded, as the embedded engine has no
        #: timeout of its own); for LanceDB Cloud also the HTTP client's timeout.
        self.timeout_s = timeout_s
        #: LanceDB Cloud indexes and compacts server-side.
        self._remote = uri.startswith("db://")
        self.capabilities = Capabilities(
            index_types=frozenset(NO_INDEX_TYPES - {""}) | frozenset(INDEX_TYPES),
            max_write_batch=max_write_batch,
            native_params=frozenset(NATIVE_PARAMS),
            keyword_search=True,
        )
        self._db: Any = None
        self._closed = False
        self._tables: dict[str, _Table] = {}
        self._open_lock = asyncio.Lock()
        self._ddl_lock = asyncio.Lock()

    @classmethod
    def from_config(cls, config: LanceDBConfig, *, data_dir: Path) -> LanceDBAdapter:
        """The adapter of a configured store."""
        auto = (
            None
            if config.auto_index_type in NO_INDEX_TYPES
            else domain.IndexSpec(type=config.auto_index_type)
        )
        return cls(
            config.name,
            config.uri or str(data_dir / "lancedb"),
            index_min_rows=config.index_min_rows,
            auto_index=auto,
            fast_scan=config.fast_scan,
            api_key=config.api_key.get_secret_value() if config.api_key is not None else None,
            timeout_s=config.timeout_s,
        )

    def __repr__(self) -> str:
        return f"LanceDBAdapter(store={self.store!r}, uri={self.uri!r})"

    @_within_timeout
    async def create_collection(self, spec: domain.CollectionSpec) -> domain.CollectionInfo:
        """Create the table with its schema and spec; ``AlreadyExists`` if present."""
        db = self._connection()
        index = validate_index_spec(spec.index, spec.dimension)
        stored = StoredSpec.of(
            spec, index=index, create_time=datetime.now(UTC).replace(microsecond=0)
        )
        schema = pa.schema(
            [
                pa.field(ID_COLUMN, pa.utf8(), nullable=False),
                pa.field(TEXT_COLUMN, pa.utf8()),
                pa.field(VECTOR_COLUMN, pa.list_(pa.float32(), spec.dimension)),
            ],
            metadata={SPEC_KEY: spec_json(stored)},
        )
        async with self._ddl_lock:
            if spec.name in self._tables or await self._exists(spec.name):
                raise self._already_exists(spec.name)
            try:
                table = await db.create_table(spec.name, schema=schema)
            except ValueError as exc:
                if "already exists" in str(exc):
                    raise self._already_exists(spec.name) from exc
                raise
            layout = _Layout.from_schema(await table.schema())
            st = _Table(spec.name, table, layout)
            st.ids = _IdSet()  # created empty here
            self._tables[spec.name] = st
        return stored.info(spec.name, document_count=0)

    @_within_timeout
    async def describe_collection(self, name: str) -> domain.CollectionInfo:
        """The stored spec, document count and index status (a foreign table: read
        from its schema)."""
        st = await self._open(name)
        async with st.reads.reading():
            count = int(await st.table.count_rows())
            status = await self._index_status(st, count)
        spec = st.layout.spec
        if spec is not None:
            info = spec.info(
                name, dimension=st.layout.dimension, metric=st.metric, document_count=count
            )
            return dataclasses.replace(info, index_status=status)
        layout = self._require_vectors(st)
        assert layout.dimension is not None
        return domain.CollectionInfo(
            name=name,
            dimension=layout.dimension,
            metric=st.metric,
            text_field=TEXT_COLUMN,
            index=domain.IndexSpec(type=st.index_type),
            document_count=count,
            index_status=status,
        )

    async def _index_status(self, st: _Table, count: int) -> domain.IndexStatus:
        """The vector index's state, from Lance's ``index_stats`` once it is built."""
        if st.has_index:
            stats = await st.table.index_stats(st.index_name) if st.index_name else None
            indexed = int(stats.num_indexed_rows) if stats is not None else 0
            fs = st.fastscan
            return domain.IndexStatus(
                state=domain.IndexState.READY,
                type=st.index_type,
                params={**st.index_params, **(fs.describe() if fs is not None else {})},
                indexed_rows=indexed,
                unindexed_rows=int(stats.num_unindexed_rows) if stats is not None else count,
            )
        planned = self._planned_index(st.layout)
        if planned is None:
            return domain.IndexStatus(state=domain.IndexState.NONE, unindexed_rows=count)
        dimension = st.layout.dimension or 0
        return domain.IndexStatus(
            state=domain.IndexState.BUILDING if st.index_building else domain.IndexState.NONE,
            type=planned.type,
            params=index_build_params(planned, dimension),
            unindexed_rows=count,
            auto_index_min_rows=0 if self._remote else self.index_min_rows,
        )

    @_within_timeout
    async def list_collections(self) -> list[str]:
        """Table names, sorted."""
        return sorted(await self._table_names())

    @_within_timeout
    async def drop_collection(self, name: str) -> None:
        """Stop maintenance, wait for in-flight writes, drop the table."""
        db = self._connection()
        async with self._ddl_lock:
            st = self._tables.pop(name, None)
            if st is not None:
                st.dropped = True
                await self._stop_maintenance(st)
                async with st.lock:
                    st.table.close()
            try:
                await db.drop_table(name)
            except ValueError as exc:
                if "was not found" in str(exc) or not await self._exists(name):
                    raise self._not_found(name) from exc
                raise

    @_within_timeout
    async def count(self, name: str, filter: domain.Filter | None = None) -> int:
        """Rows, optionally matching a filter."""
        st = await self._open(name)
        where = self._where(st, filter) if filter is not None else None
        async with st.reads.reading():
            return int(await st.table.count_rows(where))

    @_within_timeout
    async def get(
        self, name: str, ids: Sequence[str], include_vectors: bool
    ) -> list[domain.Document]:
        """Documents by id in request order (each id once); missing ids omitted."""
        st = await self._open(name)
        layout = self._require_vectors(st)
        columns = [ID_COLUMN]
        if layout.has_text:
            columns.append(TEXT_COLUMN)
        if include_vectors and layout.vector_column is not None:
            columns.append(layout.vector_column)
        keys = list(layout.columns)
        columns.extend(layout.select(keys))

        async def fetch(chunk: Sequence[str]) -> list[domain.Document]:
            async with st.reads.reading():
                result = (
                    await st.table.query().where(_id_list_sql(chunk)).select(columns).to_arrow()
                )
            rows = await self._read_rows(result, layout, keys, True, include_vectors)
            return [
                domain.Document(id=doc_id, text=text, vector=vector, metadata=metadata)
                for doc_id, text, metadata, vector in rows
            ]

        return await in_request_order(ids, _ID_CHUNK, fetch)

    @_within_timeout
    async def scan(
        self, name: str, *, after: str | None, limit: int, include_vectors: bool
    ) -> list[domain.Document]:
        """The next ``limit`` documents in id order after ``after``.

        Lance has no ORDER BY: the ids past the cursor are read (one narrow
        column, pushed-down ``id > cursor`` filter), the smallest ``limit`` are
        picked by Arrow (UTF-8 byte order, i.e. code point order) and the rows
        are fetched by id. A row deleted between the two reads is replaced by the
        next ones past the cursor, so a page is short only at the end.
        """
        if limit <= 0:
            return []
        st = await self._open(name)
        self._require_vectors(st)
        page: list[domain.Document] = []
        cursor = after
        while len(page) < limit:
            wanted = limit - len(page)
            async with st.reads.reading():
                query = st.table.query()
                if cursor is not None:
                    query = query.where(f"{quote_identifier(ID_COLUMN)} > {sql_literal(cursor)}")
                result = await query.select([ID_COLUMN]).to_arrow()
            column = result.column(ID_COLUMN)
            order = await self._cpu(result.num_rows, pc.sort_indices, column)
            ids = column.take(order[:wanted]).to_pylist()
            page.extend(await self.get(name, ids, include_vectors))
            if len(ids) < wanted:
                break  # the end of the table
            cursor = ids[-1]
        return page

    def _plan(
        self, st: _Table, query: domain.SearchQuery
    ) -> tuple[str, dict[str, int | bool], list[str], list[str]]:
        """(where, native params, selected columns, metadata keys) of a search."""
        layout = self._require_vectors(st)
        params = validate_native_params(query.native_params)
        if st.has_index and not params.get("exact"):
            params = {
                **search_defaults(
                    st.index_type, query.top_k, st.index_partitions, st.index_nprobes
                ),
                **params,
            }
        where = self._where(st, query.filter) if query.filter is not None else ""
        columns, keys = _projection(layout, query.output, "_distance")
        return where, params, columns, keys

    def _fast(self, st: _Table, query: domain.SearchQuery) -> FastScanIndex | None:
        """The fast-scan index serving ``query``, if any: built, synced to the
        table's latest write, and the query unfiltered with no native parameters
        (those are the Lance index's)."""
        fs = st.fastscan
        if fs is None or fs.generation != st.generation:
            return None
        if query.filter is not None or query.native_params:
            return None
        return fs

    async def _fast_search(
        self, st: _Table, fs: FastScanIndex, vector: Any, top_k: int, columns: list[str]
    ) -> pa.Table | None:
        """The fast-scan index's result, or None (the caller searches through Lance)
        when its rows could not be read (a write landed meanwhile)."""
        select = [c for c in columns if c != "_distance"]
        try:
            async with st.reads.reading():
                return await asyncio.to_thread(fs.search, vector, top_k, select)
        except Exception:
            log.warning(
                "fast-scan search of %s/%s failed; searching through Lance",
                self.store,
                st.name,
                exc_info=True,
            )
            return None

    @_within_timeout
    async def search(self, name: str, query: domain.SearchQuery) -> list[domain.Hit]:
        """Vector search with the filter applied before ranking (prefilter)."""
        st = await self._open(name)
        where, params, columns, keys = self._plan(st, query)
        layout = st.layout
        metric = st.metric
        vector = domain.as_float32(query.vector)
        fs = self._fast(st, query)
        result = None
        if fs is not None:
            result = await self._fast_search(st, fs, vector, query.top_k, columns)
        if result is None:
            async with st.reads.reading():
                q = _vector_query(st, vector, query.top_k, params)
                if where:
                    q = q.where(where)
                result = await q.select(columns).to_arrow()
        return await self._hits(
            name,
            result,
            layout,
            keys,
            query.output,
            "_distance",
            lambda raw: domain.normalise_score(metric, _canonical(metric, raw)),
        )

    @_within_timeout
    async def keyword_search(self, name: str, query: domain.KeywordQuery) -> list[domain.Hit]:
        """BM25 full-text search on the text column, the filter applied before ranking."""
        st = await self._open(name)
        layout = self._require_vectors(st)
        if not layout.has_text:
            raise FailedPrecondition(
                f"table {name!r} in store {self.store!r} has no text column to search",
                metadata={"collection": name, "store": self.store},
            )
        where = self._where(st, query.filter) if query.filter is not None else ""
        await self._ensure_fts(st)
        columns, keys = _projection(layout, query.output, "_score")
        async with st.reads.reading():
            q = st.table.query().nearest_to_text(query.text, columns=TEXT_COLUMN).limit(query.top_k)
            if where:
                q = q.where(where)
            result = await q.select(columns).to_arrow()
        return await self._hits(name, result, layout, keys, query.output, "_score", float)

    async def _hits(
        self,
        name: str,
        result: pa.Table,
        layout: _Layout,
        keys: Sequence[str],
        output: domain.OutputFields,
        score_column: str,
        score: Callable[[float], float],
    ) -> list[domain.Hit]:
        """The hits of a search result: the raw score from ``score_column``, the
        score ``score`` makes of it."""
        raws = [float(v) for v in result.column(score_column).to_pylist()]
        rows = await self._read_rows(result, layout, keys, output.text, output.vector)
        return [
            domain.Hit(
                id=doc_id,
                score=score(raw),
                raw_score=raw,
                text=text,
                metadata=metadata,
                vector=vector,
                store=self.store,
                collection=name,
            )
            for (doc_id, text, metadata, vector), raw in zip(rows, raws, strict=True)
        ]

    @_within_timeout
    async def explain(self, name: str, query: domain.SearchQuery) -> domain.Explanation:
        """The WHERE clause (prefilter) and the parameters ``search`` would use."""
        st = await self._open(name)
        where, params, _, _ = self._plan(st, query)
        native: dict[str, Any] = {
            "distance_type": _LANCE_METRIC[st.metric],
            "limit": query.top_k,
            "prefilter": True,
            **params,
        }
        fs = self._fast(st, query)
        if fs is not None:
            native.update(fs.describe())
        return domain.Explanation(backend=BACKEND, native_filter=where, native_params=native)
