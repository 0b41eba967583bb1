"""Table layout of the LanceDB adapter: column names, constants, the schema's meaning."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Final

import pyarrow as pa

from ...domain import Metric
from ...filters.common import FieldType
from ...filters.lancedb import INT_COLUMN_SUFFIX, int_column_name, metadata_key
from ..spec import StoredSpec, decode_spec

BACKEND: Final = "lancedb"
#: Schema metadata key holding the collection spec (JSON).
SPEC_KEY: Final = "vectorgate.collection"

ID_COLUMN: Final = "id"
TEXT_COLUMN: Final = "text"
VECTOR_COLUMN: Final = "vector"

#: LanceDB ``distance_type`` of each metric.
_LANCE_METRIC: Final = {Metric.COSINE: "cosine", Metric.L2: "l2", Metric.IP: "dot"}
_METRIC_FROM_LANCE: Final = {v: k for k, v in _LANCE_METRIC.items()}

#: Rows per fragment that compaction merges small fragments up to. Lance's
#: exhaustive search scans fragments in parallel, one per thread, so a table
#: compacted into one fragment (lancedb's optimize(): up to 1M rows each) is
#: searched by one core. Measured (100k x 384-d, LanceDB direct, fresh writes,
#: 2 loaded cores): p50 167 ms in 1,000-row fragments, 180 in 4,096, 324 in
#: 16,384, 1,148 in one; the adapter against ``tbl.search`` on 1,000-row
#: writes: p50 1.17x / p99 1.12x compacting to 4,096, 0.96x / 0.76x to 2,048.
COMPACT_ROWS_PER_FRAGMENT: Final = 2048

#: Ids per ``IN (...)`` list in get/delete.
_ID_CHUNK: Final = 1000
#: Batches larger than this are converted to/from arrow in a worker thread.
_THREAD_ROWS: Final = 2000
_MAX_EXACT_INT: Final = 2**53
#: Rows per batch of the id scan that finds the rows an upsert replaces.
_SCAN_ROWS: Final = 65_536


def _field_type(dtype: pa.DataType) -> FieldType | None:
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return FieldType.STRING
    if pa.types.is_boolean(dtype):
        return FieldType.BOOL
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype):
        return FieldType.NUMBER
    if (pa.types.is_list(dtype) or pa.types.is_large_list(dtype)) and (
        pa.types.is_string(dtype.value_type) or pa.types.is_large_string(dtype.value_type)
    ):
        return FieldType.STRING_LIST
    return None


def _is_vector_type(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_fixed_size_list(dtype) and pa.types.is_floating(dtype.value_type))


_ARROW_TYPES: Final = {
    FieldType.STRING: pa.utf8(),
    FieldType.NUMBER: pa.float64(),
    FieldType.BOOL: pa.bool_(),
    FieldType.STRING_LIST: pa.list_(pa.utf8()),
}


@dataclasses.dataclass(frozen=True, slots=True)
class _Layout:
    """What the adapter needs to know of a table's schema."""

    schema: pa.Schema
    spec: StoredSpec | None
    vector_column: str | None
    dimension: int | None
    has_id: bool
    has_text: bool
    #: Metadata key -> type / column name / arrow type.
    types: Mapping[str, FieldType]
    columns: Mapping[str, str]
    arrow_types: Mapping[str, pa.DataType]
    #: Every column name of the table.
    occupied: frozenset[str]
    #: Number keys stored in integer columns (only in tables vectorgate did not create).
    integer_keys: frozenset[str]
    #: Number key -> its int64 companion column (keys that have one).
    int_columns: Mapping[str, str]

    def select(self, keys: Iterable[str]) -> list[str]:
        """The columns to read for ``keys``, companions included."""
        out: list[str] = []
        for key in keys:
            out.append(self.columns[key])
            companion = self.int_columns.get(key)
            if companion is not None:
                out.append(companion)
        return out

    @classmethod
    def from_schema(cls, schema: pa.Schema) -> _Layout:
        raw_meta = schema.metadata or {}
        raw_spec = raw_meta.get(SPEC_KEY.encode())
        spec = decode_spec(raw_spec) if raw_spec is not None else None
        names = list(schema.names)
        vector_column: str | None = None
        if VECTOR_COLUMN in names and _is_vector_type(schema.field(VECTOR_COLUMN).type):
            vector_column = VECTOR_COLUMN
        else:
            vector_column = next((f.name for f in schema if _is_vector_type(f.type)), None)
        dimension = (
            int(schema.field(vector_column).type.list_size) if vector_column is not None else None
        )
        has_id = (
            ID_COLUMN in names and _field_type(schema.field(ID_COLUMN).type) is FieldType.STRING
        )
        has_text = (
            TEXT_COLUMN in names and _field_type(schema.field(TEXT_COLUMN).type) is FieldType.STRING
        )
        types: dict[str, FieldType] = {}
        columns: dict[str, str] = {}
        arrow_types: dict[str, pa.DataType] = {}
        companions = {
            fld.name: fld.name[: -len(INT_COLUMN_SUFFIX)]
            for fld in schema
            if fld.name.endswith(INT_COLUMN_SUFFIX) and pa.types.is_int64(fld.type)
        }
        for fld in schema:
            if fld.name in (ID_COLUMN, TEXT_COLUMN, vector_column) or fld.name in companions:
                continue
            ftype = _field_type(fld.type)
            key = metadata_key(fld.name)
            if ftype is None or key in types:
                continue
            types[key] = ftype
            columns[key] = fld.name
            arrow_types[key] = fld.type
        return cls(
            schema=schema,
            spec=spec,
            vector_column=vector_column,
            dimension=dimension,
            has_id=has_id,
            has_text=has_text,
            types=types,
            columns=columns,
            arrow_types=arrow_types,
            occupied=frozenset(names),
            integer_keys=frozenset(k for k, t in arrow_types.items() if pa.types.is_integer(t)),
            int_columns={
                key: int_column_name(column)
                for key, column in columns.items()
                if int_column_name(column) in companions and pa.types.is_floating(arrow_types[key])
            },
        )
