"""Protobuf <-> domain conversion, in one place, with field-path validation.

Every structural check of a request happens here and raises an
:class:`~vectorgate_server.errors.InvalidArgument` naming the request field
(``documents[3].vector.packed``, ``filter.any_of.filters[0].condition.value``).
Semantic checks that need the collection (dimension, pinned model) live in
:mod:`vectorgate_server.app`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from datetime import UTC
from typing import Any, Final

import numpy as np
from google.protobuf import struct_pb2, timestamp_pb2

from vectorgate._values import fill_typed_map, number_from_double
from vectorgate._values import struct_to_dict as _codec_struct_to_dict
from vectorgate.v1 import types_pb2

from . import domain
from .domain import (
    METADATA_KEY_RE,
    RESERVED_FIELDS,
    And,
    CollectionInfo,
    Condition,
    Filter,
    FloatArray,
    IndexState,
    IndexStatus,
    Metadata,
    MetadataValue,
    Metric,
    Not,
    Op,
    Or,
    OutputFields,
    Scalar,
)
from .errors import InvalidArgument, InvalidFilter, InvalidVector
from .filters.common import scalar_type

#: Deepest filter nesting accepted (protects the recursive compilers).
MAX_FILTER_DEPTH = 32
#: Most conditions in one filter.
MAX_FILTER_NODES = 1024
#: Most values in one IN / NIN list.
MAX_FILTER_LIST = 10_000

METRIC_FROM_PB: dict[int, Metric] = {
    types_pb2.DISTANCE_METRIC_COSINE: Metric.COSINE,
    types_pb2.DISTANCE_METRIC_L2: Metric.L2,
    types_pb2.DISTANCE_METRIC_INNER_PRODUCT: Metric.IP,
}
METRIC_TO_PB: dict[Metric, types_pb2.DistanceMetric] = {
    Metric.COSINE: types_pb2.DISTANCE_METRIC_COSINE,
    Metric.L2: types_pb2.DISTANCE_METRIC_L2,
    Metric.IP: types_pb2.DISTANCE_METRIC_INNER_PRODUCT,
}
_OP_PAIRS: tuple[tuple[types_pb2.FilterOperator, Op], ...] = (
    (types_pb2.FILTER_OPERATOR_EQ, Op.EQ),
    (types_pb2.FILTER_OPERATOR_NE, Op.NE),
    (types_pb2.FILTER_OPERATOR_GT, Op.GT),
    (types_pb2.FILTER_OPERATOR_GTE, Op.GTE),
    (types_pb2.FILTER_OPERATOR_LT, Op.LT),
    (types_pb2.FILTER_OPERATOR_LTE, Op.LTE),
    (types_pb2.FILTER_OPERATOR_IN, Op.IN),
    (types_pb2.FILTER_OPERATOR_NIN, Op.NIN),
    (types_pb2.FILTER_OPERATOR_CONTAINS, Op.CONTAINS),
)
OP_FROM_PB: dict[int, Op] = dict(_OP_PAIRS)
OP_TO_PB: dict[Op, types_pb2.FilterOperator] = {op: pb for pb, op in _OP_PAIRS}


# --------------------------------------------------------------------------- vectors


def decode_vector(vector: types_pb2.Vector, field: str) -> FloatArray:
    """A finite float32 array from ``values`` or ``packed`` (exactly one)."""
    has_values = len(vector.values) > 0
    has_packed = len(vector.packed) > 0
    if has_values and has_packed:
        raise InvalidVector(f"{field}: set either values or packed, not both", field=field)
    if has_packed:
        if len(vector.packed) % 4:
            raise InvalidVector(
                f"{field}.packed: {len(vector.packed)} bytes is not a whole number of "
                "little-endian float32 values",
                field=f"{field}.packed",
            )
        array = np.frombuffer(vector.packed, dtype="<f4").astype(np.float32, copy=False)
        sub = f"{field}.packed"
    elif has_values:
        array = np.fromiter(vector.values, dtype=np.float32, count=len(vector.values))
        sub = f"{field}.values"
    else:
        raise InvalidVector(f"{field}: vector is empty", field=field)
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise InvalidVector(
            f"{sub}[{bad}]: vector components must be finite (got {array[bad]})",
            field=f"{sub}[{bad}]",
        )
    return array


def decode_document_vectors(
    documents: Sequence[types_pb2.Document], field: str = "documents"
) -> list[FloatArray | None]:
    """The vector of each document (``None`` where it has none), as :func:`decode_vector`.

    The common bulk case, every vector ``packed`` with one length, is decoded
    and checked as one matrix (one NaN/Inf check instead of one per document);
    anything else, or any bad component, goes through :func:`decode_vector`
    document by document so errors name the exact field.
    """
    packs: list[bytes] = []
    width = -1
    for pb in documents:
        if not pb.HasField("vector"):
            continue
        vector = pb.vector
        packed = vector.packed
        if len(vector.values) or not packed or len(packed) % 4:
            break
        if width == -1:
            width = len(packed)
        elif len(packed) != width:
            break
        packs.append(packed)
    else:
        if packs:
            matrix = np.frombuffer(b"".join(packs), dtype="<f4").reshape(len(packs), width // 4)
            if np.isfinite(matrix).all():
                rows = iter(matrix.astype(np.float32, copy=False))
                return [next(rows) if pb.HasField("vector") else None for pb in documents]
    return [
        decode_vector(pb.vector, f"{field}[{i}].vector") if pb.HasField("vector") else None
        for i, pb in enumerate(documents)
    ]


def encode_vector(array: FloatArray, *, packed: bool = True) -> types_pb2.Vector:
    """A protobuf vector; packed little-endian float32 by default."""
    if packed:
        return types_pb2.Vector(packed=np.asarray(array, dtype="<f4").tobytes())
    return types_pb2.Vector(values=array.tolist())


# --------------------------------------------------------------------------- metadata


def _check_key(key: str, path: str) -> None:
    if not METADATA_KEY_RE.fullmatch(key):
        raise InvalidArgument(
            f"{path}: metadata keys must match {METADATA_KEY_RE.pattern}", field=path
        )
    if key in RESERVED_FIELDS:
        raise InvalidArgument(
            f"{path}: {key!r} is reserved (reserved: {', '.join(sorted(RESERVED_FIELDS))})",
            field=path,
        )


def struct_to_metadata(struct: struct_pb2.Struct, field: str) -> Metadata:
    """Validated metadata: string, number, bool or list-of-string values; nulls dropped.

    Numbers are doubles: read as the shared codec does (:func:`number_from_double`).
    """
    out: Metadata = {}
    if not len(struct.fields):  # iterating even an empty protobuf map costs microseconds
        return out
    for key, value in struct.fields.items():
        path = f"{field}.{key}"
        _check_key(key, path)
        kind = value.WhichOneof("kind")
        if kind == "null_value" or kind is None:
            continue
        if kind == "string_value":
            out[key] = value.string_value
        elif kind == "bool_value":
            out[key] = value.bool_value
        elif kind == "number_value":
            number = value.number_value
            if not math.isfinite(number):
                raise InvalidArgument(f"{path}: numbers must be finite", field=path)
            out[key] = number_from_double(number)
        elif kind == "list_value":
            items: list[str] = []
            for i, item in enumerate(value.list_value.values):
                if item.WhichOneof("kind") != "string_value":
                    raise InvalidArgument(
                        f"{path}[{i}]: list metadata values must be strings", field=f"{path}[{i}]"
                    )
                items.append(item.string_value)
            out[key] = items
        else:
            raise InvalidArgument(
                f"{path}: nested objects are not supported in metadata; use a string, "
                "number, bool or list of strings",
                field=path,
            )
    return out


def typed_to_metadata(typed: Mapping[str, types_pb2.FilterValue], field: str) -> Metadata:
    """Validated metadata from ``typed_metadata``: ints exact, floats finite, lists of strings."""
    out: Metadata = {}
    if not len(typed):
        return out
    for key, value in typed.items():
        path = f"{field}.{key}"
        _check_key(key, path)
        decoded = _typed_metadata_value(value, path)
        if decoded is None:
            raise InvalidArgument(
                f"{path}: value type is not set (use string_value, int_value, float_value, "
                "bool_value or list_value)",
                field=path,
            )
        out[key] = decoded
    return out


def _pb_scalar(
    value: types_pb2.FilterValue, path: str, error: type[InvalidArgument]
) -> Scalar | None:
    """The string, integer, finite float or boolean ``value`` holds; ``None`` for a list
    or an unset kind (the caller's to judge). A non-finite float raises ``error``."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "float_value":
        if not math.isfinite(value.float_value):
            raise error(f"{path}: numbers must be finite", field=path)
        return value.float_value
    if kind == "bool_value":
        return value.bool_value
    return None


def _typed_metadata_value(value: types_pb2.FilterValue, path: str) -> MetadataValue | None:
    """One validated typed metadata value; ``None`` when its kind is not set."""
    scalar = _pb_scalar(value, path, InvalidArgument)
    if scalar is not None:
        return scalar
    if value.WhichOneof("kind") == "list_value":
        items: list[str] = []
        for i, item in enumerate(value.list_value.values):
            if item.WhichOneof("kind") != "string_value":
                ipath = f"{path}[{i}]"
                raise InvalidArgument(f"{ipath}: list metadata values must be strings", field=ipath)
            items.append(item.string_value)
        return items
    return None


def columns_from_pb(pb: types_pb2.DocumentColumns, field: str = "columns") -> domain.DocumentBatch:
    """A validated columnar batch: structure, vector block, finite floats, metadata types.

    Checks needing the collection or the server's limits (dimension, batch
    size, id rules, text and metadata sizes) are the application's.
    """
    rows = len(pb.ids)
    dimension = pb.dimension
    if dimension <= 0:
        raise InvalidArgument(
            f"{field}.dimension: must be positive (got {dimension})",
            field=f"{field}.dimension",
            reason="MISSING_FIELD" if dimension == 0 else None,
        )
    expected = rows * dimension * 4
    if len(pb.vectors) != expected:
        raise InvalidVector(
            f"{field}.vectors: {len(pb.vectors)} bytes, but {rows} ids x dimension {dimension} "
            f"x 4 bytes (little-endian float32) is {expected}",
            field=f"{field}.vectors",
        )
    matrix = np.frombuffer(pb.vectors, dtype="<f4").reshape(rows, dimension)
    finite = np.isfinite(matrix)
    if not finite.all():
        bad = int(np.flatnonzero(~finite.all(axis=1))[0])
        col = int(np.flatnonzero(~finite[bad])[0])
        raise InvalidVector(
            f"{field}.vectors: row {bad} (id {pb.ids[bad]!r}), component {col} is not finite "
            f"(got {matrix[bad, col]})",
            field=f"{field}.vectors",
        )
    texts: list[str] | None = None
    if len(pb.texts):
        if len(pb.texts) != rows:
            raise InvalidArgument(
                f"{field}.texts: {len(pb.texts)} texts for {rows} ids (give none or one per id)",
                field=f"{field}.texts",
            )
        texts = list(pb.texts)
    metadata: dict[str, domain.MetadataColumn] = {}
    for c, column in enumerate(pb.metadata):
        path = f"{field}.metadata[{c}]"
        key = column.key
        _check_key(key, f"{path}.key")
        if key in metadata:
            raise InvalidArgument(
                f"{path}.key: duplicate metadata column {key!r}", field=f"{path}.key"
            )
        if len(column.values) != rows:
            raise InvalidArgument(
                f"{path}.values: {len(column.values)} values for {rows} ids (one per id; a "
                "value with no kind set means absent)",
                field=f"{path}.values",
            )
        metadata[key] = [
            _typed_metadata_value(value, f"{path}.values[{i}]")
            for i, value in enumerate(column.values)
        ]
    return domain.DocumentBatch(
        ids=list(pb.ids),
        vectors=matrix.astype(np.float32, copy=False),
        texts=texts,
        metadata=metadata,
    )


def document_metadata(doc: types_pb2.Document, field: str) -> Metadata:
    """The validated metadata of a request document: ``typed_metadata`` or ``metadata``."""
    if len(doc.typed_metadata):
        if len(doc.metadata.fields):
            raise InvalidArgument(
                f"{field}: set metadata or typed_metadata, not both", field=f"{field}.metadata"
            )
        # Errors name the document's metadata as users write it (the REST body and the
        # Python client call it "metadata" whichever form travels).
        return typed_to_metadata(doc.typed_metadata, f"{field}.metadata")
    return struct_to_metadata(doc.metadata, f"{field}.metadata")


def metadata_to_struct(metadata: Mapping[str, MetadataValue], out: struct_pb2.Struct) -> None:
    """Fill ``out`` from domain metadata (numbers become doubles)."""
    for key, value in metadata.items():
        slot = out.fields[key]
        if isinstance(value, bool):
            slot.bool_value = value
        elif isinstance(value, int | float):
            slot.number_value = float(value)
        elif isinstance(value, str):
            slot.string_value = value
        else:
            slot.list_value.values.extend(struct_pb2.Value(string_value=s) for s in value)


def metadata_to_pb(
    metadata: Mapping[str, MetadataValue],
    struct: struct_pb2.Struct,
    typed: MutableMapping[str, types_pb2.FilterValue],
) -> None:
    """Fill both forms of a response's metadata: the Struct and the typed map."""
    metadata_to_struct(metadata, struct)
    fill_typed_map(typed, metadata, "metadata")


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """Plain JSON-like dict (used for native params and index params)."""
    return _codec_struct_to_dict(struct)


def dict_to_struct(data: Mapping[str, Any], out: struct_pb2.Struct) -> None:
    """Fill a Struct from a JSON-like dict."""
    out.update(dict(data))


# --------------------------------------------------------------------------- filters


def _scalar(value: types_pb2.FilterValue, path: str) -> Scalar:
    scalar = _pb_scalar(value, path, InvalidFilter)
    if scalar is not None:
        return scalar
    if value.WhichOneof("kind") == "list_value":
        raise InvalidFilter(f"{path}: a list value is only allowed with IN and NIN", field=path)
    raise InvalidFilter(
        f"{path}: filter value type is not set (use string_value, int_value, "
        "float_value, bool_value or list_value)",
        field=path,
    )


def _value(op: Op, value: types_pb2.FilterValue, path: str) -> Scalar | tuple[Scalar, ...]:
    if op in domain.LIST_OPS:
        if value.WhichOneof("kind") != "list_value":
            raise InvalidFilter(f"{path}: {op.name} needs a list_value", field=path)
        items = value.list_value.values
        if not items:
            raise InvalidFilter(f"{path}.list_value: the list is empty", field=f"{path}.list_value")
        if len(items) > MAX_FILTER_LIST:
            raise InvalidFilter(
                f"{path}.list_value: at most {MAX_FILTER_LIST} values", field=f"{path}.list_value"
            )
        scalars = tuple(
            _scalar(item, f"{path}.list_value.values[{i}]") for i, item in enumerate(items)
        )
        kinds = {scalar_type(s) for s in scalars}
        if len(kinds) > 1:
            names = sorted(k.value for k in kinds if k is not None)
            raise InvalidFilter(
                f"{path}.list_value: values must all be of one type (got {names})",
                field=f"{path}.list_value",
            )
        return scalars
    scalar = _scalar(value, path)
    if op in domain.RANGE_OPS and (isinstance(scalar, bool) or not isinstance(scalar, int | float)):
        raise InvalidFilter(f"{path}: {op.name} compares numbers only", field=path)
    if op is Op.CONTAINS and not isinstance(scalar, str):
        raise InvalidFilter(f"{path}: CONTAINS takes a string value", field=path)
    return scalar


def filter_from_pb(pb: types_pb2.Filter, path: str = "filter") -> Filter:
    """The domain filter tree for a protobuf filter, validated."""
    counter = [0]
    return _filter(pb, path, 0, counter)


def _filter(pb: types_pb2.Filter, path: str, depth: int, counter: list[int]) -> Filter:
    if depth > MAX_FILTER_DEPTH:
        raise InvalidFilter(f"{path}: filter nested deeper than {MAX_FILTER_DEPTH}", field=path)
    counter[0] += 1
    if counter[0] > MAX_FILTER_NODES:
        raise InvalidFilter(f"{path}: filter has more than {MAX_FILTER_NODES} nodes", field=path)
    kind = pb.WhichOneof("kind")
    if kind == "condition":
        cond = pb.condition
        cpath = f"{path}.condition"
        if not cond.field:
            raise InvalidFilter(f"{cpath}.field: required", field=f"{cpath}.field")
        if cond.field != "id" and not METADATA_KEY_RE.fullmatch(cond.field):
            raise InvalidFilter(
                f"{cpath}.field: {cond.field!r} is not a valid metadata key", field=f"{cpath}.field"
            )
        op = OP_FROM_PB.get(cond.op)
        if op is None:
            raise InvalidFilter(f"{cpath}.op: operator is not set", field=f"{cpath}.op")
        if not cond.HasField("value"):
            raise InvalidFilter(f"{cpath}.value: required", field=f"{cpath}.value")
        value = _value(op, cond.value, f"{cpath}.value")
        if cond.field == "id" and op not in (Op.EQ, Op.NE, Op.IN, Op.NIN):
            raise InvalidFilter(f"{cpath}.op: id supports EQ, NE, IN, NIN", field=f"{cpath}.op")
        if cond.field == "id" and any(not isinstance(v, str) for v in _as_tuple(value)):
            raise InvalidFilter(f"{cpath}.value: ids are strings", field=f"{cpath}.value")
        return Condition(cond.field, op, value)
    if kind in ("all_of", "any_of"):
        items = getattr(pb, kind).filters
        lpath = f"{path}.{kind}.filters"
        if not items:
            raise InvalidFilter(f"{lpath}: at least one filter is required", field=lpath)
        children = tuple(
            _filter(child, f"{lpath}[{i}]", depth + 1, counter) for i, child in enumerate(items)
        )
        return And(children) if kind == "all_of" else Or(children)
    if kind == "negate":
        return Not(_filter(pb.negate, f"{path}.negate", depth + 1, counter))
    raise InvalidFilter(
        f"{path}: filter kind is not set (use condition, all_of, any_of or negate)", field=path
    )


def _as_tuple(value: Scalar | tuple[Scalar, ...]) -> tuple[Scalar, ...]:
    return value if isinstance(value, tuple) else (value,)


def _scalar_to_pb(value: Scalar, out: types_pb2.FilterValue) -> None:
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.float_value = value
    else:
        out.string_value = value


def filter_to_pb(f: Filter) -> types_pb2.Filter:
    """The protobuf form of a domain filter (for responses such as virtual indexes)."""
    out = types_pb2.Filter()
    if isinstance(f, Condition):
        out.condition.field = f.field
        out.condition.op = OP_TO_PB[f.op]
        if isinstance(f.value, tuple):
            for item in f.value:
                _scalar_to_pb(item, out.condition.value.list_value.values.add())
        else:
            _scalar_to_pb(f.value, out.condition.value)
    elif isinstance(f, And):
        out.all_of.filters.extend(filter_to_pb(c) for c in f.filters)
    elif isinstance(f, Or):
        out.any_of.filters.extend(filter_to_pb(c) for c in f.filters)
    else:
        out.negate.CopyFrom(filter_to_pb(f.filter))
    return out


# --------------------------------------------------------------------------- outputs


def output_fields(fields: Iterable[str], path: str = "output_fields") -> OutputFields:
    """Parse ``output_fields``: "text", "vector", "metadata", "metadata.KEY"; empty = defaults."""
    items = list(fields)
    if not items:
        return OutputFields()
    text = vector = metadata = False
    keys: set[str] = set()
    for i, item in enumerate(items):
        if item == "text":
            text = True
        elif item == "vector":
            vector = True
        elif item == "metadata":
            metadata = True
        elif item.startswith("metadata.") and METADATA_KEY_RE.fullmatch(item[9:]):
            keys.add(item[9:])
        elif item == "id":
            continue
        else:
            raise InvalidArgument(
                f"{path}[{i}]: {item!r} is not one of text, vector, metadata, metadata.KEY",
                field=f"{path}[{i}]",
            )
    if metadata:
        return OutputFields(text=text, vector=vector, metadata=True)
    if keys:
        return OutputFields(text=text, vector=vector, metadata=True, metadata_keys=frozenset(keys))
    return OutputFields(text=text, vector=vector, metadata=False)


def hit_to_pb(hit: domain.Hit, out: types_pb2.Hit) -> None:
    """Fill ``out`` from a domain hit."""
    document_to_pb(hit, out)
    out.score = hit.score
    out.raw_score = hit.raw_score
    out.store = hit.store
    out.collection = hit.collection


def document_to_pb(
    doc: domain.Document | domain.Hit, out: types_pb2.Document | types_pb2.Hit
) -> None:
    """Fill ``out``'s document part (id, text, metadata, vector) from a document or a hit."""
    out.id = doc.id
    out.text = doc.text
    if doc.metadata:
        metadata_to_pb(doc.metadata, out.metadata, out.typed_metadata)
    if doc.vector is not None:
        out.vector.packed = np.asarray(doc.vector, dtype="<f4").tobytes()


def collection_to_pb(
    info: CollectionInfo, *, store: str, backend: str, out: types_pb2.Collection
) -> None:
    """Fill ``out`` from a collection description."""
    out.name = info.name
    out.store = store
    out.backend = backend
    out.dimension = info.dimension
    out.metric = METRIC_TO_PB[info.metric]
    out.text_field = info.text_field
    out.embedding_model = info.embedding_model
    out.index.type = info.index.type
    if info.index.params:
        dict_to_struct(info.index.params, out.index.params)
    if info.document_count is not None:
        out.document_count = info.document_count
    if info.create_time is not None:
        ts = timestamp_pb2.Timestamp()
        ts.FromDatetime(info.create_time.astimezone(UTC))
        out.create_time.CopyFrom(ts)
    if info.index_status is not None:
        index_status_to_pb(info.index_status, out.index_status)


_INDEX_STATE_TO_PB: Final = {
    IndexState.UNSPECIFIED: types_pb2.IndexStatus.STATE_UNSPECIFIED,
    IndexState.NONE: types_pb2.IndexStatus.STATE_NONE,
    IndexState.BUILDING: types_pb2.IndexStatus.STATE_BUILDING,
    IndexState.READY: types_pb2.IndexStatus.STATE_READY,
}


def index_status_to_pb(status: IndexStatus, out: types_pb2.IndexStatus) -> None:
    """Fill ``out`` from an index status."""
    out.state = _INDEX_STATE_TO_PB[status.state]
    out.type = status.type
    if status.params:
        dict_to_struct(status.params, out.params)
    out.indexed_rows = status.indexed_rows
    out.unindexed_rows = status.unindexed_rows
    out.auto_index_min_rows = status.auto_index_min_rows
