"""Documents as Qdrant points and back, for both Qdrant modes.

:func:`point_parts` builds the points to write independently of the client
library that sends them (``qdrant_client`` models in :mod:`.adapter`,
``qdrant_edge`` types in :mod:`.edge_store`); :func:`_document` and
:func:`hits` decode what either one reads back (:mod:`.store`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np

from ...domain import (
    Document,
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
from ..sparse_text import SparseText
from ..spec import new_field_types, stored_metadata
from .layout import _Layout

#: Batches larger than this are encoded (BM25 of each text) in a worker thread rather
#: than on the event loop (about 0.3 ms per 150-word text).
_THREAD_DOCUMENTS = 32


@dataclass(frozen=True, slots=True)
class PointParts:
    """One document as a Qdrant point, independent of the client library that sends it."""

    id: str
    #: The dense vector (as given; Qdrant normalises cosine vectors itself).
    values: list[float]
    #: The BM25 term weights of the text (collections with keyword search and a text).
    sparse: SparseText | None
    payload: dict[str, Any]


def point_parts(
    documents: Sequence[Document], layout: _Layout, collection: str
) -> tuple[list[PointParts], dict[str, FieldType]]:
    """The points to write (the last of repeated ids) and the metadata keys the batch adds.

    The documents come validated from the application layer; a metadata key
    keeps one type per collection (:func:`~..spec.new_field_types`).
    """
    new_fields = new_field_types(collection, documents, layout.fields)
    latest: dict[str, PointParts] = {}
    for doc in documents:
        point = _point_parts(doc, layout)
        # The last occurrence of a repeated id wins, as with separate upserts.
        latest.pop(doc.id, None)
        latest[doc.id] = point
    return list(latest.values()), new_fields


async def point_parts_off_loop(
    documents: Sequence[Document], layout: _Layout, collection: str
) -> tuple[list[PointParts], dict[str, FieldType]]:
    """:func:`point_parts`, in a worker thread for large batches."""
    if len(documents) > _THREAD_DOCUMENTS:
        return await asyncio.to_thread(point_parts, documents, layout, collection)
    return point_parts(documents, layout, collection)


def _point_parts(doc: Document, layout: _Layout) -> PointParts:
    """The point of a (validated) document."""
    vector = as_float32(cast(FloatArray, doc.vector))
    metadata: dict[str, Any] = {}
    lists: list[str] = []
    for key, value in doc.metadata.items():
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
    if layout.metric is Metric.COSINE:
        internal[NORM_KEY] = float(np.linalg.norm(vector.astype(np.float64)))
    payload = {
        ID_PAYLOAD_KEY: doc.id,
        layout.text_field: doc.text,
        METADATA_PAYLOAD_KEY: metadata,
        INTERNAL_PAYLOAD_KEY: internal,
    }
    sparse = layout.keyword.encoder.document(doc.text) if layout.keyword is not None else None
    return PointParts(id=point_id(doc.id), values=vector.tolist(), sparse=sparse, payload=payload)


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
