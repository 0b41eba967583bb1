"""Columnar upserts (``DocumentColumns``) end to end: proto, validation, gRPC, REST, client.

Through a real server on the embedded LanceDB store: the Python client's numpy
and pyarrow paths (sync and async, ``upsert`` and ``bulk_upsert``), idempotent
re-upserts, errors naming the request field over gRPC and REST (base64 block),
and the README's example run as written.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import numpy as np
import pyarrow as pa
import pytest

from tests.support.readme import readme_block
from tests.support.servers import ServerThread, make_config
from vectorgate import AsyncClient, Client, InvalidArgumentError, VectorgateError
from vectorgate.v1 import types_pb2, upsert_service_pb2
from vectorgate_server import convert
from vectorgate_server.embeddings import EmbeddingRegistry
from vectorgate_server.errors import InvalidArgument

DIM = 8


@pytest.fixture(scope="module")
def srv(
    tmp_path_factory: pytest.TempPathFactory, embeddings: EmbeddingRegistry
) -> Iterator[ServerThread]:
    config = make_config(
        tmp_path_factory.mktemp("columnar") / "data",
        {"limits": {"max_batch_documents": 1000, "max_metadata_bytes": 1024}},
    )
    with ServerThread(config, embeddings) as server:
        yield server


@pytest.fixture(scope="module")
def client(srv: ServerThread) -> Iterator[Client]:
    with Client(srv.grpc_target) as c:
        yield c


@pytest.fixture(scope="module")
def http(srv: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.http_base, timeout=60) as c:
        yield c


def _vectors(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((rows, DIM), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _collection(client: Client, name: str) -> str:
    client.create_collection(name, dimension=DIM, embedding_model="none")
    return name


def _columns(rows: int, **fields: Any) -> types_pb2.DocumentColumns:
    pb = types_pb2.DocumentColumns(
        ids=[f"r{i}" for i in range(rows)],
        dimension=DIM,
        vectors=_vectors(rows).astype("<f4").tobytes(),
    )
    for key, value in fields.items():
        if key == "metadata":
            for column in value:
                pb.metadata.append(column)
        elif isinstance(value, list):
            getattr(pb, key).extend(value)
        else:
            setattr(pb, key, value)
    return pb


# -------------------------------------------------------------------------- proto and decoding


def test_proto_round_trip_keeps_every_column() -> None:
    vectors = _vectors(3)
    pb = types_pb2.DocumentColumns(
        ids=["a", "b", "c"],
        dimension=DIM,
        vectors=vectors.astype("<f4").tobytes(),
        texts=["x", "y", "z"],
    )
    column = pb.metadata.add(key="n")
    column.values.add(int_value=2**62 + 1)
    column.values.add()  # absent
    column.values.add(float_value=3.0)
    request = upsert_service_pb2.UpsertDocumentsRequest(collection="c")
    request.columns.CopyFrom(pb)
    again = upsert_service_pb2.UpsertDocumentsRequest.FromString(request.SerializeToString())
    assert again == request
    batch = convert.columns_from_pb(again.columns)
    assert batch.ids == ["a", "b", "c"] and batch.texts == ["x", "y", "z"]
    np.testing.assert_array_equal(batch.vectors, vectors)
    assert batch.vectors.dtype == np.float32 and batch.vectors.shape == (3, DIM)
    assert batch.metadata == {"n": [2**62 + 1, None, 3.0]}
    assert isinstance(batch.metadata["n"][2], float)


@pytest.mark.parametrize(
    ("pb", "field"),
    [
        (_columns(2, dimension=0), "columns.dimension"),
        (_columns(2, vectors=b"\0" * 12), "columns.vectors"),
        (_columns(2, vectors=np.full((2, DIM), np.nan, "<f4").tobytes()), "columns.vectors"),
        (_columns(2, texts=["only one"]), "columns.texts"),
        (
            _columns(
                2, metadata=[types_pb2.MetadataColumn(key="k", values=[types_pb2.FilterValue()])]
            ),
            "columns.metadata[0].values",
        ),
        (
            _columns(
                1, metadata=[types_pb2.MetadataColumn(key="id", values=[types_pb2.FilterValue()])]
            ),
            "columns.metadata[0].key",
        ),
        (
            _columns(
                1,
                metadata=[
                    types_pb2.MetadataColumn(key="k", values=[types_pb2.FilterValue(int_value=1)]),
                    types_pb2.MetadataColumn(key="k", values=[types_pb2.FilterValue(int_value=1)]),
                ],
            ),
            "columns.metadata[1].key",
        ),
        (
            _columns(
                1,
                metadata=[
                    types_pb2.MetadataColumn(
                        key="k", values=[types_pb2.FilterValue(float_value=float("inf"))]
                    )
                ],
            ),
            "columns.metadata[0].values[0]",
        ),
    ],
)
def test_decoding_errors_name_the_field(pb: types_pb2.DocumentColumns, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        convert.columns_from_pb(pb)
    assert err.value.field == field


# -------------------------------------------------------------------------- the Python client


def test_numpy_upsert_is_idempotent_and_keeps_types(client: Client) -> None:
    name = _collection(client, "col_numpy")
    vectors = _vectors(1500, seed=1)
    ids = [f"n{i}" for i in range(1500)]
    metadata = {
        "n": np.arange(1500, dtype=np.int64) + 2**60,
        "ratio": [float(i) for i in range(1500)],
        "tag": ["a" if i % 2 else None for i in range(1500)],
        "flag": [i % 3 == 0 for i in range(1500)],
        "tags": [["x", "y"]] * 1500,
    }
    texts = [f"text {i}" for i in range(1500)]
    for _ in range(2):  # the same batch twice: same state
        assert client.upsert(name, ids=ids, vectors=vectors, texts=texts, metadata=metadata) == 1500
        assert client.get_collection(name).document_count == 1500
    [doc] = client.get(name, ["n7"], include_vectors=True)
    assert doc.text == "text 7"
    assert doc.metadata == {
        "n": 2**60 + 7,
        "ratio": 7.0,
        "tag": "a",
        "flag": False,
        "tags": ["x", "y"],
    }
    assert isinstance(doc.metadata["ratio"], float)
    np.testing.assert_allclose(doc.vector, vectors[7], rtol=0, atol=0)
    [doc] = client.get(name, ["n6"])
    assert "tag" not in doc.metadata  # None: absent
    hits = client.search(name, vector=vectors[1234], top_k=1)
    assert hits[0].id == "n1234"


def test_pyarrow_table_and_record_batch(client: Client) -> None:
    name = _collection(client, "col_arrow")
    vectors = _vectors(300, seed=2)
    table = pa.table(
        {
            "id": [f"a{i}" for i in range(300)],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
            "text": [f"t{i}" for i in range(300)],
            "metadata": pa.array([{"year": 2000 + i, "lang": "en"} for i in range(300)]),
            "shard": pa.array([i % 4 for i in range(300)], pa.int32()),
        }
    )
    assert client.upsert(name, table, batch_size=128) == 300
    assert client.upsert(name, table.to_batches()[0]) == 300  # a RecordBatch, again: idempotent
    assert client.get_collection(name).document_count == 300
    [doc] = client.get(name, ["a5"])
    assert doc.text == "t5" and doc.metadata == {"year": 2005, "lang": "en", "shard": 1}
    # A variable-size list column of vectors works too.
    listed = pa.table(
        {"id": ["v0"], "vector": pa.array([vectors[0].tolist()], pa.list_(pa.float32()))}
    )
    assert client.upsert(name, listed) == 1
    assert client.get_collection(name).document_count == 301


def test_bulk_upsert_columns_sync_and_async(client: Client, srv: ServerThread) -> None:
    name = _collection(client, "col_bulk")
    vectors = _vectors(2500, seed=3)
    ids = [f"b{i}" for i in range(2500)]
    assert client.bulk_upsert(name, ids=ids, vectors=vectors, batch_size=1000) == 2500
    table = pa.table(
        {"id": ids, "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM)}
    )

    async def run() -> tuple[int, int, int]:
        async with AsyncClient(srv.grpc_target) as aclient:
            streamed = await aclient.bulk_upsert(name, table, batch_size=700)
            single = await aclient.upsert(name, ids=ids[:10], vectors=vectors[:10])
            return streamed, single, (await aclient.get_collection(name)).document_count

    assert asyncio.run(run()) == (2500, 10, 2500)
    assert client.search(name, vector=vectors[2001], top_k=1)[0].id == "b2001"


def test_client_refuses_ambiguous_or_malformed_input(client: Client) -> None:
    vectors = _vectors(2)
    with pytest.raises(TypeError, match="not both"):
        client.upsert("x", [{"id": "a"}], ids=["a", "b"], vectors=vectors)
    with pytest.raises(TypeError, match="need vectors"):
        client.upsert("x", ids=["a", "b"])
    with pytest.raises(ValueError, match="rows for 3 ids"):
        client.upsert("x", ids=["a", "b", "c"], vectors=vectors)
    with pytest.raises(ValueError, match="2-D"):
        client.upsert("x", ids=["a"], vectors=vectors[0])
    with pytest.raises(ValueError, match="'vector'"):
        client.upsert("x", pa.table({"id": ["a"]}))


# -------------------------------------------------------------------------- server-side validation


def _rpc_error(
    client: Client, request: upsert_service_pb2.UpsertDocumentsRequest
) -> VectorgateError:
    with pytest.raises(VectorgateError) as err:
        client._call(client._upsert.UpsertDocuments, request)
    return err.value


@pytest.mark.parametrize(
    ("mutate", "field", "code"),
    [
        (lambda r: r.columns.ids.__setitem__(1, "r0"), "columns.ids[1]", "INVALID_ARGUMENT"),
        (lambda r: r.columns.ids.__setitem__(0, ""), "columns.ids[0]", "INVALID_ARGUMENT"),
        (lambda r: r.documents.add(id="x"), "documents", "INVALID_ARGUMENT"),
        (
            lambda r: (
                setattr(r.columns, "dimension", 4),
                setattr(r.columns, "vectors", b"\0" * 4 * 4 * 3),
            ),
            "columns.dimension",
            "INVALID_ARGUMENT",
        ),
        (lambda r: r.columns.texts.extend(["a", "b"]), "columns.texts", "INVALID_ARGUMENT"),
        (
            lambda r: r.columns.metadata.add(key="big").values.extend(
                [types_pb2.FilterValue(string_value="x" * 2000)] * 3
            ),
            "columns.metadata",
            "RESOURCE_EXHAUSTED",
        ),
        (
            lambda r: r.columns.metadata.add(key="mixed").values.extend(
                [
                    types_pb2.FilterValue(int_value=1),
                    types_pb2.FilterValue(string_value="a"),
                    types_pb2.FilterValue(),
                ]
            ),
            "columns.metadata[0].values[1]",
            "INVALID_ARGUMENT",
        ),
    ],
)
def test_grpc_errors_name_the_field(client: Client, mutate: Any, field: str, code: str) -> None:
    name = "col_errors"
    if name not in [c.name for c in client.list_collections()]:
        _collection(client, name)
    request = upsert_service_pb2.UpsertDocumentsRequest(collection=name)
    request.columns.CopyFrom(_columns(3))
    mutate(request)
    error = _rpc_error(client, request)
    assert error.code == getattr(grpc.StatusCode, code), error
    assert error.field == field, error
    assert client.get_collection(name).document_count == 0


def test_batch_limit_and_empty_columns(client: Client) -> None:
    name = _collection(client, "col_limit")
    request = upsert_service_pb2.UpsertDocumentsRequest(collection=name)
    request.columns.CopyFrom(_columns(1001))
    error = _rpc_error(client, request)
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED and error.field == "columns.ids"
    request.columns.CopyFrom(types_pb2.DocumentColumns(dimension=DIM))
    error = _rpc_error(client, request)
    assert isinstance(error, InvalidArgumentError) and error.field == "columns.ids"


def test_bulk_stream_errors_name_the_message(client: Client, srv: ServerThread) -> None:
    name = _collection(client, "col_bulk_errors")
    good = upsert_service_pb2.BulkUpsertDocumentsRequest(collection=name)
    good.columns.CopyFrom(_columns(3))
    bad = upsert_service_pb2.BulkUpsertDocumentsRequest()
    bad.columns.CopyFrom(_columns(3, vectors=b"\0" * 5))
    with grpc.insecure_channel(srv.grpc_target) as channel:
        stub = channel.stream_unary(
            "/vectorgate.v1.UpsertService/BulkUpsertDocuments",
            request_serializer=upsert_service_pb2.BulkUpsertDocumentsRequest.SerializeToString,
            response_deserializer=upsert_service_pb2.BulkUpsertDocumentsResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as err:
            stub(iter([good, bad]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "requests[1].columns.vectors" in str(err.value.details())
    # The first batch was accepted and written.
    assert client.get_collection(name).document_count == 3


def test_rest_columns_base64(client: Client, http: httpx.Client) -> None:
    name = _collection(client, "col_rest")
    vectors = _vectors(4, seed=5)
    body = {
        "columns": {
            "ids": ["a", "b", "c", "d"],
            "dimension": DIM,
            "vectors": base64.b64encode(vectors.astype("<f4").tobytes()).decode(),
            "texts": ["ta", "tb", "tc", "td"],
            "metadata": [
                {
                    "key": "n",
                    "values": [
                        {"int_value": "9007199254740993"},
                        {},
                        {"float_value": 2.0},
                        {"int_value": 4},
                    ],
                }
            ],
        }
    }
    for _ in range(2):
        r = http.post(f"/v1/collections/{name}/documents:upsert", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["upserted_count"] == 4
    assert client.get_collection(name).document_count == 4
    [a, b, c] = client.get(name, ["a", "b", "c"])
    assert a.metadata == {"n": 9007199254740993} and b.metadata == {} and c.metadata == {"n": 2.0}
    r = http.post(f"/v1/collections/{name}/documents:bulkUpsert", json=body)
    assert r.status_code == 200, r.text
    # Errors name the field, as 400s.
    bad = {"columns": dict(body["columns"], vectors=base64.b64encode(b"\0" * 8).decode())}
    r = http.post(f"/v1/collections/{name}/documents:upsert", json=bad)
    assert r.status_code == 400, r.text
    assert r.json()["details"][0]["metadata"]["field"] == "columns.vectors"
    bad = {"columns": dict(body["columns"], vectors="not base64!")}
    r = http.post(f"/v1/collections/{name}/documents:upsert", json=bad)
    assert r.status_code == 400, r.text
    wrong_dim = {
        "columns": dict(body["columns"], dimension=4, vectors=base64.b64encode(b"\0" * 64).decode())
    }
    r = http.post(f"/v1/collections/{name}/documents:upsert", json=wrong_dim)
    assert r.status_code == 400, r.text
    assert r.json()["details"][0]["metadata"]["field"] == "columns.dimension"


def test_readme_example(srv: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    code = readme_block("columnar").replace("127.0.0.1:50051", srv.grpc_target)
    exec(compile(code, "README.md (columnar)", "exec"), {})
    assert capsys.readouterr().out.split() == ["2000", "doc-1234"]
