"""LanceDB: reads never find a file pruned under them, however maintenance and reads interleave.

Concurrent searches (vector and keyword), counts, gets and scans run against two tables while
a writer upserts and deletes without pause, so the adapter compacts, prunes every version older
than 1 ms and swaps its connection over and over. Every read must succeed. Its length is
``VECTORGATE_LANCEDB_STRESS_SECONDS`` (default 60 s).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vectorgate_server.adapters.lancedb import LanceDBAdapter
from vectorgate_server.domain import (
    CollectionSpec,
    Condition,
    Document,
    KeywordQuery,
    Metric,
    Op,
    SearchQuery,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SECONDS = float(os.environ.get("VECTORGATE_LANCEDB_STRESS_SECONDS", "60"))
DIM = 16


def _doc(i: int, rng: np.random.Generator) -> Document:
    return Document(
        id=f"d{i}",
        text=f"document number {i} about {'cats' if i % 2 else 'dogs'}",
        vector=rng.random(DIM, dtype=np.float32),
        metadata={"n": i % 7},
    )


async def test_reads_survive_compaction_pruning_and_connection_swaps(tmp_path: Path) -> None:
    adapter = LanceDBAdapter(
        "s",
        str(tmp_path / "db"),
        optimize_every_writes=2,
        recycle_connection_writes=6,
        cleanup_older_than=timedelta(milliseconds=1),
    )
    await adapter.start()
    rng = np.random.default_rng(7)
    tables = ("a", "b")
    for name in tables:
        await adapter.create_collection(CollectionSpec(name, DIM, Metric.COSINE))
        await adapter.upsert(name, [_doc(i, rng) for i in range(200)])
    optimizes = 0
    optimize = adapter._optimize

    async def counted(st: Any) -> None:
        nonlocal optimizes
        await optimize(st)
        optimizes += 1

    adapter._optimize = counted  # type: ignore[method-assign]
    first_connection = adapter._db
    deadline = time.monotonic() + SECONDS
    errors: list[BaseException] = []
    reads = 0

    async def reader(k: int) -> None:
        nonlocal reads
        local = np.random.default_rng(k)
        while time.monotonic() < deadline:
            name = tables[k % 2]
            try:
                kind = reads % 5
                if kind == 0:
                    q = SearchQuery(vector=local.random(DIM, dtype=np.float32), top_k=5)
                    assert len(await adapter.search(name, q)) == 5
                elif kind == 1:
                    hits = await adapter.keyword_search(name, KeywordQuery("cats", 5))
                    assert hits
                elif kind == 2:
                    assert await adapter.count(name, Condition("n", Op.EQ, 3)) > 0
                elif kind == 3:
                    assert len(await adapter.get(name, ["d1", "d2"], False)) == 2
                else:
                    assert (
                        len(await adapter.scan(name, after=None, limit=10, include_vectors=False))
                        == 10
                    )
            except Exception as exc:  # every failure is counted, none retried
                errors.append(exc)
            reads += 1
            await asyncio.sleep(0)

    async def writer() -> None:
        i = 1000
        while time.monotonic() < deadline:
            name = tables[i % 2]
            await adapter.upsert(name, [_doc(j, rng) for j in range(i, i + 3)])
            # Rows 0-199 stay; later ones come and go.
            await adapter.delete(name, [f"d{i - 30}"])
            i += 3

    await asyncio.gather(writer(), *(reader(k) for k in range(4)))
    for name in tables:
        await adapter.wait_for_maintenance(name)
    assert errors == [], f"{len(errors)} of {reads} reads failed, first: {errors[0]!r}"
    assert reads > 100 and optimizes > 10, (reads, optimizes)
    assert adapter._db is not first_connection
    await adapter.close()
