"""The native columnar write of both Qdrant adapters: the server adapter (on
qdrant-client's local mode, the stand-in server of these tests) and the embedded
Edge shard (qdrant-edge).

``upsert_columns`` builds its points from the columns, never through per-row
``Document`` objects, and writes exactly the points ``upsert`` writes for the same
rows: payload (ids, text, typed metadata, the list keys and the cosine norm), dense
vector and BM25 sparse vector.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.columnar import check_native_columns, mixed_batch
from vectorgate_server.adapters.qdrant import QdrantAdapter
from vectorgate_server.adapters.qdrant import adapter as server_module
from vectorgate_server.adapters.qdrant import edge as edge_module
from vectorgate_server.adapters.qdrant.edge import QdrantEdgeAdapter
from vectorgate_server.domain import CollectionSpec, KeywordQuery, Metric
from vectorgate_server.filters.qdrant import point_id

#: The module of each adapter kind, whose ``column_parts`` it calls.
_MODULES = {"server": server_module, "edge": edge_module}

Qdrant = QdrantAdapter | QdrantEdgeAdapter


@pytest.fixture(params=sorted(_MODULES))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def adapter(kind: str, tmp_path: Path) -> AsyncIterator[Qdrant]:
    a: Qdrant
    if kind == "server":
        a = QdrantAdapter("q", path=str(tmp_path / "qdrant"), keyword_search=True)
    else:
        a = QdrantEdgeAdapter("q", path=str(tmp_path / "edge"), keyword_search=True)
    await a.start()
    try:
        yield a
    finally:
        await a.close()


def _stored(record: Any) -> tuple[Any, list[float], tuple[list[int], list[float]] | None]:
    """A point's payload, dense vector and sparse (BM25) vector, as either client reads it
    (a point whose text has no terms has no sparse vector)."""
    vector = record.vector
    sparse = vector.get("vg_text_bm25") if isinstance(vector, dict) else None
    dense = vector[""] if isinstance(vector, dict) else vector
    return (
        record.payload,
        list(dense),
        (list(sparse.indices), list(sparse.values)) if sparse is not None else None,
    )


async def test_columnar_upsert_is_native_and_writes_the_points_upsert_writes(
    adapter: Qdrant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No Document is built on the columnar path (DocumentBatch.documents and
    # Document() raise); ints, floats, bools, strings, string lists and absent
    # values read back typed as the documents path writes them; type refusals
    # name the column (columns.metadata[c]) or the value (...values[i]).
    await check_native_columns(adapter, monkeypatch, "columnar")
    # Both collections hold the same rows (the refused batches wrote nothing): the
    # points themselves are identical, sparse text vector and cosine norm included.
    ids = [point_id(i) for i in mixed_batch(24, 8).ids]
    columns = {str(r.id): _stored(r) for r in await adapter._retrieve("columnar", ids, True)}
    documents = {str(r.id): _stored(r) for r in await adapter._retrieve("columnar2", ids, True)}
    assert len(columns) == 24 and columns.keys() == documents.keys()
    for key, (payload, dense, sparse) in columns.items():
        assert (payload, sparse) == (documents[key][0], documents[key][2])
        # The stored (unit-normalised) cosine vector: qdrant-client's local mode
        # normalises a re-upserted point's vector again, a float32 ulp apart.
        np.testing.assert_allclose(dense, documents[key][1], rtol=1e-6)
    assert columns[point_id("m1")][0]["metadata"]["count"] == 2**40 + 1
    assert "count" not in columns[point_id("m0")][0]["metadata"]


async def test_large_columnar_batches_are_built_off_the_event_loop(
    adapter: Qdrant, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    module = _MODULES[kind]
    build = module.column_parts

    def spy(*args: Any) -> Any:
        threads.append(threading.current_thread())
        return build(*args)

    monkeypatch.setattr(module, "column_parts", spy)
    await adapter.create_collection(CollectionSpec("c", 8, Metric.COSINE))
    batch = mixed_batch(40, 8)
    await adapter.upsert_columns("c", batch)
    assert threads and threading.main_thread() not in threads
    assert await adapter.count("c") == 40
    [hit] = await adapter.keyword_search("c", KeywordQuery("39", 1))
    assert hit.id == "m39"
    [doc] = await adapter.get("c", ["m39"], True)
    assert doc.vector is not None
    np.testing.assert_allclose(doc.vector, batch.vectors[39], rtol=1e-6)
