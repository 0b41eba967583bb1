"""Each store type's configuration model, owned by its adapter (one module each).

Importing this package needs no backend SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Final, TypeAlias

from pydantic import Field

from .base import (
    STORE_TYPES,
    BaseStoreConfig,
    EmbeddingEndpointConfig,
    MetricName,
    StoreOrigin,
    StoreType,
)
from .lancedb import LanceDBConfig
from .milvus import MilvusConfig
from .opensearch import OpenSearchAuth, OpenSearchConfig
from .pgvector import PgvectorConfig
from .pinecone import PineconeConfig
from .qdrant import QdrantConfig

__all__ = [
    "STORE_CLASSES",
    "STORE_TYPES",
    "BaseStoreConfig",
    "EmbeddingEndpointConfig",
    "LanceDBConfig",
    "MetricName",
    "MilvusConfig",
    "OpenSearchAuth",
    "OpenSearchConfig",
    "PgvectorConfig",
    "PineconeConfig",
    "QdrantConfig",
    "StoreConfig",
    "StoreOrigin",
    "StoreType",
]

#: Any store configuration; discriminated on ``type``.
StoreConfig: TypeAlias = Annotated[
    LanceDBConfig
    | MilvusConfig
    | QdrantConfig
    | OpenSearchConfig
    | PineconeConfig
    | PgvectorConfig,
    Field(discriminator="type"),
]

STORE_CLASSES: Final[Mapping[str, type[BaseStoreConfig]]] = {
    "lancedb": LanceDBConfig,
    "milvus": MilvusConfig,
    "qdrant": QdrantConfig,
    "opensearch": OpenSearchConfig,
    "pinecone": PineconeConfig,
    "pgvector": PgvectorConfig,
}
