"""Session fixture: the protocol-faithful OpenSearch test server.

Server: ``tests/servers/opensearch_server.py``. Register with
``pytest_plugins = ["tests.support.opensearch_fixtures"]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.opensearch_server import OpenSearchTestServer


@pytest.fixture(scope="session")
def opensearch_server() -> Iterator[OpenSearchTestServer]:
    """One server (emulating OpenSearch 2.19) for the session.

    Tests isolate themselves by index name (the contract factories give every
    test location its own index prefix) or call ``reset()``.
    """
    with OpenSearchTestServer() as server:
        yield server
