"""The LanceDB adapter's columnar write: the insert fast path, its id set, type rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import lance as pylance
import lancedb
import numpy as np
import pyarrow as pa
import pytest

from vectorgate_server.adapters import lancedb as lance_module
from vectorgate_server.adapters.lancedb import LanceDBAdapter
from vectorgate_server.adapters.lancedb import write as write_module
from vectorgate_server.domain import CollectionSpec, Condition, Document, DocumentBatch, Op
from vectorgate_server.errors import InvalidArgument

pytestmark = pytest.mark.asyncio


def _vectors(n: int, seed: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.random.default_rng(seed).standard_normal((n, 4)).astype(np.float32)


def _batch(prefix: str, n: int, seed: int = 0, **metadata: list[Any]) -> DocumentBatch:
    return DocumentBatch(
        ids=[f"{prefix}{i}" for i in range(n)], vectors=_vectors(n, seed), metadata=dict(metadata)
    )


@pytest.fixture
async def lance(tmp_path: Path) -> AsyncIterator[LanceDBAdapter]:
    # No automatic index: its builds commit versions of their own (these tests
    # count the versions writes commit).
    adapter = LanceDBAdapter("lance", str(tmp_path / "db"), auto_index=None)
    await adapter.start()
    await adapter.create_collection(CollectionSpec(name="c", dimension=4, embedding_model="none"))
    yield adapter
    await adapter.close()


class _Calls:
    """Counts the writes that append and those that replace ids the table may hold."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.adds = 0
        self.merges = 0
        commit = write_module._commit_rows
        merge_insert = write_module._merge_insert

        def counted(dataset: Any, data: pa.Table, replace: Any) -> Any:
            if replace is None:
                self.adds += 1
            else:
                self.merges += 1
            return commit(dataset, data, replace)

        async def counted_merge(table: Any, data: pa.Table) -> None:
            # Replacing writes of at most one fragment's rows go through merge_insert.
            assert data.num_rows <= lance_module.COMPACT_ROWS_PER_FRAGMENT
            self.merges += 1
            await merge_insert(table, data)

        monkeypatch.setattr(write_module, "_commit_rows", counted)
        monkeypatch.setattr(write_module, "_merge_insert", counted_merge)


async def test_new_ids_are_appended_known_ids_merged(
    lance: LanceDBAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _Calls(monkeypatch)
    await lance.upsert_columns("c", _batch("a", 100))
    await lance.upsert_columns("c", _batch("b", 100))
    assert (calls.adds, calls.merges) == (2, 0)
    # One known id among new ones: the whole batch merges (one atomic commit).
    mixed = DocumentBatch(ids=["b5", "z1"], vectors=_vectors(2, 9))
    await lance.upsert_columns("c", mixed)
    assert (calls.adds, calls.merges) == (2, 1)
    assert await lance.count("c") == 201
    [doc] = await lance.get("c", ["b5"], True)
    assert doc.vector is not None
    np.testing.assert_allclose(doc.vector, mixed.vectors[0])
    # The documents path shares the write: a known id merges, new ones append.
    await lance.upsert("c", [Document(id="a1", vector=_vectors(1, 3)[0])])
    await lance.upsert("c", [Document(id="n1", vector=_vectors(1, 4)[0])])
    assert (calls.adds, calls.merges) == (3, 2)
    assert await lance.count("c") == 202


async def test_deleted_ids_merge_and_nothing_duplicates(lance: LanceDBAdapter) -> None:
    await lance.upsert_columns("c", _batch("a", 50))
    await lance.delete("c", ids=["a1", "a2"])
    await lance.delete("c", filter=Condition("id", Op.EQ, "a3"))
    for _ in range(2):
        await lance.upsert_columns("c", _batch("a", 50))
        assert await lance.count("c") == 50


async def test_a_reopened_table_reads_its_ids_once(tmp_path: Path) -> None:
    """A table written by an earlier process (or another tool) is not appended blindly."""
    uri = str(tmp_path / "db")
    first = LanceDBAdapter("lance", uri)
    await first.start()
    await first.create_collection(CollectionSpec(name="c", dimension=4, embedding_model="none"))
    await first.upsert_columns("c", _batch("a", 30))
    await first.close()
    # Rows added behind the adapter's back, before it opens the table again.
    db = await lancedb.connect_async(uri)
    table = await db.open_table("c")
    extra = pa.table(
        {
            "id": ["x1"],
            "text": [""],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(_vectors(1, 5).ravel()), 4),
        }
    )
    await table.add(extra)
    again = LanceDBAdapter("lance", uri)
    await again.start()
    try:
        batch = DocumentBatch(ids=["a0", "x1", "new"], vectors=_vectors(3, 6))
        await again.upsert_columns("c", batch)
        assert await again.count("c") == 32
        await again.upsert_columns("c", _batch("a", 30))
        assert await again.count("c") == 32
    finally:
        await again.close()


async def test_metadata_columns_keep_one_type_per_key(lance: LanceDBAdapter) -> None:
    await lance.upsert_columns("c", _batch("a", 3, price=[1, 2, None], color=["r", None, "g"]))
    with pytest.raises(InvalidArgument) as err:
        await lance.upsert_columns("c", _batch("b", 3, price=[1, "cheap", 3]))
    assert err.value.field == "columns.metadata[0].values[1]"
    with pytest.raises(InvalidArgument) as err:
        await lance.upsert_columns("c", _batch("b", 2, color=[None, 5]))
    assert err.value.field == "columns.metadata[0]"
    assert await lance.count("c") == 3
    # Ints stay exact beside floats of the same key; absent values stay absent.
    await lance.upsert_columns("c", _batch("d", 3, price=[2**62 + 1, 2.5, None]))
    got = {d.id: d.metadata for d in await lance.get("c", ["d0", "d1", "d2", "a2"], False)}
    assert got == {"d0": {"price": 2**62 + 1}, "d1": {"price": 2.5}, "d2": {}, "a2": {"color": "g"}}
    assert type(got["d1"]["price"]) is float
    assert await lance.count("c", Condition("price", Op.GT, 2)) == 2


async def test_id_set_is_a_superset_without_false_absences() -> None:
    ids = lance_module._IdSet(["a", "b"])
    assert ids.any_of(ids.hashes(["b"]))
    assert not ids.any_of(ids.hashes(["c", "d"]))
    ids.add(ids.hashes(["d", "a", "d"]))
    assert len(ids) == 3
    assert ids.any_of(ids.hashes(["d"])) and not ids.any_of(ids.hashes(["c"]))
    assert not lance_module._IdSet().any_of(ids.hashes(["a"]))
    # add() tells whether any hash may be there already; runs merge without losing one.
    assert ids.add(ids.hashes(["e"])) is False
    assert ids.add(ids.hashes(["f", "a"])) is True
    for block in range(40):
        assert not ids.add(ids.hashes([f"x{block}-{i}" for i in range(block + 1)]))
    assert len(ids) == 5 + sum(range(1, 41))
    assert ids.any_of(ids.hashes(["x0-0"])) and ids.any_of(ids.hashes(["x39-39"]))
    assert not ids.any_of(ids.hashes(["x40-0"]))


async def test_a_failed_append_is_never_repeated(
    lance: LanceDBAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append whose outcome is unknown (an error after Lance committed, a
    cancellation) leaves its ids recorded: the retry merges, nothing duplicates."""
    commit = write_module._commit_rows

    def commit_then_fail(*args: Any) -> Any:
        commit(*args)
        raise RuntimeError("connection lost after the commit")

    monkeypatch.setattr(write_module, "_commit_rows", commit_then_fail)
    with pytest.raises(RuntimeError):
        await lance.upsert_columns("c", _batch("a", 20))
    monkeypatch.setattr(write_module, "_commit_rows", commit)
    await lance.upsert_columns("c", _batch("a", 20))
    assert await lance.count("c") == 20


def _fragments_and_version(tmp_path: Path) -> tuple[list[int], int]:
    dataset = pylance.dataset(str(tmp_path / "db" / "c.lance"))
    return [fragment.count_rows() for fragment in dataset.get_fragments()], dataset.version


async def test_a_large_write_is_one_version_of_fragments_sized_for_parallel_scans(
    lance: LanceDBAdapter, tmp_path: Path
) -> None:
    """A 10,000-row upsert (appended, then replaced) commits one version each, in
    fragments of at most COMPACT_ROWS_PER_FRAGMENT rows (which compaction never
    splits), and replacing keeps one row per id."""
    limit = lance_module.COMPACT_ROWS_PER_FRAGMENT
    _, before = _fragments_and_version(tmp_path)
    await lance.upsert_columns("c", _batch("a", 10_000, seed=1))
    sizes, version = _fragments_and_version(tmp_path)
    assert version == before + 1
    assert sum(sizes) == 10_000 and max(sizes) <= limit
    # Half of the ids again, with half new ones: one version, ids replaced.
    again = DocumentBatch(
        ids=[f"a{i}" for i in range(5_000, 10_000)] + [f"b{i}" for i in range(5_000)],
        vectors=_vectors(10_000, 2),
    )
    await lance.upsert_columns("c", again)
    sizes, after = _fragments_and_version(tmp_path)
    assert after == version + 1
    assert sum(sizes) == 15_000 and max(sizes) <= limit
    assert await lance.count("c") == 15_000
    [doc] = await lance.get("c", ["a7000"], True)
    assert doc.vector is not None
    np.testing.assert_allclose(doc.vector, again.vectors[2_000])
