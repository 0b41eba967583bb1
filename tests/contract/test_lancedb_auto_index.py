"""The embedded store's automatic ANN index (issue #15): a collection created without
an index type gets one, built in the background once it passes the store's row
threshold; searches stay exact until it is ready, rows written since the build are
still found, the index survives a restart and ``describe_collection`` reports it."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.lance_index import WatchedBuilds, recall_at_10
from vectorgate.testing.reference import brute_force
from vectorgate_server.adapters.lancedb import AUTO_INDEX, LanceDBAdapter, search_defaults
from vectorgate_server.domain import (
    CollectionSpec,
    Document,
    IndexSpec,
    IndexState,
    Metric,
    SearchQuery,
    as_float32,
)
from vectorgate_server.embeddings.local import LocalOnnxEmbedder

Matrix = np.ndarray[Any, np.dtype[np.float32]]
DIM = 384


def unit_vectors(n: int, seed: int) -> Matrix:
    vs = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    out: Matrix = vs / np.linalg.norm(vs, axis=1, keepdims=True)
    return out


def docs(prefix: str, vs: Matrix, start: int = 0) -> list[Document]:
    return [
        Document(id=f"{prefix}{start + i}", vector=as_float32(v), metadata={})
        for i, v in enumerate(vs)
    ]


def top_ids(prefix: str, vs: Matrix, q: Matrix, k: int) -> list[str]:
    rows, _ = brute_force(vs, q, Metric.COSINE, k)
    return [f"{prefix}{r}" for r in rows]


@pytest.fixture
async def lance(tmp_path: Path) -> AsyncIterator[LanceDBAdapter]:
    adapter = LanceDBAdapter("lance", str(tmp_path / "db"), index_min_rows=1000)
    await adapter.start()
    yield adapter
    await adapter.close()


async def test_threshold_crossing_builds_the_index_in_the_background(
    lance: LanceDBAdapter,
) -> None:
    await lance.create_collection(CollectionSpec("c", DIM))
    vs = unit_vectors(1300, 1)
    await lance.upsert("c", docs("d", vs[:600]))
    await lance.wait_for_maintenance("c")
    info = await lance.describe_collection("c")
    assert info.index == IndexSpec()  # the spec is what the caller asked for
    status = info.index_status
    assert status is not None
    assert (status.state, status.type, status.auto_index_min_rows) == (
        IndexState.NONE,
        AUTO_INDEX.type,
        1000,
    )
    assert (status.indexed_rows, status.unindexed_rows) == (0, 600)

    # Hold the build at its start to look at the table while it runs.
    builds = WatchedBuilds(lance, "c", hold_first=True)
    await lance.upsert("c", docs("d", vs[600:1200], start=600))
    await builds.started.wait()
    status = (await lance.describe_collection("c")).index_status
    assert status is not None and status.state is IndexState.BUILDING
    # Writes and searches go on meanwhile, and searches are exact.
    await lance.upsert("c", docs("d", vs[1200:], start=1200))
    for q in unit_vectors(5, 2):
        hits = await lance.search("c", SearchQuery(vector=as_float32(q), top_k=10))
        assert [h.id for h in hits] == top_ids("d", vs, q, 10)
    plan = await lance.explain("c", SearchQuery(vector=as_float32(vs[0]), top_k=10))
    assert "refine_factor" not in plan.native_params  # no index parameters: exhaustive

    builds.release.set()
    await lance.wait_for_maintenance("c")
    status = (await lance.describe_collection("c")).index_status
    assert status is not None
    assert (status.state, status.type) == (IndexState.READY, AUTO_INDEX.type)
    assert status.indexed_rows + status.unindexed_rows == 1300
    assert status.indexed_rows >= 1200
    plan = await lance.explain("c", SearchQuery(vector=as_float32(vs[0]), top_k=10))
    assert plan.native_params["refine_factor"] == 5


async def test_rows_written_after_the_build_are_found(tmp_path: Path) -> None:
    adapter = LanceDBAdapter(
        "lance", str(tmp_path / "db"), index_min_rows=1000, optimize_every_writes=3
    )
    await adapter.start()
    try:
        await adapter.create_collection(CollectionSpec("c", DIM))
        await adapter.upsert("c", docs("d", unit_vectors(1200, 3)))
        await adapter.wait_for_maintenance("c")
        before = (await adapter.describe_collection("c")).index_status
        assert before is not None and before.state is IndexState.READY

        late = unit_vectors(20, 4)
        await adapter.upsert("c", docs("late", late))
        status = (await adapter.describe_collection("c")).index_status
        assert status is not None and status.unindexed_rows == 20
        for i, v in enumerate(late):  # found before any index update (fast_search is off)
            hits = await adapter.search("c", SearchQuery(vector=as_float32(v), top_k=1))
            assert [h.id for h in hits] == [f"late{i}"]

        # The periodic optimize adds them to the index; they are found still.
        await adapter.upsert("c", docs("more", unit_vectors(2, 5)))
        await adapter.upsert("c", docs("again", unit_vectors(2, 6)))
        await adapter.wait_for_maintenance("c")
        status = (await adapter.describe_collection("c")).index_status
        assert status is not None
        assert (status.state, status.unindexed_rows, status.indexed_rows) == (
            IndexState.READY,
            0,
            1224,
        )
        for i, v in enumerate(late):
            hits = await adapter.search("c", SearchQuery(vector=as_float32(v), top_k=1))
            assert [h.id for h in hits] == [f"late{i}"]
    finally:
        await adapter.close()


async def test_recall_on_random_unit_vectors(lance: LanceDBAdapter) -> None:
    # The worst case for an ANN index: no structure to exploit.
    await lance.create_collection(CollectionSpec("r", DIM))
    vs = unit_vectors(3000, 7)
    for start in range(0, len(vs), 1000):
        await lance.upsert("r", docs("d", vs[start : start + 1000], start=start))
    await lance.wait_for_maintenance("r")
    status = (await lance.describe_collection("r")).index_status
    assert status is not None and status.state is IndexState.READY
    assert await recall_at_10(lance, "r", vs, unit_vectors(40, 8)) >= 0.90


_SUBJECTS = (
    "the committee",
    "a young engineer",
    "the old fisherman",
    "our neighbour",
    "the city council",
    "a startup founder",
    "the orchestra",
    "a hospital nurse",
    "the football team",
    "a retired teacher",
    "the research lab",
    "a travelling chef",
)
_VERBS = (
    "repaired",
    "debated",
    "painted",
    "sold",
    "studied",
    "cooked",
    "photographed",
    "rebuilt",
    "celebrated",
    "measured",
    "planted",
    "recorded",
)
_OBJECTS = (
    "the wooden bridge",
    "a vintage motorcycle",
    "the annual budget",
    "a rare orchid",
    "the harbour lighthouse",
    "an ancient manuscript",
    "the solar panels",
    "a spicy curry",
    "the mountain trail",
    "a jazz album",
    "the village bakery",
    "a broken telescope",
)
_WHEN = (
    "after the storm",
    "on a rainy Sunday",
    "during the winter festival",
    "before the election",
    "at dawn",
    "for the school fair",
    "despite the budget cuts",
    "with borrowed tools",
)


def sentences(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    return [
        f"{rnd.choice(_SUBJECTS).capitalize()} {rnd.choice(_VERBS)} {rnd.choice(_OBJECTS)} "
        f"{rnd.choice(_WHEN)}, {rnd.choice(_SUBJECTS)} said."
        for _ in range(n)
    ]


async def test_recall_on_local_model_embeddings_of_text(lance: LanceDBAdapter) -> None:
    embedder = LocalOnnxEmbedder()
    texts = sentences(1200, 11)
    vs = (await embedder.embed(texts)).astype(np.float32)
    queries = (await embedder.embed(sentences(40, 12))).astype(np.float32)
    await lance.create_collection(CollectionSpec("t", DIM))
    # Vectors only (no text: the full-text index would be built first).
    await lance.upsert("t", docs("d", vs))
    await lance.wait_for_maintenance("t")
    status = (await lance.describe_collection("t")).index_status
    assert status is not None and status.state is IndexState.READY
    assert await recall_at_10(lance, "t", vs, queries) >= 0.95


async def test_the_index_survives_a_restart(tmp_path: Path) -> None:
    uri = str(tmp_path / "db")
    adapter = LanceDBAdapter("lance", uri, index_min_rows=1000)
    await adapter.start()
    vs = unit_vectors(1100, 9)
    await adapter.create_collection(CollectionSpec("c", DIM))
    await adapter.upsert("c", docs("d", vs))
    await adapter.wait_for_maintenance("c")
    built = (await adapter.describe_collection("c")).index_status
    assert built is not None and built.state is IndexState.READY
    await adapter.close()

    again = LanceDBAdapter("lance", uri, index_min_rows=1000)
    await again.start()
    try:
        await again.describe_collection("c")  # opens the table: its fast-scan index is rebuilt
        await again.wait_for_maintenance("c")
        status = (await again.describe_collection("c")).index_status
        assert status == built
        # Used by searches (its defaults apply) and not rebuilt on the next write.
        plan = await again.explain("c", SearchQuery(vector=as_float32(vs[0]), top_k=10))
        assert plan.native_params["refine_factor"] == 5
        # nprobes from the partition count read back from the index.
        assert again._tables["c"].index_partitions >= 1
        assert (
            plan.native_params["nprobes"]
            == search_defaults("IVF_SQ", 10, again._tables["c"].index_partitions)["nprobes"]
        )
        await again.upsert("c", docs("x", unit_vectors(1, 10)))
        await again.wait_for_maintenance("c")
        assert again._tables["c"].index_rows == 1100  # not retrained
        hits = await again.search("c", SearchQuery(vector=as_float32(vs[5]), top_k=1))
        assert [h.id for h in hits] == ["d5"]
    finally:
        await again.close()


async def test_flat_and_disabled_auto_index_stay_exact(tmp_path: Path) -> None:
    adapter = LanceDBAdapter("lance", str(tmp_path / "db"), index_min_rows=100, auto_index=None)
    await adapter.start()
    try:
        await adapter.create_collection(CollectionSpec("auto_off", 8))
        await adapter.create_collection(CollectionSpec("flat", 8, index=IndexSpec("FLAT")))
        for name in ("auto_off", "flat"):
            await adapter.upsert(name, docs("d", np.ones((150, 8), dtype=np.float32)))
            await adapter.wait_for_maintenance(name)
            status = (await adapter.describe_collection(name)).index_status
            assert status is not None
            assert (status.state, status.type, status.auto_index_min_rows) == (
                IndexState.NONE,
                "",
                0,
            )
    finally:
        await adapter.close()


def test_the_store_config_names_the_automatic_index(tmp_path: Path) -> None:
    from vectorgate_server.adapters import lancedb as adapter_module
    from vectorgate_server.adapters.configs.lancedb import _AUTO_INDEX_TYPES, LanceDBConfig

    assert set(adapter_module.INDEX_TYPES) | {"FLAT"} == _AUTO_INDEX_TYPES
    made = LanceDBAdapter.from_config(
        LanceDBConfig(name="s", uri=str(tmp_path), index_min_rows=7, auto_index_type="ivf_pq"),
        data_dir=tmp_path,
    )
    assert (made.index_min_rows, made.auto_index) == (7, IndexSpec("IVF_PQ"))
    off = LanceDBAdapter.from_config(
        LanceDBConfig(name="s", uri=str(tmp_path), auto_index_type="flat"), data_dir=tmp_path
    )
    assert (off.index_min_rows, off.auto_index) == (10_000, None)
    # The adapter built without a config has the configured default (one source).
    assert LanceDBAdapter("s", str(tmp_path)).index_min_rows == off.index_min_rows
    with pytest.raises(ValueError, match="auto_index_type"):
        LanceDBConfig(name="s", uri=str(tmp_path), auto_index_type="HNSW")


async def test_the_index_is_retrained_as_the_table_grows(tmp_path: Path) -> None:
    adapter = LanceDBAdapter(
        "lance", str(tmp_path / "db"), index_min_rows=1000, optimize_every_writes=1
    )
    await adapter.start()
    try:
        await adapter.create_collection(CollectionSpec("g", 16))
        builds = WatchedBuilds(adapter, "g")
        vs = np.random.default_rng(13).standard_normal((4200, 16)).astype(np.float32)
        await adapter.upsert("g", docs("d", vs[:1000]))
        await adapter.wait_for_maintenance("g")
        assert builds.rows == [1000]
        # Grown less than REBUILD_GROWTH-fold: new rows are only added to the index.
        await adapter.upsert("g", docs("d", vs[1000:3000], start=1000))
        await adapter.wait_for_maintenance("g")
        await adapter.upsert("g", docs("d", vs[3000:3100], start=3000))
        await adapter.wait_for_maintenance("g")
        assert builds.rows == [1000]
        status = (await adapter.describe_collection("g")).index_status
        assert status is not None and (status.indexed_rows, status.unindexed_rows) == (3100, 0)
        # Past it: retrained over every row, in the background.
        await adapter.upsert("g", docs("d", vs[3100:], start=3100))
        await adapter.wait_for_maintenance("g")
        assert builds.rows == [1000, 4200]
        status = (await adapter.describe_collection("g")).index_status
        assert status is not None
        assert (status.state, status.indexed_rows, status.unindexed_rows) == (
            IndexState.READY,
            4200,
            0,
        )
        hits = await adapter.search("g", SearchQuery(vector=as_float32(vs[4100]), top_k=1))
        assert [h.id for h in hits] == ["d4100"]
    finally:
        await adapter.close()


async def test_growth_during_a_build_is_retrained_without_another_write(tmp_path: Path) -> None:
    # Rows loaded faster than the index builds: once the build ends, the work that came
    # due meanwhile (retraining over every row, adding rows to the index) follows on its
    # own, not at the next write, which may never come.
    adapter = LanceDBAdapter(
        "lance", str(tmp_path / "db"), index_min_rows=1000, optimize_every_writes=1
    )
    await adapter.start()
    try:
        await adapter.create_collection(CollectionSpec("h", 16))
        builds = WatchedBuilds(adapter, "h", hold_first=True)
        vs = np.random.default_rng(17).standard_normal((5000, 16)).astype(np.float32)
        await adapter.upsert("h", docs("d", vs[:1000]))
        await builds.started.wait()
        for start in range(1000, 5000, 1000):
            await adapter.upsert("h", docs("d", vs[start : start + 1000], start=start))
        builds.release.set()
        await adapter.wait_for_maintenance("h")
        assert builds.rows == [1000, 5000]
        status = (await adapter.describe_collection("h")).index_status
        assert status is not None
        assert (status.state, status.indexed_rows, status.unindexed_rows) == (
            IndexState.READY,
            5000,
            0,
        )
    finally:
        await adapter.close()
