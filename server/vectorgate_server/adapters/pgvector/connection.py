"""The store's PostgreSQL database: first-start bootstrap (extension, schema,
catalog), the connection pool, and the translation of PostgreSQL and pool errors
into vectorgate errors (never showing the password)."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Final, LiteralString

import grpc
import psycopg
from pgvector.psycopg import register_vector_async
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.abc import Params
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ...errors import InvalidArgument, NotFound, Unavailable, VectorgateError
from ...retry import backend_error
from .layout import BACKEND, LOCK_SPACE, lock_key

#: SQLSTATEs of refused credentials (class 28) and of a missing privilege.
_AUTH_SQLSTATES: Final[Mapping[str, grpc.StatusCode]] = {
    "28000": grpc.StatusCode.UNAUTHENTICATED,
    "28P01": grpc.StatusCode.UNAUTHENTICATED,
    "42501": grpc.StatusCode.PERMISSION_DENIED,
}
#: libpq's connection errors carry no SQLSTATE: their text names an authentication failure.
_AUTH_MESSAGE: Final = re.compile(
    r"password authentication failed|no pg_hba\.conf entry|authentication failed", re.IGNORECASE
)
_EXTENSION_VERSION: Final = "SELECT extversion FROM pg_extension WHERE extname = 'vector'"


class Database:
    """One PostgreSQL database of a pgvector store, reached through a pool.

    ``forget(collection)`` is called when a statement finds a collection's table
    (or catalog entry) gone, before ``NotFound`` is raised, so the adapter drops
    what it cached about it.
    """

    def __init__(
        self,
        store: str,
        dsn: str,
        *,
        schema: str,
        table_prefix: str,
        timeout_s: float,
        pool_min_size: int,
        pool_max_size: int,
        forget: Callable[[str], None],
    ) -> None:
        self.store = store
        self.dsn = dsn
        self.schema = schema
        self.catalog = sql.Identifier(schema, f"{table_prefix}catalog")
        self.fields = sql.Identifier(schema, f"{table_prefix}fields")
        self.timeout = timeout_s
        self._pool_min = pool_min_size
        self._pool_max = pool_max_size
        self._forget = forget
        self._pool: AsyncConnectionPool | None = None
        #: pgvector 0.8+: HNSW iterative scans (set on each pooled connection).
        self.iterative_scan = False

    @property
    def location(self) -> str:
        """``host:port/dbname`` of the DSN, for messages (no user, no password)."""
        try:
            parts = conninfo_to_dict(self.dsn)
        except psycopg.ProgrammingError:
            return "an unparsable DSN"
        host = str(parts.get("host") or "localhost")
        port = str(parts.get("port") or "5432")
        return f"{host}:{port}/{parts.get('dbname') or ''}"

    def where(self) -> str:
        return f"pgvector store {self.store!r} ({self.location})"

    def not_found(self, name: str) -> NotFound:
        return NotFound(f"collection {name!r} does not exist in store {self.store!r}")

    async def start(self) -> None:
        """Create the extension, schema and catalog if needed, then open the pool."""
        if self._pool is not None:
            return
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.dsn, autocommit=True, connect_timeout=max(1, math.ceil(self.timeout))
            )
        except psycopg.Error as exc:
            raise self.failure(exc) from exc
        try:
            await self._bootstrap(conn)
        except VectorgateError:
            raise
        except psycopg.Error as exc:
            raise Unavailable(
                f"{self.where()}: cannot prepare the database: {first_line(exc)}"
            ) from exc
        finally:
            await conn.close()
        pool = AsyncConnectionPool(
            self.dsn,
            min_size=self._pool_min,
            max_size=self._pool_max,
            kwargs={"autocommit": True, "connect_timeout": max(1, math.ceil(self.timeout))},
            configure=self._configure,
            timeout=self.timeout,
            name=f"vectorgate-{self.store}",
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=self.timeout)
        except (PoolTimeout, psycopg.Error) as exc:
            await pool.close()
            raise Unavailable(f"{self.where()} is unavailable: {first_line(exc)}") from exc
        self._pool = pool

    async def _bootstrap(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async with conn.transaction():
            # Serialise concurrent first starts (CREATE ... IF NOT EXISTS races on the catalog).
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, lock_key("bootstrap"))
            )
            installed = await fetch_one(conn, _EXTENSION_VERSION)
            if installed is None:
                try:
                    async with conn.transaction():
                        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                except psycopg.Error as exc:
                    raise Unavailable(
                        f"{self.where()}: the pgvector extension is not installed and cannot "
                        f"be created ({first_line(exc)}); run CREATE EXTENSION vector as a "
                        "privileged user"
                    ) from exc
                installed = await fetch_one(conn, _EXTENSION_VERSION)
            assert installed is not None
            version = _version(str(installed[0]))
            if version < (0, 5):
                raise Unavailable(
                    f"{self.where()}: pgvector {installed[0]} is too old (0.5 or newer has HNSW)"
                )
            self.iterative_scan = version >= (0, 8)
            await conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    ' name text COLLATE "C" PRIMARY KEY,'
                    " table_name text NOT NULL UNIQUE,"
                    " spec jsonb NOT NULL,"
                    " created_at timestamptz NOT NULL DEFAULT now())"
                ).format(self.catalog)
            )
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    ' collection text COLLATE "C" NOT NULL REFERENCES {} (name) ON DELETE CASCADE,'
                    " key text NOT NULL,"
                    " type text NOT NULL,"
                    " PRIMARY KEY (collection, key))"
                ).format(self.fields, self.catalog)
            )

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Set up each pooled connection: the vector type, timeouts, HNSW iterative scans."""
        await register_vector_async(conn)
        await conn.execute(
            "SELECT set_config('statement_timeout', %s, false)",
            (f"{max(1, math.ceil(self.timeout * 1000))}ms",),
        )
        if self.iterative_scan:
            await conn.execute("SELECT set_config('hnsw.iterative_scan', 'strict_order', false)")

    async def close(self) -> None:
        """Close the pool. Idempotent."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        """A connection of its own, outside the pool (no statement timeout): index builds."""
        return await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)

    @contextlib.asynccontextmanager
    async def connection(
        self, collection: str | None
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection; PostgreSQL and pool errors are translated."""
        pool = self._pool
        if pool is None:
            raise Unavailable(f"{self.where()} is not started (or was closed)")
        try:
            async with pool.connection() as conn:
                yield conn
        except VectorgateError:
            raise
        except pg_errors.UndefinedTable as exc:
            if collection is None:
                raise Unavailable(f"{self.where()}: {first_line(exc)}") from exc
            self._forget(collection)
            raise self.not_found(collection) from exc
        except pg_errors.ForeignKeyViolation as exc:
            # A metadata type recorded for a collection dropped meanwhile.
            if collection is None:
                raise
            self._forget(collection)
            raise self.not_found(collection) from exc
        except pg_errors.QueryCanceled as exc:
            raise Unavailable(f"{self.where()}: the statement timed out or was cancelled") from exc
        except (PoolTimeout, psycopg.OperationalError, pg_errors.InsufficientPrivilege) as exc:
            raise self.failure(exc) from exc
        except psycopg.DataError as exc:
            raise InvalidArgument(f"{self.where()} rejected the data: {first_line(exc)}") from exc

    def failure(self, exc: Exception) -> VectorgateError:
        """``BackendAuthFailed`` when PostgreSQL refused the store's role, else ``Unavailable``
        (by the one table of backend failures, :mod:`~vectorgate_server.retry`)."""
        code = _auth_code(exc)
        error = None
        if code is not None:
            error = backend_error(
                code, store=self.store, backend=BACKEND, where=self.where(), cause=first_line(exc)
            )
        return error or Unavailable(f"{self.where()} is unavailable: {first_line(exc)}")

    async def table_exists(self, conn: psycopg.AsyncConnection[Any], table: str) -> bool:
        row = await fetch_one(
            conn,
            "SELECT to_regclass(%s) IS NOT NULL",
            (sql.Identifier(self.schema, table).as_string(conn),),
        )
        return bool(row and row[0])


async def fetch_one(
    conn: psycopg.AsyncConnection[Any],
    statement: LiteralString | sql.SQL | sql.Composed,
    params: Params | None = None,
) -> tuple[Any, ...] | None:
    """The first row of ``statement``'s result, None when it has none."""
    return await (await conn.execute(statement, params)).fetchone()


def _auth_code(exc: BaseException) -> grpc.StatusCode | None:
    """The canonical code of an authentication / authorisation failure, else None."""
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate in _AUTH_SQLSTATES:
        return _AUTH_SQLSTATES[sqlstate]
    if isinstance(exc, psycopg.OperationalError) and _AUTH_MESSAGE.search(str(exc)):
        return grpc.StatusCode.UNAUTHENTICATED
    return None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)
