"""Qdrant factories for the adapter contract suite.

``qdrant-edge``
    The embedded Qdrant store a ``path:`` config gets: Qdrant's own engine
    in-process (qdrant-edge), built through the adapter factory from the config,
    persisted in the test's temp dir.
``qdrant-local``
    The server adapter (``AsyncQdrantClient``) on qdrant-client's local mode, a
    pure-Python stand-in for a server: no Qdrant server can be started here, so
    this is what runs the server adapter's code (translation, collection
    metadata, errors). No configuration reaches it.
``qdrant-remote``
    The adapter against a real Qdrant server at ``QDRANT_URL`` (optionally
    ``QDRANT_API_KEY``; ``QDRANT_PREFER_GRPC=0`` to use REST instead of gRPC).
    Skipped when ``QDRANT_URL`` is unset: there is no Qdrant server binary on
    PyPI (nor in Debian) to start one from the test session. Use a server of
    its own: collections a test leaves behind are dropped afterwards.

Both run with ``keyword_search`` on (the default, spelled out): collections get
the BM25 sparse vector, so the keyword and hybrid contract tests exercise it.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import AsyncIterator

import pytest

from vectorgate.testing import Factory
from vectorgate_server.adapters.base import Adapter
from vectorgate_server.adapters.configs import QdrantConfig
from vectorgate_server.adapters.factory import create_adapter
from vectorgate_server.adapters.qdrant import QdrantAdapter


@contextlib.asynccontextmanager
async def edge(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[Adapter]:
    adapter = create_adapter(
        QdrantConfig(name="qdrant-edge", path=str(tmp_path / "qdrant-edge"), keyword_search=True),
        data_dir=tmp_path,
    )
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()


@contextlib.asynccontextmanager
async def local(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[Adapter]:
    adapter = QdrantAdapter("qdrant-local", path=str(tmp_path / "qdrant"), keyword_search=True)
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()


@contextlib.asynccontextmanager
async def remote(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[Adapter]:
    url = os.environ.get("QDRANT_URL", "")
    if not url:
        pytest.skip(
            "qdrant-remote needs a Qdrant server: set QDRANT_URL (and QDRANT_API_KEY if it "
            "requires one); no Qdrant server binary is available to start one here"
        )
    adapter = QdrantAdapter.from_config(
        QdrantConfig(
            name="qdrant-remote",
            url=url,
            api_key=os.environ.get("QDRANT_API_KEY") or None,
            prefer_grpc=os.environ.get("QDRANT_PREFER_GRPC", "1") != "0",
            timeout_s=30,
            keyword_search=True,
        )
    )
    await adapter.start()
    before = set(await adapter.list_collections())
    try:
        yield adapter
    finally:
        with contextlib.suppress(Exception):
            for name in set(await adapter.list_collections()) - before:
                with contextlib.suppress(Exception):
                    await adapter.drop_collection(name)
        await adapter.close()


FACTORIES: dict[str, Factory] = {
    "qdrant-edge": edge,
    "qdrant-local": local,
    "qdrant-remote": remote,
}
