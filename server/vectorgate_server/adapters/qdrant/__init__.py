"""Qdrant adapters: a server (:mod:`.adapter`) and the embedded engine (:mod:`.edge`)."""

from .adapter import (
    FIELD_METADATA_PREFIX,
    SPARSE_VECTOR_NAME,
    SPEC_METADATA_KEY,
    QdrantAdapter,
    _Keyword,
    _Layout,
    _points,
)

__all__ = [
    "FIELD_METADATA_PREFIX",
    "SPARSE_VECTOR_NAME",
    "SPEC_METADATA_KEY",
    "QdrantAdapter",
    "_Keyword",
    "_Layout",
    "_points",
]
