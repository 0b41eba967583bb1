"""Test helpers for the LanceDB adapter's vector index: watching its builds and
measuring recall against exhaustive search."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from vectorgate.testing.reference import brute_force
from vectorgate_server.adapters.lancedb import LanceDBAdapter
from vectorgate_server.domain import Metric, SearchQuery, as_float32


class WatchedBuilds:
    """Wraps a table's ``create_index``: records the table's row count at each build
    and, with ``hold_first``, holds the first build at its start until ``release``
    is set (``started`` is set when a build starts)."""

    def __init__(self, adapter: LanceDBAdapter, name: str, *, hold_first: bool = False) -> None:
        self.rows: list[int] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        if not hold_first:
            self.release.set()
        st = adapter._tables[name]
        real = st.table.create_index

        async def watched(*args: Any, **kwargs: Any) -> Any:
            self.rows.append(await st.table.count_rows())
            self.started.set()
            if len(self.rows) == 1:
                await self.release.wait()
            return await real(*args, **kwargs)

        st.table.create_index = watched


async def recall_at_10(
    adapter: LanceDBAdapter, name: str, vs: np.ndarray[Any, Any], queries: np.ndarray[Any, Any]
) -> float:
    """Recall@10 of the adapter's searches of ``queries`` in a collection holding
    ``vs`` as ``d0``, ``d1``, ..., against exhaustive search."""
    found = 0
    for q in queries:
        hits = await adapter.search(name, SearchQuery(vector=as_float32(q), top_k=10))
        rows, _ = brute_force(vs, q, Metric.COSINE, 10)
        found += len({h.id for h in hits} & {f"d{r}" for r in rows})
    return found / (10 * len(queries))
