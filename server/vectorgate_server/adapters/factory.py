"""Build an adapter from a store's configuration.

Backend modules (and their SDKs) are imported only when a store of that type
is configured, so a deployment needs only the SDKs of the backends it uses.
"""

from __future__ import annotations

from pathlib import Path

from ..config import (
    LanceDBConfig,
    MilvusConfig,
    OpenSearchConfig,
    PgvectorConfig,
    PineconeConfig,
    QdrantConfig,
    StoreConfig,
)
from ..errors import BackendUnavailable
from .base import Adapter

#: The pyproject extra that installs each backend's SDK.
EXTRAS: dict[str, str] = {
    "milvus": "milvus",
    "qdrant": "qdrant",
    "opensearch": "opensearch",
    "pinecone": "pinecone",
}


def _missing(config: StoreConfig, exc: ImportError) -> BackendUnavailable:
    extra = EXTRAS.get(config.type, "all")
    return BackendUnavailable(
        f"store {config.name!r} ({config.type}) needs {exc.name or 'a package'!s}, which is not "
        f"installed: pip install 'vectorgate[{extra}]'"
    )


def create_adapter(config: StoreConfig, *, data_dir: Path) -> Adapter:
    """The adapter for one configured store (not yet started)."""
    try:
        if isinstance(config, LanceDBConfig):
            from .lancedb import LanceDBAdapter

            return LanceDBAdapter(config.name, config.uri or str(data_dir / "lancedb"))
        if isinstance(config, MilvusConfig):
            from .milvus import MilvusAdapter

            return MilvusAdapter.from_config(config)
        if isinstance(config, QdrantConfig):
            if config.path:
                # Embedded: Qdrant's own engine in-process (qdrant-edge).
                from .qdrant_edge import QdrantEdgeAdapter

                return QdrantEdgeAdapter.from_config(config)
            from .qdrant import QdrantAdapter

            return QdrantAdapter.from_config(config)
        if isinstance(config, OpenSearchConfig):
            from .opensearch import OpenSearchAdapter

            return OpenSearchAdapter.from_config(config)
        if isinstance(config, PineconeConfig):
            from .pinecone import PineconeAdapter

            return PineconeAdapter.from_config(config)
        if isinstance(config, PgvectorConfig):
            from .pgvector import PgvectorAdapter

            return PgvectorAdapter.from_config(config)
    except ImportError as exc:
        raise _missing(config, exc) from exc
    raise BackendUnavailable(f"store {config.name!r}: unknown backend type {config.type!r}")
