"""The gateway's own state (virtual indexes, virtual keys) in a real database.

SQLite under the data directory by default. Schema changes are numbered
migrations applied in order at start-up and recorded in ``schema_migrations``,
so an old data directory is upgraded in place. All calls run off the event
loop on one connection guarded by a lock (SQLite serialises writers anyway).

Replicas sharing one database agree through ``state_versions``: every change
of a kind of state (``indexes``, ``keys``) bumps that kind's counter in the
same transaction, and on PostgreSQL also sends ``NOTIFY vectorgate_state``
(delivered at commit). :class:`StateVersions` keeps the latest counters: a
listener thread (PostgreSQL) hears each change within milliseconds, so the
check each call makes is an in-memory comparison; while no listener is
healthy (SQLite, or the listener reconnecting) each check reads the counters
(one small query). Caches (:class:`IndexRegistry`, :class:`KeyStore`) reload
when their counter moved, before the call uses them.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from vectorgate._filters import filter_to_dict, parse_filter, to_filter_proto

from .convert import filter_from_pb, filter_to_pb
from .domain import Filter
from .errors import AlreadyExists, InvalidFilter, NotFound

T = TypeVar("T")

log = logging.getLogger(__name__)

#: Kinds of state with a version counter.
STATE_KINDS: tuple[str, ...] = ("indexes", "keys")
#: PostgreSQL channel of change notifications (payload ``<kind>:<version>``).
NOTIFY_CHANNEL = "vectorgate_state"
#: ``application_name`` of the listener's connection (visible in ``pg_stat_activity``).
LISTENER_APPLICATION_NAME = "vectorgate-state-listener"

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
    "CREATE TABLE state_versions (name TEXT PRIMARY KEY, version BIGINT NOT NULL)",
    "INSERT INTO state_versions (name, version) VALUES ('indexes', 0), ('keys', 0)",
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
        #: The latest version of each kind of state (see :class:`StateVersions`).
        self.versions = StateVersions(self)

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
        except Exception as exc:
            if self._unique_violation(exc):
                return False
            raise
        return True

    def _unique_violation(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError)

    def _begin_write(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def _notify(self, kind: str, version: int) -> None:
        """Tell the other replicas (PostgreSQL); nothing to do on SQLite."""

    async def change(self, kind: str, sql: str, params: Sequence[Any] = ()) -> tuple[int, int]:
        """Run a statement changing state of ``kind`` and bump that kind's version, in one
        transaction: ``(rows changed, new version)``. A unique violation is raised as the
        driver's error (see :meth:`change_unique`)."""
        text = self._sql(sql)
        bump = self._sql("UPDATE state_versions SET version = version + 1 WHERE name = ?")
        read = self._sql("SELECT version FROM state_versions WHERE name = ?")

        def run(conn: Any) -> tuple[int, int]:
            self._begin_write()
            try:
                count = int(conn.execute(text, params).rowcount)
                conn.execute(bump, (kind,))
                version = int(conn.execute(read, (kind,)).fetchone()[0])
                self._notify(kind, version)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return count, version

        count, version = await self._call(run)
        self.versions.note(kind, version)
        return count, version

    async def change_unique(self, kind: str, sql: str, params: Sequence[Any] = ()) -> bool:
        """:meth:`change` for an INSERT; False when it violates a unique constraint."""
        try:
            await self.change(kind, sql, params)
        except Exception as exc:
            if self._unique_violation(exc):
                return False
            raise
        return True

    async def read_versions(self) -> list[Row]:
        """``(kind, version)`` rows; on the calling thread when the connection is free
        (SQLite answers in microseconds), else off the event loop."""
        sql = "SELECT name, version FROM state_versions"
        if self.placeholder == "?" and self._lock.acquire(blocking=False):
            try:
                return [tuple(row) for row in self._conn.execute(sql).fetchall()]
            finally:
                self._lock.release()
        return await self.fetchall(sql)

    def listen(
        self,
        on_change: Callable[[str, int], None],
        on_synced: Callable[[float], None],
        stop: threading.Event,
    ) -> bool:
        """Deliver other replicas' changes to ``on_change`` until ``stop`` (runs on its
        own thread), and to ``on_synced`` each monotonic time before which every change
        committed has been delivered; False when the database has no notifications
        (SQLite)."""
        return False

    def close(self) -> None:
        """Close the connection (and stop the change listener)."""
        self.versions.stop()
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

    def _unique_violation(self, exc: BaseException) -> bool:
        import psycopg

        return isinstance(exc, psycopg.errors.UniqueViolation)

    def _begin_write(self) -> None:
        self._conn.execute("BEGIN")

    def _notify(self, kind: str, version: int) -> None:
        # Delivered to every listener when the transaction commits, never before.
        self._conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, f"{kind}:{version}"))

    #: Seconds between the listener's checks of the counters (heartbeat and catch-up).
    HEARTBEAT_S = 0.5
    #: Seconds the listener waits for notifications before looking at ``stop``.
    WAIT_S = 0.01

    def listen(
        self,
        on_change: Callable[[str, int], None],
        on_synced: Callable[[float], None],
        stop: threading.Event,
    ) -> bool:
        import psycopg

        try:
            conn = psycopg.connect(
                self._url, autocommit=True, application_name=LISTENER_APPLICATION_NAME
            )
        except psycopg.Error:
            raise OSError("cannot connect the change listener to database_url") from None

        def deliver(note: psycopg.Notify) -> None:
            kind, _, version = note.payload.partition(":")
            if version.isdigit():
                on_change(kind, int(version))

        try:
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            next_poll = 0.0
            while not stop.is_set():
                synced = time.monotonic()
                if synced >= next_poll:
                    # Catch up with anything sent before LISTEN (or lost).
                    rows = conn.execute("SELECT name, version FROM state_versions").fetchall()
                    for name, version in rows:
                        on_change(str(name), int(version))
                    next_poll = synced + self.HEARTBEAT_S
                else:
                    # A round trip begun at `synced`: PostgreSQL sends a listening
                    # session every notification committed before it ahead of the
                    # result, and psycopg keeps them for notifies() below.
                    conn.execute("SELECT 1")
                for note in conn.notifies(timeout=0):
                    deliver(note)
                # Everything committed before `synced` is applied; stamped with that
                # time, not now: the thread may have waited for the CPU since.
                on_synced(synced)
                for note in conn.notifies(timeout=self.WAIT_S):
                    deliver(note)
        finally:
            conn.close()
        return True


class StateVersions:
    """The latest known version of each kind of state, for the caches' per-call check.

    :meth:`current` is what every call awaits: with a healthy listener
    (:meth:`start`, PostgreSQL) it answers from memory, since every change
    committed by any replica is heard within milliseconds; otherwise it reads
    the counters from the database.
    """

    #: Seconds after the listener's last sync point (a time before which every change
    #: committed has been applied) during which it is trusted: a change can be missed
    #: for at most this long, even when the listener thread is not scheduled (a busy
    #: machine). After it, calls read the counters themselves.
    FRESH_S = 0.05

    def __init__(self, db: Database) -> None:
        self._db = db
        self._latest: dict[str, int] = dict.fromkeys(STATE_KINDS, 0)
        self._lock = threading.Lock()
        self._alive_at = -math.inf
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def note(self, kind: str, version: int) -> None:
        """Record a version seen (a local change, a notification, a read)."""
        with self._lock:
            if version > self._latest.get(kind, 0):
                self._latest[kind] = version

    def _synced(self, at: float) -> None:
        self._alive_at = max(self._alive_at, at)

    @property
    def listening(self) -> bool:
        """Whether a listener is trusted right now (so checks need no I/O)."""
        return time.monotonic() - self._alive_at < self.FRESH_S

    async def current(self) -> Mapping[str, int]:
        """The latest versions: from memory while the listener is healthy, else read."""
        if not self.listening:
            for name, version in await self._db.read_versions():
                self.note(str(name), int(version))
        with self._lock:
            return dict(self._latest)

    def start(self) -> None:
        """Start listening for other replicas' changes (PostgreSQL; no-op on SQLite)."""
        if self._thread is not None or self._db.placeholder == "?":
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="vectorgate-state-listener", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            try:
                self._db.listen(self.note, self._synced, self._stop)
                backoff = 0.05
            except Exception as exc:
                # Until it is back, every call reads the counters itself: slower, never stale.
                self._alive_at = -math.inf
                log.warning("state change listener failed (%s); reconnecting", type(exc).__name__)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
        self._alive_at = -math.inf

    def stop(self) -> None:
        """Stop the listener thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(5)


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
        self._loaded_version = -1
        self._reload = asyncio.Lock()

    async def refresh(self) -> None:
        """Bring the cache up to date with every replica's changes (see
        :class:`StateVersions`): no I/O while nothing changed and the listener is healthy."""
        latest = (await self._db.versions.current())["indexes"]
        if latest == self._loaded_version:
            return
        async with self._reload:
            if latest != self._loaded_version:
                await self.load()

    async def load(self) -> None:
        """Fill the cache from the database."""
        # The version first: rows read after it are at least that new.
        rows_versions = await self._db.read_versions()
        version = next((int(row[1]) for row in rows_versions if row[0] == "indexes"), 0)
        rows = await self._db.fetchall(
            "SELECT index_name, store, collection, policy_filter, description, create_time "
            "FROM virtual_indexes"
        )
        self._cache = {row[0]: self._row(row) for row in rows}
        self._loaded_version = int(version)
        self._db.versions.note("indexes", self._loaded_version)

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

        inserted = await self._db.change_unique(
            "indexes",
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
        await self._db.change(
            "indexes", "DELETE FROM virtual_indexes WHERE index_name = ?", (name,)
        )
        self._cache.pop(name, None)


def filter_to_json(f: Filter) -> str:
    """Serialise a domain filter for storage: the filter's JSON dict form
    (``{"and"|"or": [...]}``, ``{"not": ...}``, ``{"field", "op", "value"}``), the one
    the Python client reads and writes (:mod:`vectorgate._filters`)."""
    return json.dumps(filter_to_dict(filter_to_pb(f)), sort_keys=True)


def filter_from_json(text: str, path: str = "filter") -> Filter:
    """Inverse of :func:`filter_to_json`, validated as a request's filter is: the dict form
    is read by the client's one parser and checked by :func:`~.convert.filter_from_pb`.
    Raises :class:`~.errors.InvalidFilter` naming ``path`` when the text is not one."""
    try:
        message = to_filter_proto(parse_filter(json.loads(text), path))
    except json.JSONDecodeError as exc:
        raise InvalidFilter(f"{path}: not JSON: {exc}", field=path) from None
    except (ValueError, TypeError) as exc:  # the parser's messages start with the path
        raise InvalidFilter(str(exc), field=path) from None
    return filter_from_pb(message, path)


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
    """Virtual keys in :class:`Database`, cached in memory.

    The cache holds keys as read; it is emptied whenever the ``keys`` version
    moves (a change on any replica, see :class:`StateVersions`), so a lookup
    is a dictionary read while nothing changed. Unknown keys are not cached.
    """

    #: Most keys cached; beyond it the cache starts again.
    MAX_CACHED = 100_000
    #: Longest chain of creators followed (deeper is treated as revoked).
    MAX_DEPTH = 64

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[str, KeyRecord] = {}
        self._version = -1

    async def _sync(self) -> None:
        latest = (await self._db.versions.current())["keys"]
        if latest != self._version:
            # Rows read from now on are at least as new as ``latest``.
            self._cache = {}
            self._version = latest

    async def insert(self, record: KeyRecord) -> bool:
        """Store a new key; False if a key with that id exists."""
        row = _key_row(record)
        return await self._db.change_unique(
            "keys",
            f"INSERT INTO virtual_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )

    async def get(self, token: str) -> KeyRecord | None:
        """The key with that id, if any."""
        await self._sync()
        return await self._get(token)

    async def _get(self, token: str) -> KeyRecord | None:
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        version = self._version
        row = await self._db.fetchone(
            f"SELECT {_KEY_COLUMNS} FROM virtual_keys WHERE token = ?", (token,)
        )
        record = _key_from_row(row) if row else None
        if record is not None and version == self._version:
            if len(self._cache) >= self.MAX_CACHED:
                self._cache = {}
            self._cache[token] = record
        return record

    async def chain(self, token: str) -> list[KeyRecord] | None:
        """The key and every key above it (its creator, its creator's creator, ...), or
        None when the key or any of them no longer exists."""
        await self._sync()  # once: the chain is read as of one version
        out: list[KeyRecord] = []
        current = token
        while current:
            if len(out) >= self.MAX_DEPTH or any(r.token == current for r in out):
                return None
            record = await self._get(current)
            if record is None:
                return None
            out.append(record)
            current = record.created_by
        return out

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

    async def descendants(self, token: str) -> builtins.list[KeyRecord]:
        """Every key created, directly or not, by the key ``token``."""
        out: builtins.list[KeyRecord] = []
        seen = {token}
        todo = [token]
        while todo:
            for record in await self.list(todo.pop()):
                if record.token not in seen:
                    seen.add(record.token)
                    out.append(record)
                    todo.append(record.token)
        return out

    async def update(self, record: KeyRecord) -> None:
        """Replace a stored key's attributes."""
        row = _key_row(record)
        await self._db.change(
            "keys",
            "UPDATE virtual_keys SET key_prefix = ?, key_alias = ?, grants = ?, models = ?, "
            "metadata = ?, expires = ?, create_time = ?, created_by = ? WHERE token = ?",
            (*row[1:], row[0]),
        )

    async def delete(self, token: str) -> bool:
        """Delete a key; False if there was none."""
        count, _ = await self._db.change(
            "keys", "DELETE FROM virtual_keys WHERE token = ?", (token,)
        )
        return count > 0
