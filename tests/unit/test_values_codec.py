"""The one value codec (vectorgate._values), shared by the client and the server."""

from __future__ import annotations

import orjson
import pytest
from google.protobuf import struct_pb2

from vectorgate import _convert, _values
from vectorgate.v1 import types_pb2, upsert_service_pb2
from vectorgate_server import convert
from vectorgate_server.errors import InvalidArgument
from vectorgate_server.http import jsonpb

TYPED = {
    "ratio": 3.0,
    "count": 3,
    "big": 2**53 + 1,
    "min": -(2**63),
    "max": 2**63 - 1,
    "flag": True,
    "tags": ["a", "b"],
    "empty": [],
    "s": "x",
}


def _types(value: dict[str, object]) -> dict[str, str]:
    return {k: type(v).__name__ for k, v in value.items()}


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (3.0, 3),
        (-7.0, -7),
        (2.0**53 - 1, 2**53 - 1),
        (2.0**53, 2.0**53),  # could be the rounding of 2**53 + 1: stays a float
        (-(2.0**53), -(2.0**53)),
        (2.5, 2.5),
        (1e300, 1e300),
    ],
)
def test_struct_numbers_one_rule_everywhere(number: float, expected: int | float) -> None:
    value = struct_pb2.Value(number_value=number)
    struct = struct_pb2.Struct()
    struct.fields["k"].number_value = number
    # client, server and REST read a Struct number the same way
    for got in (
        _values.struct_value_to_python(value),
        _convert.value_to_python(value),
        convert.struct_to_dict(struct)["k"],
        convert.struct_to_metadata(struct, "m")["k"],
        jsonpb.struct_to_json(struct)["k"],
    ):
        assert got == expected and type(got) is type(expected)


def test_typed_map_round_trip_keeps_types() -> None:
    pb = types_pb2.Document()
    _values.fill_typed_map(pb.typed_metadata, {**TYPED, "dropped": None}, "metadata")
    assert "dropped" not in pb.typed_metadata
    assert pb.typed_metadata["empty"].HasField("list_value")
    wire = types_pb2.Document.FromString(pb.SerializeToString())
    back = _values.typed_map_to_dict(wire.typed_metadata)
    assert back == TYPED and _types(back) == _types(TYPED)
    # the server reads the same values, validated
    meta = convert.document_metadata(wire, "documents[0]")
    assert meta == TYPED and _types(meta) == _types(TYPED)
    # and writes both forms back
    out = types_pb2.Document()
    convert.document_to_pb(convert.domain.Document(id="a", metadata=meta), out)
    assert _convert.document_from_proto(out).metadata == TYPED
    assert _types(_convert.document_from_proto(out).metadata) == _types(TYPED)
    assert out.metadata.fields["count"].number_value == 3.0


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"k": 2**63}, "metadata.k"),
        ({"k": float("nan")}, "metadata.k"),
        ({"k": {"nested": 1}}, "metadata.k"),
        ({"k": [["a"]]}, "metadata.k[0]"),
        ({"k": object()}, "metadata.k"),
    ],
)
def test_codec_errors_name_the_value(value: dict[str, object], path: str) -> None:
    pb = types_pb2.Document()
    with pytest.raises(_values.ValueCodecError) as err:
        _values.fill_typed_map(pb.typed_metadata, value, "metadata")
    assert err.value.path == path
    assert isinstance(err.value, TypeError) and isinstance(err.value, ValueError)


def test_server_refuses_bad_typed_metadata_naming_the_field() -> None:
    doc = types_pb2.Document(id="a")
    doc.typed_metadata["tags"].list_value.values.add(int_value=1)
    with pytest.raises(InvalidArgument) as err:
        convert.document_metadata(doc, "documents[2]")
    assert err.value.field == "documents[2].metadata.tags[0]"
    unset = types_pb2.Document(id="a")
    unset.typed_metadata["k"].SetInParent()
    with pytest.raises(InvalidArgument) as err:
        convert.document_metadata(unset, "documents[0]")
    assert err.value.field == "documents[0].metadata.k"


def test_rest_mapping_reads_and_writes_typed_values() -> None:
    raw = (
        b'{"documents": [{"id": "a", "metadata": {"ratio": 3.0, "count": 3, '
        b'"big": 9007199254740993, "min": -9223372036854775808, "max": 9223372036854775807, '
        b'"flag": true, "tags": ["a", "b"], "empty": [], "s": "x", "none": null}}]}'
    )
    request = upsert_service_pb2.UpsertDocumentsRequest()
    jsonpb.parse_into(orjson.loads(raw), request)
    [doc] = request.documents
    assert not doc.metadata.fields
    assert doc.typed_metadata["big"].int_value == 2**53 + 1
    assert doc.typed_metadata["ratio"].WhichOneof("kind") == "float_value"
    out = orjson.dumps(jsonpb.to_dict(request))
    assert b'"ratio":3.0' in out and b'"big":9007199254740993' in out
    assert b'"min":-9223372036854775808' in out and b"typed_metadata" not in out
    assert orjson.loads(out)["documents"][0]["metadata"] == TYPED
    # A Struct-only message (an older server's answer) still prints as before.
    legacy = types_pb2.Document(id="b")
    legacy.metadata.update({"year": 1979, "f": 0.5})
    assert jsonpb.to_dict(legacy)["metadata"] == {"year": 1979, "f": 0.5}
    # Too big for int64, and both forms at once, are 400s naming the field.
    with pytest.raises(InvalidArgument) as err:
        jsonpb.parse_into({"documents": [{"id": "a", "metadata": {"k": 2**64}}]}, request)
    assert err.value.field == "documents[0].metadata.k"
    with pytest.raises(InvalidArgument) as err:
        jsonpb.parse_into(
            {
                "documents": [
                    {"id": "a", "metadata": {"k": 1}, "typed_metadata": {"j": {"int_value": "2"}}}
                ]
            },
            upsert_service_pb2.UpsertDocumentsRequest(),
        )
    assert err.value.field == "documents[0].metadata"
