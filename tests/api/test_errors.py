"""Bad input gets a clear status naming the field: raw stubs, so nothing is pre-validated."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.support.servers import ROOT, ServerThread
from vectorgate.v1 import (
    collection_admin_service_pb2 as cpb,
)
from vectorgate.v1 import (
    collection_admin_service_pb2_grpc as cgrpc,
)
from vectorgate.v1 import (
    search_service_pb2 as spb,
)
from vectorgate.v1 import (
    search_service_pb2_grpc as sgrpc,
)
from vectorgate.v1 import (
    types_pb2 as tpb,
)
from vectorgate.v1 import (
    upsert_service_pb2 as upb,
)
from vectorgate.v1 import (
    upsert_service_pb2_grpc as ugrpc,
)


class Stubs:
    def __init__(self, channel: grpc.Channel) -> None:
        self.admin = cgrpc.CollectionAdminServiceStub(channel)
        self.upsert = ugrpc.UpsertServiceStub(channel)
        self.search = sgrpc.SearchServiceStub(channel)


@pytest.fixture
def stubs(server: ServerThread) -> Iterator[Stubs]:
    with grpc.insecure_channel(server.grpc_target) as channel:
        s = Stubs(channel)
        s.admin.CreateCollection(
            cpb.CreateCollectionRequest(
                collection=tpb.Collection(name="vecs", dimension=4, embedding_model="none")
            )
        )
        s.admin.CreateCollection(cpb.CreateCollectionRequest(collection=tpb.Collection(name="kb")))
        yield s


def error_of(
    call: object, request: object
) -> tuple[grpc.StatusCode, str, dict[str, str], list[str]]:
    """Code, message, ErrorInfo metadata (with reason) and BadRequest fields of a failed call."""
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=30)  # type: ignore[operator]
    err = info.value
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    meta: dict[str, str] = {}
    fields: list[str] = []
    assert status is not None, f"no rich status for {err.code()}: {err.details()}"  # type: ignore[attr-defined]
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            ei = error_details_pb2.ErrorInfo()
            detail.Unpack(ei)
            assert ei.domain == "vectorgate.dev"
            meta = dict(ei.metadata)
            meta["reason"] = ei.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            br = error_details_pb2.BadRequest()
            detail.Unpack(br)
            fields = [v.field for v in br.field_violations]
    return err.code(), err.details(), meta, fields  # type: ignore[attr-defined]


def vec(*values: float) -> tpb.Vector:
    return tpb.Vector(values=values)


def test_empty_collection_name(stubs: Stubs) -> None:
    code, msg, meta, fields = error_of(
        stubs.admin.CreateCollection,
        cpb.CreateCollectionRequest(collection=tpb.Collection(name="")),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert meta["field"] == "collection.name" and fields == ["collection.name"]
    assert "collection.name" in msg


@pytest.mark.parametrize("name", ["1abc", "has space", "semi;colon", "x" * 200, "quote'"])
def test_invalid_collection_name(stubs: Stubs, name: str) -> None:
    code, msg, meta, _ = error_of(
        stubs.search.Search, spb.SearchRequest(collection=name, text="q", top_k=1)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert meta["field"] == "collection"
    assert "invalid collection name" in msg


def test_unknown_collection(stubs: Stubs) -> None:
    code, msg, meta, _ = error_of(
        stubs.search.Search, spb.SearchRequest(collection="missing", text="q", top_k=1)
    )
    assert code == grpc.StatusCode.NOT_FOUND
    assert meta["reason"] == "COLLECTION_NOT_FOUND"
    assert "missing" in msg


def test_unknown_store(stubs: Stubs) -> None:
    code, _msg, meta, _ = error_of(
        stubs.search.Search, spb.SearchRequest(collection="kb", store="nope", text="q", top_k=1)
    )
    assert code == grpc.StatusCode.NOT_FOUND
    assert meta["reason"] == "STORE_NOT_FOUND" and meta["field"] == "store"


def test_create_existing_collection(stubs: Stubs) -> None:
    code, msg, meta, _ = error_of(
        stubs.admin.CreateCollection,
        cpb.CreateCollectionRequest(collection=tpb.Collection(name="kb")),
    )
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert meta["reason"] == "COLLECTION_ALREADY_EXISTS" and "kb" in msg


def test_dimension_mismatch_on_upsert_names_both(stubs: Stubs) -> None:
    request = upb.UpsertDocumentsRequest(
        collection="vecs",
        documents=[
            tpb.Document(id="a", vector=vec(1, 2, 3, 4)),
            tpb.Document(id="b", vector=vec(1, 2, 3)),
        ],
    )
    code, msg, meta, fields = error_of(stubs.upsert.UpsertDocuments, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert meta["reason"] == "DIMENSION_MISMATCH"
    assert fields == ["documents[1].vector"]
    assert meta["expected"] == "4" and meta["actual"] == "3"
    assert "dimension 3" in msg and "dimension 4" in msg


def test_dimension_mismatch_on_search(stubs: Stubs) -> None:
    code, msg, meta, _ = error_of(
        stubs.search.Search, spb.SearchRequest(collection="kb", vector=vec(1, 2), top_k=1)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert meta["reason"] == "DIMENSION_MISMATCH" and meta["field"] == "vector"
    assert "384" in msg and "dimension 2" in msg


def test_create_with_dimension_not_matching_model(stubs: Stubs) -> None:
    code, msg, meta, _ = error_of(
        stubs.admin.CreateCollection,
        cpb.CreateCollectionRequest(collection=tpb.Collection(name="bad", dimension=100)),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert meta["field"] == "collection.dimension" and "384" in msg and "100" in msg


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_rejected(stubs: Stubs, bad: float) -> None:
    request = upb.UpsertDocumentsRequest(
        collection="vecs", documents=[tpb.Document(id="a", vector=vec(1, bad, 3, 4))]
    )
    code, _msg, meta, _ = error_of(stubs.upsert.UpsertDocuments, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert meta["reason"] == "INVALID_VECTOR"
    assert meta["field"] == "documents[0].vector.values[1]"
    packed = struct.pack("<4f", 1, 2, bad, 4)
    code, _, meta, _ = error_of(
        stubs.search.Search,
        spb.SearchRequest(collection="vecs", vector=tpb.Vector(packed=packed), top_k=1),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert meta["field"] == "vector.packed[2]"


def test_packed_vector_with_ragged_bytes(stubs: Stubs) -> None:
    code, _, meta, _ = error_of(
        stubs.search.Search,
        spb.SearchRequest(collection="vecs", vector=tpb.Vector(packed=b"\x00" * 7), top_k=1),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and meta["field"] == "vector.packed"


@pytest.mark.parametrize("top_k", [0, -1, 1001, 10**6])
def test_top_k_out_of_range(stubs: Stubs, top_k: int) -> None:
    code, msg, meta, _ = error_of(
        stubs.search.Search,
        spb.SearchRequest(collection="vecs", vector=vec(1, 2, 3, 4), top_k=top_k),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert meta["field"] == "top_k" and "1000" in msg


def test_oversized_batch(stubs: Stubs) -> None:
    docs = [tpb.Document(id=f"d{i}", vector=vec(1, 2, 3, 4)) for i in range(1001)]
    code, msg, meta, _ = error_of(
        stubs.upsert.UpsertDocuments, upb.UpsertDocumentsRequest(collection="vecs", documents=docs)
    )
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert meta["field"] == "documents" and "1001" in msg


def test_oversized_message(stubs: Stubs, server: ServerThread) -> None:
    limit = server.config.server.max_message_bytes
    doc = tpb.Document(id="big", text="x" * (limit + 10))
    with pytest.raises(grpc.RpcError) as info:
        stubs.upsert.UpsertDocuments(upb.UpsertDocumentsRequest(collection="kb", documents=[doc]))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]


def test_unknown_filter_value_type(stubs: Stubs) -> None:
    flt = tpb.Filter(
        all_of=tpb.FilterList(
            filters=[
                tpb.Filter(
                    condition=tpb.FieldCondition(
                        field="a", op=tpb.FILTER_OPERATOR_EQ, value=tpb.FilterValue(int_value=1)
                    )
                ),
                tpb.Filter(
                    condition=tpb.FieldCondition(
                        field="b", op=tpb.FILTER_OPERATOR_EQ, value=tpb.FilterValue()
                    )
                ),
            ]
        )
    )
    code, msg, meta, _ = error_of(
        stubs.search.Search,
        spb.SearchRequest(collection="vecs", vector=vec(1, 2, 3, 4), top_k=1, filter=flt),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert meta["reason"] == "INVALID_FILTER"
    assert meta["field"] == "filter.all_of.filters[1].condition.value"
    assert "type is not set" in msg


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        (tpb.FieldCondition(field="a", value=tpb.FilterValue(int_value=1)), "filter.condition.op"),
        (
            tpb.FieldCondition(op=tpb.FILTER_OPERATOR_EQ, value=tpb.FilterValue(int_value=1)),
            "filter.condition.field",
        ),
        (
            tpb.FieldCondition(
                field="a", op=tpb.FILTER_OPERATOR_GT, value=tpb.FilterValue(string_value="x")
            ),
            "filter.condition.value",
        ),
        (
            tpb.FieldCondition(
                field="a", op=tpb.FILTER_OPERATOR_IN, value=tpb.FilterValue(string_value="x")
            ),
            "filter.condition.value",
        ),
        (
            tpb.FieldCondition(
                field="a b", op=tpb.FILTER_OPERATOR_EQ, value=tpb.FilterValue(string_value="x")
            ),
            "filter.condition.field",
        ),
    ],
    ids=["no-op", "no-field", "gt-string", "in-scalar", "bad-key"],
)
def test_malformed_filters(stubs: Stubs, condition: tpb.FieldCondition, field: str) -> None:
    code, _, meta, _ = error_of(
        stubs.search.Search,
        spb.SearchRequest(
            collection="vecs",
            vector=vec(1, 2, 3, 4),
            top_k=1,
            filter=tpb.Filter(condition=condition),
        ),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and meta["field"] == field


def test_missing_query(stubs: Stubs) -> None:
    code, _, meta, _ = error_of(stubs.search.Search, spb.SearchRequest(collection="kb", top_k=1))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and meta["reason"] == "MISSING_FIELD"


def test_text_query_on_vectors_only_collection(stubs: Stubs) -> None:
    code, msg, _, _ = error_of(
        stubs.search.Search, spb.SearchRequest(collection="vecs", text="hello", top_k=1)
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "vectors-only" in msg


def test_nested_metadata_rejected(stubs: Stubs) -> None:
    doc = tpb.Document(id="a", vector=vec(1, 2, 3, 4))
    doc.metadata.update({"ok": 1, "nested": {"x": 1}})
    code, _, meta, _ = error_of(
        stubs.upsert.UpsertDocuments, upb.UpsertDocumentsRequest(collection="vecs", documents=[doc])
    )
    assert (
        code == grpc.StatusCode.INVALID_ARGUMENT and meta["field"] == "documents[0].metadata.nested"
    )


def test_duplicate_ids_in_batch(stubs: Stubs) -> None:
    docs = [
        tpb.Document(id="a", vector=vec(1, 2, 3, 4)),
        tpb.Document(id="a", vector=vec(1, 2, 3, 4)),
    ]
    code, _, meta, _ = error_of(
        stubs.upsert.UpsertDocuments, upb.UpsertDocumentsRequest(collection="vecs", documents=docs)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and meta["field"] == "documents[1].id"


def test_bad_page_token(stubs: Stubs) -> None:
    code, _, meta, _ = error_of(
        stubs.admin.ListCollections, cpb.ListCollectionsRequest(page_token="garbage!")
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and meta["field"] == "page_token"


def test_deadline_is_honoured(stubs: Stubs) -> None:
    docs = [
        tpb.Document(id=f"d{i}", text=f"sentence number {i} about nothing") for i in range(1000)
    ]
    with pytest.raises(grpc.RpcError) as info:
        stubs.upsert.UpsertDocuments(
            upb.UpsertDocumentsRequest(collection="kb", documents=docs), timeout=0.05
        )
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
    # The server gave up too: embedding 1,000 texts takes seconds, and nothing is written
    # once the deadline has passed.
    time.sleep(6)
    count = stubs.admin.GetCollection(cpb.GetCollectionRequest(name="kb")).collection.document_count
    assert count == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("vector_stores:\n  qdrant:\n    url: [unclosed\n", "line"),
        ("vector_stores:\n  qdrant:\n    vector_size: abc\n", "vector_stores.qdrant.vector_size"),
        ("server:\n  grpc_prot: 1\n", "server.grpc_prot"),
    ],
    ids=["syntax", "type", "typo"],
)
def test_malformed_config_fails_at_start(tmp_path: Path, text: str, expected: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "vectorgate_server", "serve", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(ROOT),
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
