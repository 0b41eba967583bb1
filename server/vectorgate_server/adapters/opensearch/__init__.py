"""OpenSearch adapter (the k-NN plugin): see :mod:`.adapter`."""

from .adapter import (
    BACKEND,
    ENGINES,
    INDEX_TYPES,
    NATIVE_PARAMS,
    SPEC_META_KEY,
    OpenSearchAdapter,
    canonical_score,
    decode_index_name,
    encode_index_name,
)

__all__ = [
    "BACKEND",
    "ENGINES",
    "INDEX_TYPES",
    "NATIVE_PARAMS",
    "SPEC_META_KEY",
    "OpenSearchAdapter",
    "canonical_score",
    "decode_index_name",
    "encode_index_name",
]
