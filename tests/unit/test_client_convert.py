"""Unit tests of the Python client: filters, vectors, Structs, documents, errors, call plumbing.

The plumbing tests run the real ``Client``/``AsyncClient`` against a fake
in-process gRPC servicer (no gateway, no backend), to check what goes over the
wire: metadata, batching, paging, the bulk stream, and rich-status trailers.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from typing import Any

import grpc
import grpc.aio
import numpy as np
import pytest
from google.protobuf import struct_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

import vectorgate
from vectorgate import F, errors
from vectorgate._convert import (
    BatchBuilder,
    dict_to_struct,
    document_from_proto,
    fill_document,
    iter_batches,
    metric_to_proto,
    pack_vector,
    struct_to_dict,
    unpack_vector,
)
from vectorgate._filters import filter_to_dict, parse_filter, to_filter_proto
from vectorgate.v1 import (
    collection_admin_service_pb2,
    collection_admin_service_pb2_grpc,
    index_admin_service_pb2,
    index_admin_service_pb2_grpc,
    search_service_pb2,
    search_service_pb2_grpc,
    types_pb2,
    upsert_service_pb2,
    upsert_service_pb2_grpc,
)

DETAILS_KEY = "grpc-status-details-bin"


def cond(pb: types_pb2.Filter) -> types_pb2.FieldCondition:
    assert pb.WhichOneof("kind") == "condition"
    return pb.condition


# -- filter builder ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "op"),
    [
        (F("x") == 1, types_pb2.FILTER_OPERATOR_EQ),
        (F("x") != 1, types_pb2.FILTER_OPERATOR_NE),
        (F("x") > 1, types_pb2.FILTER_OPERATOR_GT),
        (F("x") >= 1, types_pb2.FILTER_OPERATOR_GTE),
        (F("x") < 1, types_pb2.FILTER_OPERATOR_LT),
        (F("x") <= 1, types_pb2.FILTER_OPERATOR_LTE),
    ],
)
def test_comparison_operators(expr: vectorgate.FilterExpr, op: int) -> None:
    c = cond(to_filter_proto(expr))
    assert c.field == "x"
    assert c.op == op
    assert c.value.WhichOneof("kind") == "int_value"
    assert c.value.int_value == 1


def test_reflected_comparison_keeps_the_field_on_the_left() -> None:
    c = cond(to_filter_proto(2000 <= F("year")))  # noqa: SIM300  # Python calls F("year") >= 2000
    assert (c.field, c.op, c.value.int_value) == ("year", types_pb2.FILTER_OPERATOR_GTE, 2000)


def test_list_and_contains_operators() -> None:
    c = cond(to_filter_proto(F("tag").is_in(["a", "b"])))
    assert c.op == types_pb2.FILTER_OPERATOR_IN
    assert [v.string_value for v in c.value.list_value.values] == ["a", "b"]

    c = cond(to_filter_proto(F("n").not_in((1, 2, 3))))
    assert c.op == types_pb2.FILTER_OPERATOR_NIN
    assert [v.int_value for v in c.value.list_value.values] == [1, 2, 3]

    c = cond(to_filter_proto(F("tags").contains("x")))
    assert c.op == types_pb2.FILTER_OPERATOR_CONTAINS
    assert c.value.string_value == "x"


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (True, "bool_value", True),
        (False, "bool_value", False),
        (0, "int_value", 0),
        (1, "int_value", 1),
        (2**63 - 1, "int_value", 2**63 - 1),
        (-(2**63), "int_value", -(2**63)),
        (1.0, "float_value", 1.0),
        (0.5, "float_value", 0.5),
        ("1", "string_value", "1"),
        (np.int64(7), "int_value", 7),
        (np.float32(0.5), "float_value", 0.5),
        (np.bool_(True), "bool_value", True),
    ],
)
def test_value_types_bool_before_int(value: Any, kind: str, expected: Any) -> None:
    v = cond(to_filter_proto(F("x") == value)).value
    assert v.WhichOneof("kind") == kind
    assert getattr(v, kind) == expected
    assert type(getattr(v, kind)) is type(expected)


def test_bools_in_a_list_stay_bools() -> None:
    values = cond(to_filter_proto(F("x").is_in([True, 1, 1.5]))).value.list_value.values
    assert [v.WhichOneof("kind") for v in values] == ["bool_value", "int_value", "float_value"]


def test_large_int_stays_exact() -> None:
    big = 2**53 + 1  # not representable as a double
    assert cond(to_filter_proto(F("x") == big)).value.int_value == big


def test_nesting_and_flattening() -> None:
    a, b, c, d = F("a") == 1, F("b") == 2, F("c") == 3, F("d") == 4
    pb = to_filter_proto((a & b & c) | ~d)
    assert pb.WhichOneof("kind") == "any_of"
    left, right = pb.any_of.filters
    assert [cond(f).field for f in left.all_of.filters] == ["a", "b", "c"]  # flattened
    assert right.WhichOneof("kind") == "negate"
    assert cond(right.negate).field == "d"
    # (a | b) | (c | d) is one OR of four; a & (b | c) keeps the OR nested.
    assert len(to_filter_proto((a | b) | (c | d)).any_of.filters) == 4
    mixed = to_filter_proto(a & (b | c))
    assert [f.WhichOneof("kind") for f in mixed.all_of.filters] == ["condition", "any_of"]
    assert to_filter_proto(~~a).negate.negate == to_filter_proto(a)


def test_dict_form_matches_builder() -> None:
    built = (F("genre") == "sci-fi") & ((F("year") >= 2000) | ~F("tags").contains("draft"))
    as_dict = {
        "and": [
            {"field": "genre", "op": "eq", "value": "sci-fi"},
            {
                "or": [
                    {"field": "year", "op": "gte", "value": 2000},
                    {"not": {"field": "tags", "op": "contains", "value": "draft"}},
                ]
            },
        ]
    }
    assert to_filter_proto(as_dict) == to_filter_proto(built)
    assert built.to_dict() == as_dict
    assert filter_to_dict(to_filter_proto(built)) == as_dict


@pytest.mark.parametrize("op", ["eq", "ne", "gt", "gte", "lt", "lte", "contains"])
def test_dict_form_every_scalar_op(op: str) -> None:
    pb = to_filter_proto({"field": "f", "op": op, "value": "v" if op == "contains" else 3})
    assert pb.condition.op == types_pb2.FilterOperator.Value(f"FILTER_OPERATOR_{op.upper()}")


@pytest.mark.parametrize("op", ["in", "nin"])
def test_dict_form_list_ops(op: str) -> None:
    pb = to_filter_proto({"field": "f", "op": op, "value": [1, 2]})
    assert pb.condition.op == types_pb2.FilterOperator.Value(f"FILTER_OPERATOR_{op.upper()}")
    assert [v.int_value for v in pb.condition.value.list_value.values] == [1, 2]
    assert filter_to_dict(pb) == {"field": "f", "op": op, "value": [1, 2]}


def test_filter_message_passes_through() -> None:
    pb = to_filter_proto(F("a") == 1)
    assert to_filter_proto(pb) is pb


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ({"field": "a", "op": "like", "value": 1}, ValueError, "unknown filter op 'like'"),
        ({"field": "a", "op": "eq"}, ValueError, "exactly the keys"),
        ({"and": [], "or": []}, ValueError, "exactly the keys"),
        ({"and": []}, ValueError, "filter.and: 'and' needs at least one filter"),
        ({"or": {"field": "a"}}, TypeError, "filter.or: expected a list of filters"),
        ({"not": [1]}, TypeError, "filter.not: expected a filter"),
        ({"field": "a", "op": "in", "value": 1}, TypeError, "takes a list of values"),
        ({"field": "a", "op": "eq", "value": [1]}, TypeError, "got list"),
        ({"field": "a", "op": "eq", "value": None}, TypeError, "got None"),
        ({"field": "a", "op": "eq", "value": {"b": 1}}, TypeError, "got dict"),
        ({"field": "a", "op": "in", "value": [[1]]}, TypeError, "got list"),
        ({"field": "", "op": "eq", "value": 1}, TypeError, "non-empty str"),
        ({"field": 3, "op": "eq", "value": 1}, TypeError, "non-empty str"),
        ({"field": "a", "op": "eq", "value": 2**63}, ValueError, "does not fit in 64 bits"),
        (
            {"and": [{"field": "a", "op": "eq", "value": 1}, {"x": 1}]},
            ValueError,
            "filter.and[1]: a filter dict",
        ),
        ("year >= 2000", TypeError, "expected a filter built with F(...) or a dict, got str"),
        (F("a"), TypeError, "F('a') is a field, not a filter"),
    ],
)
def test_bad_filters_raise_clearly(bad: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        to_filter_proto(bad)
    assert message in str(info.value)


def test_builder_misuse_raises() -> None:
    with pytest.raises(TypeError, match="takes a list of values, got str"):
        F("tag").is_in("abc")
    with pytest.raises(TypeError, match="takes a list of values, got int"):
        F("tag").not_in(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got None"):
        F("a") == None  # noqa: B015, E711
    with pytest.raises(TypeError, match="non-empty field name"):
        F("")
    with pytest.raises(TypeError, match="no truth value"):
        _ = (F("a") == 1) and (F("b") == 2)
    with pytest.raises(TypeError, match="no truth value"):
        _ = 1 < F("a") < 5
    with pytest.raises(TypeError):
        _ = (F("a") == 1) & {"field": "b", "op": "eq", "value": 2}  # type: ignore[operator]


def test_parse_filter_round_trips_through_dict() -> None:
    expr = ((F("a") == 1.5) | F("b").not_in(["x"])) & ~(F("c") != True)  # noqa: E712
    assert parse_filter(expr.to_dict()) == expr


# -- vectors -------------------------------------------------------------------------------


def test_vector_is_packed_little_endian_float32() -> None:
    values = [1.0, -2.5, 3.25, 0.0]
    pb = pack_vector(values)
    assert pb.packed == struct.pack("<4f", *values)
    assert not pb.values
    assert unpack_vector(pb) == values


def test_vector_packing_from_numpy_of_any_dtype_and_byte_order() -> None:
    expected = struct.pack("<3f", 0.5, 1.5, -4.0)
    for dtype in ("<f4", ">f4", "<f8", ">f8", "float16"):
        assert pack_vector(np.array([0.5, 1.5, -4.0], dtype=dtype)).packed == expected
    assert pack_vector([1, 2]).packed == struct.pack("<2f", 1, 2)  # ints become floats


def test_vector_round_trip_is_float32_exact() -> None:
    rng = np.random.default_rng(0)
    original = rng.standard_normal(384).astype(np.float32)
    restored = unpack_vector(types_pb2.Vector.FromString(pack_vector(original).SerializeToString()))
    assert np.array_equal(np.array(restored, dtype=np.float32), original)
    assert all(type(x) is float for x in restored)


def test_unpack_repeated_values_and_bad_packed_length() -> None:
    assert unpack_vector(types_pb2.Vector(values=[1.0, 2.0])) == [1.0, 2.0]
    with pytest.raises(ValueError, match="not a multiple of 4"):
        unpack_vector(types_pb2.Vector(packed=b"\x00" * 6))


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]], np.zeros((2, 2))])
def test_bad_vector_shapes_raise(bad: Any) -> None:
    with pytest.raises(ValueError, match="non-empty 1-D"):
        pack_vector(bad)


# -- Struct <-> dict -----------------------------------------------------------------------


def test_struct_to_dict_restores_integers() -> None:
    pb = struct_pb2.Struct()
    pb.update(
        {
            "year": 1979,
            "rating": 7.5,
            "whole_float": 3.0,
            "negative": -12,
            "flag": True,
            "name": "Alien",
            "tags": ["a", "b"],
            "counts": [1, 2.5],
            "nested": {"n": 4},
            "none": None,
            "huge": 1e300,
        }
    )
    restored = struct_to_dict(pb)
    assert restored == {
        "year": 1979,
        "rating": 7.5,
        "whole_float": 3,
        "negative": -12,
        "flag": True,
        "name": "Alien",
        "tags": ["a", "b"],
        "counts": [1, 2.5],
        "nested": {"n": 4},
        "none": None,
        "huge": 1e300,
    }
    assert type(restored["year"]) is int
    assert type(restored["negative"]) is int
    assert type(restored["counts"][0]) is int
    assert type(restored["nested"]["n"]) is int
    assert type(restored["flag"]) is bool
    assert type(restored["rating"]) is float
    assert type(restored["huge"]) is float  # beyond 2**53 a number stays a float


def test_dict_to_struct_types_and_errors() -> None:
    pb = dict_to_struct({"b": True, "i": np.int64(3), "f": np.float32(0.5), "l": ("x", 1)})
    assert pb.fields["b"].WhichOneof("kind") == "bool_value"
    assert struct_to_dict(pb) == {"b": True, "i": 3, "f": 0.5, "l": ["x", 1]}
    with pytest.raises(TypeError, match=r"metadata\.when: expected a str, number"):
        dict_to_struct({"when": object()})
    with pytest.raises(TypeError, match="keys must be str"):
        dict_to_struct({1: "x"})  # type: ignore[dict-item]


# -- documents -----------------------------------------------------------------------------


def test_document_dict_and_dataclass_convert_alike() -> None:
    as_dict = {"id": "a", "text": "hi", "vector": np.array([1.0, 2.0]), "metadata": {"y": 1}}
    as_dataclass = vectorgate.Document("a", "hi", [1.0, 2.0], {"y": 1})
    pb1, pb2 = types_pb2.Document(), types_pb2.Document()
    fill_document(pb1, as_dict)
    fill_document(pb2, as_dataclass)
    assert pb1 == pb2
    assert pb1.vector.packed == struct.pack("<2f", 1.0, 2.0)
    assert document_from_proto(pb1) == as_dataclass


def test_document_without_vector_leaves_it_unset() -> None:
    pb = types_pb2.Document()
    fill_document(pb, {"id": "a", "text": "embed me"})
    assert not pb.HasField("vector")
    assert document_from_proto(pb) == vectorgate.Document("a", "embed me")


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ({"text": "x"}, ValueError, "documents[0]: 'id' is required"),
        ({"id": "a", "meta": {}}, ValueError, "unknown key(s) ['meta']"),
        ({"id": 1}, TypeError, "documents[0].id: expected a str, got int"),
        ({"id": "a", "text": 3}, TypeError, "documents[0].text: expected a str"),
        ({"id": "a", "vector": [[1.0]]}, ValueError, "documents[0].vector: a vector must be"),
        ({"id": "a", "metadata": {"k": object()}}, TypeError, "documents[0].metadata.k"),
        ("a", TypeError, "documents[0]: expected a Document or a dict, got str"),
    ],
)
def test_bad_documents_raise_with_their_position(bad: Any, error: type, message: str) -> None:
    builder = BatchBuilder(upsert_service_pb2.UpsertDocumentsRequest, 10)
    with pytest.raises(error) as info:
        list(iter_batches([bad], builder))
    assert message in str(info.value)


def test_batches_split_client_side() -> None:
    builder = BatchBuilder(lambda: upsert_service_pb2.UpsertDocumentsRequest(collection="c"), 2)
    docs = ({"id": str(i)} for i in range(5))
    batches = list(iter_batches(docs, builder))
    assert [[d.id for d in b.documents] for b in batches] == [["0", "1"], ["2", "3"], ["4"]]
    assert all(b.collection == "c" for b in batches)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        BatchBuilder(upsert_service_pb2.UpsertDocumentsRequest, 0)
    with pytest.raises(TypeError, match="got a single dict"):
        list(iter_batches({"id": "a"}, builder))  # type: ignore[dict-item]


def test_metric_names() -> None:
    assert metric_to_proto("cosine") == types_pb2.DISTANCE_METRIC_COSINE
    assert metric_to_proto("L2") == types_pb2.DISTANCE_METRIC_L2
    assert metric_to_proto("ip") == types_pb2.DISTANCE_METRIC_INNER_PRODUCT
    with pytest.raises(ValueError, match="metric must be one of cosine, l2, ip"):
        metric_to_proto("dot")


# -- error translation ---------------------------------------------------------------------


def rich_status(code: int = code_pb2.INVALID_ARGUMENT, message: str = "bad") -> status_pb2.Status:
    status = status_pb2.Status(code=code, message=message)
    status.details.add().Pack(
        error_details_pb2.ErrorInfo(
            reason="DIMENSION_MISMATCH",
            domain="vectorgate.dev",
            metadata={"field": "documents[3].vector", "expected": "384", "actual": "3"},
        )
    )
    status.details.add().Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field="documents[3].vector", description="dimension 3, expected 384"
                )
            ]
        )
    )
    return status


class FakeRpcError(grpc.RpcError, grpc.Call):
    """What a sync stub raises: an RpcError that is also a finished Call."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: tuple[Any, ...]) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[Any, ...]:
        return self._trailing

    def initial_metadata(self) -> tuple[Any, ...]:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float:
        return 0.0

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


def assert_dimension_mismatch(err: errors.VectorgateError, message: str = "bad") -> None:
    assert type(err) is errors.InvalidArgumentError
    assert isinstance(err, vectorgate.VectorgateError)
    assert err.code is grpc.StatusCode.INVALID_ARGUMENT
    assert err.message == message
    assert err.reason == "DIMENSION_MISMATCH"
    assert err.field == "documents[3].vector"
    assert err.metadata == {"field": "documents[3].vector", "expected": "384", "actual": "3"}
    assert err.violations == (
        errors.FieldViolation("documents[3].vector", "dimension 3, expected 384"),
    )
    assert str(err) == (
        f"INVALID_ARGUMENT: {message} (reason=DIMENSION_MISMATCH, field=documents[3].vector)"
    )


def test_sync_error_translation() -> None:
    trailing = (("other", "x"), (DETAILS_KEY, rich_status().SerializeToString()))
    err = errors.from_rpc_error(FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "bad", trailing))
    assert_dimension_mismatch(err)


def test_sync_error_translation_when_message_differs_from_details() -> None:
    # grpc_status.from_call rejects this; the trailer is still decoded.
    trailing = ((DETAILS_KEY, rich_status(message="inner").SerializeToString()),)
    err = errors.from_rpc_error(FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "outer", trailing))
    assert_dimension_mismatch(err, message="inner")


def test_aio_error_translation() -> None:
    trailing = grpc.aio.Metadata((DETAILS_KEY, rich_status().SerializeToString()))
    aio_error = grpc.aio.AioRpcError(
        grpc.StatusCode.INVALID_ARGUMENT, grpc.aio.Metadata(), trailing, "bad", None
    )
    assert_dimension_mismatch(errors.from_rpc_error(aio_error))


def test_error_without_rich_status() -> None:
    err = errors.from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connect failed", ()))
    assert type(err) is errors.UnavailableError
    assert (err.message, err.reason, err.field, err.metadata) == ("connect failed", "", None, {})
    assert str(err) == "UNAVAILABLE: connect failed"
    malformed = ((DETAILS_KEY, b"\xff\xff not a status"),)
    err = errors.from_rpc_error(FakeRpcError(grpc.StatusCode.INTERNAL, "boom", malformed))
    assert (type(err), err.message, err.reason) == (errors.InternalError, "boom", "")


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, errors.InvalidArgumentError),
        (grpc.StatusCode.NOT_FOUND, errors.NotFoundError),
        (grpc.StatusCode.ALREADY_EXISTS, errors.AlreadyExistsError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.ResourceExhaustedError),
        (grpc.StatusCode.FAILED_PRECONDITION, errors.FailedPreconditionError),
        (grpc.StatusCode.UNIMPLEMENTED, errors.UnimplementedError),
        (grpc.StatusCode.UNAVAILABLE, errors.UnavailableError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, errors.DeadlineExceededError),
        (grpc.StatusCode.UNAUTHENTICATED, errors.UnauthenticatedError),
        (grpc.StatusCode.PERMISSION_DENIED, errors.PermissionDeniedError),
        (grpc.StatusCode.INTERNAL, errors.InternalError),
        (grpc.StatusCode.CANCELLED, errors.VectorgateError),
        (grpc.StatusCode.UNKNOWN, errors.VectorgateError),
    ],
)
def test_every_code_maps_to_its_class(code: grpc.StatusCode, cls: type) -> None:
    status = status_pb2.Status(code=code.value[0], message="m")
    trailing = ((DETAILS_KEY, status.SerializeToString()),)
    err = errors.from_rpc_error(FakeRpcError(code, "m", trailing))
    assert type(err) is cls
    assert err.code is code


# -- call plumbing against a fake in-process server ----------------------------------------


def abort_not_found(context: grpc.ServicerContext, name: str) -> None:
    status = status_pb2.Status(code=code_pb2.NOT_FOUND, message=f"collection {name!r} not found")
    status.details.add().Pack(
        error_details_pb2.ErrorInfo(
            reason="COLLECTION_NOT_FOUND", domain="vectorgate.dev", metadata={"field": "name"}
        )
    )
    context.abort_with_status(rpc_status.to_status(status))


class FakeCollections(collection_admin_service_pb2_grpc.CollectionAdminServiceServicer):
    def __init__(self, seen: list[tuple[str, Any, dict[str, Any]]]) -> None:
        self.seen = seen

    def CreateCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.seen.append(("CreateCollection", request, dict(context.invocation_metadata())))
        collection = types_pb2.Collection()
        collection.CopyFrom(request.collection)
        collection.backend = "fake"
        return collection_admin_service_pb2.CreateCollectionResponse(collection=collection)

    def GetCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        abort_not_found(context, request.name)

    def ListCollections(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.seen.append(("ListCollections", request, {}))
        pages = {"": (["a", "b"], "t1"), "t1": (["c"], "t2"), "t2": (["d"], "")}
        names, token = pages[request.page_token]
        return collection_admin_service_pb2.ListCollectionsResponse(
            collections=[types_pb2.Collection(name=n) for n in names], next_page_token=token
        )


class FakeUpsert(upsert_service_pb2_grpc.UpsertServiceServicer):
    def __init__(self, seen: list[tuple[str, Any, dict[str, Any]]]) -> None:
        self.seen = seen
        self.bulk_outcome: list[str] = []
        self.bulk_done = threading.Event()
        # How long to wait, after the request stream ends, for a client
        # cancellation to show (it can arrive just after the end of the stream).
        self.linger = 0.0

    def UpsertDocuments(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.seen.append(("UpsertDocuments", request, dict(context.invocation_metadata())))
        return upsert_service_pb2.UpsertDocumentsResponse(upserted_count=len(request.documents))

    def BulkUpsertDocuments(self, request_iterator: Any, context: grpc.ServicerContext) -> Any:
        count = batches = 0
        try:
            for request in request_iterator:
                if request.collection == "missing":
                    abort_not_found(context, request.collection)
                self.seen.append(("BulkUpsertDocuments", request, {}))
                count += len(request.documents)
                batches += 1
            deadline = time.monotonic() + self.linger
            while context.is_active() and time.monotonic() < deadline:
                time.sleep(0.01)
            self.bulk_outcome.append("completed" if context.is_active() else "cancelled")
        except grpc.RpcError:
            self.bulk_outcome.append("cancelled")
            raise
        finally:
            self.bulk_done.set()
        return upsert_service_pb2.BulkUpsertDocumentsResponse(
            upserted_count=count, batch_count=batches
        )

    def DeleteDocuments(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.seen.append(("DeleteDocuments", request, {}))
        return upsert_service_pb2.DeleteDocumentsResponse()

    def GetDocuments(self, request: Any, context: grpc.ServicerContext) -> Any:
        doc = types_pb2.Document(id=request.ids[0], text="t")
        doc.vector.packed = struct.pack("<2f", 0.5, 0.25)
        doc.metadata.update({"year": 1979, "score": 0.5})
        return upsert_service_pb2.GetDocumentsResponse(documents=[doc])


class FakeSearch(search_service_pb2_grpc.SearchServiceServicer):
    def __init__(self, seen: list[tuple[str, Any, dict[str, Any]]]) -> None:
        self.seen = seen

    def Search(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.seen.append(("Search", request, {}))
        if request.explain:
            explanation = search_service_pb2.SearchExplanation(
                backend="fake", native_filter="year >= 2000"
            )
            explanation.native_params.update({"ef": 64})
            return search_service_pb2.SearchResponse(explanation=explanation)
        hit = types_pb2.Hit(id="a", score=0.5, raw_score=0.25, store="s", collection="c")
        hit.metadata.update({"year": 2001})
        return search_service_pb2.SearchResponse(hits=[hit])


class FakeIndexes(index_admin_service_pb2_grpc.IndexAdminServiceServicer):
    def __init__(self, seen: list[tuple[str, Any, dict[str, Any]]]) -> None:
        self.seen = seen

    def CreateIndex(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.seen.append(("CreateIndex", request, {}))
        index = index_admin_service_pb2.VirtualIndex(
            index_name=request.index_name,
            litellm_params=request.litellm_params,
            policy_filter=request.policy_filter,
            description=request.description,
        )
        index.create_time.FromSeconds(1_700_000_000)
        return index_admin_service_pb2.CreateIndexResponse(index=index)

    def ListIndexes(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.page_token:
            return index_admin_service_pb2.ListIndexesResponse()
        index = index_admin_service_pb2.VirtualIndex(index_name="kb")
        return index_admin_service_pb2.ListIndexesResponse(indexes=[index], next_page_token="p2")


@pytest.fixture(scope="module")
def fake_server() -> Iterator[tuple[str, list[tuple[str, Any, dict[str, Any]]], FakeUpsert]]:
    seen: list[tuple[str, Any, dict[str, Any]]] = []
    upsert = FakeUpsert(seen)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    collection_admin_service_pb2_grpc.add_CollectionAdminServiceServicer_to_server(  # type: ignore[no-untyped-call]
        FakeCollections(seen), server
    )
    upsert_service_pb2_grpc.add_UpsertServiceServicer_to_server(upsert, server)  # type: ignore[no-untyped-call]
    search_service_pb2_grpc.add_SearchServiceServicer_to_server(FakeSearch(seen), server)  # type: ignore[no-untyped-call]
    index_admin_service_pb2_grpc.add_IndexAdminServiceServicer_to_server(FakeIndexes(seen), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", seen, upsert
    server.stop(None)


def test_sync_client_plumbing(fake_server: Any) -> None:
    target, seen, upsert = fake_server
    seen.clear()
    with vectorgate.Client(target, api_key="k1", timeout=10) as client:
        info = client.create_collection(
            "films", dimension=2, metric="l2", index_type="HNSW", index_params={"M": 16}
        )
        assert (info.name, info.metric, info.backend, info.index_params) == (
            "films",
            "l2",
            "fake",
            {"M": 16},
        )
        assert type(info.index_params["M"]) is int
        assert seen[-1][2]["authorization"] == "Bearer k1"

        collections = client.list_collections(page_size=2)
        assert [c.name for c in collections] == ["a", "b", "c", "d"]
        assert all(type(c) is vectorgate.CollectionInfo for c in collections)
        tokens = [r.page_token for name, r, _ in seen if name == "ListCollections"]
        assert tokens == ["", "t1", "t2"]

        docs = [{"id": str(i), "vector": [float(i), 0.0]} for i in range(5)]
        assert client.upsert("films", docs, batch_size=2) == 5
        batches = [r for name, r, _ in seen if name == "UpsertDocuments"]
        assert [len(b.documents) for b in batches] == [2, 2, 1]
        assert batches[0].documents[1].vector.packed == struct.pack("<2f", 1.0, 0.0)
        assert client.upsert("films", []) == 0

        upsert.bulk_outcome.clear()
        assert client.bulk_upsert("films", iter(docs), batch_size=2) == 5
        assert upsert.bulk_outcome == ["completed"]
        assert client.bulk_upsert("films", []) == 0

        [doc] = client.get("films", ["x"], include_vectors=True)
        assert doc == vectorgate.Document("x", "t", [0.5, 0.25], {"year": 1979, "score": 0.5})
        assert client.get("films", []) == []

        [hit] = client.search("films", vector=np.array([1.0, 2.0]), filter=F("year") >= 2000)
        assert hit == vectorgate.Hit("a", 0.5, 0.25, "", {"year": 2001}, "s", "c", None)
        request = seen[-1][1]
        assert request.vector.packed == struct.pack("<2f", 1.0, 2.0)
        assert request.filter == to_filter_proto(F("year") >= 2000)

        explanation = client.explain("films", text="q", native_params={"ef": 64})
        assert explanation == vectorgate.Explanation("fake", "year >= 2000", {"ef": 64})

        client.delete("films", ids=("a", "b"), filter={"field": "y", "op": "lt", "value": 3})
        request = seen[-1][1]
        assert list(request.ids) == ["a", "b"]
        assert request.filter == to_filter_proto(F("y") < 3)

        index = client.create_index(
            "kb", collection="films", store="lancedb", policy_filter=F("tenant") == "acme"
        )
        assert (index.index_name, index.collection, index.store) == ("kb", "films", "lancedb")
        assert index.policy_filter == {"field": "tenant", "op": "eq", "value": "acme"}
        assert index.create_time is not None
        assert index.create_time.timestamp() == 1_700_000_000
        assert [i.index_name for i in client.list_indexes()] == ["kb"]

        with pytest.raises(errors.NotFoundError) as info_:
            client.get_collection("missing")
        assert info_.value.reason == "COLLECTION_NOT_FOUND"
        assert info_.value.field == "name"
        assert isinstance(info_.value.__cause__, grpc.RpcError)

        with pytest.raises(ValueError, match="exactly one of text= or vector="):
            client.search("films", text="q", vector=[1.0])
        with pytest.raises(ValueError, match="exactly one of text= or vector="):
            client.search("films")
        with pytest.raises(ValueError, match="needs ids, a filter, or both"):
            client.delete("films")
        with pytest.raises(TypeError, match="ids must be a list of str"):
            client.get("films", "abc")


def test_sync_bulk_upsert_cancels_the_stream_on_a_bad_document(fake_server: Any) -> None:
    target, _, upsert = fake_server
    upsert.bulk_outcome.clear()
    upsert.bulk_done.clear()
    upsert.linger = 2.0

    def documents() -> Iterator[dict[str, Any]]:
        yield {"id": "0"}
        yield {"id": "1"}
        yield {"id": 2}  # converted on a gRPC thread, after two batches were sent

    with vectorgate.Client(target, timeout=10) as client:
        with pytest.raises(TypeError, match=r"documents\[2\]\.id: expected a str"):
            client.bulk_upsert("films", documents(), batch_size=1)
        # Checked with the channel still open: closing it would cancel the call anyway.
        assert upsert.bulk_done.wait(5)
    upsert.linger = 0.0
    assert upsert.bulk_outcome == ["cancelled"]  # the stream was cancelled, not half-closed


def test_sync_bulk_upsert_reports_a_server_error(fake_server: Any) -> None:
    target, _, _ = fake_server
    docs = ({"id": str(i)} for i in range(1000))
    with (
        vectorgate.Client(target, timeout=10) as client,
        pytest.raises(errors.NotFoundError, match="collection 'missing' not found") as info,
    ):
        client.bulk_upsert("missing", docs, batch_size=1)
    assert info.value.reason == "COLLECTION_NOT_FOUND"


async def test_async_bulk_upsert_reports_a_server_error(fake_server: Any) -> None:
    target, _, _ = fake_server
    docs = ({"id": str(i)} for i in range(1000))
    async with vectorgate.AsyncClient(target, timeout=10) as client:
        # Writes still in flight when the server ends the call must not turn its
        # status into grpc's "INTERNAL: Internal error from Core" (grpc/grpc#36066).
        with pytest.raises(errors.NotFoundError, match="collection 'missing' not found") as info:
            await client.bulk_upsert("missing", docs, batch_size=100)
    assert info.value.reason == "COLLECTION_NOT_FOUND"


def test_sync_error_from_an_unreachable_server() -> None:
    with (
        vectorgate.Client("127.0.0.1:1", timeout=2) as client,
        pytest.raises(errors.UnavailableError) as info,
    ):
        client.get_collection("x")
    assert info.value.code is grpc.StatusCode.UNAVAILABLE


async def test_async_client_plumbing(fake_server: Any) -> None:
    target, seen, upsert = fake_server
    async with vectorgate.AsyncClient(target, api_key="k2", timeout=10) as client:
        info = await client.create_collection("films", dimension=2)
        assert (info.name, info.metric, info.dimension) == ("films", "cosine", 2)
        assert seen[-1][2]["authorization"] == "Bearer k2"

        collections = await client.list_collections()
        assert [c.name for c in collections] == ["a", "b", "c", "d"]

        docs = [vectorgate.Document(str(i), vector=[1.0, 2.0]) for i in range(3)]
        assert await client.upsert("films", docs, batch_size=2) == 3

        async def agen() -> AsyncIterator[vectorgate.Document]:
            for doc in docs:
                yield doc

        upsert.bulk_outcome.clear()
        assert await client.bulk_upsert("films", agen(), batch_size=2) == 3
        assert await client.bulk_upsert("films", docs) == 3
        assert upsert.bulk_outcome == ["completed", "completed"]

        [hit] = await client.search("films", text="q", top_k=3)
        assert hit.metadata == {"year": 2001}

        with pytest.raises(errors.NotFoundError) as info_:
            await client.get_collection("missing")
        assert (info_.value.reason, info_.value.field) == ("COLLECTION_NOT_FOUND", "name")
        assert isinstance(info_.value.__cause__, grpc.aio.AioRpcError)


async def test_async_bulk_upsert_cancels_the_stream_on_a_bad_document(fake_server: Any) -> None:
    target, _, upsert = fake_server
    upsert.bulk_outcome.clear()
    upsert.bulk_done.clear()
    upsert.linger = 2.0

    async def documents() -> AsyncIterator[dict[str, Any]]:
        yield {"id": "0"}
        yield {"id": "1"}
        yield {"id": "2", "vector": "not a vector"}

    async with vectorgate.AsyncClient(target, timeout=10) as client:
        with pytest.raises(ValueError, match=r"documents\[2\]\.vector"):
            await client.bulk_upsert("films", documents(), batch_size=1)
        # Checked with the channel still open: closing it would cancel the call anyway.
        assert await asyncio.to_thread(upsert.bulk_done.wait, 5)
    upsert.linger = 0.0
    assert upsert.bulk_outcome == ["cancelled"]


def test_public_api() -> None:
    assert vectorgate.__version__ == "0.1.0"
    for name in ("Client", "AsyncClient", "F", "Document", "Hit", "CollectionInfo", "errors"):
        assert hasattr(vectorgate, name)
    assert issubclass(vectorgate.errors.NotFoundError, vectorgate.errors.VectorgateError)


def test_collection_index_status_from_proto() -> None:
    from vectorgate import IndexStatus
    from vectorgate._convert import collection_from_proto
    from vectorgate.v1 import types_pb2

    pb = types_pb2.Collection(name="c", dimension=4)
    assert collection_from_proto(pb).index_status is None  # not reported by the store
    pb.index_status.state = types_pb2.IndexStatus.STATE_BUILDING
    pb.index_status.type = "IVF_SQ"
    pb.index_status.unindexed_rows = 60_000
    pb.index_status.auto_index_min_rows = 50_000
    assert collection_from_proto(pb).index_status == IndexStatus(
        state="building",
        type="IVF_SQ",
        params={},
        indexed_rows=0,
        unindexed_rows=60_000,
        auto_index_min_rows=50_000,
    )
