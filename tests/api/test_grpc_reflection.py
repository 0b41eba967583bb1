"""Server reflection answers both protocols: ``grpc.reflection.v1alpha`` and ``grpc.reflection.v1``.

Clients: grpcio-reflection's ``ProtoReflectionDescriptorDatabase`` (v1alpha),
``buf curl --reflect-protocol grpc-v1`` (the tool the issue names; buf-bin is
in the dev extra) and a plain v1 stream call.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.support.servers import ServerThread

SEARCH = "vectorgate.v1.SearchService"
V1 = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"


def _buf() -> str | None:
    candidate = Path(sys.executable).with_name("buf")
    return str(candidate) if candidate.exists() else shutil.which("buf")


def test_v1alpha_descriptor_database(server: ServerThread) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {SEARCH, "grpc.health.v1.Health"} <= services
        assert {
            "grpc.reflection.v1alpha.ServerReflection",
            "grpc.reflection.v1.ServerReflection",
        } <= services
        pool = descriptor_pool.DescriptorPool(database)
        service = pool.FindServiceByName(SEARCH)
        assert "Search" in [m.name for m in service.methods]
        # The v1 service it lists is described too (so v1 tools can resolve it).
        v1 = pool.FindServiceByName("grpc.reflection.v1.ServerReflection")
        assert v1.methods[0].input_type.full_name == "grpc.reflection.v1.ServerReflectionRequest"


def test_v1_stream_answers_like_v1alpha(server: ServerThread) -> None:
    # The v1 messages are v1alpha's under another package: same fields, same numbers.
    with grpc.insecure_channel(server.grpc_target) as channel:
        call = channel.stream_stream(
            V1,
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol=SEARCH),
        ]
        listed, described = list(call(iter(requests), timeout=10))
    names = {s.name for s in listed.list_services_response.service}
    assert SEARCH in names and "grpc.reflection.v1.ServerReflection" in names
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in described.file_descriptor_response.file_descriptor_proto
    ]
    assert any(any(s.name == "SearchService" for s in f.service) for f in files)


@pytest.mark.skipif(_buf() is None, reason="buf (buf-bin) is not installed")
def test_buf_curl_with_grpc_v1_reflection(server: ServerThread) -> None:
    buf = _buf()
    assert buf is not None
    base = f"http://{server.grpc_target}"
    common = [buf, "curl", "--protocol", "grpc", "--http2-prior-knowledge"]
    # The command the README gives, run as given (address and buf's path swapped in).
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    found = re.search(r"`(buf curl [^`]*--reflect-protocol grpc-v1[^`]*)`", readme)
    assert found is not None
    command = shlex.split(found.group(1).replace("http://127.0.0.1:50051", base))
    assert command[-2:] == ["--list-services", base]
    listed = subprocess.run(
        [buf, *command[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert SEARCH in listed.stdout.split()
    called = subprocess.run(
        [
            *common,
            "--reflect-protocol",
            "grpc-v1",
            "-d",
            "{}",
            f"{base}/grpc.health.v1.Health/Check",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == {"status": "SERVING"}
