"""Writing a batch: its rows (the last of each id, new metadata keys typed), from
documents or from a columnar batch, written in one transaction by ``INSERT ... ON
CONFLICT`` from a binary ``COPY``."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass, replace
from typing import Any, Final, TypeVar, cast

import numpy as np
import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from ...domain import Document, DocumentBatch, FloatArray, as_float32
from ...filters.common import FieldType
from ..spec import new_column_types, new_field_types
from .layout import Layout

#: Batches larger than this are prepared off the event loop.
_THREAD_DOCUMENTS: Final = 64

#: The first byte of jsonb's binary format (jsonb_recv), followed by the JSON text.
_JSONB_VERSION: Final = b"\x01"

#: What a batch of rows is prepared from: documents or a columnar batch.
Source = TypeVar("Source", bound=Sized)


@dataclass(slots=True)
class Rows:
    """A batch's rows as the columns ``COPY`` reads: one per distinct id, in batch order."""

    ids: Sequence[str]
    #: The ``(rows, dimension)`` float32 block, a vector per row.
    vectors: FloatArray
    texts: Sequence[str]
    #: One jsonb object per row (absent keys left out).
    metadata: Sequence[dict[str, Any]]
    #: Metadata keys new to the collection, with their types.
    new_fields: dict[str, FieldType]


class TypeRace(Exception):
    """Another writer typed a metadata key differently while this batch was being written."""


def document_rows(documents: Sequence[Document], layout: Layout, collection: str) -> Rows:
    """The rows of a (validated) batch: the last of each id; new metadata keys typed.

    A metadata key keeps one type per collection (:func:`~..spec.new_field_types`).
    """
    latest: dict[str, int] = {}
    new_fields = new_field_types(collection, documents, layout.fields)
    encoded: list[tuple[str, FloatArray, str, dict[str, Any]]] = []
    for doc in documents:
        vector = as_float32(cast(FloatArray, doc.vector))
        metadata = {k: list(v) if isinstance(v, list) else v for k, v in doc.metadata.items()}
        if doc.id in latest:
            encoded[latest[doc.id]] = ("", vector, "", {})  # superseded: dropped below
        latest[doc.id] = len(encoded)
        encoded.append((doc.id, vector, doc.text, metadata))
    kept = [encoded[position] for position in sorted(latest.values())]
    return Rows(
        ids=[row[0] for row in kept],
        vectors=np.stack([row[1] for row in kept]) if kept else np.empty((0, 0), np.float32),
        texts=[row[2] for row in kept],
        metadata=[row[3] for row in kept],
        new_fields=new_fields,
    )


def column_rows(batch: DocumentBatch, layout: Layout, collection: str) -> Rows:
    """The rows of a (validated) columnar batch, read from its columns: ids as given
    (unique), the vector block's rows, a jsonb object per row built from the metadata
    columns. A metadata key keeps one type per collection (:func:`~..spec.new_column_types`).
    """
    new_fields = new_column_types(collection, batch, layout.fields)
    metadata: list[dict[str, Any]] = [{} for _ in batch.ids]
    for key, column in batch.metadata.items():
        for row, value in zip(metadata, column, strict=True):
            if value is not None:
                row[key] = value
    return Rows(
        ids=batch.ids,
        vectors=batch.vectors,
        texts=batch.texts if batch.texts is not None else [""] * len(batch),
        metadata=metadata,
        new_fields=new_fields,
    )


async def rows_off_loop(
    prepare: Callable[[Source, Layout, str], Rows], source: Source, layout: Layout, name: str
) -> Rows:
    """``prepare(source, layout, name)``, in a worker thread for large batches."""
    if len(source) > _THREAD_DOCUMENTS:
        return await asyncio.to_thread(
            prepare, source, replace(layout, fields=dict(layout.fields)), name
        )
    return prepare(source, layout, name)


async def write(
    conn: psycopg.AsyncConnection[Any],
    fields: sql.Identifier,
    name: str,
    table: sql.Identifier,
    batch: Rows,
) -> None:
    """Record the batch's new metadata key types in ``fields`` and upsert its rows into
    ``table``, inside the caller's transaction. ``TypeRace`` when a key was typed otherwise
    meanwhile (or the collection dropped)."""
    if batch.new_fields:
        keys = list(batch.new_fields)
        await conn.execute(
            sql.SQL(
                "INSERT INTO {} (collection, key, type) "
                "SELECT %s, k, t FROM unnest(%s::text[], %s::text[]) AS u(k, t) "
                "ON CONFLICT DO NOTHING"
            ).format(fields),
            (name, keys, [batch.new_fields[k].value for k in keys]),
        )
        stored = await (
            await conn.execute(
                sql.SQL(
                    "SELECT key, type FROM {} WHERE collection = %s AND key = ANY(%s::text[])"
                ).format(fields),
                (name, keys),
            )
        ).fetchall()
        if len(stored) != len(keys) or any(batch.new_fields[str(k)].value != t for k, t in stored):
            # The collection was dropped, or another writer typed a key otherwise.
            raise TypeRace()
    if len(batch.ids) == 1:
        # One row: a plain INSERT is one statement (COPY through a staging table
        # costs three; measured 2.3 ms against 7.5 ms a call).
        await conn.execute(
            sql.SQL(
                "INSERT INTO {} (id, embedding, text, metadata) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, "
                "text = EXCLUDED.text, metadata = EXCLUDED.metadata"
            ).format(table),
            (batch.ids[0], batch.vectors[0], batch.texts[0], Jsonb(batch.metadata[0])),
        )
        return
    # Binary COPY into a per-connection staging table, then one INSERT ... ON
    # CONFLICT: measured 2x faster than executemany (pipelined) from 8 rows up.
    await conn.execute(
        'CREATE TEMP TABLE IF NOT EXISTS _vg_stage (id text COLLATE "C", '
        "embedding vector, text text, metadata jsonb) ON COMMIT DELETE ROWS"
    )
    cursor = conn.cursor()
    async with cursor.copy(
        "COPY _vg_stage (id, embedding, text, metadata) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        # In binary COPY the server reads each field with its column's receive
        # function: vectors and jsonb go pre-encoded in their binary formats,
        # passed through as bytes (the block encoded at once, JSON by orjson:
        # 10k x 384 rows measured 32 ms against 253 ms through pgvector's
        # per-row dumper and json.dumps).
        copy.set_types(["text", "bytea", "text", "bytea"])
        vectors = _vector_binary(batch.vectors)
        for doc_id, vector, text, metadata in zip(
            batch.ids, vectors, batch.texts, batch.metadata, strict=True
        ):
            await copy.write_row((doc_id, vector, text, _JSONB_VERSION + orjson.dumps(metadata)))
    await conn.execute(
        sql.SQL(
            "INSERT INTO {} (id, embedding, text, metadata) "
            "SELECT id, embedding, text, metadata FROM _vg_stage "
            "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, "
            "text = EXCLUDED.text, metadata = EXCLUDED.metadata"
        ).format(table)
    )


def _vector_binary(block: FloatArray) -> list[bytes]:
    """Each row of ``block`` in pgvector's binary format (``vector_recv``: int16
    dimension, int16 0, then the float32 components big-endian)."""
    rows, dimension = block.shape
    out = np.empty((rows, 4 + 4 * dimension), dtype=np.uint8)
    out[:, :4] = np.frombuffer(struct.pack(">HH", dimension, 0), dtype=np.uint8)
    out[:, 4:] = block.astype(">f4").view(np.uint8)
    return [row.tobytes() for row in out]
