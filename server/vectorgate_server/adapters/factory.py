"""Build an adapter from a store's configuration.

Backend modules are imported only when a store of that type is configured, so
a deployment needs only the SDKs of the backends it uses.
"""

from __future__ import annotations

from pathlib import Path

from ..config import LanceDBConfig, StoreConfig
from .base import Adapter


class BackendUnavailable(Exception):
    """A configured backend cannot be used in this installation."""


def create_adapter(config: StoreConfig, *, data_dir: Path) -> Adapter:
    """The adapter for one configured store (not yet started)."""
    if isinstance(config, LanceDBConfig):
        from .lancedb import LanceDBAdapter

        uri = config.uri or str(data_dir / "lancedb")
        return LanceDBAdapter(config.name, uri)
    raise BackendUnavailable(
        f"store {config.name!r}: backend {config.type!r} has no adapter in this build "
        "(available: lancedb)"
    )
