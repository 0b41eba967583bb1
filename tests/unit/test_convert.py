"""Protobuf <-> domain conversion and its field-path validation."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from google.protobuf import struct_pb2

from vectorgate.v1 import types_pb2 as tpb
from vectorgate_server import convert
from vectorgate_server.domain import And, Condition, Not, Op, Or, OutputFields
from vectorgate_server.errors import InvalidArgument, InvalidFilter, InvalidVector


def cond(field: str, op: int, **value: object) -> tpb.Filter:
    return tpb.Filter(
        condition=tpb.FieldCondition(field=field, op=op, value=tpb.FilterValue(**value))  # type: ignore[arg-type]
    )


def test_vector_values_and_packed_agree() -> None:
    values = [0.5, -1.25, 3.0, 1e-7]
    a = convert.decode_vector(tpb.Vector(values=values), "v")
    b = convert.decode_vector(tpb.Vector(packed=struct.pack("<4f", *values)), "v")
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert np.array_equal(convert.decode_vector(convert.encode_vector(a), "v"), a)


@pytest.mark.parametrize(
    ("vector", "field"),
    [
        (tpb.Vector(), "v"),
        (tpb.Vector(values=[1.0], packed=b"\0\0\0\0"), "v"),
        (tpb.Vector(packed=b"\0\0\0"), "v.packed"),
        (tpb.Vector(values=[1.0, math.nan]), "v.values[1]"),
        (tpb.Vector(packed=struct.pack("<2f", math.inf, 1)), "v.packed[0]"),
    ],
)
def test_bad_vectors_name_the_field(vector: tpb.Vector, field: str) -> None:
    with pytest.raises(InvalidVector) as info:
        convert.decode_vector(vector, "v")
    assert info.value.field == field


def test_metadata_round_trip_and_ints_restored() -> None:
    s = struct_pb2.Struct()
    s.update({"s": "héllo 🌍", "i": 5, "f": 2.5, "b": True, "l": ["a", "b"], "n": None})
    meta = convert.struct_to_metadata(s, "m")
    assert meta == {"s": "héllo 🌍", "i": 5, "f": 2.5, "b": True, "l": ["a", "b"]}
    assert isinstance(meta["i"], int) and isinstance(meta["b"], bool)
    out = struct_pb2.Struct()
    convert.metadata_to_struct(meta, out)
    assert convert.struct_to_metadata(out, "m") == meta


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"nested": {"a": 1}}, "m.nested"),
        ({"l": ["a", 1]}, "m.l[1]"),
        ({"id": "x"}, "m.id"),
        ({"bad key": 1}, "m.bad key"),
    ],
)
def test_bad_metadata(data: dict[str, object], field: str) -> None:
    s = struct_pb2.Struct()
    s.update(data)
    with pytest.raises(InvalidArgument) as info:
        convert.struct_to_metadata(s, "m")
    assert info.value.field == field


def test_filter_tree() -> None:
    pb = tpb.Filter(
        all_of=tpb.FilterList(
            filters=[
                cond("a", tpb.FILTER_OPERATOR_EQ, int_value=2**62),
                tpb.Filter(
                    any_of=tpb.FilterList(
                        filters=[
                            cond("b", tpb.FILTER_OPERATOR_GTE, float_value=1.5),
                            tpb.Filter(negate=cond("c", tpb.FILTER_OPERATOR_EQ, bool_value=True)),
                        ]
                    )
                ),
                cond(
                    "d",
                    tpb.FILTER_OPERATOR_IN,
                    list_value=tpb.FilterValueList(
                        values=[
                            tpb.FilterValue(string_value="x"),
                            tpb.FilterValue(string_value="y"),
                        ]
                    ),
                ),
            ]
        )
    )
    f = convert.filter_from_pb(pb)
    assert f == And(
        (
            Condition("a", Op.EQ, 2**62),
            Or((Condition("b", Op.GTE, 1.5), Not(Condition("c", Op.EQ, True)))),
            Condition("d", Op.IN, ("x", "y")),
        )
    )
    assert convert.filter_from_pb(convert.filter_to_pb(f)) == f


@pytest.mark.parametrize(
    ("pb", "field"),
    [
        (tpb.Filter(), "filter"),
        (tpb.Filter(all_of=tpb.FilterList()), "filter.all_of.filters"),
        (cond("a", tpb.FILTER_OPERATOR_EQ), "filter.condition.value"),
        (cond("a", tpb.FILTER_OPERATOR_LT, bool_value=True), "filter.condition.value"),
        (cond("a", tpb.FILTER_OPERATOR_EQ, float_value=math.nan), "filter.condition.value"),
        (cond("a", tpb.FILTER_OPERATOR_CONTAINS, int_value=1), "filter.condition.value"),
        (cond("id", tpb.FILTER_OPERATOR_GT, int_value=1), "filter.condition.op"),
        (
            cond(
                "a",
                tpb.FILTER_OPERATOR_IN,
                list_value=tpb.FilterValueList(
                    values=[tpb.FilterValue(string_value="x"), tpb.FilterValue(int_value=1)]
                ),
            ),
            "filter.condition.value.list_value",
        ),
        (
            cond("a", tpb.FILTER_OPERATOR_NIN, list_value=tpb.FilterValueList()),
            "filter.condition.value.list_value",
        ),
    ],
)
def test_bad_filters_name_the_field(pb: tpb.Filter, field: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        convert.filter_from_pb(pb)
    assert info.value.field == field


def test_filter_depth_limit() -> None:
    pb = cond("a", tpb.FILTER_OPERATOR_EQ, int_value=1)
    for _ in range(convert.MAX_FILTER_DEPTH + 2):
        pb = tpb.Filter(negate=pb)
    with pytest.raises(InvalidFilter, match="deeper"):
        convert.filter_from_pb(pb)


def test_output_fields() -> None:
    assert convert.output_fields([]) == OutputFields()
    assert convert.output_fields(["vector"]) == OutputFields(
        text=False, vector=True, metadata=False
    )
    of = convert.output_fields(["text", "metadata.a", "metadata.b"])
    assert of.metadata_keys == frozenset({"a", "b"}) and of.text and not of.vector
    assert of.project({"a": 1, "c": 2}) == {"a": 1}
    with pytest.raises(InvalidArgument) as info:
        convert.output_fields(["text", "bogus"])
    assert info.value.field == "output_fields[1]"


def test_collection_index_status_to_pb_and_json() -> None:
    from google.protobuf import json_format

    from vectorgate_server.domain import CollectionInfo, IndexState, IndexStatus, Metric

    info = CollectionInfo(
        name="c",
        dimension=4,
        metric=Metric.COSINE,
        index_status=IndexStatus(
            state=IndexState.READY,
            type="IVF_SQ",
            params={"num_partitions": 8},
            indexed_rows=100,
            unindexed_rows=3,
        ),
    )
    out = tpb.Collection()
    convert.collection_to_pb(info, store="s", backend="lancedb", out=out)
    assert out.index_status.state == tpb.IndexStatus.STATE_READY
    assert (out.index_status.type, out.index_status.indexed_rows) == ("IVF_SQ", 100)
    assert json_format.MessageToDict(out)["indexStatus"] == {
        "state": "STATE_READY",
        "type": "IVF_SQ",
        "params": {"num_partitions": 8.0},
        "indexedRows": "100",
        "unindexedRows": "3",
    }
    # A store that does not report it leaves the field unset.
    bare = tpb.Collection()
    convert.collection_to_pb(
        CollectionInfo(name="c", dimension=4, metric=Metric.COSINE),
        store="s",
        backend="x",
        out=bare,
    )
    assert not bare.HasField("index_status")
