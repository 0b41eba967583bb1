"""The LanceDB adapter's calibration of ``nprobes`` (issue #15): after an IVF index is
built, searches get the fewest probes whose recall@10 on rows sampled from the table
reaches the target, so data with structure is searched with a few partitions and
random data keeps the wide default; a reopened table is calibrated again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.support.lance_index import recall_at_10
from vectorgate_server.adapters.lancedb import LanceDBAdapter, search_defaults
from vectorgate_server.adapters.lancedb.index import default_nprobes, nprobes_ladder
from vectorgate_server.domain import (
    CollectionSpec,
    Document,
    IndexSpec,
    IndexState,
    SearchQuery,
    as_float32,
)

Matrix = np.ndarray[Any, np.dtype[np.float32]]
DIM = 32
PARTITIONS = 24
INDEX = IndexSpec("IVF_SQ", {"num_partitions": PARTITIONS})


def normalised(vs: Matrix) -> Matrix:
    out: Matrix = (vs / np.linalg.norm(vs, axis=1, keepdims=True)).astype(np.float32)
    return out


def clustered(n: int, seed: int, centres: Matrix) -> Matrix:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(centres), n)
    noise = rng.standard_normal((n, DIM)).astype(np.float32) * 0.05
    return normalised(centres[picks] + noise)


def random_unit(n: int, seed: int) -> Matrix:
    return normalised(np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32))


async def load(adapter: LanceDBAdapter, name: str, vs: Matrix) -> None:
    await adapter.create_collection(CollectionSpec(name, DIM, index=INDEX))
    docs = [Document(id=f"d{i}", vector=as_float32(v), metadata={}) for i, v in enumerate(vs)]
    await adapter.upsert(name, docs)
    await adapter.wait_for_maintenance(name)
    status = (await adapter.describe_collection(name)).index_status
    assert status is not None and status.state is IndexState.READY


def test_the_ladder_stays_below_the_default() -> None:
    assert nprobes_ladder(37) == [2, 4, 8, 13, 19, 26, 34]
    assert all(n < default_nprobes(37) for n in nprobes_ladder(37))
    assert nprobes_ladder(1) == []  # one partition: nothing to choose
    assert nprobes_ladder(3) == [1, 2]
    assert search_defaults("IVF_SQ", 10, 37, 4)["nprobes"] == 4
    # Uncalibrated (or no share below reaches the target): every partition.
    assert search_defaults("IVF_SQ", 10, 37)["nprobes"] == default_nprobes(37) == 37
    assert "nprobes" not in search_defaults("FLAT", 10, 0, 4)


async def test_structured_data_gets_few_probes_random_data_many(tmp_path: Path) -> None:
    adapter = LanceDBAdapter("lance", str(tmp_path / "db"), index_min_rows=1000)
    await adapter.start()
    try:
        centres = random_unit(PARTITIONS, 1)
        structured = clustered(6000, 2, centres)
        await load(adapter, "s", structured)
        st = adapter._tables["s"]
        assert st.index_calibrated and st.index_partitions == PARTITIONS
        assert 0 < st.index_nprobes <= 4  # a cluster or two of the 24
        plan = await adapter.explain("s", SearchQuery(vector=as_float32(structured[0]), top_k=10))
        assert plan.native_params["nprobes"] == st.index_nprobes
        # Held-out queries from the same distribution reach the target too.
        assert await recall_at_10(adapter, "s", structured, clustered(40, 3, centres)) >= 0.95

        noise = random_unit(6000, 4)
        await load(adapter, "r", noise)
        rt = adapter._tables["r"]
        assert rt.index_calibrated
        chosen = rt.index_nprobes or default_nprobes(PARTITIONS)
        assert chosen > st.index_nprobes
        assert await recall_at_10(adapter, "r", noise, random_unit(40, 5)) >= 0.90
        # A native nprobes still wins over the calibrated one.
        plan = await adapter.explain(
            "s",
            SearchQuery(vector=as_float32(structured[0]), top_k=10, native_params={"nprobes": 7}),
        )
        assert plan.native_params["nprobes"] == 7
    finally:
        await adapter.close()


async def test_a_reopened_table_is_calibrated_again(tmp_path: Path) -> None:
    uri = str(tmp_path / "db")
    first = LanceDBAdapter("lance", uri, index_min_rows=1000)
    await first.start()
    centres = random_unit(PARTITIONS, 6)
    vs = clustered(3000, 7, centres)
    try:
        await load(first, "c", vs)
        chosen = first._tables["c"].index_nprobes
        assert chosen > 0
    finally:
        await first.close()

    again = LanceDBAdapter("lance", uri, index_min_rows=1000)
    await again.start()
    try:
        # Until the background calibration ends, searches get the wide default.
        await again.describe_collection("c")
        await again.wait_for_maintenance("c")
        st = again._tables["c"]
        assert st.index_calibrated and st.index_nprobes == chosen
        assert await recall_at_10(again, "c", vs, clustered(30, 8, centres)) >= 0.95
    finally:
        await again.close()
