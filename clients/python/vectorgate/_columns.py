"""Columnar upserts: numpy arrays and pyarrow tables as ``DocumentColumns`` messages.

A columnar batch carries its vectors as one packed little-endian float32
block and each metadata key as one column, so a large load costs no per-row
message on either side. pyarrow is imported only when a pyarrow object is
given (it stays an optional dependency of the client).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from vectorgate import _values
from vectorgate.v1 import types_pb2

_LE_FLOAT32 = np.dtype("<f4")

#: Column names of an arrow table that are not metadata keys.
ID_COLUMN = "id"
VECTOR_COLUMN = "vector"
TEXT_COLUMN = "text"
METADATA_COLUMN = "metadata"


@dataclass(frozen=True, slots=True)
class Columns:
    """Documents as columns, checked for shape: ``len(ids)`` rows."""

    ids: list[str]
    vectors: npt.NDArray[np.float32]
    texts: list[str] | None
    metadata: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(self.ids)

    def fill(self, out: types_pb2.DocumentColumns, start: int, stop: int) -> None:
        """Write rows ``start:stop`` into ``out``."""
        out.ids.extend(self.ids[start:stop])
        out.dimension = int(self.vectors.shape[1])
        out.vectors = self.vectors[start:stop].tobytes()
        if self.texts is not None:
            out.texts.extend(self.texts[start:stop])
        for key, values in self.metadata.items():
            column = out.metadata.add(key=key)
            target = column.values
            for i in range(start, stop):
                value = values[i]
                if value is None:
                    target.add()  # no kind set: the row has no value under this key
                else:
                    _values.set_typed_value(target.add(), value, f"metadata[{key!r}][{i}]")

    def chunks(self, size: int) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` of each run of at most ``size`` rows."""
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"batch_size must be a positive int, got {size!r}")
        for start in range(0, len(self), size):
            yield start, min(start + size, len(self))


def is_arrow(value: object) -> bool:
    """Whether ``value`` is a pyarrow Table or RecordBatch (without importing pyarrow)."""
    cls = type(value)
    return cls.__module__.startswith("pyarrow") and cls.__name__ in ("Table", "RecordBatch")


def from_arrays(
    ids: Sequence[str] | Any,
    vectors: Any,
    texts: Sequence[str] | Any | None = None,
    metadata: Mapping[str, Sequence[Any] | Any] | None = None,
) -> Columns:
    """Columns from ids, an ``(n, d)`` array of vectors, texts and metadata columns.

    ``metadata`` maps each key to one value per row (a list, numpy array or
    pyarrow array; ``None`` where a row has no value).
    """
    id_list = _string_list(ids, "ids")
    matrix = np.ascontiguousarray(np.asarray(vectors, dtype=_LE_FLOAT32))
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise ValueError(f"vectors must be a 2-D (rows, dimension) array, got shape {matrix.shape}")
    rows = len(id_list)
    if matrix.shape[0] != rows:
        raise ValueError(f"vectors has {matrix.shape[0]} rows for {rows} ids")
    text_list: list[str] | None = None
    if texts is not None:
        text_list = _string_list(texts, "texts")
        if len(text_list) != rows:
            raise ValueError(f"texts has {len(text_list)} values for {rows} ids")
    columns: dict[str, list[Any]] = {}
    for key, values in (metadata or {}).items():
        if not isinstance(key, str):
            raise TypeError(f"metadata keys must be str, got {key!r}")
        column = _to_list(values)
        if len(column) != rows:
            raise ValueError(f"metadata[{key!r}] has {len(column)} values for {rows} ids")
        columns[key] = column
    return Columns(id_list, matrix, text_list, columns)


def from_arrow(table: Any) -> Columns:
    """Columns from a pyarrow Table or RecordBatch.

    ``id`` (strings) and ``vector`` (a fixed-size or variable list of floats,
    every row of one length) are required; ``text`` (strings) is optional.
    A ``metadata`` struct column gives one key per field, and every other
    column is a metadata key of its own.
    """
    import pyarrow as pa

    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    names = list(table.column_names)
    for required in (ID_COLUMN, VECTOR_COLUMN):
        if required not in names:
            raise ValueError(f"the table has no {required!r} column (columns: {names})")
    vector_column = table.column(VECTOR_COLUMN).combine_chunks()
    if vector_column.null_count:
        raise ValueError(f"column 'vector': {vector_column.null_count} rows have no vector")
    if pa.types.is_fixed_size_list(vector_column.type):
        dimension = vector_column.type.list_size
        flat = vector_column.flatten()
    elif pa.types.is_list(vector_column.type) or pa.types.is_large_list(vector_column.type):
        lengths = np.asarray(vector_column.value_lengths())
        dimension = int(lengths[0]) if len(lengths) else 0
        if len(lengths) and (lengths != dimension).any():
            bad = int(np.flatnonzero(lengths != dimension)[0])
            raise ValueError(
                f"column 'vector': row {bad} has {lengths[bad]} components, row 0 has {dimension}"
            )
        flat = vector_column.flatten()
    else:
        raise ValueError(f"column 'vector' must be a list of floats, got {vector_column.type}")
    if flat.null_count:
        raise ValueError("column 'vector': vectors must not contain nulls")
    matrix = flat.to_numpy(zero_copy_only=False).astype(_LE_FLOAT32, copy=False)
    matrix = matrix.reshape(table.num_rows, dimension)
    metadata: dict[str, Any] = {}
    for name in names:
        if name in (ID_COLUMN, VECTOR_COLUMN, TEXT_COLUMN):
            continue
        column = table.column(name)
        if name == METADATA_COLUMN and pa.types.is_struct(column.type):
            for fld_index in range(column.type.num_fields):
                key = column.type.field(fld_index).name
                metadata[key] = pa.chunked_array(
                    [chunk.field(fld_index) for chunk in column.chunks], column.type[fld_index].type
                )
        else:
            metadata[name] = column
    texts = table.column(TEXT_COLUMN) if TEXT_COLUMN in names else None
    if texts is not None and texts.null_count:
        texts = texts.fill_null("")
    return from_arrays(table.column(ID_COLUMN), matrix, texts, metadata)


def _to_list(values: Any) -> list[Any]:
    if hasattr(values, "to_pylist"):  # pyarrow arrays
        return list(values.to_pylist())
    if isinstance(values, np.ndarray):
        return list(values.tolist())
    if isinstance(values, str | bytes | Mapping):
        raise TypeError(f"expected a sequence of values, got {type(values).__name__}")
    return list(values)


def _string_list(values: Any, name: str) -> list[str]:
    items = _to_list(values)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(item).__name__}")
    return items
