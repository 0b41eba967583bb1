"""Metadata filters: the portable semantics (:mod:`.common`) and one compiler per backend.

Each backend module exposes ``compile_filter(filter, schema_types, *, path=...)``
returning its native filter; backend modules are imported by their adapters only.
"""

from __future__ import annotations

from .common import (
    ID_FIELD,
    MAX_FILTER_DEPTH,
    FieldType,
    applies,
    conditions,
    fields,
    metadata_type,
    scalar_type,
    validate_filter,
)

__all__ = [
    "ID_FIELD",
    "MAX_FILTER_DEPTH",
    "FieldType",
    "applies",
    "conditions",
    "fields",
    "metadata_type",
    "scalar_type",
    "validate_filter",
]
