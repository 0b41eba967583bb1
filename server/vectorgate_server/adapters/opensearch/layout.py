"""What the OpenSearch adapter knows of an index: its name, fields and layout.

Plain data and name mapping, imported by the schema, plan, results and error
modules alike (so none of them imports another for its types).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from ...domain import NAME_RE, IndexSpec, Metric
from ...filters.common import FieldType
from ..spec import StoredSpec

BACKEND: Final = "opensearch"
#: Key of the collection spec in the index mapping's ``_meta``.
SPEC_META_KEY: Final = "vectorgate"

ID_FIELD: Final = "id"
VECTOR_FIELD: Final = "vector"
DEFAULT_TEXT_FIELD: Final = "text"

ENGINES: Final = ("lucene", "faiss", "nmslib")
DEFAULT_ENGINE: Final = "lucene"
#: ``IndexSpec.type`` values: HNSW (approximate, the default) or FLAT (exact only).
INDEX_TYPES: Final = frozenset({"HNSW", "FLAT"})

SPACE_TYPES: Final = {Metric.COSINE: "cosinesimil", Metric.L2: "l2", Metric.IP: "innerproduct"}
METRIC_OF_SPACE: Final = {v: k for k, v in SPACE_TYPES.items()}


def encode_index_name(name: str, prefix: str = "") -> str:
    """The index name of collection ``name``: ``X`` -> ``~x``, a leading ``_`` -> ``~_``."""
    out: list[str] = []
    for i, ch in enumerate(name):
        if "A" <= ch <= "Z":
            out.append("~" + ch.lower())
        elif ch == "_" and i == 0:
            out.append("~_")
        else:
            out.append(ch)
    return prefix + "".join(out)


def decode_index_name(index: str, prefix: str = "") -> str | None:
    """The collection name of an index, or None when it is not one vectorgate can name."""
    if not index.startswith(prefix):
        return None
    raw = index[len(prefix) :]
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "~":
            nxt = raw[i + 1 : i + 2]
            if "a" <= nxt <= "z":
                out.append(nxt.upper())
            elif nxt == "_" and i == 0:
                out.append("_")
            else:
                return None
            i += 2
            continue
        if ch == "_" and i == 0:
            return None
        out.append(ch)
        i += 1
    name = "".join(out)
    if not NAME_RE.fullmatch(name) or encode_index_name(name, prefix) != index:
        return None
    return name


@dataclass(frozen=True, slots=True)
class Layout:
    """What the adapter needs to know of one index (read from its mapping and settings)."""

    index: str
    spec: StoredSpec | None
    vector_field: str
    dimension: int
    metric: Metric
    text_field: str
    #: The k-NN method's engine, or None when the field has no ANN graph.
    engine: str | None
    #: Whether the approximate ``knn`` query can run (``index.knn`` and a method).
    ann: bool
    creation_date: datetime | None
    #: Metadata key -> the type its values have in this index (from the mapping).
    types: Mapping[str, FieldType] = field(default_factory=dict)
    #: The mapping type of ``text_field`` (``text`` when it is full-text searchable), or
    #: None when the index does not map it.
    text_type: str | None = None
    loaded_at: float = field(default_factory=time.monotonic)

    @property
    def space_type(self) -> str:
        return SPACE_TYPES[self.metric]

    @property
    def stored(self) -> StoredSpec:
        """The spec vectorgate recorded, or (an index it did not create) the mapping's."""
        if self.spec is not None:
            return self.spec
        return StoredSpec(
            dimension=self.dimension,
            metric=self.metric,
            text_field=self.text_field,
            index=IndexSpec(type="HNSW" if self.ann else "FLAT", params={}),
            create_time=self.creation_date,
        )
