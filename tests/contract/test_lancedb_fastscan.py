"""The automatic index's fast-scan index (issue #15): once a collection without an
index type has its automatic index, a faiss 4-bit PQ fast-scan index built next to
the table serves its unfiltered searches. It follows every write (appends,
replacements, deletes, compaction), serves only while synced to the latest one,
scores hits exactly as exhaustive search does, and leaves filtered searches and
searches with native parameters to the Lance index."""

from __future__ import annotations

import shutil
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import lance
import numpy as np
import pytest

from vectorgate.testing.reference import brute_force
from vectorgate_server.adapters.configs.lancedb import LanceDBConfig
from vectorgate_server.adapters.lancedb import LanceDBAdapter, fastscan
from vectorgate_server.adapters.lancedb.fastscan import FastScanIndex
from vectorgate_server.adapters.lancedb.rows import _canonical
from vectorgate_server.domain import (
    CollectionSpec,
    Condition,
    Document,
    Metric,
    Op,
    SearchQuery,
    as_float32,
)

Matrix = np.ndarray[Any, np.dtype[np.float32]]
DIM = 64


def vectors(n: int, seed: int) -> Matrix:
    out: Matrix = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return out


def docs(vs: Matrix, start: int = 0, prefix: str = "d") -> list[Document]:
    return [
        Document(id=f"{prefix}{start + i}", vector=as_float32(v), metadata={"n": start + i})
        for i, v in enumerate(vs)
    ]


class Spy:
    """Counts the searches the fast-scan index answers."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = FastScanIndex.search

        def search(index: FastScanIndex, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(index, *args, **kwargs)

        monkeypatch.setattr(FastScanIndex, "search", search)


@pytest.fixture
async def lance_store(tmp_path: Path) -> AsyncIterator[LanceDBAdapter]:
    adapter = LanceDBAdapter("lance", str(tmp_path / "db"), index_min_rows=1000)
    await adapter.start()
    yield adapter
    await adapter.close()


async def loaded(adapter: LanceDBAdapter, vs: Matrix, metric: Metric = Metric.COSINE) -> None:
    await adapter.create_collection(CollectionSpec("c", DIM, metric=metric))
    for lo in range(0, len(vs), 500):
        await adapter.upsert("c", docs(vs[lo : lo + 500], lo))
    await adapter.wait_for_maintenance("c")


def serving(adapter: LanceDBAdapter) -> FastScanIndex:
    st = adapter._tables["c"]
    fs = st.fastscan
    assert fs is not None and fs.generation == st.generation
    return fs


@pytest.mark.parametrize("metric", [Metric.COSINE, Metric.L2, Metric.IP])
async def test_unfiltered_searches_are_served_with_exact_scores(
    lance_store: LanceDBAdapter, monkeypatch: pytest.MonkeyPatch, metric: Metric
) -> None:
    vs = vectors(3000, 1)
    await loaded(lance_store, vs, metric)
    fs = serving(lance_store)
    assert fs.rows == 3000 and fs.dead == 0
    status = (await lance_store.describe_collection("c")).index_status
    assert status is not None and status.params["fast_scan"] == "PQ32x4fs,refine fp16"
    plan = await lance_store.explain("c", SearchQuery(vector=as_float32(vs[0]), top_k=10))
    assert plan.native_params["fast_scan_k_factor"] == fs.k_factor
    spy = Spy(monkeypatch)
    found = 0
    queries = vectors(20, 2)
    for q in queries:
        hits = await lance_store.search("c", SearchQuery(vector=as_float32(q), top_k=10))
        rows, values = brute_force(vs, q, metric, 10)
        found += len({h.id for h in hits} & {f"d{r}" for r in rows})
        exact = dict(zip([f"d{r}" for r in rows], values.tolist(), strict=True))
        for hit in hits:
            if hit.id in exact:  # the same score as an exhaustive search gives
                value = _canonical(metric, hit.raw_score)
                assert value == pytest.approx(exact[hit.id], rel=1e-4, abs=1e-4)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert all(h.metadata["n"] == int(h.id[1:]) for h in hits)
    assert spy.calls == len(queries)
    assert found / (10 * len(queries)) >= 0.95


async def test_filtered_and_native_parameter_searches_stay_on_lance(
    lance_store: LanceDBAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    vs = vectors(2000, 3)
    await loaded(lance_store, vs)
    serving(lance_store)
    spy = Spy(monkeypatch)
    q = as_float32(vs[7])
    filtered = SearchQuery(vector=q, top_k=5, filter=Condition("n", Op.LT, 100))
    hits = await lance_store.search("c", filtered)
    assert hits and all(int(h.id[1:]) < 100 for h in hits)
    native = SearchQuery(vector=q, top_k=5, native_params={"nprobes": 2})
    await lance_store.search("c", native)
    assert spy.calls == 0
    for query in (filtered, native):
        plan = await lance_store.explain("c", query)
        assert "fast_scan" not in plan.native_params


class NoTake:
    """Fails any read of rows from Lance by row address."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0

        def take(dataset: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            raise AssertionError("rows read from Lance")

        monkeypatch.setattr(lance.LanceDataset, "_take_rows", take)


async def test_hits_are_answered_from_memory(
    lance_store: LanceDBAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The payload (id, text, metadata) of every row is in memory: a cosine
    search reads nothing from Lance, and its hits carry what was written,
    including metadata keys the table gained after the index was built."""
    vs = vectors(2000, 21)
    await lance_store.create_collection(CollectionSpec("c", DIM))
    for lo in range(0, len(vs), 500):
        batch = [
            Document(id=f"d{i}", text=f"text {i}", vector=as_float32(vs[i]), metadata={"n": i})
            for i in range(lo, lo + 500)
        ]
        await lance_store.upsert("c", batch)
    await lance_store.wait_for_maintenance("c")
    fs = serving(lance_store)
    assert fs.payload_in_memory
    status = (await lance_store.describe_collection("c")).index_status
    assert status is not None and status.params["fast_scan_payload"] == "memory"
    fresh = vectors(3, 22)
    await lance_store.upsert(
        "c",
        [
            Document(id=f"t{i}", text=f"tagged {i}", vector=as_float32(v), metadata={"tag": "x"})
            for i, v in enumerate(fresh)
        ],
    )
    await lance_store.wait_for_maintenance("c")
    serving(lance_store)
    spy, no_take = Spy(monkeypatch), NoTake(monkeypatch)
    for i in (0, 777, 1999):
        hits = await lance_store.search("c", SearchQuery(vector=as_float32(vs[i]), top_k=3))
        assert hits[0].id == f"d{i}" and hits[0].text == f"text {i}"
        assert hits[0].metadata == {"n": i}
    for i, v in enumerate(fresh):
        hits = await lance_store.search("c", SearchQuery(vector=as_float32(v), top_k=1))
        assert (hits[0].id, hits[0].text, hits[0].metadata) == (
            f"t{i}",
            f"tagged {i}",
            {"tag": "x"},
        )
    assert spy.calls == 6 and no_take.calls == 0


async def test_a_payload_larger_than_the_index_is_read_from_lance(
    lance_store: LanceDBAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Texts that would take more memory than the index are not kept: the hits
    are read from Lance, with the same content."""
    monkeypatch.setattr(fastscan, "PAYLOAD_MIN_BYTES", 64 << 10)
    vs = vectors(2000, 23)
    await lance_store.create_collection(CollectionSpec("c", DIM))
    long = "x" * 1000  # 1 KB a row against the index's 160 B
    for lo in range(0, len(vs), 500):
        batch = [
            Document(id=f"d{i}", text=f"{i} {long}", vector=as_float32(vs[i]))
            for i in range(lo, lo + 500)
        ]
        await lance_store.upsert("c", batch)
    await lance_store.wait_for_maintenance("c")
    fs = serving(lance_store)
    assert not fs.payload_in_memory
    status = (await lance_store.describe_collection("c")).index_status
    assert status is not None and status.params["fast_scan_payload"] == "lance"
    spy = Spy(monkeypatch)
    for i in (3, 1500):
        hits = await lance_store.search("c", SearchQuery(vector=as_float32(vs[i]), top_k=2))
        assert hits[0].id == f"d{i}" and hits[0].text == f"{i} {long}"
    assert spy.calls == 2


async def test_vectors_beyond_float16_leave_the_table_to_lance(tmp_path: Path) -> None:
    """A vector float16 cannot hold drops the fast-scan index (it could not
    score it); searches go through Lance and find it."""
    adapter = LanceDBAdapter("lance", str(tmp_path / "db"), index_min_rows=1000)
    await adapter.start()
    try:
        vs = vectors(1500, 24)
        await loaded(adapter, vs, Metric.L2)
        serving(adapter)
        huge = vectors(1, 25)[0] * 1e5
        await adapter.upsert("c", [Document(id="huge", vector=as_float32(huge))])
        await adapter.wait_for_maintenance("c")
        assert adapter._tables["c"].fastscan is None
        hits = await adapter.search("c", SearchQuery(vector=as_float32(huge), top_k=1))
        assert hits[0].id == "huge"
        assert (await adapter.search("c", SearchQuery(vector=as_float32(vs[9]), top_k=1)))[
            0
        ].id == "d9"
    finally:
        await adapter.close()


async def test_writes_are_followed_and_never_served_stale(
    lance_store: LanceDBAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    vs = vectors(2000, 4)
    await loaded(lance_store, vs)
    serving(lance_store)
    spy = Spy(monkeypatch)
    # Hold the fast-scan index's syncs: until they run, Lance must answer.
    gate = threading.Event()
    real_sync = FastScanIndex.sync

    def held_sync(index: FastScanIndex, *args: Any, **kwargs: Any) -> None:
        gate.wait(60)
        real_sync(index, *args, **kwargs)

    monkeypatch.setattr(FastScanIndex, "sync", held_sync)
    moved = vectors(5, 5)
    await lance_store.delete("c", ids=["d10", "d11"])
    await lance_store.delete("c", filter=Condition("n", Op.EQ, 12))
    await lance_store.upsert("c", docs(moved, 20))  # d20..d24 get new vectors
    fresh = vectors(3, 6)
    await lance_store.upsert("c", docs(fresh, 0, prefix="new"))

    async def top(v: Any, k: int = 1) -> list[str]:
        hits = await lance_store.search("c", SearchQuery(vector=as_float32(v), top_k=k))
        return [h.id for h in hits]

    async def check() -> None:
        for i in (10, 11, 12):
            assert f"d{i}" not in await top(vs[i], 10)
        for i in range(5):
            assert await top(moved[i]) == [f"d{20 + i}"]
            assert f"d{20 + i}" not in await top(vs[20 + i], 3)
        for i in range(3):
            assert await top(fresh[i]) == [f"new{i}"]

    await check()  # the fast-scan index is behind: Lance answers
    assert spy.calls == 0
    gate.set()
    await lance_store.wait_for_maintenance("c")
    fs = serving(lance_store)
    assert fs.rows == 2000 - 3 + 3 and fs.dead == 3 + 5
    await check()
    assert spy.calls == 3 + 5 * 2 + 3


async def test_compaction_moves_rows_without_adding_them_again(tmp_path: Path) -> None:
    adapter = LanceDBAdapter(
        "lance", str(tmp_path / "db"), index_min_rows=1000, optimize_every_writes=4
    )
    await adapter.start()
    try:
        vs = vectors(2000, 7)
        await loaded(adapter, vs)
        fs = serving(adapter)
        more = vectors(400, 8)
        for lo in range(0, 400, 50):  # small writes: fragments compaction merges
            await adapter.upsert("c", docs(more[lo : lo + 50], 2000 + lo))
            await adapter.wait_for_maintenance("c")
        assert serving(adapter) is fs
        assert fs.rows == 2400
        # Compaction rewrote the small fragments: their rows kept their labels.
        assert fs.labels == 2400 and fs.dead == 0
        for i in (2001, 2222, 2399):
            hits = await adapter.search(
                "c", SearchQuery(vector=as_float32(more[i - 2000]), top_k=1)
            )
            assert [h.id for h in hits] == [f"d{i}"]
    finally:
        await adapter.close()


async def test_an_index_mostly_dead_is_rebuilt(lance_store: LanceDBAdapter) -> None:
    vs = vectors(2000, 9)
    await loaded(lance_store, vs)
    first = serving(lance_store)
    await lance_store.upsert("c", docs(vectors(900, 10)))  # replaces d0..d899: 31 % dead
    await lance_store.wait_for_maintenance("c")
    fs = serving(lance_store)
    assert fs is not first and fs.dead == 0 and fs.rows == 2000


async def test_the_fast_scan_index_is_rebuilt_after_a_restart(tmp_path: Path) -> None:
    uri = str(tmp_path / "db")
    adapter = LanceDBAdapter("lance", uri, index_min_rows=1000)
    await adapter.start()
    vs = vectors(1500, 11)
    await loaded(adapter, vs)
    serving(adapter)
    await adapter.close()
    again = LanceDBAdapter("lance", uri, index_min_rows=1000)
    await again.start()
    try:
        await again.count("c")
        await again.wait_for_maintenance("c")
        assert serving(again).rows == 1500
    finally:
        await again.close()


async def test_it_can_be_turned_off(tmp_path: Path) -> None:
    config = LanceDBConfig(
        name="lance", uri=str(tmp_path / "db"), index_min_rows=1000, fast_scan=False
    )
    adapter = LanceDBAdapter.from_config(config, data_dir=tmp_path)
    await adapter.start()
    try:
        await loaded(adapter, vectors(1500, 12))
        st = adapter._tables["c"]
        assert st.has_index and st.fastscan is None
        status = (await adapter.describe_collection("c")).index_status
        assert status is not None and "fast_scan" not in status.params
    finally:
        await adapter.close()


def test_sync_follows_fragments_deletions_and_moves(tmp_path: Path) -> None:
    """The index alone, on a pylance dataset: appended fragments are added, rows
    deleted and fragments removed are dead, compaction's moves keep their labels,
    and a search reads the version synced."""
    import pyarrow as pa

    uri = str(tmp_path / "t.lance")
    vs = vectors(3000, 13)

    def table(lo: int, hi: int) -> pa.Table:
        return pa.table(
            {
                "id": [f"d{i}" for i in range(lo, hi)],
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vs[lo:hi].ravel()), DIM),
            }
        )

    dataset = lance.write_dataset(table(0, 1000), uri, max_rows_per_file=500)
    fs = FastScanIndex(DIM, Metric.L2, "vector", vs[:1000])
    fs.sync(dataset)
    assert (fs.rows, fs.labels) == (1000, 1000)

    def top(i: int, k: int = 1) -> list[str]:
        result = fs.search(vs[i], k, ["id"])
        assert result is not None
        return [str(x) for x in result.column("id").to_pylist()]

    assert top(5) == ["d5"]
    for lo in range(1000, 3000, 250):
        lance.write_dataset(table(lo, lo + 250), uri, mode="append")
    fs.sync(lance.dataset(uri))
    assert (fs.rows, fs.labels) == (3000, 3000)
    assert top(2900) == ["d2900"]
    lance.dataset(uri).delete("id = 'd5' OR id = 'd2900'")
    before = lance.dataset(uri)
    fs.sync(before)
    assert (fs.rows, fs.dead) == (2998, 2)
    assert "d5" not in top(5, 5) and "d2900" not in top(2900, 5)
    lance.dataset(uri).optimize.compact_files(target_rows_per_fragment=1000)
    dataset = lance.dataset(uri)
    assert {f.fragment_id for f in dataset.get_fragments()} != {
        f.fragment_id for f in before.get_fragments()
    }
    fs.sync(dataset, moves=True)
    assert (fs.rows, fs.labels) == (2998, 3000)  # moved, not added again
    assert top(2999) == ["d2999"] and top(1234) == ["d1234"]
    shutil.rmtree(uri)
