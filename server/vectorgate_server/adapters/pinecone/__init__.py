"""Pinecone adapter (see :mod:`.adapter` for the collection and document mapping)."""

from .adapter import (
    DENSE_FIELD,
    PineconeAdapter,
    canonical_score,
    decode_id,
    encode_id,
    index_name_for,
)

__all__ = [
    "DENSE_FIELD",
    "PineconeAdapter",
    "canonical_score",
    "decode_id",
    "encode_id",
    "index_name_for",
]
