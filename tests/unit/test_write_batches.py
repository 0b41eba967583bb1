"""The one write-splitting path (adapters.base.upsert / upsert_columns)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pytest

from vectorgate_server.adapters.base import Capabilities, upsert, upsert_columns
from vectorgate_server.adapters.batches import column_rows, document_rows
from vectorgate_server.domain import Document, DocumentBatch
from vectorgate_server.errors import InvalidArgument


class _Recorder:
    """An adapter taking at most 2 rows a call, refusing the row whose id is ``bad``."""

    def __init__(self, columnar: bool) -> None:
        self.capabilities = Capabilities(max_write_batch=2)
        self.calls: list[list[str]] = []
        if columnar:
            self.upsert_columns = self._upsert_columns

    async def upsert(self, name: str, documents: Sequence[Document]) -> None:
        self.calls.append([d.id for d in documents])
        for i, doc in enumerate(documents):
            if doc.id == "bad":
                raise InvalidArgument(
                    f"documents[{i}].metadata.k: refused (row {i})",
                    field=f"documents[{i}].metadata.k",
                )

    async def _upsert_columns(self, name: str, batch: DocumentBatch) -> None:
        self.calls.append(list(batch.ids))
        if "bad" in batch.ids:
            i = batch.ids.index("bad")
            raise InvalidArgument(
                f"columns.metadata[0].values[{i}]: refused (row {i}, ids[{i}])",
                field=f"columns.metadata[0].values[{i}]",
            )


def _docs(ids: list[str]) -> list[Document]:
    return [Document(i, "", np.ones(2, np.float32)) for i in ids]


async def test_writes_are_split_to_max_write_batch_and_errors_name_request_positions() -> None:
    adapter = _Recorder(columnar=False)
    await upsert(cast(Any, adapter), "c", _docs(["a", "b", "c", "d", "e"]))
    assert adapter.calls == [["a", "b"], ["c", "d"], ["e"]]
    with pytest.raises(InvalidArgument) as err:
        await upsert(cast(Any, adapter), "c", _docs(["a", "b", "c", "bad", "e"]))
    assert err.value.field == "documents[3].metadata.k"
    assert err.value.metadata["field"] == "documents[3].metadata.k"
    assert err.value.message == "documents[3].metadata.k: refused (row 3)"
    assert str(err.value) == err.value.message
    # In the first call nothing moves.
    with pytest.raises(InvalidArgument) as err:
        await upsert(cast(Any, adapter), "c", _docs(["a", "bad"]))
    assert err.value.field == "documents[1].metadata.k"


@pytest.mark.parametrize("columnar", [True, False])
async def test_columnar_writes_are_split_the_same_way(columnar: bool) -> None:
    adapter = _Recorder(columnar=columnar)
    ids = ["a", "b", "c", "d", "bad"]
    batch = DocumentBatch(
        ids=ids,
        vectors=np.ones((5, 2), np.float32),
        texts=["t"] * 5,
        metadata={"k": [1, 2, None, 4, 5]},
    )
    with pytest.raises(InvalidArgument) as err:
        await upsert_columns(cast(Any, adapter), "c", batch)
    assert adapter.calls == [["a", "b"], ["c", "d"], ["bad"]]
    if columnar:
        assert err.value.field == "columns.metadata[0].values[4]"
        assert err.value.message == "columns.metadata[0].values[4]: refused (row 4, ids[4])"
    else:
        assert err.value.field == "documents[4].metadata.k"


def test_rows_are_views_of_the_batch() -> None:
    vectors = np.arange(6, dtype=np.float32).reshape(3, 2)
    batch = DocumentBatch(ids=["a", "b", "c"], vectors=vectors, metadata={"k": [1, None, 3]})
    part = batch.rows(1, 3)
    assert part.ids == ["b", "c"] and part.texts is None and part.metadata == {"k": [None, 3]}
    assert np.shares_memory(part.vectors, vectors)
    assert len(part) == 2


def test_row_paths_name_the_row_its_vector_and_its_fields() -> None:
    batch = DocumentBatch(
        ids=["a", "b"],
        vectors=np.ones((2, 2), np.float32),
        metadata={"k": [1, None], "j": ["x", "y"]},
    )
    doc = list(document_rows(batch.documents()))[1]
    col = list(column_rows(batch))[1]
    parts = ["", "id", "text", "vector", "metadata", "metadata.j"]
    assert [doc.path(p) for p in parts] == [
        "documents[1]",
        "documents[1].id",
        "documents[1].text",
        "documents[1].vector",
        "documents[1].metadata",
        "documents[1].metadata.j",
    ]
    # A columnar row is named by its id's position; its vector is a row of the block.
    assert [col.path(p) for p in parts] == [
        "columns.ids[1]",
        "columns.ids[1]",
        "columns.texts[1]",
        "columns.vectors",
        "columns.metadata",
        "columns.metadata[1].values[1]",
    ]
    assert (col.id, col.values, col.text, col.metadata) == (
        doc.id,
        doc.values,
        doc.text,
        doc.metadata,
    )
