from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import ServerThread, make_config
from vectorgate_server.embeddings import EmbeddingRegistry, default_registry


@pytest.fixture(scope="session")
def embeddings() -> EmbeddingRegistry:
    """One loaded local model shared by every in-process server of the session."""
    registry = default_registry()
    registry.warm_up()
    return registry


@pytest.fixture
def server(tmp_path: Path, embeddings: EmbeddingRegistry) -> Iterator[ServerThread]:
    """A real server on port 0 with the embedded LanceDB store on a temp dir."""
    with ServerThread(make_config(tmp_path / "data"), embeddings) as srv:
        yield srv
