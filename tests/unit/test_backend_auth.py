"""Every adapter family: refused store credentials are a clear error, never retried.

OpenSearch and Pinecone run against the project's test servers (which answer
401 as the vendors document); Qdrant, pgvector and Milvus with a fake at the SDK
boundary (the real Milvus server case is ``tests/integration/test_milvus_auth.py``).
Each call goes through the gateway's retry policy, as the application's reads do.
LanceDB (embedded: no transport) only has its Cloud client's own retries turned off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import grpc
import httpx
import lancedb
import psycopg
import pytest
from lancedb.remote import ClientConfig, RetryConfig
from pymilvus import MilvusException
from qdrant_client.http.exceptions import UnexpectedResponse

from tests.servers.opensearch_server import OpenSearchTestServer
from tests.servers.pinecone_server import PineconeTestServer, new_api_key
from vectorgate_server import retry
from vectorgate_server.adapters.lancedb import LanceDBAdapter
from vectorgate_server.adapters.milvus import MilvusAdapter
from vectorgate_server.adapters.opensearch import OpenSearchAdapter
from vectorgate_server.adapters.pgvector import PgvectorAdapter
from vectorgate_server.adapters.pinecone import PineconeAdapter
from vectorgate_server.adapters.qdrant import QdrantAdapter
from vectorgate_server.errors import BackendAuthFailed, Unavailable, classify

T = TypeVar("T")


class Counted:
    """Counts the attempts the retry policy makes."""

    def __init__(self, fn: Callable[[], Awaitable[Any]]) -> None:
        self.fn = fn
        self.calls = 0

    async def __call__(self) -> Any:
        self.calls += 1
        return await self.fn()


async def _no_sleep(_: float) -> None:
    return None


async def attempts_of(fn: Callable[[], Awaitable[Any]]) -> tuple[int, BaseException]:
    """Run ``fn`` under a generous policy; the attempts made and the error raised."""
    counted = Counted(fn)
    with pytest.raises(Exception) as info:
        await retry.call(counted, retry.RetryPolicy(max_attempts=5), sleep=_no_sleep)
    return counted.calls, info.value


def assert_auth_failure(error: BaseException, store: str) -> None:
    assert isinstance(error, BackendAuthFailed), repr(error)
    assert store in error.message and "credentials were refused" in error.message
    assert classify(error).code is grpc.StatusCode.FAILED_PRECONDITION


# --------------------------------------------------------------------------- OpenSearch


@pytest.fixture(scope="module")
def opensearch() -> Iterator[OpenSearchTestServer]:
    with OpenSearchTestServer(username="admin", password="right") as server:
        yield server


async def test_opensearch_wrong_password_is_not_retried(opensearch: OpenSearchTestServer) -> None:
    adapter = OpenSearchAdapter("os-auth", [opensearch.url], http_auth=("admin", "wrong"))
    await adapter.start()
    try:
        before = len(opensearch.requests)
        calls, error = await attempts_of(adapter.list_collections)
        assert calls == 1
        assert_auth_failure(error, "os-auth")
        assert "HTTP 401" in str(error) and "unavailable" not in str(error)
        assert len(opensearch.requests) - before <= 1  # opensearch-py did not retry either
    finally:
        await adapter.close()


async def test_opensearch_transient_failures_are_the_gateways_to_retry() -> None:
    adapter = OpenSearchAdapter("os-down", ["http://127.0.0.1:9"])  # nothing listens
    await adapter.start()
    try:
        calls, error = await attempts_of(adapter.list_collections)
    finally:
        await adapter.close()
    assert isinstance(error, Unavailable) and error.retryable
    assert calls == 5  # opensearch-py's own retries are off (max_retries=0)


# --------------------------------------------------------------------------- Pinecone


async def test_pinecone_wrong_api_key_is_not_retried(tmp_path: Path) -> None:
    with PineconeTestServer(api_key=new_api_key()) as server:
        adapter = PineconeAdapter("pc-auth", api_key="pc-wrong-key", control_host=server.url)
        await adapter.start()
        try:
            before = len(server.seen)
            calls, error = await attempts_of(adapter.list_collections)
            sent = len(server.seen) - before
        finally:
            await adapter.close()
    assert calls == 1
    assert_auth_failure(error, "pc-auth")
    assert sent == 1  # 401 is not in the SDK's retryable statuses either


# --------------------------------------------------------------------------- Qdrant


@pytest.mark.parametrize(
    "failure",
    [
        UnexpectedResponse(401, "Unauthorized", b'{"status":"unauthorized"}', httpx.Headers()),
        UnexpectedResponse(403, "Forbidden", b'{"status":"forbidden"}', httpx.Headers()),
        grpc.aio.AioRpcError(
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(),
            details="Invalid api-key",
        ),
        grpc.aio.AioRpcError(
            grpc.StatusCode.PERMISSION_DENIED,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(),
            details="read-only key",
        ),
    ],
    ids=["http-401", "http-403", "grpc-unauthenticated", "grpc-permission-denied"],
)
async def test_qdrant_refused_key_is_not_retried(failure: Exception) -> None:
    adapter = QdrantAdapter("qd-auth", url="http://127.0.0.1:6333")

    async def sdk_call() -> NoReturn:
        raise failure

    calls, error = await attempts_of(lambda: adapter._call(sdk_call(), "c"))
    assert calls == 1
    assert_auth_failure(error, "qd-auth")


async def test_qdrant_unavailable_is_retried() -> None:
    adapter = QdrantAdapter("qd-down", url="http://127.0.0.1:6333")

    async def sdk_call() -> NoReturn:
        raise grpc.aio.AioRpcError(
            grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), details="x"
        )

    calls, error = await attempts_of(lambda: adapter._call(sdk_call(), "c"))
    assert calls == 5 and isinstance(error, Unavailable)


# --------------------------------------------------------------------------- pgvector


async def test_pgvector_refused_password_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[str] = []

    async def connect(dsn: str, **_: Any) -> NoReturn:
        tried.append(dsn)
        raise psycopg.OperationalError(
            'connection failed: FATAL:  password authentication failed for user "vg"'
        )

    monkeypatch.setattr(psycopg.AsyncConnection, "connect", connect)
    adapter = PgvectorAdapter("pg-auth", "postgresql://vg:wrong@127.0.0.1:5432/vg")
    calls, error = await attempts_of(adapter.start)
    assert calls == 1 and len(tried) == 1
    assert_auth_failure(error, "pg-auth")


async def test_pgvector_missing_privilege_is_an_auth_failure() -> None:
    adapter = PgvectorAdapter("pg-priv", "postgresql://vg@127.0.0.1:5432/vg")
    denied = psycopg.errors.InsufficientPrivilege("permission denied for schema vectorgate")
    assert_auth_failure(adapter._db.failure(denied), "pg-priv")
    down = adapter._db.failure(psycopg.OperationalError("server closed the connection"))
    assert isinstance(down, Unavailable) and down.retryable


# --------------------------------------------------------------------------- Milvus


class _RpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        super().__init__(code.name)
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return "auth check failure, please check username and password are correct"


class _FailingClient:
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def list_collections(self, **_: Any) -> NoReturn:
        self.calls += 1
        raise self.error


@pytest.mark.parametrize(
    "failure",
    [
        _RpcError(grpc.StatusCode.UNAUTHENTICATED),
        _RpcError(grpc.StatusCode.PERMISSION_DENIED),
        MilvusException(code=grpc.StatusCode.UNAUTHENTICATED, message="auth check failure"),
    ],
    ids=["rpc-unauthenticated", "rpc-permission-denied", "milvus-exception"],
)
async def test_milvus_refused_token_is_not_retried(tmp_path: Path, failure: Exception) -> None:
    adapter = MilvusAdapter("mv-auth", "http://127.0.0.1:19530", token="root:wrong")
    client = _FailingClient(failure)
    adapter._client = client  # type: ignore[assignment]
    try:
        calls, error = await attempts_of(adapter.list_collections)
    finally:
        adapter.workers.close()
    assert calls == 1 and client.calls == 1
    assert_auth_failure(error, "mv-auth")


async def test_milvus_unavailable_is_left_to_pymilvus_retries() -> None:
    """pymilvus retried the RPC within the call's timeout: the gateway adds no retry."""
    adapter = MilvusAdapter("mv-down", "http://127.0.0.1:19530")
    client = _FailingClient(_RpcError(grpc.StatusCode.UNAVAILABLE))
    adapter._client = client  # type: ignore[assignment]
    try:
        calls, error = await attempts_of(adapter.list_collections)
    finally:
        adapter.workers.close()
    assert isinstance(error, Unavailable) and not error.retryable
    assert calls == 1 and client.calls == 1


# --------------------------------------------------------------------------- LanceDB


async def test_lancedb_cloud_client_retries_are_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """LanceDB Cloud's client would retry 3 times under the gateway's policy: it gets 0."""
    seen: dict[str, dict[str, Any]] = {}

    async def connect_async(uri: str, **kwargs: Any) -> object:
        seen[uri] = kwargs
        return object()

    monkeypatch.setattr(lancedb, "connect_async", connect_async)
    await LanceDBAdapter("cloud", "db://my-db", api_key="sk-test").start()
    await LanceDBAdapter("local", str(tmp_path / "lance")).start()
    retry_config = seen["db://my-db"]["client_config"].retry_config
    assert ClientConfig(retry_config=retry_config).retry_config == RetryConfig(
        retries=0, connect_retries=0, read_retries=0
    )
    assert "client_config" not in seen[str(tmp_path / "lance")]  # embedded: no HTTP client
