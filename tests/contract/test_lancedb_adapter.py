"""LanceDB-specific behaviour beyond the shared contract: index building, parameter
validation, explain, tables not created by vectorgate, write serialisation."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import lancedb
import numpy as np
import pyarrow as pa
import pytest

from vectorgate.testing.reference import brute_force
from vectorgate_server.adapters.lancedb import LanceDBAdapter
from vectorgate_server.domain import (
    CollectionSpec,
    Condition,
    Document,
    IndexSpec,
    Metadata,
    Metric,
    Op,
    SearchQuery,
    as_float32,
)
from vectorgate_server.errors import InvalidArgument
from vectorgate_server.filters.common import FieldType
from vectorgate_server.filters.lancedb import compile_filter

C = Condition


def vectors(n: int, dim: int, seed: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def docs(prefix: str, vs: np.ndarray[Any, np.dtype[np.float32]], **meta: Any) -> list[Document]:
    return [
        Document(id=f"{prefix}{i}", text="", vector=as_float32(v), metadata={"i": i, **meta})
        for i, v in enumerate(vs)
    ]


@pytest.fixture
async def lance(tmp_path: Path) -> AsyncIterator[LanceDBAdapter]:
    adapter = LanceDBAdapter("lance", str(tmp_path / "db"), index_min_rows=500)
    await adapter.start()
    yield adapter
    await adapter.close()


async def indices(uri: str, name: str) -> list[Any]:
    db = await lancedb.connect_async(uri)
    table = await db.open_table(name)
    try:
        return list(await table.list_indices())
    finally:
        table.close()
        db.close()


def ids_of_top(
    vs: np.ndarray[Any, np.dtype[np.float32]], q: Any, metric: Metric, k: int
) -> list[str]:
    rows, _ = brute_force(vs, q, metric, k)
    return [f"d{r}" for r in rows]


# --------------------------------------------------------------------------- index


@pytest.mark.parametrize(
    ("index_type", "params", "metric"),
    [
        ("IVF_FLAT", {"num_partitions": 4.0}, Metric.COSINE),
        ("ivf_hnsw_sq", {"num_partitions": 2, "m": 8}, Metric.L2),
        ("IVF_PQ", {"num_partitions": 2, "num_sub_vectors": 4}, Metric.IP),
    ],
)
async def test_index_is_built_in_background_past_the_threshold(
    lance: LanceDBAdapter, index_type: str, params: dict[str, Any], metric: Metric
) -> None:
    dim = 16
    info = await lance.create_collection(
        CollectionSpec("idx", dim, metric, index=IndexSpec(index_type, params))
    )
    normalised = {k: int(v) for k, v in params.items()}
    assert info.index == IndexSpec(index_type.upper(), normalised)

    vs = vectors(600, dim, 1)
    await lance.upsert("idx", docs("d", vs[:400]))
    await lance.wait_for_maintenance("idx")
    assert await indices(lance.uri, "idx") == []  # below index_min_rows

    await lance.upsert(
        "idx", [Document(f"d{i}", "", as_float32(vs[i]), {}) for i in range(400, 600)]
    )
    await lance.wait_for_maintenance("idx")
    built = await indices(lance.uri, "idx")
    assert len(built) == 1 and list(built[0].columns) == ["vector"]
    assert (await lance.describe_collection("idx")).index == IndexSpec(
        index_type.upper(), normalised
    )

    # Exact search bypasses the index and equals brute force.
    q = vectors(1, dim, 2)[0]
    hits = await lance.search("idx", SearchQuery(q, 10, native_params={"exact": True}))
    assert [h.id for h in hits] == ids_of_top(vs, q, metric, 10)

    # Rows added after the build are searched too (flat, until optimize indexes them).
    fresh = vectors(1, dim, 3)[0] * 10
    await lance.upsert("idx", [Document("fresh", "", as_float32(fresh), {"new": True})])
    hits = await lance.search(
        "idx", SearchQuery(fresh, 1, filter=C("new", Op.EQ, True), native_params={"nprobes": 4})
    )
    assert [h.id for h in hits] == ["fresh"]


async def test_ivf_flat_with_all_partitions_probed_is_exact(lance: LanceDBAdapter) -> None:
    dim = 8
    await lance.create_collection(
        CollectionSpec("ivf", dim, Metric.L2, index=IndexSpec("IVF_FLAT", {"num_partitions": 4}))
    )
    vs = vectors(800, dim, 4)
    await lance.upsert("ivf", docs("d", vs))
    await lance.wait_for_maintenance("ivf")
    assert len(await indices(lance.uri, "ivf")) == 1
    for q in vectors(5, dim, 5):
        hits = await lance.search("ivf", SearchQuery(q, 10, native_params={"nprobes": 4}))
        assert [h.id for h in hits] == ids_of_top(vs, q, Metric.L2, 10)


async def test_flat_collections_get_no_index(lance: LanceDBAdapter) -> None:
    await lance.create_collection(CollectionSpec("flat", 4, index=IndexSpec("FLAT")))
    await lance.upsert("flat", docs("d", vectors(600, 4, 6)))
    await lance.wait_for_maintenance("flat")
    assert await indices(lance.uri, "flat") == []


async def test_optimize_keeps_the_spec(tmp_path: Path) -> None:
    uri = str(tmp_path / "db")
    adapter = LanceDBAdapter("s", uri, optimize_every_writes=2)
    await adapter.start()
    await adapter.create_collection(CollectionSpec("o", 4, Metric.L2, text_field="body"))
    before = await adapter.describe_collection("o")
    for i in range(5):
        await adapter.upsert("o", docs(f"b{i}-", vectors(20, 4, i), **{f"k{i}": i}))
        await adapter.wait_for_maintenance("o")
    await adapter.close()
    again = LanceDBAdapter("s", uri)
    await again.start()
    after = await again.describe_collection("o")
    assert after.document_count == 100
    assert (after.metric, after.text_field, after.create_time) == (
        before.metric,
        before.text_field,
        before.create_time,
    )
    assert await again.count("o", C("k4", Op.EQ, 4)) == 20
    await again.close()


async def test_connection_is_recycled_under_writes_and_old_versions_go(tmp_path: Path) -> None:
    uri = str(tmp_path / "db")
    adapter = LanceDBAdapter(
        "s",
        uri,
        optimize_every_writes=2,
        recycle_connection_writes=4,
        cleanup_older_than=timedelta(milliseconds=1),
    )
    await adapter.start()
    await adapter.create_collection(CollectionSpec("r", 4, Metric.L2))
    await adapter.create_collection(CollectionSpec("other", 4, Metric.L2))
    await adapter.upsert("other", docs("o", vectors(3, 4, 9)))
    first = adapter._db
    data = vectors(40, 4, 1)
    stop = asyncio.Event()
    searched = 0

    async def search_all_along() -> None:
        # Searches running across the swaps never fail.
        nonlocal searched
        while not stop.is_set():
            await adapter.search("r", SearchQuery(vector=as_float32(data[0]), top_k=3))
            searched += 1
            await asyncio.sleep(0)

    searcher = asyncio.create_task(search_all_along())
    for i in range(10):
        await adapter.upsert("r", docs(f"w{i}-", data[4 * i : 4 * i + 4]))
        await adapter.wait_for_maintenance("r")
    stop.set()
    await searcher
    assert searched > 0
    assert adapter._db is not first  # swapped at least once
    hits = await adapter.search("r", SearchQuery(vector=as_float32(data[17]), top_k=1))
    assert [h.id for h in hits] == ["w4-1"]
    assert await adapter.count("r", None) == 40
    # Every open table was reopened on the fresh connection and still works.
    assert await adapter.count("other", None) == 3
    await adapter.upsert("other", docs("p", vectors(2, 4, 8)))
    assert await adapter.count("other", None) == 5
    # Old versions were deleted by optimize (retention 1 ms here).
    table = await (await lancedb.connect_async(uri)).open_table("r")
    assert len(await table.list_versions()) < 10
    await adapter.close()


@pytest.mark.parametrize("held", ["_update_indices", "_prune_versions"])
async def test_writes_and_searches_go_on_while_the_index_update_or_pruning_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, held: str
) -> None:
    # Only compaction holds the write lock: the index update and pruning (held
    # here in their worker thread) run beside writes. Under the lock they
    # queued every write for 25-60 ms and 200-400 ms (the soak's write p99).
    from vectorgate_server.adapters.lancedb import maintenance

    entered, release = threading.Event(), threading.Event()
    real = getattr(maintenance, held)

    def hold(*args: Any) -> Any:
        entered.set()
        release.wait(60)
        return real(*args)

    uri = str(tmp_path / "db")
    adapter = LanceDBAdapter(
        "s",
        uri,
        optimize_every_writes=2,
        recycle_connection_writes=0,
        cleanup_older_than=timedelta(milliseconds=1),
    )
    await adapter.start()
    try:
        await adapter.create_collection(CollectionSpec("r", 4, Metric.L2))
        data = vectors(8, 4, 3)
        texted = [
            Document(id=f"t{i}", text=f"word{i} common", vector=as_float32(v), metadata={})
            for i, v in enumerate(data[:4])
        ]
        await adapter.upsert("r", texted)  # the full-text index is built: an index to update
        await adapter.wait_for_maintenance("r")
        monkeypatch.setattr(maintenance, held, hold)
        await adapter.upsert("r", docs("a", data[4:5]))
        await adapter.upsert("r", docs("b", data[5:6]))  # the optimize is due
        assert await asyncio.to_thread(entered.wait, 30)
        await asyncio.wait_for(adapter.upsert("r", docs("late", data[6:7])), 10)
        await asyncio.wait_for(adapter.delete("r", ids=["t0"]), 10)
        hits = await adapter.search("r", SearchQuery(vector=as_float32(data[6]), top_k=1))
        assert [h.id for h in hits] == ["late0"]
        assert await adapter.count("r", None) == 6
        release.set()
        await adapter.wait_for_maintenance("r")
        assert await adapter.count("r", None) == 6
        hits = await adapter.search("r", SearchQuery(vector=as_float32(data[5]), top_k=1))
        assert [h.id for h in hits] == ["b0"]
    finally:
        release.set()
        await adapter.close()


async def test_a_write_during_a_connection_swap_is_seen_after_it(tmp_path: Path) -> None:
    # The fresh handle is opened outside the write lock; a write that commits
    # between its opening and the swap must still be visible afterwards.
    adapter = LanceDBAdapter("s", str(tmp_path / "db"), recycle_connection_writes=0)
    await adapter.start()
    await adapter.create_collection(CollectionSpec("r", 4, Metric.L2))
    await adapter.upsert("r", docs("a", vectors(3, 4, 1)))
    connect = adapter._connect

    async def connect_then_write() -> Any:
        fresh = await connect()
        open_table = fresh.open_table

        async def open_then_write(name: str) -> Any:
            table = await open_table(name)
            await adapter.upsert("r", docs("late", vectors(2, 4, 2)))
            return table

        fresh.open_table = open_then_write
        return fresh

    adapter._connect = connect_then_write  # type: ignore[method-assign]
    await adapter._recycle_connection()
    assert await adapter.count("r", None) == 5
    found = await adapter.get("r", ["late0", "late1"], False)
    assert sorted(d.id for d in found) == ["late0", "late1"]
    await adapter.close()


async def test_close_cancels_background_work(tmp_path: Path) -> None:
    adapter = LanceDBAdapter("s", str(tmp_path / "db"), index_min_rows=100)
    await adapter.start()
    await adapter.create_collection(
        CollectionSpec("c", 32, index=IndexSpec("IVF_HNSW_SQ", {"num_partitions": 2}))
    )
    await adapter.upsert("c", docs("d", vectors(3000, 32, 7)))
    await adapter.close()
    await adapter.close()  # idempotent


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("index", "field"),
    [
        (IndexSpec("BOGUS"), "collection.index.type"),
        (IndexSpec("HNSW"), "collection.index.type"),
        (IndexSpec("IVF_PQ", {"nlist": 4}), "collection.index.params.nlist"),
        (IndexSpec("IVF_PQ", {"distance_type": "l2"}), "collection.index.params.distance_type"),
        (IndexSpec("IVF_PQ", {"num_partitions": "4"}), "collection.index.params.num_partitions"),
        (IndexSpec("IVF_PQ", {"num_partitions": 0}), "collection.index.params.num_partitions"),
        (IndexSpec("IVF_PQ", {"num_partitions": 2.5}), "collection.index.params.num_partitions"),
        (IndexSpec("IVF_PQ", {"num_partitions": True}), "collection.index.params.num_partitions"),
        (IndexSpec("IVF_PQ", {"num_bits": 6}), "collection.index.params.num_bits"),
        (
            IndexSpec("IVF_HNSW_PQ", {"num_sub_vectors": 5}),
            "collection.index.params.num_sub_vectors",
        ),
        (IndexSpec("FLAT", {"num_partitions": 4}), "collection.index.params.num_partitions"),
    ],
)
async def test_invalid_index_spec(lance: LanceDBAdapter, index: IndexSpec, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        await lance.create_collection(CollectionSpec("bad", 16, index=index))
    assert info.value.field == field
    if field == "collection.index.type":
        assert "IVF_PQ" in info.value.message and "IVF_HNSW_SQ" in info.value.message
    assert "bad" not in await lance.list_collections()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"nprobes": "10"}, "native_params.nprobes"),
        ({"nprobes": 0}, "native_params.nprobes"),
        ({"refine_factor": 1.5}, "native_params.refine_factor"),
        ({"ef": -1}, "native_params.ef"),
        ({"ef": True}, "native_params.ef"),
        ({"exact": 1}, "native_params.exact"),
        ({"nprobe": 4}, "native_params.nprobe"),
    ],
)
async def test_invalid_native_params(
    lance: LanceDBAdapter, params: dict[str, Any], field: str
) -> None:
    await lance.create_collection(CollectionSpec("np", 4))
    q = SearchQuery(vectors(1, 4, 0)[0], 3, native_params=params)
    with pytest.raises(InvalidArgument) as info:
        await lance.search("np", q)
    assert info.value.field == field
    with pytest.raises(InvalidArgument):
        await lance.explain("np", q)


async def test_valid_native_params_and_explain(lance: LanceDBAdapter) -> None:
    await lance.create_collection(CollectionSpec("ex", 4, Metric.IP))
    vs = vectors(30, 4, 8)
    await lance.upsert("ex", docs("d", vs))
    assert set(lance.capabilities.native_params) == {"nprobes", "refine_factor", "ef", "exact"}
    f = C("i", Op.GTE, 3)
    params = {"nprobes": 10.0, "refine_factor": 2, "ef": 40, "exact": True}
    hits = await lance.search("ex", SearchQuery(vs[0], 5, filter=f, native_params=params))
    assert len(hits) == 5 and all(cast(int, h.metadata["i"]) >= 3 for h in hits)

    explained = await lance.explain("ex", SearchQuery(vs[0], 5, filter=f, native_params=params))
    assert explained.backend == "lancedb"
    assert explained.native_filter == compile_filter(f, {"i": FieldType.NUMBER}) == "`i` >= 3"
    assert explained.native_params == {
        "distance_type": "dot",
        "limit": 5,
        "prefilter": True,
        "nprobes": 10,
        "refine_factor": 2,
        "ef": 40,
        "exact": True,
    }
    plain = await lance.explain("ex", SearchQuery(vs[0], 5))
    assert plain.native_filter == ""


async def test_capabilities(lance: LanceDBAdapter) -> None:
    caps = lance.capabilities
    assert caps.filter_ops == frozenset(Op)
    assert caps.metrics == frozenset(Metric)
    assert {"FLAT", "IVF_PQ", "IVF_FLAT", "IVF_HNSW_SQ"} <= caps.index_types
    assert caps.max_write_batch == 10_000


# --------------------------------------------------------------------------- layout


async def test_reserved_looking_keys_are_mapped(lance: LanceDBAdapter) -> None:
    await lance.create_collection(CollectionSpec("keys", 4))
    meta: Metadata = {"_rowaddr": 1, "_distance_x": "a", "a.b.c": True, "x-y": ["q"]}
    await lance.upsert("keys", [Document("k", "", as_float32(vectors(1, 4, 0)[0]), dict(meta))])
    [doc] = await lance.get("keys", ["k"], False)
    assert doc.metadata == meta
    assert await lance.count("keys", C("_rowaddr", Op.EQ, 1)) == 1
    assert await lance.count("keys", C("a.b.c", Op.EQ, True)) == 1


async def test_number_columns_made_before_the_int64_companion(tmp_path: Path) -> None:
    """A float64 number column without its companion (written by an older vectorgate) reads
    as before (integral values as ints) and refuses integers a float64 would round."""
    uri = str(tmp_path / "legacy")
    first = LanceDBAdapter("lance", uri)
    await first.start()
    await first.create_collection(CollectionSpec("old", 4))
    vec = as_float32(vectors(1, 4, 0)[0])
    await first.upsert("old", [Document("a", "", vec, {"n": 3.0, "f": 0.5})])
    await first.close()
    db = await lancedb.connect_async(uri)
    table = await db.open_table("old")
    await table.drop_columns(["n#int64", "f#int64"])
    again = LanceDBAdapter("lance", uri)
    await again.start()
    try:
        [doc] = await again.get("old", ["a"], False)
        assert doc.metadata == {"n": 3, "f": 0.5} and isinstance(doc.metadata["n"], int)
        with pytest.raises(InvalidArgument) as info:
            await again.upsert("old", [Document("b", "", vec, {"n": 2**53 + 1})])
        assert info.value.field == "documents[0].metadata.n"
        await again.upsert("old", [Document("c", "", vec, {"n": 2**53, "new": 2**60 + 1})])
        got = {d.id: d.metadata for d in await again.get("old", ["c"], False)}
        assert got == {"c": {"n": 2**53, "new": 2**60 + 1}}  # a new key gets its companion
    finally:
        await again.close()


async def test_numbers_keep_their_type(lance: LanceDBAdapter) -> None:
    await lance.create_collection(CollectionSpec("num", 4))
    meta = {"int_as_float": 3.0, "huge": 2.0**60, "frac": 0.1, "big_int": 2**52, "i64": 2**63 - 1}
    await lance.upsert("num", [Document("n", "", as_float32(vectors(1, 4, 0)[0]), dict(meta))])
    [doc] = await lance.get("num", ["n"], False)
    assert doc.metadata == meta
    assert isinstance(doc.metadata["int_as_float"], float)  # 3.0 stays a float
    assert isinstance(doc.metadata["huge"], float)
    assert isinstance(doc.metadata["big_int"], int)
    assert isinstance(doc.metadata["i64"], int)
    # One key holds ints and floats alike (one numeric type), each read back as written.
    await lance.upsert(
        "num", [Document("m", "", as_float32(vectors(1, 4, 0)[0]), {"int_as_float": 7})]
    )
    got = {d.id: d.metadata["int_as_float"] for d in await lance.get("num", ["n", "m"], False)}
    assert got == {"n": 3.0, "m": 7} and isinstance(got["m"], int)


async def test_table_not_created_by_vectorgate(tmp_path: Path) -> None:
    uri = str(tmp_path / "db")
    db = await lancedb.connect_async(uri)
    table = await db.create_table(
        "foreign",
        data=pa.table(
            {
                "id": ["a", "b"],
                "vector": pa.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], pa.list_(pa.float32(), 3)),
                "n": pa.array([1, 2], pa.int64()),
                "label": ["x", None],
                "blob": pa.array([{"k": 1}, {"k": 2}]),
            }
        ),
    )
    table.close()
    db.close()

    adapter = LanceDBAdapter("s", uri)
    await adapter.start()
    try:
        info = await adapter.describe_collection("foreign")
        assert (info.dimension, info.metric, info.document_count) == (3, Metric.COSINE, 2)
        docs_ = await adapter.get("foreign", ["b", "a"], True)
        assert [d.metadata for d in docs_] == [{"n": 2}, {"n": 1, "label": "x"}]
        assert all(isinstance(d.metadata["n"], int) for d in docs_)
        hits = await adapter.search(
            "foreign", SearchQuery(as_float32([1.0, 0.1, 0.0]), 2, filter=C("n", Op.LT, 1.5))
        )
        assert [h.id for h in hits] == ["a"]
        assert hits[0].score == pytest.approx(1 / np.sqrt(1.01), abs=1e-5)
        await adapter.upsert(
            "foreign", [Document("c", "", as_float32([0, 0, 1]), {"n": 3, "extra": "e"})]
        )
        assert await adapter.count("foreign", C("extra", Op.EQ, "e")) == 1
        with pytest.raises(InvalidArgument) as info2:
            await adapter.upsert("foreign", [Document("d", "", as_float32([0, 0, 1]), {"n": 1.5})])
        assert info2.value.field == "documents[0].metadata.n"
        with pytest.raises(InvalidArgument) as info3:
            await adapter.upsert(
                "foreign", [Document("d", "", as_float32([0, 0, 1]), {"blob": "x"})]
            )
        assert info3.value.field == "documents[0].metadata.blob"
    finally:
        await adapter.close()


async def test_concurrent_upserts_of_new_ids_do_not_duplicate(lance: LanceDBAdapter) -> None:
    await lance.create_collection(CollectionSpec("conc", 8))
    batches = [docs("d", vectors(200, 8, seed)) for seed in range(6)]
    await asyncio.gather(*(lance.upsert("conc", b) for b in batches))
    assert await lance.count("conc") == 200


async def test_batches_are_split(tmp_path: Path) -> None:
    adapter = LanceDBAdapter("s", str(tmp_path / "db"), max_write_batch=7)
    await adapter.start()
    try:
        await adapter.create_collection(CollectionSpec("split", 4))
        await adapter.upsert("split", docs("d", vectors(50, 4, 0)))
        assert await adapter.count("split") == 50
    finally:
        await adapter.close()


async def test_failed_index_build_is_logged_and_retried_later(
    lance: LanceDBAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    await lance.create_collection(
        CollectionSpec("fail", 4, index=IndexSpec("IVF_FLAT", {"num_partitions": 2}))
    )
    await lance.upsert("fail", docs("a", vectors(10, 4, 0)))
    state = lance._tables["fail"]
    calls: list[int] = []

    async def broken(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        raise RuntimeError("index build exploded")

    state.table.create_index = broken
    await lance.upsert("fail", docs("b", vectors(600, 4, 1)))
    await lance.wait_for_maintenance("fail")
    assert calls == [1]
    assert "index build exploded" in caplog.text
    # Searching and writing still work; no new attempt until the table doubles.
    await lance.upsert("fail", docs("c", vectors(10, 4, 2)))
    await lance.wait_for_maintenance("fail")
    assert calls == [1]
    assert len(await lance.search("fail", SearchQuery(vectors(1, 4, 3)[0], 5))) == 5
    await lance.upsert("fail", docs("d", vectors(700, 4, 4)))
    await lance.wait_for_maintenance("fail")
    assert calls == [1, 1]
