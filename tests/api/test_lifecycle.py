"""Health, reflection, graceful shutdown, and the CLI."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.support.servers import ROOT, ServerProcess, ServerThread
from vectorgate import Client

SERVICES = [
    "vectorgate.v1.CollectionAdminService",
    "vectorgate.v1.IndexAdminService",
    "vectorgate.v1.SearchService",
    "vectorgate.v1.UpsertService",
]


def test_health_reports_serving_per_service(server: ServerThread) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ["", *SERVICES]:
            response = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            assert response.status == health_pb2.HealthCheckResponse.SERVING, name
        try:
            stub.Check(health_pb2.HealthCheckRequest(service="nope.Service"), timeout=10)
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
        else:
            raise AssertionError("unknown service reported healthy")


def test_reflection_lists_and_describes_services(server: ServerThread) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = list(
            stub.ServerReflectionInfo(
                iter(
                    [
                        reflection_pb2.ServerReflectionRequest(list_services=""),
                        reflection_pb2.ServerReflectionRequest(
                            file_containing_symbol="vectorgate.v1.SearchService"
                        ),
                    ]
                ),
                timeout=10,
            )
        )
        names = {s.name for s in responses[0].list_services_response.service}
        assert set(SERVICES) <= names
        assert "grpc.health.v1.Health" in names
        files = [
            descriptor_pb2.FileDescriptorProto.FromString(raw)
            for raw in responses[1].file_descriptor_response.file_descriptor_proto
        ]
        assert any(f.name == "vectorgate/v1/search_service.proto" for f in files)


def test_sigterm_finishes_in_flight_calls(tmp_path: Path) -> None:
    # A generous grace period: the in-flight calls embed 1,200 texts, which takes a few
    # seconds on an idle 2-core box and longer on a loaded one.
    config = tmp_path / "grace.yaml"
    config.write_text("server:\n  grace_period_s: 60\n")
    proc = ServerProcess(
        [
            "serve",
            "--config",
            str(config),
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--data-dir",
            str(tmp_path / "data"),
        ]
    )
    try:
        port = proc.wait_ready()
        target = f"127.0.0.1:{port}"
        with Client(target) as client:
            client.create_collection("kb")
        results: list[object] = []

        def slow_upsert(n: int) -> None:
            docs = [
                {"id": f"{n}-{i}", "text": f"document {i} of writer {n} on topic {i % 7}"}
                for i in range(300)
            ]
            try:
                with Client(target, timeout=120) as c:
                    results.append(c.upsert("kb", docs, batch_size=300))
            except Exception as exc:  # recorded and asserted below
                results.append(exc)

        threads = [threading.Thread(target=slow_upsert, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)  # calls are in flight (embedding 1,200 texts takes seconds)
        started = time.monotonic()
        proc.terminate()
        for t in threads:
            t.join(60)
        code = proc.proc.wait(30)
        elapsed = time.monotonic() - started
        assert results == [300, 300, 300, 300], results
        assert code == 0, proc.kill()
        assert elapsed < 65, elapsed  # within the grace period plus process exit
        # New calls are refused once shutdown has begun: the process is gone.
        with grpc.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
            except grpc.RpcError as err:
                assert err.code() in (  # type: ignore[attr-defined]
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                )
            else:
                raise AssertionError("server still answering after SIGTERM")
    finally:
        proc.kill()

    # The acknowledged writes survived the shutdown.
    proc2 = ServerProcess(
        ["serve", "--grpc-port", "0", "--http-port", "0", "--data-dir", str(tmp_path / "data")]
    )
    try:
        port = proc2.wait_ready()
        with Client(f"127.0.0.1:{port}") as client:
            assert client.get_collection("kb").document_count == 1200
        proc2.terminate()
        assert proc2.proc.wait(30) == 0
    finally:
        proc2.kill()


def test_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "vectorgate_server", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(ROOT),
    )
    assert out.returncode == 0 and out.stdout.strip() == "vectorgate 0.1.0"
