"""Random bytes and oversized messages get clean gRPC errors; the server lives on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.servers import ServerThread, make_config
from vectorgate import Client
from vectorgate.v1 import search_service_pb2 as spb
from vectorgate_server.embeddings import EmbeddingRegistry
from vectorgate_server.services.registry import service_descriptors

MAX_MESSAGE = 64 * 1024

#: Every unary RPC, and the statuses a malformed request may get.
METHODS = [
    f"/{service.full_name}/{method.name}"
    for service in service_descriptors()
    for method in service.methods
    if not method.client_streaming
]
CLEAN = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNIMPLEMENTED,
}


@pytest.fixture(scope="module")
def small_server(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry
) -> Iterator[ServerThread]:
    data = Path(tmp_path_factory.mktemp("raw")) / "data"
    config = make_config(data, {"server": {"max_message_bytes": MAX_MESSAGE}})
    with ServerThread(config, embeddings) as srv:
        with Client(srv.grpc_target) as client:
            client.create_collection("raw", dimension=4, embedding_model="none")
        yield srv


@pytest.fixture(scope="module")
def channel(small_server: ServerThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(small_server.grpc_target) as ch:
        yield ch


def _raw(channel: grpc.Channel, method: str, payload: bytes) -> bytes:
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    result: bytes = call(payload, timeout=10)
    return result


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(method=st.sampled_from(METHODS), payload=st.binary(max_size=300))
def test_random_bytes_get_a_clean_status(
    channel: grpc.Channel, method: str, payload: bytes
) -> None:
    try:
        _raw(channel, method, payload)
    except grpc.RpcError as err:
        assert isinstance(err, grpc.Call)
        code = err.code()
        # Undecodable bytes are INVALID_ARGUMENT too (grpcio alone would answer UNKNOWN).
        assert code in CLEAN, (code, err.details())


def test_oversized_message_is_resource_exhausted(
    channel: grpc.Channel, small_server: ServerThread
) -> None:
    request = spb.SearchRequest(collection="raw", top_k=1)
    request.vector.packed = b"\0" * (MAX_MESSAGE + 16)
    with pytest.raises(grpc.RpcError) as info:
        _raw(channel, "/vectorgate.v1.SearchService/Search", request.SerializeToString())
    err = info.value
    assert isinstance(err, grpc.Call)
    assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    # The server is still up and answers well-formed calls.
    with Client(small_server.grpc_target) as client:
        assert client.search("raw", vector=[1.0, 0.0, 0.0, 0.0], top_k=1) == []


def test_undecodable_request_is_invalid_argument(channel: grpc.Channel) -> None:
    """Regression: grpcio answered UNKNOWN ("Unexpected DecodeError") and logged a traceback."""
    with pytest.raises(grpc.RpcError) as info:
        _raw(channel, "/vectorgate.v1.CollectionAdminService/CreateCollection", b"\x00")
    err = info.value
    assert isinstance(err, grpc.Call)
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid vectorgate.v1.CreateCollectionRequest" in (err.details() or "")


def test_undecodable_stream_message_is_invalid_argument(channel: grpc.Channel) -> None:
    call = channel.stream_unary(
        "/vectorgate.v1.UpsertService/BulkUpsertDocuments",
        request_serializer=None,
        response_deserializer=None,
    )
    with pytest.raises(grpc.RpcError) as info:
        call(iter([b"\x00"]), timeout=10)
    err = info.value
    assert isinstance(err, grpc.Call)
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_unknown_method_is_unimplemented(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as info:
        _raw(channel, "/vectorgate.v1.SearchService/NoSuchMethod", b"")
    err = info.value
    assert isinstance(err, grpc.Call)
    assert err.code() is grpc.StatusCode.UNIMPLEMENTED
