"""OpenSearch factories for the adapter contract suite.

``opensearch-testserver``
    The adapter (official ``opensearch-py`` client) against
    ``tests/servers/opensearch_server.py`` (session fixture ``opensearch_server``
    from ``tests/support/opensearch_fixtures.py``). Each test location gets its
    own index prefix, so a new location starts empty and adapters made for the
    same location share their data.
``opensearch-live``
    The adapter against a real cluster at ``OPENSEARCH_URL`` (comma-separated
    hosts; ``OPENSEARCH_USER`` / ``OPENSEARCH_PASSWORD`` for basic auth,
    ``OPENSEARCH_VERIFY_CERTS=0`` for self-signed certificates,
    ``OPENSEARCH_ENGINE`` for the k-NN engine, default lucene). Skipped when
    ``OPENSEARCH_URL`` is unset: no OpenSearch can be installed on the test
    machines. Indexes are namespaced per test location (the suite drops the
    collections it creates).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
from collections.abc import AsyncIterator

import pytest

from vectorgate.testing import Factory
from vectorgate_server.adapters.base import Adapter
from vectorgate_server.adapters.opensearch import OpenSearchAdapter


def _prefix(tmp_path: pathlib.Path) -> str:
    return f"vgt-{hashlib.sha1(str(tmp_path).encode()).hexdigest()[:12]}-"


@contextlib.asynccontextmanager
async def testserver(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> AsyncIterator[Adapter]:
    server = request.getfixturevalue("opensearch_server")
    adapter = OpenSearchAdapter(
        "opensearch-test", [server.url], index_prefix=_prefix(tmp_path), timeout_s=30
    )
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()


@contextlib.asynccontextmanager
async def live(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[Adapter]:
    url = os.environ.get("OPENSEARCH_URL", "")
    if not url:
        pytest.skip(
            "opensearch-live needs an OpenSearch cluster with the k-NN plugin: set "
            "OPENSEARCH_URL (and OPENSEARCH_USER / OPENSEARCH_PASSWORD if it requires them); "
            "no OpenSearch can be installed on this machine"
        )
    user = os.environ.get("OPENSEARCH_USER")
    password = os.environ.get("OPENSEARCH_PASSWORD")
    adapter = OpenSearchAdapter(
        "opensearch-live",
        [h.strip() for h in url.split(",") if h.strip()],
        http_auth=(user, password) if user and password else None,
        verify_certs=os.environ.get("OPENSEARCH_VERIFY_CERTS", "1") != "0",
        engine=os.environ.get("OPENSEARCH_ENGINE") or None,
        index_prefix=_prefix(tmp_path),
        timeout_s=60,
    )
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()


FACTORIES: dict[str, Factory] = {
    "opensearch-testserver": testserver,
    "opensearch-live": live,
}
