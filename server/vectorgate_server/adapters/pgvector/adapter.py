"""The pgvector adapter class: collections in the catalog, documents in their tables,
reads through :mod:`.query`, writes through :mod:`.rows`, ANN indexes by :mod:`.index`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from psycopg import sql

from ... import domain
from ...errors import AlreadyExists, Internal, Unavailable, Unsupported
from ...filters.common import FieldType
from ...filters.pgvector import Predicate, compile_filter, json_param
from ..base import Capabilities
from ..configs import PgvectorConfig
from ..spec import StoredSpec, decode_spec, encode_spec
from . import query as q
from .connection import Database, fetch_one
from .index import IndexBuilds
from .layout import (
    BACKEND,
    HNSW,
    INDEX_ALIASES,
    MAX_DIMENSION,
    METRIC_SQL,
    TS_CONFIG_KEY,
    Ann,
    Layout,
    check_index,
    table_name,
)
from .rows import Rows, Source, TypeRace, column_rows, document_rows, rows_off_loop, write

_MAX_WRITE_BATCH: Final = 10_000
_DEFAULT_TIMEOUT_S: Final = 30.0
#: Cached layouts older than this are re-read (another process may have built the index).
_LAYOUT_TTL_S: Final = 30.0
#: PostgreSQL strings cannot hold it: no stored id contains it.
_NUL: Final = "\x00"


class PgvectorAdapter:
    """One PostgreSQL database with the pgvector extension."""

    backend = BACKEND
    # Every metric, filter operator and boolean filter, and delete by filter: the defaults.
    capabilities = Capabilities(
        index_types=frozenset(INDEX_ALIASES),
        max_write_batch=_MAX_WRITE_BATCH,
        native_params=q.NATIVE_PARAMS,
        keyword_search=True,
        # PostgreSQL text and jsonb cannot hold U+0000 ("invalid byte sequence" /
        # "unsupported Unicode escape sequence").
        nul_in_strings=False,
    )

    def __init__(
        self,
        store: str,
        dsn: str,
        *,
        schema: str = "public",
        table_prefix: str = "vg_",
        index_type: str = HNSW,
        index_params: Mapping[str, Any] | None = None,
        index_min_rows: int = 20_000,
        text_search_config: str = "english",
        pool_min_size: int = 1,
        pool_max_size: int = 10,
        timeout_s: float | None = None,
    ) -> None:
        self.store = store
        self._schema = schema
        self._prefix = table_prefix
        self._default_index = check_index(
            domain.IndexSpec(type=index_type, params=dict(index_params or {})), None, "index_type"
        )
        self._ts_config = text_search_config
        self._layouts: dict[str, Layout] = {}
        self._db = Database(
            store,
            dsn,
            schema=schema,
            table_prefix=table_prefix,
            timeout_s=_DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s,
            pool_min_size=pool_min_size,
            pool_max_size=pool_max_size,
            forget=self._forget,
        )
        self._builds = IndexBuilds(self._db, index_min_rows, self._layouts)

    @classmethod
    def from_config(cls, config: PgvectorConfig) -> PgvectorAdapter:
        """The adapter of a configured pgvector store (not yet started)."""
        return cls(
            config.name,
            config.dsn.get_secret_value(),
            schema=config.schema_name,
            table_prefix=config.table_prefix,
            index_type=config.default_index_type,
            index_params=config.index_params,
            index_min_rows=config.index_min_rows,
            text_search_config=config.text_search_config,
            pool_min_size=config.pool_min_size,
            pool_max_size=config.pool_max_size,
            timeout_s=config.timeout_s,
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Create the extension, schema and catalog if needed, then open the pool."""
        await self._db.start()

    async def close(self) -> None:
        """Stop index builds and close the pool. Idempotent."""
        await self._builds.cancel_all()
        self._layouts.clear()
        await self._db.close()

    # ------------------------------------------------------------------ collections

    async def create_collection(self, spec: domain.CollectionSpec) -> domain.CollectionInfo:
        """Record the spec in the catalog and create the table and its indexes, atomically."""
        if spec.dimension > MAX_DIMENSION:
            raise Unsupported(
                backend=BACKEND,
                operation=f"vectors of more than {MAX_DIMENSION} dimensions",
                detail=f"collection {spec.name!r} asks for {spec.dimension}",
            )
        index = (
            check_index(spec.index, spec.dimension, "collection.index")
            if (spec.index.type or spec.index.params)
            else check_index(self._default_index, spec.dimension, "index_type")
        )
        table = table_name(self._prefix, spec.name)
        stored = StoredSpec.of(spec, index=index, extra={TS_CONFIG_KEY: self._ts_config})
        ident = sql.Identifier(self._schema, table)
        async with self._db.connection(spec.name) as conn, conn.transaction():
            created = await fetch_one(
                conn,
                sql.SQL(
                    "INSERT INTO {} (name, table_name, spec) VALUES (%s, %s, %s::jsonb) "
                    "ON CONFLICT DO NOTHING RETURNING created_at"
                ).format(self._db.catalog),
                (spec.name, table, json_param(encode_spec(stored))),
            )
            if created is None:
                raise AlreadyExists(
                    f"collection {spec.name!r} already exists in store {self.store!r}"
                )
            if await self._db.table_exists(conn, table):
                raise AlreadyExists(
                    f"collection {spec.name!r}: table {self._schema}.{table} already exists in "
                    f"store {self.store!r} without a catalog entry (not created by vectorgate)"
                )
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE {} ("
                    ' id text COLLATE "C" PRIMARY KEY,'
                    " embedding vector({}) NOT NULL,"
                    " text text NOT NULL DEFAULT '',"
                    " metadata jsonb NOT NULL DEFAULT '{{}}'::jsonb,"
                    " tsv tsvector GENERATED ALWAYS AS (to_tsvector({}::regconfig, text)) STORED)"
                ).format(ident, sql.Literal(spec.dimension), sql.Literal(self._ts_config))
            )
            await conn.execute(
                sql.SQL("CREATE INDEX {} ON {} USING gin (metadata jsonb_path_ops)").format(
                    sql.Identifier(f"{table}_meta"), ident
                )
            )
            await conn.execute(
                sql.SQL("CREATE INDEX {} ON {} USING gin (tsv)").format(
                    sql.Identifier(f"{table}_tsv"), ident
                )
            )
        layout = Layout.of(
            self._schema,
            table,
            stored,
            create_time=created[0],
            fields={},
            ann=None,
            loaded_at=asyncio.get_running_loop().time(),
        )
        layout.next_index_rows = self._builds.index_min_rows
        self._layouts[spec.name] = layout
        return layout.info(spec.name, 0)

    async def describe_collection(self, name: str) -> domain.CollectionInfo:
        """The stored spec and an exact document count."""
        layout = await self._layout(name, refresh=True)
        count = await self._count(name, layout, None)
        return layout.info(name, count)

    async def list_collections(self) -> list[str]:
        async with self._db.connection(None) as conn:
            rows = await (
                await conn.execute(
                    sql.SQL("SELECT name FROM {} ORDER BY name").format(self._db.catalog)
                )
            ).fetchall()
        return [str(row[0]) for row in rows]

    async def drop_collection(self, name: str) -> None:
        """Remove the catalog entry, the metadata types and the table, atomically."""
        self._layouts.pop(name, None)
        await self._builds.cancel(name)
        async with self._db.connection(name) as conn, conn.transaction():
            row = await fetch_one(
                conn,
                sql.SQL("DELETE FROM {} WHERE name = %s RETURNING table_name").format(
                    self._db.catalog
                ),
                (name,),
            )
            if row is None:
                raise self._db.not_found(name)
            await conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(self._schema, row[0]))
            )

    # ------------------------------------------------------------------ documents

    async def count(self, name: str, filter: domain.Filter | None = None) -> int:
        layout = await self._layout(name)
        predicate = compile_filter(filter) if filter is not None else None
        return await self._count(name, layout, predicate)

    async def _count(self, name: str, layout: Layout, predicate: Predicate | None) -> int:
        query = sql.SQL("SELECT count(*) FROM {}").format(layout.ident)
        params: tuple[object, ...] = ()
        if predicate is not None:
            query = sql.SQL("{} WHERE {}").format(query, predicate.sql)
            params = predicate.params
        async with self._db.connection(name) as conn:
            row = await fetch_one(conn, query, params)
        assert row is not None
        return int(row[0])

    async def upsert(self, name: str, documents: Sequence[domain.Document]) -> None:
        """Insert or replace by id, in one transaction; returns once committed.

        Each metadata key keeps the type it was first written with
        (``<prefix>fields``); a conflicting batch is rejected whole, before anything
        is written, with ``InvalidArgument`` naming ``documents[i].metadata.<key>``.
        """
        await self._write(name, document_rows, documents)

    async def upsert_columns(self, name: str, batch: domain.DocumentBatch) -> None:
        """:meth:`upsert` of a columnar batch, ``COPY`` fed from its columns (no
        per-row documents); a type conflict names ``columns.metadata[c]...``."""
        await self._write(name, column_rows, batch)

    async def _write(
        self, name: str, prepare: Callable[[Source, Layout, str], Rows], source: Source
    ) -> None:
        """Write the rows ``prepare`` makes of ``source`` against the collection's layout
        (again against a fresh layout when another writer typed a key meanwhile)."""
        layout = await self._layout(name)
        for attempt in range(3):
            batch = await rows_off_loop(prepare, source, layout, name)
            try:
                async with self._db.connection(name) as conn, conn.transaction():
                    await write(conn, self._db.fields, name, layout.ident, batch)
            except TypeRace:
                if attempt == 2:
                    # Writers keep typing new keys under this batch: retryable.
                    raise Unavailable(
                        f"{self._db.where()}: metadata keys of collection {name!r} kept changing "
                        "while this batch was written; retry it"
                    ) from None
                layout = await self._layout(name, refresh=True)
                continue
            break
        if batch.new_fields:
            layout.fields.update(batch.new_fields)
        layout.rows_estimate += len(batch.ids)
        self._builds.maybe_start(name, layout)

    async def get(
        self, name: str, ids: Sequence[str], include_vectors: bool
    ) -> list[domain.Document]:
        """Documents with these ids in the order given; missing ids are omitted."""
        layout = await self._layout(name)
        wanted = _stored_ids(ids)
        if not wanted:
            return []
        statement = sql.SQL("SELECT {} FROM {} WHERE id = ANY(%s::text[])").format(
            q.columns(include_vectors), layout.ident
        )
        rows = await self._fetch(name, statement, [wanted])
        found = {str(row[0]): q.document(row, include_vectors) for row in rows}
        return [found[i] for i in wanted if i in found]

    async def scan(
        self, name: str, *, after: str | None, limit: int, include_vectors: bool
    ) -> list[domain.Document]:
        """The next ``limit`` documents in ascending id (code point) order after ``after``."""
        layout = await self._layout(name)
        if limit <= 0:
            return []
        where = sql.SQL("WHERE id > %s::text ") if after is not None else sql.SQL("")
        statement = sql.SQL("SELECT {} FROM {} {}ORDER BY id LIMIT %s").format(
            q.columns(include_vectors), layout.ident, where
        )
        params: list[object] = [after, limit] if after is not None else [limit]
        rows = await self._fetch(name, statement, params)
        return [q.document(row, include_vectors) for row in rows]

    async def delete(
        self, name: str, ids: Sequence[str] | None = None, filter: domain.Filter | None = None
    ) -> None:
        """Delete the documents whose id is in ``ids`` and those matching ``filter``."""
        layout = await self._layout(name)
        clauses: list[sql.Composable] = []
        params: list[object] = []
        stored_ids = _stored_ids(ids or ())
        if stored_ids:
            clauses.append(sql.SQL("id = ANY(%s::text[])"))
            params.append(stored_ids)
        if filter is not None:
            predicate = compile_filter(filter)
            clauses.append(predicate.sql)
            params.extend(predicate.params)
        if not clauses:
            return
        statement = sql.SQL("DELETE FROM {} WHERE {}").format(
            layout.ident, sql.SQL(" OR ").join(clauses)
        )
        async with self._db.connection(name) as conn:
            await conn.execute(statement, params)

    # ------------------------------------------------------------------ search

    async def search(self, name: str, query: domain.SearchQuery) -> list[domain.Hit]:
        layout = await self._layout(name)
        statement, params, settings = self._search_statement(layout, query)
        rows = await self._fetch(name, statement, params, settings)
        return q.hits(
            rows, query.output, q.vector_score(layout.metric), store=self.store, collection=name
        )

    def _search_statement(
        self, layout: Layout, query: domain.SearchQuery
    ) -> tuple[sql.Composed, list[object], dict[str, str]]:
        """The search SQL, its parameters and the settings to apply for it (``SET LOCAL``)."""
        settings = q.search_settings(layout, query.native_params)
        statement, params = q.search_statement(
            layout, query, iterative_scan=self._db.iterative_scan
        )
        return statement, params, settings

    async def keyword_search(self, name: str, query: domain.KeywordQuery) -> list[domain.Hit]:
        """Full-text search: any of the query's lexemes, ranked by ``ts_rank_cd``."""
        layout = await self._layout(name)
        rows = await self._fetch(name, *q.keyword_statement(layout, query))
        # The rank is both the score and the raw score.
        return q.hits(rows, query.output, float, store=self.store, collection=name)

    async def explain(self, name: str, query: domain.SearchQuery) -> domain.Explanation:
        layout = await self._layout(name)
        statement, _params, settings = self._search_statement(layout, query)
        predicate = q.predicate_of(query)
        native: dict[str, Any] = {
            "sql": statement.as_string(None),
            "operator": METRIC_SQL[layout.metric][1],
            "limit": query.top_k,
            "ann_index": layout.ann.kind if layout.ann is not None else "none (exact scan)",
            **settings,
        }
        return domain.Explanation(
            backend=BACKEND,
            native_filter=predicate.render() if predicate is not None else "",
            native_params=native,
        )

    async def wait_for_index_builds(self) -> None:
        """Wait until the background index builds running now have finished (for tests, tools)."""
        await self._builds.wait()

    # ------------------------------------------------------------------ internals

    def _forget(self, name: str) -> None:
        self._layouts.pop(name, None)

    async def _fetch(
        self,
        name: str,
        statement: sql.Composed,
        params: Sequence[object],
        settings: Mapping[str, str] | None = None,
    ) -> list[tuple[Any, ...]]:
        """The rows of a read (binary results), with ``settings`` applied to it alone."""
        async with self._db.connection(name) as conn:
            cursor = conn.cursor(binary=True)
            if not settings:
                return await (await cursor.execute(statement, params)).fetchall()
            async with conn.pipeline(), conn.transaction():
                for key, value in settings.items():
                    await conn.execute("SELECT set_config(%s, %s, true)", (key, value))
                await cursor.execute(statement, params)
            return await cursor.fetchall()

    async def _layout(self, name: str, *, refresh: bool = False) -> Layout:
        layout = self._layouts.get(name)
        now = asyncio.get_running_loop().time()
        if layout is not None and not refresh and now - layout.loaded_at < _LAYOUT_TTL_S:
            return layout
        async with self._db.connection(name) as conn:
            row = await fetch_one(
                conn,
                sql.SQL(
                    "SELECT c.table_name, c.spec, c.created_at, i.indisvalid, am.amname, "
                    "pg_catalog.array_to_string(ic.reloptions, ',') "
                    "FROM {} AS c "
                    "LEFT JOIN pg_catalog.pg_class AS ic ON ic.oid = to_regclass("
                    "pg_catalog.quote_ident(%s) || '.' "
                    "|| pg_catalog.quote_ident(c.table_name || '_ann')) "
                    "LEFT JOIN pg_catalog.pg_index AS i ON i.indexrelid = ic.oid "
                    "LEFT JOIN pg_catalog.pg_am AS am ON am.oid = ic.relam "
                    "WHERE c.name = %s"
                ).format(self._db.catalog),
                (self._schema, name),
            )
            if row is None:
                self._forget(name)
                raise self._db.not_found(name)
            fields = await (
                await conn.execute(
                    sql.SQL("SELECT key, type FROM {} WHERE collection = %s").format(
                        self._db.fields
                    ),
                    (name,),
                )
            ).fetchall()
        table, raw_spec, created, valid, method, options = row
        spec = decode_spec(raw_spec)
        if spec is None or spec.dimension is None or spec.metric is None:
            raise Internal(
                f"{self._db.where()}: the catalog entry of collection {name!r} is not a "
                "vectorgate collection spec"
            )
        fresh = Layout.of(
            self._schema,
            str(table),
            spec,
            create_time=created,
            fields={str(k): FieldType(t) for k, t in fields},
            ann=Ann.of(method, options) if valid else None,
            loaded_at=now,
        )
        if layout is not None and layout.table == fresh.table:
            # Keep the growth estimate of this process.
            fresh.rows_estimate = layout.rows_estimate
            fresh.next_index_rows = layout.next_index_rows
        else:
            fresh.next_index_rows = self._builds.index_min_rows
            # Unknown size (e.g. a restart during a build): the next write counts the rows.
            fresh.rows_estimate = self._builds.index_min_rows
        self._layouts[name] = fresh
        return fresh


def _stored_ids(ids: Sequence[str]) -> list[str]:
    """The distinct ids that can be stored: one holding NUL cannot, so it is simply missing
    (reads find nothing; the application refuses it in writes, ``nul_in_strings``)."""
    return [i for i in dict.fromkeys(ids) if _NUL not in i]
