"""The state database on SQLite and on PostgreSQL: migrations, virtual indexes, keys.

The PostgreSQL cases need ``VECTORGATE_TEST_POSTGRES_URL`` (``scripts/test.sh``
starts a throwaway cluster and sets it); each test gets its own database.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vectorgate_server.domain import Condition, Op
from vectorgate_server.errors import AlreadyExists, InvalidFilter, NotFound
from vectorgate_server.storage import (
    MIGRATIONS,
    Database,
    IndexRegistry,
    KeyRecord,
    KeyStore,
    PostgresDatabase,
    VirtualIndex,
    filter_from_json,
    filter_to_json,
    open_database,
)

PG_URL = os.environ.get("VECTORGATE_TEST_POSTGRES_URL", "")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """None for SQLite (under tmp_path), else the URL of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    if not PG_URL:
        pytest.skip("VECTORGATE_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)")
    import psycopg

    name = f"vg_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_URL.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _open(url: str | None, tmp_path: Path) -> Database:
    return open_database(url, tmp_path / "state.db")


def _registry(db: Database) -> IndexRegistry:
    return IndexRegistry(db, encode_filter=filter_to_json, decode_filter=filter_from_json)


def test_migrations_applied_once(database_url: str | None, tmp_path: Path) -> None:
    db = _open(database_url, tmp_path)
    assert isinstance(db, PostgresDatabase) == (database_url is not None)
    db.close()
    again = _open(database_url, tmp_path)  # a second start (or replica) migrates nothing
    try:
        rows = asyncio.run(again.fetchall("SELECT version FROM schema_migrations ORDER BY 1"))
        assert [r[0] for r in rows] == list(range(1, len(MIGRATIONS) + 1))
    finally:
        again.close()


def test_virtual_indexes_shared_between_replicas(database_url: str | None, tmp_path: Path) -> None:
    one, two = _open(database_url, tmp_path), _open(database_url, tmp_path)

    async def scenario() -> None:
        first, second = _registry(one), _registry(two)
        policy = Condition("tenant_id", Op.EQ, "acme")
        await first.create(VirtualIndex("idx", "lancedb", "real", policy_filter=policy))
        with pytest.raises(AlreadyExists):
            await second.create(VirtualIndex("idx", "lancedb", "other"))
        await second.load()
        got = second.get("idx")
        assert (got.store, got.collection, got.policy_filter) == ("lancedb", "real", policy)
        await second.delete("idx")
        await first.load()
        with pytest.raises(NotFound):
            first.get("idx")

    try:
        asyncio.run(scenario())
    finally:
        one.close()
        two.close()


def test_keys_round_trip(database_url: str | None, tmp_path: Path) -> None:
    db = _open(database_url, tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    record = KeyRecord(
        token="a" * 64,
        key_prefix="sk-abcd",
        key_alias="team",
        grants={"idx": frozenset({"read", "write"})},
        models=("embedding-model",),
        metadata={"team": "a", "n": 1},
        expires=now + timedelta(days=1),
        create_time=now,
    )
    child = KeyRecord(
        token="b" * 64,
        key_prefix="sk-efgh",
        key_alias="",
        grants={"idx": frozenset({"read"})},
        models=(),
        metadata={},
        expires=None,
        create_time=now + timedelta(seconds=1),
        created_by=record.token,
    )

    async def scenario() -> None:
        keys = KeyStore(db)
        await keys.insert(record)
        await keys.insert(child)
        assert await keys.get(record.token) == record
        assert await keys.get("c" * 64) is None
        assert [k.token for k in await keys.list()] == [record.token, child.token]
        assert [k.token for k in await keys.list(record.token)] == [child.token]
        changed = KeyRecord(
            token=child.token,
            key_prefix=child.key_prefix,
            key_alias="renamed",
            grants={},
            models=("m",),
            metadata={"x": True},
            expires=now,
            create_time=child.create_time,
            created_by=child.created_by,
        )
        await keys.update(changed)
        assert await keys.get(child.token) == changed
        assert await keys.delete(child.token)
        assert not await keys.delete(child.token)
        assert await keys.get(child.token) is None

    try:
        asyncio.run(scenario())
    finally:
        db.close()


def test_bad_database_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="postgresql://"):
        open_database("mysql://user:secret@host/db", tmp_path / "x.db")
    with pytest.raises(OSError) as info:
        open_database("postgresql://user:hunter2@127.0.0.1:1/db", tmp_path / "x.db")
    assert "hunter2" not in str(info.value)


def test_change_listener_hears_other_replicas_and_never_serves_stale_without_it(
    tmp_path: Path,
) -> None:
    """The listener makes another replica's change visible with no I/O per check; when
    its connection dies, checks read the counters themselves until it is back."""
    if not PG_URL:
        pytest.skip("VECTORGATE_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)")
    import time

    import psycopg

    from vectorgate_server.storage import LISTENER_APPLICATION_NAME

    name = f"vg_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_URL.rpartition("/")
    url = f"{base}/{name}"
    one, two = _open(url, tmp_path), _open(url, tmp_path)

    def wait_until(condition: Any, timeout: float = 5.0) -> float:
        start = time.monotonic()
        while not condition():
            assert time.monotonic() - start < timeout
            time.sleep(0.002)
        return time.monotonic() - start

    async def scenario() -> None:
        writer, reader = _registry(one), _registry(two)
        await reader.load()
        two.versions.start()
        wait_until(lambda: two.versions.listening)
        reads: list[int] = []
        real = two.read_versions

        async def counted() -> list[Any]:
            reads.append(1)
            return await real()

        two.read_versions = counted  # type: ignore[method-assign]
        await writer.create(VirtualIndex("heard", "lancedb", "real"))
        # Heard, not read: the in-memory counters move on their own.
        wait_until(lambda: two.versions._latest["indexes"] >= 1)
        before = len(reads)
        assert (await two.versions.current())["indexes"] >= 1 and len(reads) == before
        await reader.refresh()
        assert reader.lookup("heard") is not None
        # Kill the listener's connection: checks fall back to reading, never stale.
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (LISTENER_APPLICATION_NAME,),
            )
        await writer.delete("heard")
        # Trusted memory is at most FRESH_S old: past it, the change is seen whether
        # the listener is still down (the check reads) or back (it caught up first).
        await asyncio.sleep(two.versions.FRESH_S)
        await reader.refresh()
        assert reader.lookup("heard") is None
        wait_until(lambda: two.versions.listening)  # reconnected

    try:
        asyncio.run(scenario())
    finally:
        one.close()
        two.close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_stored_filters_round_trip_through_the_one_filter_codec() -> None:
    import json

    from vectorgate._filters import parse_filter
    from vectorgate_server.domain import And, Not, Or

    f = And(
        (
            Condition("genre", Op.EQ, "sci-fi"),
            Or((Condition("year", Op.GTE, 2**60), Condition("score", Op.LT, 0.5))),
            Not(Condition("tags", Op.CONTAINS, "draft")),
            Condition("id", Op.IN, ("a", "b")),
            Condition("flag", Op.NE, True),
        )
    )
    text = filter_to_json(f)
    assert filter_from_json(text) == f
    # The stored form is the client's JSON dict form, read by the client's parser.
    assert parse_filter(json.loads(text)).to_dict()["and"][0] == {
        "field": "genre",
        "op": "eq",
        "value": "sci-fi",
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "not JSON"),
        ('{"field": "x", "op": "between", "value": 1}', "unknown filter op"),
        ('{"and": []}', "at least one"),
        ('{"field": "x", "op": "gt", "value": "a"}', "compares numbers only"),
        ('{"field": "bad key!", "op": "eq", "value": 1}', "not a valid metadata key"),
        ('{"field": "x", "op": "in", "value": []}', "value: required"),
        ('{"field": "x", "op": "eq"}', "exactly the keys"),
        ("[1]", "expected a filter"),
    ],
)
def test_a_stored_filter_is_validated_like_a_request_filter(text: str, problem: str) -> None:
    with pytest.raises(InvalidFilter, match=problem) as caught:
        filter_from_json(text, "indexes[x].filter")
    assert caught.value.field is not None
    assert caught.value.field.startswith("indexes[x].filter")
