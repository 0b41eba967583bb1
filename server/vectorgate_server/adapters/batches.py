"""A write's rows, one at a time, from documents or from a columnar batch.

For adapters whose backend takes a record per row (Pinecone's records, pymilvus'
row dicts, OpenSearch's ``_bulk`` sources, Qdrant's points): :func:`document_rows`
and :func:`column_rows` give the same :class:`WriteRow` for the same row, so a
backend builds its record from one form of either input. A columnar batch
yields no per-row ``Document``: the values are the rows of its float32 block
(one ``tolist`` for the block) and the metadata a dict per row read from its
columns. ``WriteRow.path`` names a field of the row as the application names
it, for the backend's own refusals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import cast

from ..domain import Document, DocumentBatch, FloatArray, Metadata, as_float32


@dataclass(frozen=True, slots=True)
class WriteRow:
    """One row of a write."""

    #: The request path of a part of the row: ``"id"``, ``"text"``, ``"vector"``,
    #: ``"metadata"`` or ``"metadata.<key>"``; ``""`` names the row itself.
    path: Callable[[str], str]
    id: str
    values: list[float]
    text: str
    metadata: Metadata


def document_rows(documents: Sequence[Document]) -> Iterator[WriteRow]:
    """The rows of (validated) documents: each carries its vector."""
    for i, doc in enumerate(documents):
        values = as_float32(cast(FloatArray, doc.vector)).tolist()
        yield WriteRow(partial(document_path, i), doc.id, values, doc.text, doc.metadata)


def column_rows(batch: DocumentBatch) -> Iterator[WriteRow]:
    """The rows of a (validated) columnar batch, read from its columns."""
    texts = batch.texts if batch.texts is not None else [""] * len(batch)
    for i, (doc_id, values) in enumerate(zip(batch.ids, batch.vectors.tolist(), strict=True)):
        yield WriteRow(
            partial(column_path, batch, i), doc_id, values, texts[i], batch.row_metadata(i)
        )


def document_path(row: int, part: str, *, field: str = "documents") -> str:
    """The request path of ``part`` (``"id"``, ``"text"``, ``"vector"``, ``"metadata"``
    or ``"metadata.<key>"``) of a document of a batch: ``documents[i].<part>``; of the
    document itself (``part`` ``""``): ``documents[i]``."""
    return f"{field}[{row}].{part}" if part else f"{field}[{row}]"


def column_path(batch: DocumentBatch, row: int, part: str, *, field: str = "columns") -> str:
    """The request path of ``part`` (``"id"``, ``"text"``, ``"vector"``, ``"metadata"``
    or ``"metadata.<key>"``) of a row of a columnar batch, as the application names it:
    ``columns.ids[i]``, ``columns.texts[i]``, ``columns.vectors`` (the block: a message
    names the row), ``columns.metadata``, ``columns.metadata[c].values[i]`` (the
    documents' ``documents[i].<part>``). The row itself (``part`` ``""``) is named by
    its id: ``columns.ids[i]``."""
    if part in ("", "id"):
        return f"{field}.ids[{row}]"
    if part == "text":
        return f"{field}.texts[{row}]"
    if part == "vector":
        return f"{field}.vectors"
    key = part.removeprefix("metadata.")
    if key == part:
        return f"{field}.metadata"
    return f"{field}.metadata[{list(batch.metadata).index(key)}].values[{row}]"
