"""Build an adapter from a store's configuration.

Backend modules (and their SDKs) are imported only when a store of that type
is configured, so a deployment needs only the SDKs of the backends it uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..config import ConfigError
from ..errors import BackendUnavailable
from .base import Adapter
from .configs import (
    LanceDBConfig,
    MilvusConfig,
    OpenSearchConfig,
    PgvectorConfig,
    PineconeConfig,
    QdrantConfig,
    StoreConfig,
)
from .params import not_a_search_parameter

#: The pyproject extra that installs each backend's SDK.
EXTRAS: dict[str, str] = {
    "milvus": "milvus",
    "qdrant": "qdrant",
    "opensearch": "opensearch",
    "pinecone": "pinecone",
}


def _missing(config: StoreConfig, exc: ImportError) -> BackendUnavailable:
    extra = EXTRAS.get(config.type, "all")
    # The package, not the submodule the adapter happened to import first.
    package = exc.name.partition(".")[0] if exc.name else "a package"
    return BackendUnavailable(
        f"store {config.name!r} ({config.type}) needs {package}, which is not "
        f"installed: pip install 'vectorgate[{extra}]'"
    )


def _lancedb(config: LanceDBConfig, data_dir: Path) -> Adapter:
    from .lancedb import LanceDBAdapter

    return LanceDBAdapter.from_config(config, data_dir=data_dir)


def _milvus(config: MilvusConfig, data_dir: Path) -> Adapter:
    from .milvus import MilvusAdapter

    return MilvusAdapter.from_config(config)


def _qdrant(config: QdrantConfig, data_dir: Path) -> Adapter:
    if config.path:
        # Embedded: Qdrant's own engine in-process (qdrant-edge).
        from .qdrant.edge import QdrantEdgeAdapter

        return QdrantEdgeAdapter.from_config(config)
    from .qdrant import QdrantAdapter

    return QdrantAdapter.from_config(config)


def _opensearch(config: OpenSearchConfig, data_dir: Path) -> Adapter:
    from .opensearch import OpenSearchAdapter

    return OpenSearchAdapter.from_config(config)


def _pinecone(config: PineconeConfig, data_dir: Path) -> Adapter:
    from .pinecone import PineconeAdapter

    return PineconeAdapter.from_config(config)


def _pgvector(config: PgvectorConfig, data_dir: Path) -> Adapter:
    from .pgvector import PgvectorAdapter

    return PgvectorAdapter.from_config(config)


#: Store type -> the builder of its adapter (which imports the backend module on use).
_BUILDERS: dict[str, Callable[[Any, Path], Adapter]] = {
    "lancedb": _lancedb,
    "milvus": _milvus,
    "qdrant": _qdrant,
    "opensearch": _opensearch,
    "pinecone": _pinecone,
    "pgvector": _pgvector,
}


def create_adapter(config: StoreConfig, *, data_dir: Path) -> Adapter:
    """The adapter for one configured store (not yet started)."""
    builder = _BUILDERS.get(config.type)
    if builder is None:
        raise BackendUnavailable(f"store {config.name!r}: unknown backend type {config.type!r}")
    try:
        return builder(config, data_dir)
    except ImportError as exc:
        raise _missing(config, exc) from exc


#: Store types whose adapter applies ``native_defaults`` itself (Milvus: LiteLLM's
#: ``annsField``, ``searchParams``, ... with their own semantics); for the others the
#: gateway merges them under each query's ``native_params``.
ADAPTER_APPLIES_NATIVE_DEFAULTS: frozenset[str] = frozenset({"milvus"})


def native_defaults_for_gateway(config: StoreConfig, adapter: Adapter) -> Mapping[str, Any]:
    """The store's ``native_defaults`` the gateway applies, checked against the backend.

    Raises :class:`ConfigError` naming ``native_defaults.<key>`` for a key that is not one
    of the backend's search parameters (a default nothing would read).
    """
    if config.type in ADAPTER_APPLIES_NATIVE_DEFAULTS or not config.native_defaults:
        return {}
    accepted = adapter.capabilities.native_params
    where = (
        f"vector_stores.{config.name}.native_defaults"
        if config.origin != "vector_store_registry"
        else f"vector_store_registry[{config.name}].litellm_params"
    )
    errors = [
        not_a_search_parameter(f"{where}.{key}", adapter.backend, accepted)
        for key in config.native_defaults
        if key not in accepted
    ]
    if errors:
        raise ConfigError(errors)
    return dict(config.native_defaults)
