"""The native columnar write of an adapter, checked against its document write.

:func:`check_native_columns` writes a batch holding every metadata kind (ints,
floats, strings, bools, string lists, absent values, an all-absent column, empty
texts) with ``upsert_columns`` while ``DocumentBatch.documents`` and
``Document()`` raise, so the adapter cannot go through per-row documents, then
compares what it reads back with the same rows written by ``upsert``.
"""

from __future__ import annotations

import numpy as np
import pytest

from vectorgate_server.adapters.base import Adapter, SupportsColumnarUpsert
from vectorgate_server.domain import CollectionSpec, Document, DocumentBatch, Metric
from vectorgate_server.errors import InvalidArgument


def mixed_batch(rows: int, dimension: int, seed: int = 11) -> DocumentBatch:
    """A batch with a column of each metadata kind, absent values in most."""
    vectors = np.random.default_rng(seed).standard_normal((rows, dimension)).astype(np.float32)
    return DocumentBatch(
        ids=[f"m{i}" for i in range(rows)],
        vectors=vectors,
        texts=["" if i % 5 == 0 else f"text {i}" for i in range(rows)],
        metadata={
            "count": [None if i % 4 == 0 else 2**40 + i for i in range(rows)],
            "ratio": [i + 0.25 for i in range(rows)],
            "label": ["odd" if i % 2 else None for i in range(rows)],
            "flag": [i % 3 == 0 for i in range(rows)],
            "tags": [["a", str(i)] if i % 2 == 0 else None for i in range(rows)],
            "never": [None] * rows,
        },
    )


def _refused(*_: object, **__: object) -> None:
    raise AssertionError("the columnar write went through per-row documents")


async def check_native_columns(
    adapter: Adapter, monkeypatch: pytest.MonkeyPatch, name: str, dimension: int = 8
) -> None:
    """``upsert_columns`` writes natively, idempotently, what ``upsert`` writes, and
    refuses a type change naming the column."""
    assert isinstance(adapter, SupportsColumnarUpsert)
    batch = mixed_batch(24, dimension)
    documents = batch.documents()
    for collection in (name, f"{name}2"):
        await adapter.create_collection(
            CollectionSpec(name=collection, dimension=dimension, metric=Metric.COSINE)
        )
    await adapter.upsert(f"{name}2", documents)
    with monkeypatch.context() as m:
        m.setattr(DocumentBatch, "documents", _refused)
        m.setattr(Document, "__init__", _refused)
        for _ in range(2):
            await adapter.upsert_columns(name, batch)
    assert await adapter.count(name) == len(batch)
    got = await adapter.get(name, batch.ids, True)
    want = await adapter.get(f"{name}2", batch.ids, True)
    assert [d.id for d in got] == batch.ids
    for doc, expected in zip(got, want, strict=True):
        assert (doc.id, doc.text) == (expected.id, expected.text)
        assert doc.metadata == expected.metadata
        # Typed values: an int stays an int, a bool a bool.
        assert {k: type(v) for k, v in doc.metadata.items()} == {
            k: type(v) for k, v in expected.metadata.items()
        }
        assert doc.vector is not None and expected.vector is not None
        np.testing.assert_allclose(doc.vector, expected.vector, rtol=1e-6)
    assert isinstance(got[1].metadata["count"], int)
    assert "count" not in got[0].metadata and "never" not in got[0].metadata
    # One type per key: a column of another type than the stored one is named whole,
    # a value of another type within a column by its row.
    strings = DocumentBatch(
        ids=["m0"], vectors=batch.vectors[:1], metadata={"flag": [True], "count": ["x"]}
    )
    with pytest.raises(InvalidArgument) as stored:
        await adapter.upsert_columns(name, strings)
    assert stored.value.field == "columns.metadata[1]"
    mixed = DocumentBatch(ids=["m0", "m1"], vectors=batch.vectors[:2], metadata={"new": [1, "x"]})
    with pytest.raises(InvalidArgument) as within:
        await adapter.upsert_columns(name, mixed)
    assert within.value.field == "columns.metadata[0].values[1]"
    [unchanged] = await adapter.get(name, ["m1"], False)
    assert unchanged.metadata == want[1].metadata
