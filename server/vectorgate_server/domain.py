"""Domain types shared by the services and the adapters. No protobuf here.

Adapters take and return these types only. The service layer (``app.py``)
validates requests into them, so an adapter can rely on:

* collection names matching :data:`NAME_RE`;
* vectors being float32 ``numpy`` arrays of the collection's dimension, finite;
* metadata keys matching :data:`METADATA_KEY_RE` and not in :data:`RESERVED_FIELDS`,
  values being ``str``, ``int``, ``float`` (finite), ``bool`` or ``list[str]``;
* every upserted document carrying a vector; ids, text and metadata strings
  free of U+0000 where the adapter's ``Capabilities.nul_in_strings`` is False;
* ``top_k`` of at least 1 and query vectors of the collection's dimension.

Adapters re-check none of this; what needs the collection's state (a
metadata key keeps one type) is :func:`vectorgate_server.adapters.spec.new_field_types`.
* filters being a well-formed :data:`Filter` tree (see :mod:`.filters`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

#: Collection and virtual-index names: portable across all five backends
#: (Milvus is the strictest: letters, digits, underscore; we also allow "-",
#: which adapters that cannot store it map reversibly).
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,127}")

#: Metadata keys: identifiers usable as a column / JSON key on every backend.
METADATA_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-.]{0,63}")

#: Reserved field names that metadata cannot use.
RESERVED_FIELDS = frozenset({"id", "vector", "text", "_distance", "_score", "_rowid"})

FloatArray: TypeAlias = npt.NDArray[np.float32]
Scalar: TypeAlias = str | int | float | bool
MetadataValue: TypeAlias = str | int | float | bool | list[str]
Metadata: TypeAlias = dict[str, MetadataValue]


class Metric(enum.Enum):
    """Distance metric of a collection."""

    COSINE = "cosine"
    L2 = "l2"
    IP = "ip"


# --------------------------------------------------------------------------- filters


class Op(enum.Enum):
    """Field-condition operators."""

    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    NIN = "nin"
    CONTAINS = "contains"


RANGE_OPS = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE})
LIST_OPS = frozenset({Op.IN, Op.NIN})


@dataclass(frozen=True, slots=True)
class Condition:
    """``field op value``. For IN/NIN ``value`` is a tuple of scalars of one type."""

    field: str
    op: Op
    value: Scalar | tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class And:
    """All of the filters hold."""

    filters: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Any of the filters holds."""

    filters: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The filter does not hold (a missing field counts as not matching it)."""

    filter: Filter


Filter: TypeAlias = Condition | And | Or | Not


def and_filters(*filters: Filter | None) -> Filter | None:
    """AND together the non-None filters (used to add policy filters)."""
    present = tuple(f for f in filters if f is not None)
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return And(present)


# --------------------------------------------------------------------------- collections


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """ANN index type and build parameters, as the backend names them."""

    type: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CollectionSpec:
    """What a caller asks a backend to create."""

    name: str
    dimension: int
    metric: Metric = Metric.COSINE
    text_field: str = "text"
    embedding_model: str = ""
    index: IndexSpec = field(default_factory=IndexSpec)


class IndexState(enum.Enum):
    """Whether a collection's ANN index exists (:class:`IndexStatus`)."""

    UNSPECIFIED = "unspecified"
    #: No ANN index (yet): searches are exact.
    NONE = "none"
    #: Being built in the background; searches stay exact meanwhile.
    BUILDING = "building"
    #: Built and used by searches.
    READY = "ready"


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """The state of a collection's ANN index, as the store reports it."""

    state: IndexState = IndexState.UNSPECIFIED
    #: The index type built (or being built).
    type: str = ""
    #: Its build parameters, defaults included.
    params: Mapping[str, Any] = field(default_factory=dict)
    indexed_rows: int = 0
    #: Rows the index does not cover yet (searched exhaustively).
    unindexed_rows: int = 0
    #: Rows at which the automatic index is built; 0 when none is planned.
    auto_index_min_rows: int = 0


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """What a backend reports about a collection."""

    name: str
    dimension: int
    metric: Metric
    text_field: str = "text"
    embedding_model: str = ""
    index: IndexSpec = field(default_factory=IndexSpec)
    document_count: int | None = None
    create_time: datetime | None = None
    #: The ANN index's state; None where the store does not report it.
    index_status: IndexStatus | None = None


# --------------------------------------------------------------------------- documents


@dataclass(slots=True)
class Document:
    """A document as adapters store it: the vector is always present on upsert."""

    id: str
    text: str = ""
    vector: FloatArray | None = None
    metadata: Metadata = field(default_factory=dict)


#: One metadata column of a :class:`DocumentBatch`: a value per row, ``None`` = absent.
MetadataColumn: TypeAlias = list[MetadataValue | None]


@dataclass(slots=True)
class DocumentBatch:
    """Documents as columns: ``len(ids)`` rows, no per-row objects.

    ``vectors`` is a C-contiguous ``(rows, dimension)`` float32 matrix, finite;
    ``texts`` is ``None`` (no texts) or one string per row; each metadata
    column holds one value per row (``None`` where the row has none). The
    application validates a batch once (ids unique, dimension, key names and
    value types, limits), so adapters only translate it.
    """

    ids: list[str]
    vectors: FloatArray
    texts: list[str] | None = None
    metadata: dict[str, MetadataColumn] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    def rows(self, start: int, stop: int) -> DocumentBatch:
        """Rows ``start`` to ``stop`` as a batch of their own (views, no copies)."""
        return DocumentBatch(
            ids=self.ids[start:stop],
            vectors=self.vectors[start:stop],
            texts=self.texts[start:stop] if self.texts is not None else None,
            metadata={key: column[start:stop] for key, column in self.metadata.items()},
        )

    def row_metadata(self, row: int) -> Metadata:
        """The metadata of one row (for the few callers that need a row at a time)."""
        return {key: v for key, column in self.metadata.items() if (v := column[row]) is not None}

    def documents(self) -> list[Document]:
        """The batch as per-row documents (for adapters whose SDK only takes rows)."""
        texts = self.texts
        return [
            Document(
                id=doc_id,
                text=texts[i] if texts is not None else "",
                vector=self.vectors[i],
                metadata=self.row_metadata(i),
            )
            for i, doc_id in enumerate(self.ids)
        ]


@dataclass(slots=True)
class Hit:
    """A search hit. ``score`` is normalised (higher is better); ``raw_score`` as returned."""

    id: str
    score: float
    raw_score: float
    text: str = ""
    metadata: Metadata = field(default_factory=dict)
    vector: FloatArray | None = None
    store: str = ""
    collection: str = ""


@dataclass(frozen=True, slots=True)
class OutputFields:
    """What of each hit or document to return."""

    text: bool = True
    vector: bool = False
    metadata: bool = True
    #: When not None, only these metadata keys are returned.
    metadata_keys: frozenset[str] | None = None

    def project(self, metadata: Metadata) -> Metadata:
        """The metadata restricted to what was asked for."""
        if not self.metadata:
            return {}
        if self.metadata_keys is None:
            return metadata
        return {k: v for k, v in metadata.items() if k in self.metadata_keys}


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A validated single-collection vector search."""

    vector: FloatArray
    top_k: int
    filter: Filter | None = None
    output: OutputFields = field(default_factory=OutputFields)
    native_params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KeywordQuery:
    """A validated single-collection keyword (full-text) search."""

    text: str
    top_k: int
    filter: Filter | None = None
    output: OutputFields = field(default_factory=OutputFields)


@dataclass(frozen=True, slots=True)
class Explanation:
    """What a backend would run for a search."""

    backend: str
    native_filter: str
    native_params: Mapping[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- scores


def normalise_score(metric: Metric, value: float) -> float:
    """Canonical higher-is-better score from a canonical backend value.

    Adapters first convert the backend's raw number into the canonical value
    for the metric: cosine *similarity*, Euclidean *distance* (not squared) or
    inner product. This maps it onto "higher is better".
    """
    if metric is Metric.L2:
        return 1.0 / (1.0 + max(value, 0.0))
    return value


def as_float32(values: Sequence[float] | FloatArray) -> FloatArray:
    """A contiguous float32 copy-free view where possible."""
    return np.ascontiguousarray(values, dtype=np.float32)
