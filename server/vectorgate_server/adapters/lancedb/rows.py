"""Documents and columnar batches to and from Arrow tables of a LanceDB table's schema."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar, cast

import numpy as np
import pyarrow as pa

from ...domain import (
    Document,
    DocumentBatch,
    FloatArray,
    Metadata,
    MetadataValue,
    Metric,
    as_float32,
)
from ...errors import InvalidArgument
from ...filters.common import FieldType
from ...filters.lancedb import column_name, quote_identifier, sql_literal
from ..spec import new_column_types, new_field_types
from .layout import _MAX_EXACT_INT, ID_COLUMN, TEXT_COLUMN, _field_type, _Layout

T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _id_list_sql(ids: Sequence[str]) -> str:
    return f"{quote_identifier(ID_COLUMN)} IN ({', '.join(sql_literal(i) for i in ids)})"


def _is_integer_type(dtype: pa.DataType | None) -> bool:
    return dtype is not None and pa.types.is_integer(dtype)


# --------------------------------------------------------------------------- conversions


def _check_batch(name: str, documents: Sequence[Document], layout: _Layout) -> dict[str, FieldType]:
    """The metadata keys a batch adds to the table, with their types.

    The request is validated already (keys, value types, finite numbers,
    dimension); this applies the one-type-per-key rule of every adapter
    (:func:`~.spec.new_field_types`) and refuses values the columns of this
    table cannot hold: a new key whose column name is taken by a column of an
    unsupported type, a fraction in an integer column, and integers beyond
    2**53 in a float column made before exact integers (tables vectorgate did
    not create, or made by earlier releases).
    """
    new = new_field_types(name, documents, layout.types)
    taken = {key for key in new if column_name(key) in layout.occupied}
    narrow = {
        key
        for key, dtype in layout.arrow_types.items()
        if _is_integer_type(dtype)
        or (
            layout.types[key] is FieldType.NUMBER
            and key not in layout.int_columns
            and pa.types.is_floating(dtype)
        )
    }
    if not taken and not narrow:
        return new
    for i, doc in enumerate(documents):
        for key, value in doc.metadata.items():
            path = f"documents[{i}].metadata.{key}"
            if key in taken:
                raise InvalidArgument(
                    f"{path}: the column for this key has a type vectorgate cannot store",
                    field=path,
                )
            if key not in narrow or isinstance(value, bool):
                continue
            if _is_integer_type(layout.arrow_types[key]):
                if isinstance(value, float) and not value.is_integer():
                    raise InvalidArgument(
                        f"{path}: collection {name!r} stores integers under {key!r}", field=path
                    )
            elif isinstance(value, int) and not -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT:
                raise InvalidArgument(
                    f"{path}: collection {name!r} stores {key!r} as 64-bit floats (a column "
                    f"made before exact integers), which would round {value}",
                    field=path,
                )
    return new


def _column_values(key: str, dtype: pa.DataType, docs: Sequence[Document]) -> list[Any]:
    ftype = _field_type(dtype)
    integer = _is_integer_type(dtype)
    out: list[Any] = []
    for doc in docs:
        value = doc.metadata.get(key)
        if value is None:
            out.append(None)
        elif ftype is FieldType.NUMBER:
            assert isinstance(value, int | float)
            out.append(int(value) if integer else float(value))
        else:
            out.append(value)
    return out


def _build_batch(docs: Sequence[Document], layout: _Layout) -> pa.Table:
    """An arrow table of ``docs`` with the table's full schema (absent keys are null)."""
    schema = layout.schema
    assert layout.vector_column is not None and layout.dimension is not None
    key_of_column = {col: key for key, col in layout.columns.items()}
    key_of_int_column = {col: key for key, col in layout.int_columns.items()}
    arrays: list[pa.Array] = []
    for fld in schema:
        if fld.name == ID_COLUMN:
            arrays.append(pa.array([d.id for d in docs], type=fld.type))
        elif fld.name == TEXT_COLUMN and layout.has_text:
            arrays.append(pa.array([d.text for d in docs], type=fld.type))
        elif fld.name == layout.vector_column:
            matrix = np.stack([cast(FloatArray, d.vector) for d in docs]).astype(
                np.float32, copy=False
            )
            flat = pa.array(matrix.reshape(-1), type=fld.type.value_type)
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, layout.dimension))
        elif fld.name in key_of_column:
            key = key_of_column[fld.name]
            arrays.append(pa.array(_column_values(key, fld.type, docs), type=fld.type))
        elif fld.name in key_of_int_column:
            key = key_of_int_column[fld.name]
            ints = [
                v if isinstance(v := d.metadata.get(key), int) and not isinstance(v, bool) else None
                for d in docs
            ]
            arrays.append(pa.array(ints, type=fld.type))
        else:
            arrays.append(pa.nulls(len(docs), type=fld.type))
    return pa.Table.from_arrays(arrays, schema=schema.remove_metadata())


def _check_columns(name: str, batch: DocumentBatch, layout: _Layout) -> dict[str, FieldType]:
    """The columnar twin of :func:`_check_batch`: each metadata column against the layout.

    The application validated the values (keys, types, finite numbers); what
    is checked here is the table's own rule, one type per key (the column's).
    """
    new = new_column_types(name, batch, layout.types)
    for c, (key, values) in enumerate(batch.metadata.items()):
        path = f"columns.metadata[{c}]"
        if key in new:
            if column_name(key) in layout.occupied:
                raise InvalidArgument(
                    f"{path}: the column for key {key!r} has a type vectorgate cannot store",
                    field=path,
                )
            continue
        if layout.types.get(key) is not FieldType.NUMBER:
            continue
        # The rules of number columns of tables vectorgate did not create (or made
        # before exact ints), as in _check_batch.
        integer = _is_integer_type(layout.arrow_types.get(key))
        doubles = key not in layout.int_columns and pa.types.is_floating(layout.arrow_types[key])
        for i, value in enumerate(values):
            vpath = f"{path}.values[{i}]"
            if integer and isinstance(value, float) and not value.is_integer():
                raise InvalidArgument(
                    f"{vpath}: collection {name!r} stores integers under {key!r}", field=vpath
                )
            if (
                doubles
                and isinstance(value, int)
                and not isinstance(value, bool)
                and not -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT
            ):
                raise InvalidArgument(
                    f"{vpath}: collection {name!r} stores {key!r} as 64-bit floats (a column "
                    f"made before exact integers), which would round {value}",
                    field=vpath,
                )
    return new


def _columns_table(batch: DocumentBatch, layout: _Layout) -> pa.Table:
    """A columnar batch as an arrow table of the table's schema.

    The vectors go in as one ``FixedSizeList`` over the numpy block (no copy
    when the block is float32, as the application hands it over).
    """
    schema = layout.schema
    assert layout.vector_column is not None and layout.dimension is not None
    n = len(batch)
    key_of_column = {col: key for key, col in layout.columns.items()}
    key_of_int_column = {col: key for key, col in layout.int_columns.items()}
    arrays: list[pa.Array] = []
    for fld in schema:
        if fld.name == ID_COLUMN:
            arrays.append(pa.array(batch.ids, type=fld.type))
        elif fld.name == TEXT_COLUMN and layout.has_text:
            if batch.texts is None:
                arrays.append(pa.array([""] * n, type=fld.type))
            else:
                arrays.append(pa.array(batch.texts, type=fld.type))
        elif fld.name == layout.vector_column:
            flat = pa.array(np.ascontiguousarray(batch.vectors).reshape(-1))
            if flat.type != fld.type.value_type:
                flat = flat.cast(fld.type.value_type)
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, layout.dimension))
        elif fld.name in key_of_column and key_of_column[fld.name] in batch.metadata:
            key = key_of_column[fld.name]
            values = batch.metadata[key]
            if _field_type(fld.type) is FieldType.NUMBER:
                integer = _is_integer_type(fld.type)
                values = [
                    None
                    if v is None
                    else (int(cast(float, v)) if integer else float(cast(float, v)))
                    for v in values
                ]
            arrays.append(pa.array(values, type=fld.type))
        elif fld.name in key_of_int_column and key_of_int_column[fld.name] in batch.metadata:
            key = key_of_int_column[fld.name]
            ints = [
                v if isinstance(v, int) and not isinstance(v, bool) else None
                for v in batch.metadata[key]
            ]
            arrays.append(pa.array(ints, type=fld.type))
        else:
            arrays.append(pa.nulls(n, type=fld.type))
    return pa.Table.from_arrays(arrays, schema=schema.remove_metadata())


def _decode_number(value: Any) -> int | float:
    if isinstance(value, float) and value.is_integer() and abs(value) < _MAX_EXACT_INT:
        return int(value)
    return cast(int | float, value)


def _decode_metadata_column(ftype: FieldType, values: list[Any]) -> list[MetadataValue | None]:
    if ftype is FieldType.NUMBER:
        return [None if v is None else _decode_number(v) for v in values]
    if ftype is FieldType.STRING_LIST:
        return [None if v is None else [s for s in v if s is not None] for v in values]
    return values


def _vectors(column: pa.ChunkedArray, dimension: int) -> list[FloatArray | None]:
    array = column.combine_chunks()
    if array.null_count == 0:
        matrix = array.flatten().to_numpy(zero_copy_only=False).reshape(-1, dimension)
        matrix = as_float32(matrix)
        return [matrix[i] for i in range(len(array))]
    return [None if v is None else as_float32(v) for v in array.to_pylist()]


def _rows(
    table: pa.Table, layout: _Layout, keys: Sequence[str], *, with_text: bool, with_vector: bool
) -> list[tuple[str, str, Metadata, FloatArray | None]]:
    """(id, text, metadata, vector) per row of a query result."""
    n = table.num_rows
    ids = table.column(ID_COLUMN).to_pylist()
    texts = (
        [t or "" for t in table.column(TEXT_COLUMN).to_pylist()]
        if with_text and layout.has_text
        else [""] * n
    )
    vectors: list[FloatArray | None] = [None] * n
    if with_vector and layout.vector_column is not None and layout.dimension is not None:
        vectors = _vectors(table.column(layout.vector_column), layout.dimension)
    metadata: list[Metadata] = [{} for _ in range(n)]
    for key in keys:
        raw = table.column(layout.columns[key]).to_pylist()
        companion = layout.int_columns.get(key)
        values: list[MetadataValue | None]
        if companion is not None:
            # Typed numbers: the exact int where one was stored, else the float as is.
            ints = table.column(companion).to_pylist()
            values = [f if i is None else i for f, i in zip(raw, ints, strict=True)]
        else:
            values = _decode_metadata_column(layout.types[key], raw)
        for row, value in zip(metadata, values, strict=True):
            if value is not None:
                row[key] = value
    return [(ids[i], texts[i], metadata[i], vectors[i]) for i in range(n)]


def _canonical(metric: Metric, distance: float) -> float:
    """The canonical value for a LanceDB ``_distance``.

    Lance returns ``1 - cos`` for cosine, the *squared* Euclidean distance for
    l2 and ``1 - a.b`` for dot (checked against numpy in the contract suite).
    """
    if metric is Metric.COSINE:
        return 1.0 - distance
    if metric is Metric.L2:
        return math.sqrt(max(distance, 0.0))
    return 1.0 - distance
