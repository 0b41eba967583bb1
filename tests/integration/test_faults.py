"""Fault tolerance against a real Milvus Lite server process behind the gateway.

The backend is ``milvus-lite server`` on a free loopback port; the gateway's
Milvus store points at it over gRPC (``uri: http://127.0.0.1:P``). The tests
kill, stop (SIGSTOP) and restart that process while calls are in flight and
check what the gateway's callers see.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import grpc
import pytest

from tests.support.milvus_lite import MilvusLiteServer, free_port, milvus_lite_executable
from tests.support.servers import ServerProcess, ServerThread, make_config, write_config
from vectorgate import Client
from vectorgate.errors import VectorgateError
from vectorgate_server.errors import Unavailable

pytest.importorskip("milvus_lite")

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

DIM = 8
COLLECTION = "faults"


@pytest.fixture
def milvus(tmp_path: Path) -> Iterator[MilvusLiteServer]:
    if milvus_lite_executable() is None:
        pytest.skip("milvus-lite server command not installed")
    server = MilvusLiteServer(tmp_path / "milvus-data", free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _gateway_config(tmp_path: Path, milvus: MilvusLiteServer, timeout_s: float = 30) -> dict:
    return {
        "vector_stores": {
            "m": {
                "type": "milvus",
                "uri": f"http://127.0.0.1:{milvus.port}",
                "timeout_s": timeout_s,
            }
        },
        "default_store": "m",
    }


@pytest.fixture
def gateway(tmp_path: Path, milvus: MilvusLiteServer) -> Iterator[ServerThread]:
    config = make_config(tmp_path / "gw", extra=_gateway_config(tmp_path, milvus))
    with ServerThread(config) as srv:
        with Client(srv.grpc_target) as client:
            client.create_collection(COLLECTION, dimension=DIM, embedding_model="none")
            client.upsert(COLLECTION, _docs(0, 50))
        yield srv


def _docs(start: int, count: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"d{i}",
            "text": f"doc {i}",
            "vector": [float((i + k) % 7) + 0.5 for k in range(DIM)],
        }
        for i in range(start, start + count)
    ]


QUERY = [1.0] * DIM


def _code(exc: BaseException) -> grpc.StatusCode | None:
    cause = exc.__cause__ if isinstance(exc, VectorgateError) else exc
    if isinstance(cause, grpc.RpcError):
        return cause.code()  # type: ignore[attr-defined, no-any-return]
    return None


def _search(stub_client: Client) -> None:
    stub_client.search(COLLECTION, vector=QUERY, top_k=3)


def test_killed_backend_gives_unavailable_in_time_then_recovers(
    gateway: ServerThread, milvus: MilvusLiteServer
) -> None:
    deadline = 5.0
    with Client(gateway.grpc_target, timeout=deadline) as client:
        _search(client)
        # Traffic running when the backend dies.
        outcomes: list[tuple[float, grpc.StatusCode | None]] = []
        stop = threading.Event()

        def traffic() -> None:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    _search(client)
                    outcomes.append((time.monotonic() - started, grpc.StatusCode.OK))
                except VectorgateError as exc:
                    outcomes.append((time.monotonic() - started, _code(exc)))

        workers = [threading.Thread(target=traffic) for _ in range(4)]
        for w in workers:
            w.start()
        time.sleep(0.5)
        milvus.kill()
        killed = len(outcomes)
        time.sleep(3.0)
        stop.set()
        for w in workers:
            w.join(deadline + 5)
        after = outcomes[killed:]
        failures = [(t, c) for t, c in after if c != grpc.StatusCode.OK]
        assert failures, after
        assert all(c == grpc.StatusCode.UNAVAILABLE for _, c in failures), failures
        worst = max(t for t, _ in failures)
        print(f"\nbackend killed: {len(failures)} UNAVAILABLE, slowest {worst:.3f}s")
        assert worst < deadline

        # A fresh call while it is down: UNAVAILABLE, not a hang.
        started = time.monotonic()
        with pytest.raises(VectorgateError) as info:
            _search(client)
        down_s = time.monotonic() - started
        assert _code(info.value) == grpc.StatusCode.UNAVAILABLE
        assert down_s < deadline

        # Same port, same data dir; the gateway is not restarted.
        milvus.start()
        started = time.monotonic()
        while True:
            try:
                hits = client.search(COLLECTION, vector=QUERY, top_k=3)
                break
            except VectorgateError:
                assert time.monotonic() - started < 60, "gateway never recovered"
                time.sleep(0.25)
        recovered_s = time.monotonic() - started
        print(f"down call {down_s:.3f}s, recovered {recovered_s:.3f}s after restart")
        assert len(hits) == 3
        assert client.get(COLLECTION, ["d1"])[0].id == "d1"
        client.upsert(COLLECTION, _docs(50, 5))


def test_deadline_on_stalled_backend(gateway: ServerThread, milvus: MilvusLiteServer) -> None:
    with Client(gateway.grpc_target, timeout=10) as client:
        _search(client)
        milvus.signal(signal.SIGSTOP)
        try:
            with Client(gateway.grpc_target, timeout=0.5) as short:
                started = time.monotonic()
                with pytest.raises(VectorgateError) as info:
                    _search(short)
                elapsed = time.monotonic() - started
            assert _code(info.value) == grpc.StatusCode.DEADLINE_EXCEEDED
            print(f"\nstalled backend: DEADLINE_EXCEEDED after {elapsed:.3f}s (deadline 0.5s)")
            assert elapsed < 1.0
            # The gateway itself stays healthy while the backend is stalled.
            from grpc_health.v1 import health_pb2, health_pb2_grpc

            with grpc.insecure_channel(gateway.grpc_target) as channel:
                status = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=2
                )
            assert status.status == health_pb2.HealthCheckResponse.SERVING
        finally:
            milvus.signal(signal.SIGCONT)
        hits = client.search(COLLECTION, vector=QUERY, top_k=3)
        assert len(hits) == 3


def test_cancelled_bulk_upsert_stops_writing(gateway: ServerThread) -> None:
    total = 20_000
    batch = 100
    with Client(gateway.grpc_target, timeout=120) as client:
        sent = threading.Event()

        def slow_docs() -> Iterator[dict[str, object]]:
            for start in range(1000, 1000 + total, batch):
                yield from _docs(start, batch)
                if start > 1000 + 10 * batch:
                    sent.set()

        result: list[object] = []

        def run() -> None:
            try:
                result.append(client.bulk_upsert(COLLECTION, slow_docs(), batch_size=batch))
            except Exception as exc:  # recorded; the cancel makes this fail
                result.append(exc)

        writer = threading.Thread(target=run)
        writer.start()
        assert sent.wait(30)
        time.sleep(0.5)
        client.close()  # cancels the stream in flight
        writer.join(30)
    with Client(gateway.grpc_target) as observer:
        first = observer.get_collection(COLLECTION).document_count
        time.sleep(2.0)
        second = observer.get_collection(COLLECTION).document_count
    print(f"\ncancelled bulk upsert: {first} documents at cancel, {second} two seconds later")
    assert result and not isinstance(result[0], int), result
    assert second - first <= batch, (first, second)
    assert second < 50 + total


def test_sigterm_with_50_calls_in_flight(tmp_path: Path, milvus: MilvusLiteServer) -> None:
    cfg = write_config(
        tmp_path / "gw.yaml",
        {
            "server": {
                "host": "127.0.0.1",
                "grpc_port": 0,
                "http_port": 0,
                "data_dir": str(tmp_path / "gwdata"),
            },
            **_gateway_config(tmp_path, milvus),
        },
    )
    proc = ServerProcess(["serve", "--config", str(cfg)])
    try:
        target = f"127.0.0.1:{proc.wait_ready()}"
        with Client(target, timeout=60) as client:
            client.create_collection(COLLECTION, dimension=DIM, embedding_model="none")
        milvus.signal(signal.SIGSTOP)  # every call below is held in flight by the backend
        results: list[object] = []
        lock = threading.Lock()

        def call(n: int) -> None:
            try:
                with Client(target, timeout=60) as c:
                    out: object = c.upsert(COLLECTION, _docs(10_000 + n * 10, 10))
            except Exception as exc:  # recorded and asserted below
                out = exc
            with lock:
                results.append(out)

        threads = [threading.Thread(target=call, args=(n,)) for n in range(50)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        started = time.monotonic()
        proc.terminate()
        time.sleep(0.5)
        milvus.signal(signal.SIGCONT)
        for t in threads:
            t.join(60)
        code = proc.proc.wait(30)
        elapsed = time.monotonic() - started
        print(f"\nSIGTERM with 50 in flight: exit {code} after {elapsed:.3f}s")
        assert sorted(map(str, results)) == ["10"] * 50, results
        assert code == 0, proc.kill()
        assert elapsed < 15
    finally:
        with contextlib.suppress(Exception):
            milvus.signal(signal.SIGCONT)
        proc.kill()


def test_reads_retried_once_on_unavailable_writes_never(gateway: ServerThread) -> None:
    assert gateway.server is not None
    adapter = gateway.server.gateway.stores["m"]
    calls = {"search": 0, "upsert": 0}
    failures = {"search": 1}  # searches still to fail
    real_search = adapter.search

    async def flaky_search(*args: Any, **kwargs: Any) -> Any:
        calls["search"] += 1
        if failures["search"] > 0:
            failures["search"] -= 1
            raise Unavailable("injected: backend unreachable")
        return await real_search(*args, **kwargs)

    async def down_upsert(*args: Any, **kwargs: Any) -> Any:
        calls["upsert"] += 1
        raise Unavailable("injected: backend unreachable")

    with (
        patch.object(adapter, "search", flaky_search),
        patch.object(adapter, "upsert", down_upsert),
        Client(gateway.grpc_target, timeout=5) as client,
    ):
        assert len(client.search(COLLECTION, vector=QUERY, top_k=3)) == 3
        assert calls["search"] == 2  # one failure, one retry
        with pytest.raises(VectorgateError) as info:
            client.upsert(COLLECTION, _docs(500, 3))
        assert _code(info.value) == grpc.StatusCode.UNAVAILABLE
        assert calls["upsert"] == 1  # never retried

        # A read that stays unavailable is retried once, then reported.
        calls["search"], failures["search"] = 0, 10
        with pytest.raises(VectorgateError) as info:
            client.search(COLLECTION, vector=QUERY, top_k=3)
    assert _code(info.value) == grpc.StatusCode.UNAVAILABLE
    assert calls["search"] == 2


def test_backend_call_timeout_is_the_callers_deadline(gateway: ServerThread) -> None:
    """The pymilvus call gets the remaining deadline as its timeout, not the store's 30 s."""
    assert gateway.server is not None
    client_obj = gateway.server.gateway.stores["m"]._client  # type: ignore[attr-defined]
    seen: list[float] = []
    real_search = client_obj.search

    def recording_search(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["timeout"])
        return real_search(*args, **kwargs)

    with patch.object(client_obj, "search", recording_search):
        with Client(gateway.grpc_target, timeout=2.0) as client:
            _search(client)
        with Client(gateway.grpc_target, timeout=None) as client:
            _search(client)
    assert 0 < seen[0] <= 2.05, seen  # 2 s, give or take the wire encoding's rounding
    assert seen[1] == 30, seen  # no deadline: the store's timeout_s
