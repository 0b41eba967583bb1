"""The gateway's own state (virtual indexes; keys later) in a real database.

SQLite under the data directory by default. Schema changes are numbered
migrations applied in order at start-up and recorded in ``schema_migrations``,
so an old data directory is upgraded in place. All calls run off the event
loop on one connection guarded by a lock (SQLite serialises writers anyway).
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from .domain import Filter
from .errors import AlreadyExists, NotFound

T = TypeVar("T")

#: Ordered migrations; never edit a released one, append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE virtual_indexes (
        index_name TEXT PRIMARY KEY,
        store TEXT NOT NULL,
        collection TEXT NOT NULL,
        policy_filter TEXT,
        description TEXT NOT NULL DEFAULT '',
        create_time TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE virtual_keys (
        token TEXT PRIMARY KEY,
        key_prefix TEXT NOT NULL,
        key_alias TEXT NOT NULL DEFAULT '',
        grants TEXT NOT NULL,
        models TEXT NOT NULL,
        metadata TEXT NOT NULL,
        expires TEXT,
        create_time TEXT NOT NULL,
        created_by TEXT NOT NULL DEFAULT ''
    )
    """,
)


@dataclass(frozen=True, slots=True)
class VirtualIndex:
    """A named view onto a real collection of a configured store."""

    index_name: str
    store: str
    collection: str
    policy_filter: Filter | None = None
    description: str = ""
    create_time: datetime | None = None


Row = tuple[Any, ...]


class Database:
    """The state database, used from async code: SQLite here, PostgreSQL in a subclass.

    Statements use ``?`` placeholders and portable SQL (TEXT columns); each
    call runs off the event loop on one connection, serialised by a lock.
    """

    #: Placeholder style of the driver (``?`` is rewritten to it).
    placeholder = "?"

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn: Any = self._connect()
        self._migrate()

    def _connect(self) -> Any:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _begin_migration(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def _migrate(self) -> None:
        with self._lock:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "applied_at TEXT NOT NULL)"
            )
            self._begin_migration()
            try:
                row = self._conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
                current = int(row[0]) if row and row[0] is not None else 0
                for version, sql in enumerate(MIGRATIONS, start=1):
                    if version <= current:
                        continue
                    self._conn.execute(sql)
                    self._conn.execute(
                        self._sql("INSERT INTO schema_migrations VALUES (?, ?)"),
                        (version, datetime.now(UTC).isoformat()),
                    )
                self._conn.execute("COMMIT")
            except Exception:
                self._conn.execute("ROLLBACK")
                raise

    async def _call(self, fn: Callable[[Any], T]) -> T:
        def call() -> T:
            with self._lock:
                return fn(self._conn)

        return await asyncio.to_thread(call)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """All rows of a query."""
        text = self._sql(sql)
        rows: list[Row] = await self._call(lambda c: list(c.execute(text, params).fetchall()))
        return [tuple(row) for row in rows]

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query, if any."""
        text = self._sql(sql)
        row = await self._call(lambda c: c.execute(text, params).fetchone())
        return tuple(row) if row is not None else None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        text = self._sql(sql)
        count: int = await self._call(lambda c: c.execute(text, params).rowcount)
        return count

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> bool:
        """Run an INSERT; False when it violates a unique constraint."""
        try:
            await self.execute(sql, params)
        except sqlite3.IntegrityError:
            return False
        return True

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


class PostgresDatabase(Database):
    """The state database on PostgreSQL (``general_settings.database_url``), via psycopg 3.

    Shared by every replica: migrations take an advisory lock so that
    replicas starting together apply each one once.
    """

    placeholder = "%s"
    #: pg_advisory_xact_lock id of the migrations.
    MIGRATION_LOCK = 0x76676174

    def __init__(self, url: str) -> None:
        self._url = url
        super().__init__(":memory:")

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self._url, autocommit=True)
        except psycopg.Error as exc:
            # The driver's message may quote the URL (and its password): keep only the kind.
            raise OSError(
                f"cannot connect to the database at database_url ({type(exc).__name__})"
            ) from None

    def _begin_migration(self) -> None:
        self._conn.execute("BEGIN")
        self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.MIGRATION_LOCK,))

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> bool:
        import psycopg

        try:
            await self.execute(sql, params)
        except psycopg.errors.UniqueViolation:
            return False
        return True


def open_database(url: str | None, path: Path | str) -> Database:
    """PostgreSQL when a ``postgresql://`` URL is given, else SQLite at ``path``."""
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise OSError("database_url: only postgresql:// URLs are supported")
        return PostgresDatabase(url)
    return Database(path)


class IndexRegistry:
    """Virtual indexes, persisted in :class:`Database` and cached in memory."""

    def __init__(
        self,
        db: Database,
        *,
        encode_filter: Callable[[Filter], str],
        decode_filter: Callable[[str], Filter],
    ) -> None:
        self._db = db
        self._encode = encode_filter
        self._decode = decode_filter
        self._cache: dict[str, VirtualIndex] = {}
        self._loaded_at = -math.inf

    async def refresh(self, max_age: float = 2.0) -> None:
        """Reload when the cache is older than ``max_age`` seconds (other replicas' changes)."""
        if time.monotonic() - self._loaded_at > max_age:
            await self.load()

    async def load(self) -> None:
        """Fill the cache from the database."""
        self._loaded_at = time.monotonic()
        rows = await self._db.fetchall(
            "SELECT index_name, store, collection, policy_filter, description, create_time "
            "FROM virtual_indexes"
        )
        self._cache = {row[0]: self._row(row) for row in rows}

    def _row(self, row: tuple[Any, ...]) -> VirtualIndex:
        return VirtualIndex(
            index_name=row[0],
            store=row[1],
            collection=row[2],
            policy_filter=self._decode(row[3]) if row[3] else None,
            description=row[4],
            create_time=datetime.fromisoformat(row[5]),
        )

    def lookup(self, name: str) -> VirtualIndex | None:
        """The virtual index of that name, if any (no I/O)."""
        return self._cache.get(name)

    async def create(self, index: VirtualIndex) -> VirtualIndex:
        """Persist a new virtual index; ``AlreadyExists`` if the name is taken."""
        created = VirtualIndex(
            index_name=index.index_name,
            store=index.store,
            collection=index.collection,
            policy_filter=index.policy_filter,
            description=index.description,
            create_time=datetime.now(UTC),
        )
        policy = self._encode(index.policy_filter) if index.policy_filter is not None else None
        assert created.create_time is not None

        inserted = await self._db.insert(
            "INSERT INTO virtual_indexes VALUES (?, ?, ?, ?, ?, ?)",
            (
                created.index_name,
                created.store,
                created.collection,
                policy,
                created.description,
                created.create_time.isoformat() if created.create_time else "",
            ),
        )
        if not inserted:
            raise AlreadyExists(
                f"virtual index {index.index_name!r} already exists",
                field="index_name",
                reason="INDEX_ALREADY_EXISTS",
            )
        self._cache[created.index_name] = created
        return created

    def get(self, name: str, field: str = "index_name") -> VirtualIndex:
        """The virtual index; ``NotFound`` if absent."""
        index = self._cache.get(name)
        if index is None:
            raise NotFound(
                f"virtual index {name!r} does not exist", field=field, reason="INDEX_NOT_FOUND"
            )
        return index

    def list(self) -> list[VirtualIndex]:
        """All virtual indexes in name order."""
        return [self._cache[k] for k in sorted(self._cache)]

    async def delete(self, name: str) -> None:
        """Delete a virtual index; ``NotFound`` if absent."""
        self.get(name)
        await self._db.execute("DELETE FROM virtual_indexes WHERE index_name = ?", (name,))
        self._cache.pop(name, None)


def filter_to_json(f: Filter) -> str:
    """Serialise a domain filter for storage."""
    from .domain import And, Condition, Or

    def enc(node: Filter) -> Any:
        if isinstance(node, Condition):
            value: Any = list(node.value) if isinstance(node.value, tuple) else node.value
            return {"field": node.field, "op": node.op.value, "value": value}
        if isinstance(node, And):
            return {"and": [enc(c) for c in node.filters]}
        if isinstance(node, Or):
            return {"or": [enc(c) for c in node.filters]}
        return {"not": enc(node.filter)}

    return json.dumps(enc(f), sort_keys=True)


def filter_from_json(text: str) -> Filter:
    """Inverse of :func:`filter_to_json`."""
    from .domain import And, Condition, Not, Op, Or

    def dec(node: Any) -> Filter:
        if "and" in node:
            return And(tuple(dec(c) for c in node["and"]))
        if "or" in node:
            return Or(tuple(dec(c) for c in node["or"]))
        if "not" in node:
            return Not(dec(node["not"]))
        value = node["value"]
        return Condition(
            node["field"], Op(node["op"]), tuple(value) if isinstance(value, list) else value
        )

    return dec(json.loads(text))


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A virtual key as stored: its hash, never the key itself."""

    #: Hex SHA-256 of the key; the key's id.
    token: str
    #: The first characters of the key, for recognising it.
    key_prefix: str
    key_alias: str
    #: Virtual index name -> granted permissions ("read", "write").
    grants: dict[str, frozenset[str]]
    #: Embedding models the key may use; empty means all.
    models: tuple[str, ...]
    metadata: dict[str, Any]
    expires: datetime | None
    create_time: datetime
    #: Id of the key that created this one; empty for the master key.
    created_by: str = ""


_KEY_COLUMNS = (
    "token, key_prefix, key_alias, grants, models, metadata, expires, create_time, created_by"
)


def _key_row(record: KeyRecord) -> tuple[Any, ...]:
    grants = {name: sorted(perms) for name, perms in sorted(record.grants.items())}
    return (
        record.token,
        record.key_prefix,
        record.key_alias,
        json.dumps(grants, sort_keys=True),
        json.dumps(list(record.models)),
        json.dumps(record.metadata, sort_keys=True),
        record.expires.isoformat() if record.expires is not None else None,
        record.create_time.isoformat(),
        record.created_by,
    )


def _key_from_row(row: tuple[Any, ...]) -> KeyRecord:
    grants = json.loads(row[3])
    return KeyRecord(
        token=row[0],
        key_prefix=row[1],
        key_alias=row[2],
        grants={str(name): frozenset(perms) for name, perms in grants.items()},
        models=tuple(json.loads(row[4])),
        metadata=dict(json.loads(row[5])),
        expires=datetime.fromisoformat(row[6]) if row[6] else None,
        create_time=datetime.fromisoformat(row[7]),
        created_by=row[8],
    )


class KeyStore:
    """Virtual keys in :class:`Database` (read through on every lookup, so replicas agree)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, record: KeyRecord) -> None:
        """Store a new key."""
        row = _key_row(record)
        await self._db.execute(
            f"INSERT INTO virtual_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row
        )

    async def get(self, token: str) -> KeyRecord | None:
        """The key with that id, if any."""
        row = await self._db.fetchone(
            f"SELECT {_KEY_COLUMNS} FROM virtual_keys WHERE token = ?", (token,)
        )
        return _key_from_row(row) if row else None

    async def list(self, created_by: str | None = None) -> list[KeyRecord]:
        """All keys, or those created by ``created_by``, oldest first."""
        if created_by is None:
            rows = await self._db.fetchall(
                f"SELECT {_KEY_COLUMNS} FROM virtual_keys ORDER BY create_time, token"
            )
        else:
            rows = await self._db.fetchall(
                f"SELECT {_KEY_COLUMNS} FROM virtual_keys WHERE created_by = ? "
                "ORDER BY create_time, token",
                (created_by,),
            )
        return [_key_from_row(row) for row in rows]

    async def update(self, record: KeyRecord) -> None:
        """Replace a stored key's attributes."""
        row = _key_row(record)
        await self._db.execute(
            "UPDATE virtual_keys SET key_prefix = ?, key_alias = ?, grants = ?, models = ?, "
            "metadata = ?, expires = ?, create_time = ?, created_by = ? WHERE token = ?",
            (*row[1:], row[0]),
        )

    async def delete(self, token: str) -> bool:
        """Delete a key; False if there was none."""
        return await self._db.execute("DELETE FROM virtual_keys WHERE token = ?", (token,)) > 0
