"""Documents as Qdrant points and back, for both Qdrant modes.

:func:`point_parts` (documents) and :func:`column_parts` (a columnar batch, no
per-row documents) build the points to write, one :class:`..batches.WriteRow`
at a time through one core, independently of the client library that sends
them (``qdrant_client`` models in :mod:`.adapter`, ``qdrant_edge`` types in
:mod:`.edge_store`); :func:`_document` and :func:`hits` decode what either one
reads back (:mod:`.store`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, TypeVar, cast

import numpy as np

from ...domain import (
    Document,
    DocumentBatch,
    FloatArray,
    Hit,
    Metric,
    OutputFields,
    as_float32,
    normalise_score,
)
from ...filters.common import INT64_MAX, INT64_MIN, FieldType
from ...filters.qdrant import (
    ID_PAYLOAD_KEY,
    INTERNAL_PAYLOAD_KEY,
    LISTS_KEY,
    METADATA_PAYLOAD_KEY,
    NORM_KEY,
    point_id,
)
from ..batches import WriteRow, column_rows, document_rows
from ..sparse_text import SparseText
from ..spec import new_column_types, new_field_types, stored_metadata
from .layout import _Layout

#: Batches larger than this are encoded (BM25 of each text) in a worker thread rather
#: than on the event loop (about 0.3 ms per 150-word text).
_THREAD_DOCUMENTS = 32

#: What points are built from: documents or a columnar batch.
Source = TypeVar("Source", bound=Sized)


@dataclass(frozen=True, slots=True)
class PointParts:
    """One document as a Qdrant point, independent of the client library that sends it."""

    id: str
    #: The dense vector (as given; Qdrant normalises cosine vectors itself).
    values: list[float]
    #: The BM25 term weights of the text (collections with keyword search and a text).
    sparse: SparseText | None
    payload: dict[str, Any]


#: Builds the points of a source and the metadata keys it adds to the collection:
#: :func:`point_parts` (documents) or :func:`column_parts` (a columnar batch).
Prepare: TypeAlias = Callable[[Source, _Layout, str], tuple[list[PointParts], dict[str, FieldType]]]


def point_parts(
    documents: Sequence[Document], layout: _Layout, collection: str
) -> tuple[list[PointParts], dict[str, FieldType]]:
    """The points of (validated) documents and the metadata keys they add.

    A metadata key keeps one type per collection (:func:`~..spec.new_field_types`,
    refusals naming ``documents[i].metadata.<key>``).
    """
    new_fields = new_field_types(collection, documents, layout.fields)
    vectors = [as_float32(cast(FloatArray, doc.vector)) for doc in documents]
    return _latest(document_rows(documents), _norms(vectors, layout), layout), new_fields


def column_parts(
    batch: DocumentBatch, layout: _Layout, collection: str
) -> tuple[list[PointParts], dict[str, FieldType]]:
    """:func:`point_parts` of a (validated) columnar batch, read from its columns (no
    per-row documents): the vectors are the rows of its float32 block (one ``tolist``),
    the payload is built from its text and metadata columns. A metadata key keeps one
    type per collection (:func:`~..spec.new_column_types`, refusals naming
    ``columns.metadata[c]...``)."""
    new_fields = new_column_types(collection, batch, layout.fields)
    return _latest(column_rows(batch), _norms(batch.vectors, layout), layout), new_fields


async def parts_off_loop(
    prepare: Prepare[Source],
    source: Source,
    layout: _Layout,
    collection: str,
) -> tuple[list[PointParts], dict[str, FieldType]]:
    """``prepare(source, layout, collection)`` (:func:`point_parts` or
    :func:`column_parts`), in a worker thread for large batches."""
    if len(source) > _THREAD_DOCUMENTS:
        return await asyncio.to_thread(prepare, source, layout, collection)
    return prepare(source, layout, collection)


def _norms(vectors: FloatArray | Sequence[FloatArray], layout: _Layout) -> list[float] | None:
    """The Euclidean norm of each row's vector, for the whole block at once (a row's
    norm depends on its values only, not on the block around it); None unless the
    collection is cosine (the payload's ``norm``, see the package docstring)."""
    if layout.metric is not Metric.COSINE:
        return None
    if not len(vectors):
        return []
    block = np.asarray(vectors, dtype=np.float64)
    return cast(list[float], np.linalg.norm(block, axis=1).tolist())


def _latest(
    rows: Iterable[WriteRow], norms: Sequence[float] | None, layout: _Layout
) -> list[PointParts]:
    """The points of a write's rows (``norms``: :func:`_norms` of their vectors): the last
    of repeated ids, as with separate upserts."""
    latest: dict[str, PointParts] = {}
    for i, row in enumerate(rows):
        latest.pop(row.id, None)
        latest[row.id] = _point_parts(row, norms[i] if norms is not None else None, layout)
    return list(latest.values())


def _point_parts(row: WriteRow, norm: float | None, layout: _Layout) -> PointParts:
    """The point of one (validated) row (``norm``: its vector's, for cosine collections)."""
    metadata: dict[str, Any] = {}
    lists: list[str] = []
    for key, value in row.metadata.items():
        if isinstance(value, list):
            metadata[key] = list(value)
            lists.append(key)
        elif (
            isinstance(value, int)
            and not isinstance(value, bool)
            and not INT64_MIN <= value <= INT64_MAX
        ):
            # Integral doubles beyond 64 bits (e.g. 1e20) stay numbers Qdrant can store.
            metadata[key] = float(value)
        else:
            metadata[key] = value
    internal: dict[str, Any] = {LISTS_KEY: lists}
    if norm is not None:
        internal[NORM_KEY] = norm
    payload = {
        ID_PAYLOAD_KEY: row.id,
        layout.text_field: row.text,
        METADATA_PAYLOAD_KEY: metadata,
        INTERNAL_PAYLOAD_KEY: internal,
    }
    sparse = layout.keyword.encoder.document(row.text) if layout.keyword is not None else None
    return PointParts(id=point_id(row.id), values=row.values, sparse=sparse, payload=payload)


# --------------------------------------------------------------------------- reading


class StoredPoint(Protocol):
    """A point as read back: ``qdrant_client.models.Record`` or ``qdrant_edge.Record``."""

    @property
    def id(self) -> Any: ...
    @property
    def payload(self) -> Any: ...
    @property
    def vector(self) -> Any: ...


class FoundPoint(StoredPoint, Protocol):
    """A scored point: ``qdrant_client.models.ScoredPoint`` or ``qdrant_edge.ScoredPoint``."""

    @property
    def score(self) -> float: ...


def hits(
    points: Iterable[FoundPoint],
    layout: _Layout,
    output: OutputFields,
    *,
    store: str,
    collection: str,
    keyword: bool = False,
) -> list[Hit]:
    """The hits of a search (``keyword``: a BM25 search), best first as Qdrant ranks them."""
    return [
        _hit(point, layout, output, store=store, collection=collection, keyword=keyword)
        for point in points
    ]


def _vector(raw: object, payload: Mapping[str, Any], layout: _Layout) -> FloatArray | None:
    if raw is None:
        return None
    values: Any = raw
    if isinstance(raw, dict):
        values = raw.get(layout.vector_name or "")
    if not isinstance(values, list) or not all(isinstance(v, float | int) for v in values):
        return None
    vector = np.asarray(values, dtype=np.float64)
    if layout.metric is Metric.COSINE:
        internal = payload.get(INTERNAL_PAYLOAD_KEY)
        norm = internal.get(NORM_KEY) if isinstance(internal, dict) else None
        if isinstance(norm, int | float) and not isinstance(norm, bool):
            # Rescale to the stored norm rather than multiply by it: Qdrant returns
            # cosine vectors unit-length, except qdrant-client's local mode after a
            # reopen, which loads the persisted vectors without normalising them.
            current = float(np.linalg.norm(vector))
            if current > 0.0:
                vector = vector * (float(norm) / current)
    return as_float32(vector.astype(np.float32))


def _document_id(payload: Mapping[str, Any], fallback: object) -> str:
    value = payload.get(ID_PAYLOAD_KEY)
    return value if isinstance(value, str) else str(fallback)


def _text(payload: Mapping[str, Any], layout: _Layout) -> str:
    value = payload.get(layout.text_field)
    return value if isinstance(value, str) else ""


def _document(record: StoredPoint, layout: _Layout, include_vectors: bool) -> Document:
    payload = record.payload or {}
    return Document(
        id=_document_id(payload, record.id),
        text=_text(payload, layout),
        vector=_vector(record.vector, payload, layout) if include_vectors else None,
        metadata=stored_metadata(payload.get(METADATA_PAYLOAD_KEY)),
    )


def _hit(
    point: FoundPoint,
    layout: _Layout,
    output: OutputFields,
    *,
    store: str,
    collection: str,
    keyword: bool = False,
) -> Hit:
    payload = point.payload or {}
    raw = float(point.score)
    # Qdrant reports cosine similarity, Euclidean distance (not squared) and the dot
    # product as they are: the raw score is already the canonical value. A keyword
    # hit's score is its BM25 score.
    return Hit(
        id=_document_id(payload, point.id),
        score=raw if keyword else normalise_score(layout.metric, raw),
        raw_score=raw,
        text=_text(payload, layout) if output.text else "",
        metadata=output.project(stored_metadata(payload.get(METADATA_PAYLOAD_KEY))),
        vector=_vector(point.vector, payload, layout) if output.vector else None,
        store=store,
        collection=collection,
    )
