"""The ANN index of a collection, built in the background with ``CREATE INDEX
CONCURRENTLY`` once the collection holds ``index_min_rows`` rows (one process builds:
an advisory lock), and tried again once the collection has doubled if a build fails."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from psycopg import sql

from .connection import Database, fetch_one
from .layout import (
    FLAT,
    HNSW,
    IVFFLAT,
    LOCK_SPACE,
    METRIC_SQL,
    Ann,
    Layout,
    default_lists,
    lock_key,
)

log = logging.getLogger(__name__)


class IndexBuilds:
    """The index builds of one store running in this process, by collection."""

    def __init__(self, db: Database, index_min_rows: int, layouts: dict[str, Layout]) -> None:
        self._db = db
        self.index_min_rows = index_min_rows
        #: The adapter's cache of layouts (a built index makes other cached copies stale).
        self._layouts = layouts
        self._builds: dict[str, asyncio.Task[None]] = {}

    def maybe_start(self, name: str, layout: Layout) -> None:
        """Start the background index build once the collection may hold enough rows."""
        if (
            layout.index.type == FLAT
            or layout.ann is not None
            or name in self._builds
            or layout.rows_estimate < layout.next_index_rows
        ):
            return
        task = asyncio.create_task(self._build(name, layout), name=f"pgvector-index-{name}")
        self._builds[name] = task
        task.add_done_callback(lambda t: self._done(name, t))

    def _done(self, name: str, task: asyncio.Task[None]) -> None:
        if self._builds.get(name) is task:
            del self._builds[name]
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "pgvector store %r: index build of %r failed: %s",
                self._db.store,
                name,
                task.exception(),
            )

    async def _build(self, name: str, layout: Layout) -> None:
        """``CREATE INDEX CONCURRENTLY`` on its own connection (no statement timeout)."""
        conn = await self._db.connect()
        try:
            locked = await fetch_one(
                conn, "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_SPACE, lock_key(layout.table))
            )
            if not locked or not locked[0]:
                return  # another process builds it
            table = layout.ident
            row = await fetch_one(conn, sql.SQL("SELECT count(*) FROM {}").format(table))
            rows = int(row[0]) if row is not None else 0
            layout.rows_estimate = rows
            if rows < self.index_min_rows:
                layout.next_index_rows = self.index_min_rows
                return
            index_name = sql.Identifier(self._db.schema, f"{layout.table}_ann")
            # A build that failed before leaves an invalid index behind: drop it first.
            await conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(index_name))
            params = dict(layout.index.params)
            if layout.index.type == IVFFLAT and "lists" not in params:
                params["lists"] = default_lists(rows)
            with_clause: sql.Composable = sql.SQL("")
            if params:
                with_clause = sql.SQL(" WITH ({})").format(
                    sql.SQL(", ").join(
                        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Literal(int(v)))
                        for k, v in sorted(params.items())
                    )
                )
            method = sql.SQL("hnsw" if layout.index.type == HNSW else "ivfflat")
            try:
                await conn.execute(
                    sql.SQL("CREATE INDEX CONCURRENTLY {} ON {} USING {} (embedding {}){}").format(
                        sql.Identifier(f"{layout.table}_ann"),
                        table,
                        method,
                        sql.SQL(METRIC_SQL[layout.metric][0]),
                        with_clause,
                    )
                )
            except BaseException:
                # Try again once the collection has doubled.
                layout.next_index_rows = max(self.index_min_rows, rows * 2)
                with contextlib.suppress(Exception):
                    await asyncio.shield(
                        conn.execute(
                            sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(index_name)
                        )
                    )
                raise
            layout.ann = Ann(kind=layout.index.type, lists=int(params.get("lists", 0)))
            # Other cached copies of the layout learn about the index on their next use.
            if self._layouts.get(name) is not layout:
                self._layouts.pop(name, None)
            log.info(
                "pgvector store %r: built the %s index of %r (%d rows)",
                self._db.store,
                layout.index.type,
                name,
                rows,
            )
        finally:
            await conn.close()

    async def cancel(self, name: str) -> None:
        """Stop the build of collection ``name``, if one runs (it is being dropped)."""
        build = self._builds.pop(name, None)
        if build is not None:
            build.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await build

    async def cancel_all(self) -> None:
        builds, self._builds = list(self._builds.values()), {}
        for task in builds:
            task.cancel()
        for task in builds:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def wait(self) -> None:
        """Wait until the builds running now have finished."""
        while self._builds:
            await asyncio.gather(*self._builds.values(), return_exceptions=True)
