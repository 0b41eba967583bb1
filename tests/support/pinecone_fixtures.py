"""Session fixture: the protocol-faithful Pinecone test server.

Server: ``tests/servers/pinecone_server.py``. Register with
``pytest_plugins = ["tests.support.pinecone_fixtures"]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.pinecone_server import PineconeTestServer, new_api_key


@pytest.fixture(scope="session")
def pinecone_server() -> Iterator[PineconeTestServer]:
    """One server for the session (a random API key); tests reset it as they need."""
    with PineconeTestServer(api_key=new_api_key()) as server:
        yield server
