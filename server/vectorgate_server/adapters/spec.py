"""One model and one codec for what vectorgate keeps about a collection.

Every adapter persists the same :class:`StoredSpec` (dimension, metric, text
field, pinned embedding model, index type and parameters, creation time, the
type of each metadata key where the backend keeps them with the spec, and a
few backend-specific entries) through :func:`encode_spec` / :func:`decode_spec`.
Where the serialised spec lives stays per backend: LanceDB's table schema
metadata, Qdrant's collection metadata, Qdrant Edge's ``vectorgate.json``, the
pgvector catalog table, an OpenSearch mapping's ``_meta``, Pinecone's index
tags, Milvus' collection properties.

:func:`decode_spec` reads every format vectorgate has written: the current one
(``"version": 1``) and the older ones (``"format": 1`` of Qdrant and pgvector,
the flat ``index_type`` / ``index_params`` / ``created`` of Pinecone), so
collections created by earlier releases keep opening.

:func:`new_field_types` is the one rule "a metadata key keeps one type per
collection" (the first type written), applied by every adapter against the
key types its collection already has. It is not a re-check of the request:
the application layer has validated keys, value types, finiteness and sizes;
this needs the collection's current state, which only the adapter holds.
:func:`new_column_types` is the same rule for a columnar batch, a column at a time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, cast

from ..domain import (
    CollectionInfo,
    CollectionSpec,
    Document,
    DocumentBatch,
    IndexSpec,
    Metadata,
    MetadataValue,
    Metric,
)
from ..errors import InvalidArgument
from ..filters.common import FieldType, metadata_type, scalar_type

__all__ = [
    "SPEC_VERSION",
    "StoredSpec",
    "decode_spec",
    "encode_spec",
    "new_column_types",
    "new_field_types",
    "spec_json",
    "value_type",
]

log = logging.getLogger(__name__)

#: Version of the format :func:`encode_spec` writes.
SPEC_VERSION: Final = 1

#: Keys of the encoded spec that are part of the model (everything else is ``extra``).
_MODEL_KEYS: Final = frozenset(
    {
        "version",
        "name",
        "dimension",
        "metric",
        "text_field",
        "embedding_model",
        "index",
        "create_time",
        "fields",
    }
)
#: Keys of older formats, read into the model and never written again.
_LEGACY_KEYS: Final = frozenset({"format", "created", "index_type", "index_params"})


@dataclass(frozen=True, slots=True)
class StoredSpec:
    """What vectorgate records about a collection when it creates it.

    ``dimension`` and ``metric`` are None only in specs of formats that left
    them to the backend's own schema (Pinecone's first format); adapters read
    them from the backend then.
    """

    dimension: int | None
    metric: Metric | None
    text_field: str = "text"
    embedding_model: str = ""
    index: IndexSpec = field(default_factory=IndexSpec)
    create_time: datetime | None = None
    #: The collection's name, where the backend's own name differs (Pinecone).
    name: str = ""
    #: Metadata key -> type, for backends that keep key types with the spec.
    fields: Mapping[str, FieldType] = field(default_factory=dict)
    #: Backend-specific entries (keyword-search encoder, text-search config), verbatim.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        spec: CollectionSpec,
        *,
        index: IndexSpec | None = None,
        create_time: datetime | None = None,
        name: str = "",
        extra: Mapping[str, Any] | None = None,
    ) -> StoredSpec:
        """The stored form of a create request (``index``: the normalised index spec)."""
        return cls(
            dimension=spec.dimension,
            metric=spec.metric,
            text_field=spec.text_field,
            embedding_model=spec.embedding_model,
            index=index if index is not None else spec.index,
            create_time=create_time,
            name=name,
            extra=dict(extra or {}),
        )

    def info(
        self,
        name: str,
        *,
        dimension: int | None = None,
        metric: Metric | None = None,
        document_count: int | None = None,
        create_time: datetime | None = None,
    ) -> CollectionInfo:
        """The collection's description; the backend's own dimension / metric win when given."""
        resolved_dimension = dimension if dimension is not None else self.dimension
        resolved_metric = metric if metric is not None else self.metric
        return CollectionInfo(
            name=name,
            dimension=resolved_dimension or 0,
            metric=resolved_metric or Metric.COSINE,
            text_field=self.text_field,
            embedding_model=self.embedding_model,
            index=self.index,
            document_count=document_count,
            create_time=create_time if create_time is not None else self.create_time,
        )


def encode_spec(spec: StoredSpec) -> dict[str, Any]:
    """The JSON-ready form of ``spec`` (the current format)."""
    out: dict[str, Any] = dict(spec.extra)
    out.update(
        {
            "version": SPEC_VERSION,
            "text_field": spec.text_field,
            "embedding_model": spec.embedding_model,
            "index": {"type": spec.index.type, "params": dict(spec.index.params)},
            "create_time": spec.create_time.isoformat() if spec.create_time else None,
        }
    )
    if spec.dimension is not None:
        out["dimension"] = spec.dimension
    if spec.metric is not None:
        out["metric"] = spec.metric.value
    if spec.name:
        out["name"] = spec.name
    if spec.fields:
        out["fields"] = {key: kind.value for key, kind in sorted(spec.fields.items())}
    return out


def spec_json(spec: StoredSpec) -> str:
    """``spec`` as compact, key-sorted, ASCII-only JSON (fits any metadata store)."""
    return json.dumps(encode_spec(spec), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def decode_spec(raw: object) -> StoredSpec | None:
    """The spec from any format vectorgate has written (a mapping or its JSON text).

    None when ``raw`` is not a spec vectorgate understands (a foreign or
    damaged entry): the adapter then falls back to what the backend reports.
    """
    data: object = raw
    if isinstance(raw, bytes | str):
        try:
            data = json.loads(raw)
        except ValueError:
            log.warning("ignoring a collection spec that is not JSON")
            return None
    if not isinstance(data, Mapping):
        return None
    try:
        return _decode(data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("ignoring an unreadable collection spec: %s", exc)
        return None


def _decode(data: Mapping[str, Any]) -> StoredSpec:
    raw_index = data.get("index")
    if isinstance(raw_index, Mapping):
        index_type = raw_index.get("type")
        index_params = raw_index.get("params")
    else:  # Pinecone's first format
        index_type = data.get("index_type")
        index_params = data.get("index_params")
    created = data.get("create_time", data.get("created"))
    raw_fields = data.get("fields")
    fields: dict[str, FieldType] = {}
    for key, kind in raw_fields.items() if isinstance(raw_fields, Mapping) else ():
        try:
            fields[str(key)] = FieldType(kind)
        except ValueError:
            log.warning("ignoring metadata key %r of unknown type %r in a spec", key, kind)
    dimension = data.get("dimension")
    metric = data.get("metric")
    return StoredSpec(
        dimension=int(dimension) if dimension is not None else None,
        metric=Metric(metric) if metric is not None else None,
        text_field=str(data.get("text_field") or "text"),
        embedding_model=str(data.get("embedding_model") or ""),
        index=IndexSpec(
            type=str(index_type or ""),
            params=dict(index_params) if isinstance(index_params, Mapping) else {},
        ),
        create_time=_time(created),
        name=str(data.get("name") or ""),
        fields=fields,
        extra={k: v for k, v in data.items() if k not in _MODEL_KEYS | _LEGACY_KEYS},
    )


def _time(raw: object) -> datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


def value_type(value: MetadataValue) -> FieldType:
    """The type of a (validated) metadata value."""
    if isinstance(value, list):
        return FieldType.STRING_LIST
    return cast(FieldType, scalar_type(value))


def new_field_types(
    collection: str,
    documents: Sequence[Document],
    known: Mapping[str, FieldType],
    *,
    field: str = "documents",
) -> dict[str, FieldType]:
    """The metadata keys a batch adds to a collection, each with its type.

    A key keeps one type per collection: the type it already has (``known``)
    or, for a key new to the collection, the type of its first value in the
    batch. A value of another type is refused whole with ``InvalidArgument``
    naming ``documents[i].metadata.<key>``.
    """
    new: dict[str, FieldType] = {}
    for i, doc in enumerate(documents):
        for key, value in doc.metadata.items():
            kind = value_type(value)
            expected = known.get(key) or new.get(key)
            if expected is None:
                new[key] = kind
            elif expected is not kind:
                path = f"{field}[{i}].metadata.{key}"
                raise InvalidArgument(
                    f"{path}: {kind.value} value, but collection {collection!r} stores "
                    f"{expected.value} values under {key!r}",
                    field=path,
                )
    return new


def new_column_types(
    collection: str,
    batch: DocumentBatch,
    known: Mapping[str, FieldType],
    *,
    field: str = "columns",
) -> dict[str, FieldType]:
    """:func:`new_field_types` of a columnar batch: the metadata keys it adds, typed.

    A column holds one type (that of its first value; absent values aside), and
    a key the collection has keeps its type. A value of another type in a column
    is refused naming ``columns.metadata[c].values[i]``; a column of another
    type than the collection's, naming ``columns.metadata[c]``.
    """
    new: dict[str, FieldType] = {}
    for c, (key, values) in enumerate(batch.metadata.items()):
        path = f"{field}.metadata[{c}]"
        kind: FieldType | None = None
        first = 0
        for i, value in enumerate(values):
            if value is None:
                continue
            vtype = value_type(value)
            if kind is None:
                kind, first = vtype, i
            elif vtype is not kind:
                vpath = f"{path}.values[{i}]"
                raise InvalidArgument(
                    f"{vpath}: a {vtype.value} value in column {key!r}, whose row {first} "
                    f"holds a {kind.value}",
                    field=vpath,
                )
        if kind is None:
            continue  # all absent: the batch adds nothing under this key
        expected = known.get(key)
        if expected is None:
            new[key] = kind
        elif expected is not kind:
            raise InvalidArgument(
                f"{path}: {kind.value} values, but collection {collection!r} stores "
                f"{expected.value} values under {key!r}",
                field=path,
            )
    return new


def stored_metadata(raw: object) -> Metadata:
    """The metadata of a stored JSON object (a jsonb column, a payload entry): its values
    of a metadata type; others (a foreign writer's) are not returned."""
    if not isinstance(raw, dict):
        return {}
    return {
        str(key): list(value) if isinstance(value, list) else value
        for key, value in raw.items()
        if metadata_type(value) is not None
    }
