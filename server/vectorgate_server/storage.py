"""The gateway's own state (virtual indexes; keys later) in a real database.

SQLite under the data directory by default. Schema changes are numbered
migrations applied in order at start-up and recorded in ``schema_migrations``,
so an old data directory is upgraded in place. All calls run off the event
loop on one connection guarded by a lock (SQLite serialises writers anyway).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable
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


class Database:
    """A SQLite database with migrations, used from async code."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._lock = threading.Lock()
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "applied_at TEXT NOT NULL)"
            )
            row = self._conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
            current = int(row[0]) if row and row[0] is not None else 0
            for version, sql in enumerate(MIGRATIONS, start=1):
                if version <= current:
                    continue
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.execute(sql)
                    self._conn.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?)",
                        (version, datetime.now(UTC).isoformat()),
                    )
                    self._conn.execute("COMMIT")
                except Exception:
                    self._conn.execute("ROLLBACK")
                    raise

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` off the event loop, serialised."""

        def call() -> T:
            with self._lock:
                return fn(self._conn)

        return await asyncio.to_thread(call)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


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

    async def load(self) -> None:
        """Fill the cache from the database."""
        rows = await self._db.run(
            lambda c: c.execute(
                "SELECT index_name, store, collection, policy_filter, description, create_time "
                "FROM virtual_indexes"
            ).fetchall()
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

        def insert(c: sqlite3.Connection) -> bool:
            try:
                c.execute(
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
            except sqlite3.IntegrityError:
                return False
            return True

        if not await self._db.run(insert):
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
        await self._db.run(
            lambda c: c.execute("DELETE FROM virtual_indexes WHERE index_name = ?", (name,))
        )
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
