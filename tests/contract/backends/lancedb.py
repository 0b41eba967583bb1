"""LanceDB factories for the adapter contract suite.

``lancedb``
    The embedded LanceDB store on the test's temp directory. No server needed.
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import AsyncIterator

import pytest

from vectorgate.testing import Factory
from vectorgate_server.adapters.base import Adapter
from vectorgate_server.adapters.lancedb import LanceDBAdapter


@contextlib.asynccontextmanager
async def embedded(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> AsyncIterator[Adapter]:
    adapter = LanceDBAdapter("contract-lancedb", str(tmp_path / "lancedb"))
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()


FACTORIES: dict[str, Factory] = {
    "lancedb": embedded,
}
