"""Pinecone factories for the adapter contract suite.

``pinecone-testserver``
    The adapter against ``tests/servers/pinecone_server.py`` (session fixture
    ``pinecone_server`` from ``tests/support/pinecone_fixtures.py``). Each
    ``tmp_path`` gets its own Pinecone project (API key): a new location
    starts empty, and adapters made for the same location share their data.
``pinecone-live``
    The adapter against the real Pinecone API. Runs only when
    ``PINECONE_API_KEY`` is set *and* ``PINECONE_LIVE=1`` (it creates
    serverless indexes, which cost money); ``PINECONE_CLOUD`` /
    ``PINECONE_REGION`` choose where (default ``aws`` / ``us-east-1``).
    Collections a test leaves behind are dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import AsyncIterator

import pytest

from vectorgate.testing import Factory
from vectorgate_server.adapters.base import Adapter
from vectorgate_server.adapters.pinecone import PineconeAdapter


@contextlib.asynccontextmanager
async def testserver(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> AsyncIterator[Adapter]:
    server = request.getfixturevalue("pinecone_server")
    adapter = PineconeAdapter(
        "pinecone-test",
        api_key=server.project_key(str(tmp_path)),
        control_host=server.url,
        ready_timeout_s=30,
        consistency_timeout_s=30,
        poll_interval_s=0.01,
    )
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()


@contextlib.asynccontextmanager
async def live(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[Adapter]:
    key = os.environ.get("PINECONE_API_KEY", "")
    if not key or os.environ.get("PINECONE_LIVE") != "1":
        pytest.skip(
            "pinecone-live needs PINECONE_API_KEY and the opt-in PINECONE_LIVE=1 "
            "(it creates billable serverless indexes)"
        )
    adapter = PineconeAdapter(
        "pinecone-live",
        api_key=key,
        cloud=os.environ.get("PINECONE_CLOUD", "aws"),
        region=os.environ.get("PINECONE_REGION", "us-east-1"),
        consistency_timeout_s=120,
    )
    await adapter.start()
    before = set(await adapter.list_collections())
    try:
        yield adapter
    finally:
        for name in set(await adapter.list_collections()) - before:
            with contextlib.suppress(Exception):
                await adapter.drop_collection(name)
        await adapter.close()


FACTORIES: dict[str, Factory] = {
    "pinecone-testserver": testserver,
    "pinecone-live": live,
}
