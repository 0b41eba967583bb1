"""What the Milvus adapter knows about a collection's schema and the store's defaults.

Plain data, imported by the connection, schema and plan modules alike (so none
of them imports another for its types).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from pymilvus import DataType

from ...domain import IndexSpec, Metric
from ...filters.common import FieldType
from ...filters.milvus import VECTORGATE_SCHEMA, FilterSchema

_INT_TYPES: Final = frozenset({DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64})
_FLOAT_TYPES: Final = frozenset({DataType.FLOAT, DataType.DOUBLE})


@dataclass(slots=True)
class _Defaults:
    """Validated ``native_defaults`` of the store."""

    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Layout:
    """What the adapter knows about one collection's schema."""

    name: str
    stored: str
    pk: str
    pk_is_int: bool
    #: FLOAT_VECTOR fields -> dimension, in schema order.
    vectors: Mapping[str, int]
    anns_field: str
    #: Every non-vector field -> its data type (including the primary key).
    scalars: Mapping[str, DataType]
    text_field: str | None
    dynamic: bool
    metric: Metric
    index: IndexSpec
    vectorgate: bool
    embedding_model: str = ""
    create_time: datetime | None = None
    #: ARRAY fields of VARCHAR elements (usable with CONTAINS).
    string_arrays: frozenset[str] = frozenset()
    #: Nullable fields (Milvus 2.5+ and Milvus Lite).
    nullable: frozenset[str] = frozenset()
    #: SPARSE_FLOAT_VECTOR fields (not searchable by vector here; never written).
    sparse_fields: frozenset[str] = frozenset()
    #: The sparse field a BM25 function fills from ``text_field`` (keyword search), if any.
    keyword_field: str | None = None

    @property
    def dimension(self) -> int:
        return self.vectors[self.anns_field]

    @property
    def varchar_fields(self) -> frozenset[str]:
        return frozenset(n for n, t in self.scalars.items() if t == DataType.VARCHAR)

    def filter_schema(self) -> FilterSchema:
        if self.vectorgate:
            return VECTORGATE_SCHEMA
        fields: dict[str, tuple[FieldType, bool]] = {}
        for name, dtype in self.scalars.items():
            kind = FieldType.STRING_LIST if name in self.string_arrays else _field_type(dtype)
            if kind is not None and name not in (self.pk, self.text_field):
                fields[name] = (kind, name in self.nullable)
        excluded = {self.pk, *self.vectors}
        if self.text_field:
            excluded.add(self.text_field)
        return FilterSchema(
            id_field=self.pk,
            id_is_int=self.pk_is_int,
            typed_json=None,
            fields=fields,
            dynamic=self.dynamic,
            excluded=frozenset(excluded),
        )


def _field_type(dtype: DataType) -> FieldType | None:
    if dtype in _INT_TYPES or dtype in _FLOAT_TYPES:
        return FieldType.NUMBER
    if dtype == DataType.VARCHAR:
        return FieldType.STRING
    if dtype == DataType.BOOL:
        return FieldType.BOOL
    return None
