"""Milvus factories for the adapter contract suite.

``milvus-lite``
    The adapter on Milvus Lite (pymilvus' embedded engine), a fresh database
    file ``<tmp>/milvus.db`` per test. No server needed.
``milvus-server``
    The adapter on a real Milvus 2.3 server started once per session by the
    ``milvus_server`` fixture (:mod:`tests.support.milvus_fixtures`). Each test
    gets its own Milvus database, derived from its temp dir (so reopening on
    the same dir reaches the same data), dropped with its collections at the
    end of the test.
"""

from __future__ import annotations

import contextlib
import hashlib
import pathlib
from collections.abc import AsyncIterator

import pytest

from tests.support.milvus_fixtures import MilvusServerInfo
from vectorgate.testing import Factory
from vectorgate_server.adapters.base import Adapter
from vectorgate_server.adapters.configs import MilvusConfig
from vectorgate_server.adapters.milvus import MilvusAdapter


@contextlib.asynccontextmanager
async def lite(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[Adapter]:
    adapter = MilvusAdapter.from_config(
        MilvusConfig(name="milvus-lite", uri=str(tmp_path / "milvus.db"))
    )
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()


def database_for(server: MilvusServerInfo, request: pytest.FixtureRequest, key: str) -> str:
    """A Milvus database for this test (created now, dropped when the test ends)."""
    from pymilvus import MilvusClient

    db_name = "vg_" + hashlib.sha1(key.encode()).hexdigest()[:16]
    client = MilvusClient(uri=server.uri, timeout=60)
    try:
        if db_name not in client.list_databases():
            client.create_database(db_name)
            request.addfinalizer(lambda: _drop_database(server.uri, db_name))
    finally:
        client.close()
    return db_name


def _drop_database(uri: str, db_name: str) -> None:
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri, db_name=db_name, timeout=60)
    try:
        for collection in client.list_collections():
            client.drop_collection(collection)
    finally:
        client.close()
    # A client of the default database: switching databases needs DescribeDatabase,
    # which Milvus 2.3 lacks.
    client = MilvusClient(uri=uri, timeout=60)
    try:
        client.drop_database(db_name)
    finally:
        client.close()


@contextlib.asynccontextmanager
async def server(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[Adapter]:
    info: MilvusServerInfo = request.getfixturevalue("milvus_server")
    db_name = database_for(info, request, str(tmp_path))
    adapter = MilvusAdapter.from_config(
        MilvusConfig(name="milvus-server", uri=info.uri, db_name=db_name, timeout_s=60)
    )
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()


FACTORIES: dict[str, Factory] = {
    "milvus-lite": lite,
    "milvus-server": server,
}
