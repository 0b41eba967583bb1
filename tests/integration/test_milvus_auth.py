"""A real Milvus 2.3 server with authentication on: a refused token is a clear error, never retried.

The server runs with ``common.security.authorizationEnabled=true`` (its root
user's default password is ``Milvus``). With a wrong token the adapter, and the
gateway in front of it, report ``BackendAuthFailed`` (``FAILED_PRECONDITION``,
naming the store and the refused credentials) at once: neither pymilvus (it
does not retry UNAUTHENTICATED) nor the gateway's retry policy tries again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.support.milvus_fixtures import (
    MilvusServerInfo,
    run_milvus_server,
    skip_without_milvus_server,
)
from tests.support.servers import ServerThread, make_config
from vectorgate import Client, VectorgateError
from vectorgate_server import retry
from vectorgate_server.adapters.milvus import MilvusAdapter
from vectorgate_server.errors import BackendAuthFailed

pytestmark = pytest.mark.integration

ROOT_TOKEN = "root:Milvus"
WRONG_TOKEN = "root:not-the-password"
TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusServerInfo]:
    skip_without_milvus_server()
    with run_milvus_server(
        tmp_path_factory.mktemp("milvus-auth"),
        extra_config=["common.security.authorizationEnabled=true"],
        token=ROOT_TOKEN,
    ) as info:
        yield info


async def test_wrong_token_fails_at_once_and_is_never_retried(secured: MilvusServerInfo) -> None:
    adapter = MilvusAdapter("secured", secured.uri, token=WRONG_TOKEN, timeout_s=TIMEOUT_S)
    started = time.monotonic()
    with pytest.raises(BackendAuthFailed) as info:
        await adapter.start()
    # A retried failure would have run for the whole 60 s timeout.
    assert time.monotonic() - started < TIMEOUT_S / 2
    assert "'secured'" in info.value.message and "credentials were refused" in info.value.message
    assert "UNAUTHENTICATED" in info.value.message

    # Calls report the refused credentials (not "not connected"), once each.
    attempts = 0

    async def listed() -> list[str]:
        nonlocal attempts
        attempts += 1
        return await adapter.list_collections()

    with pytest.raises(BackendAuthFailed):
        await retry.call(listed, retry.RetryPolicy(max_attempts=5))
    assert attempts == 1
    await adapter.close()

    good = MilvusAdapter("secured-ok", secured.uri, token=ROOT_TOKEN, timeout_s=TIMEOUT_S)
    await good.start()
    try:
        assert isinstance(await good.list_collections(), list)
    finally:
        await good.close()


def test_gateway_answers_failed_precondition_for_a_refused_store_token(
    secured: MilvusServerInfo, tmp_path: Path
) -> None:
    config = make_config(
        tmp_path / "gw",
        extra={
            "vector_stores": {
                "m": {"type": "milvus", "uri": secured.uri, "token": WRONG_TOKEN, "timeout_s": 30}
            },
            "default_store": "m",
        },
    )
    with ServerThread(config) as server, Client(server.grpc_target, timeout=20) as client:
        started = time.monotonic()
        with pytest.raises(VectorgateError) as info:
            client.list_collections(store="m")
        assert time.monotonic() - started < 10
    assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION, repr(info.value)
    assert "credentials were refused" in info.value.message
