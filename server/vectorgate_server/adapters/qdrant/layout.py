"""What both Qdrant modes know about a collection: names, capabilities, the layout.

The server adapter (:mod:`.adapter`) reads it from the Qdrant collection's
configuration and metadata, the embedded one (:mod:`.edge`) from
``vectorgate.json`` and the shard's configuration; both build the same
:class:`_Layout` here, so reading and writing points is one code path
(:mod:`.points`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from qdrant_client import models

from ...domain import CollectionInfo, CollectionSpec, IndexSpec, Metric, Op
from ...errors import AlreadyExists, InvalidArgument, NotFound, Unsupported
from ...filters.common import FieldType
from ...filters.qdrant import RESERVED_PAYLOAD_KEYS
from ..base import Capabilities
from ..index_params import positive_int_params
from ..sparse_text import Bm25Encoder, EncoderSpecError
from ..spec import StoredSpec

BACKEND = "qdrant"
#: Key of the vectorgate spec in the Qdrant collection metadata.
SPEC_METADATA_KEY = "vectorgate"
#: Collection metadata key prefix recording the type of each metadata key (one entry per
#: key: Qdrant merges metadata updates key by key, so adapters adding keys concurrently
#: do not overwrite each other).
FIELD_METADATA_PREFIX = "vectorgate:field:"
#: Name of the sparse (BM25, IDF) text vector of collections created with keyword search.
SPARSE_VECTOR_NAME = "vg_text_bm25"
#: Key of the keyword-search entry in the stored spec.
_KEYWORD_SPEC_KEY = "keyword"

_HNSW = "HNSW"
_FLAT = "FLAT"
#: Native search parameters and their kinds (:func:`~..params.validate_native_params`).
NATIVE_PARAMS: Mapping[str, str] = {"hnsw_ef": "int", "exact": "bool", "indexed_only": "bool"}
_MAX_WRITE_BATCH = 512
_MAX_READ_BATCH = 1024

CAPABILITIES = Capabilities(
    metrics=frozenset(Metric),
    filter_ops=frozenset(Op),
    filter_boolean=True,
    delete_by_filter=True,
    index_types=frozenset({_HNSW, _FLAT}),
    max_write_batch=_MAX_WRITE_BATCH,
    native_params=frozenset(NATIVE_PARAMS),
    keyword_search=True,
    # Payload ints are stored as i64 and `match` compares them exactly, but a `range`
    # condition's bounds are f64 (models.Range; qdrant/rust-client issue 59).
    exact_int_ranges=False,
)


def store_capabilities(keyword_search: bool) -> Capabilities:
    """The capabilities of a store with the ``keyword_search`` option on or off."""
    return CAPABILITIES if keyword_search else replace(CAPABILITIES, keyword_search=False)


@dataclass(frozen=True, slots=True)
class _Keyword:
    """The sparse text vector of a collection with keyword search."""

    vector_name: str
    encoder: Bm25Encoder


@dataclass(frozen=True, slots=True)
class _Layout:
    """What the adapter needs to know about a collection to read and write it."""

    dimension: int
    metric: Metric
    text_field: str
    #: Name of the dense vector; None for the unnamed vector vectorgate creates.
    vector_name: str | None
    index: IndexSpec
    #: Type of every metadata key written so far (from the collection metadata).
    fields: Mapping[str, FieldType]
    #: The sparse text vector; None when the collection has no keyword search.
    keyword: _Keyword | None = None
    #: Why ``keyword`` is None (for the ``Unsupported`` message).
    keyword_missing: str = "it has no sparse text vector"


def layout_of(
    stored: StoredSpec,
    raw: Any,
    sparse_vectors: Mapping[str, models.SparseVectorParams] | None,
    *,
    dimension: int,
    metric: Metric,
    vector_name: str | None,
    fields: Mapping[str, FieldType],
) -> _Layout:
    """The layout of a collection from its stored spec (``raw``: as it was read)."""
    keyword, keyword_missing = _keyword_layout(raw, sparse_vectors)
    return _Layout(
        dimension=dimension,
        metric=metric,
        text_field=stored.text_field,
        vector_name=vector_name,
        index=stored.index,
        fields=fields,
        keyword=keyword,
        keyword_missing=keyword_missing,
    )


def _keyword_layout(
    stored: Any, sparse_vectors: Mapping[str, models.SparseVectorParams] | None
) -> tuple[_Keyword | None, str]:
    """The collection's sparse text vector from its stored spec, or why it has none."""
    if not isinstance(stored, dict):
        return None, "it was not created by vectorgate"
    entry = stored.get(_KEYWORD_SPEC_KEY)
    if entry is None:
        return None, "it was created without keyword search"
    if not isinstance(entry, dict) or not isinstance(entry.get("sparse_vector"), str):
        return None, "its stored keyword spec is malformed"
    vector_name = str(entry["sparse_vector"])
    params = (sparse_vectors or {}).get(vector_name)
    if params is None:
        return None, f"its sparse vector {vector_name!r} is missing"
    if params.modifier != models.Modifier.IDF:
        return None, f"its sparse vector {vector_name!r} has no IDF modifier"
    try:
        encoder = Bm25Encoder.from_spec(entry)
    except EncoderSpecError as exc:
        return None, f"it was written with {exc}"
    return _Keyword(vector_name=vector_name, encoder=encoder), ""


def new_collection(
    spec: CollectionSpec, *, keyword_search: bool, encoder: Bm25Encoder
) -> tuple[StoredSpec, models.HnswConfigDiff | None]:
    """The spec to store for a new collection and the HNSW config to create it with.

    With ``keyword_search`` the spec names the sparse text vector and the encoder
    its documents are written with (the collection gets :data:`SPARSE_VECTOR_NAME`).
    """
    check_text_field(spec)
    index, hnsw = _index_config(spec.index)
    extra: dict[str, Any] = {}
    if keyword_search:
        extra[_KEYWORD_SPEC_KEY] = {"sparse_vector": SPARSE_VECTOR_NAME, **encoder.spec()}
    stored = StoredSpec.of(spec, index=index, create_time=datetime.now(UTC), extra=extra)
    return stored, hnsw


def check_text_field(spec: CollectionSpec) -> None:
    """The text field must not be a key of the payload layout (Qdrant and Qdrant Edge)."""
    if spec.text_field in RESERVED_PAYLOAD_KEYS:
        raise InvalidArgument(
            f"collection.text_field: {spec.text_field!r} is reserved by the Qdrant "
            f"payload layout (reserved: {', '.join(sorted(RESERVED_PAYLOAD_KEYS))})",
            field="collection.text_field",
        )


def with_count(info: CollectionInfo, count: int) -> CollectionInfo:
    return replace(info, document_count=count)


def not_found(store: str, name: str) -> NotFound:
    return NotFound(f"collection {name!r} does not exist in store {store!r}")


def already_exists(store: str, name: str | None) -> AlreadyExists:
    return AlreadyExists(f"collection {name!r} already exists in store {store!r}")


def require_keyword_store(store: str, enabled: bool) -> None:
    """Keyword search needs the store's ``keyword_search`` option (server and embedded)."""
    if not enabled:
        raise Unsupported(
            backend=BACKEND,
            operation="keyword search",
            detail=f"store {store!r} is configured with keyword_search: false",
        )


def require_keyword_layout(store: str, name: str, layout: _Layout) -> _Keyword:
    """The collection's keyword index, or ``Unsupported`` saying why it has none."""
    if layout.keyword is None:
        raise Unsupported(
            backend=BACKEND,
            operation="keyword search",
            detail=f"collection {name!r} in store {store!r} has no keyword index "
            f"({layout.keyword_missing}); collections vectorgate creates while the "
            "store has keyword_search: true (the default) get one: recreate the "
            "collection (e.g. `vectorgate copy` it to a new one)",
        )
    return layout.keyword


# --------------------------------------------------------------------------- index


#: Accepted HNSW build parameters and their minimum values.
_HNSW_PARAMS: Mapping[str, int] = {"m": 0, "ef_construct": 4}


def _index_config(index: IndexSpec) -> tuple[IndexSpec, models.HnswConfigDiff | None]:
    """The normalised index spec and the HNSW config to create the collection with."""
    kind = index.type.strip().upper()
    params = dict(index.params)
    if kind not in ("", _HNSW, _FLAT):
        raise InvalidArgument(
            f"collection.index.type: unknown Qdrant index type {index.type!r} "
            f"(accepted: {_HNSW}, {_FLAT})",
            field="collection.index.type",
        )
    if kind == _FLAT:
        if params:
            key = sorted(params)[0]
            raise InvalidArgument(
                f"collection.index.params.{key}: FLAT takes no parameters",
                field=f"collection.index.params.{key}",
            )
        # No graph at all: every search is exhaustive.
        return IndexSpec(type=_FLAT), models.HnswConfigDiff(m=0)
    checked = positive_int_params(params, _HNSW_PARAMS, "Qdrant HNSW")
    hnsw = (
        models.HnswConfigDiff(m=checked.get("m"), ef_construct=checked.get("ef_construct"))
        if checked
        else None
    )
    return IndexSpec(type=kind, params=checked), hnsw
