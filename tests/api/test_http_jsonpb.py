"""Transcoding machinery on a synthetic service: path templates, bindings, the protobuf JSON
mapping both ways, and a new RPC served with no HTTP code of its own."""

from __future__ import annotations

import base64
import math
from typing import Any

import httpx
import pytest
from google.api import annotations_pb2, http_pb2
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    field_mask_pb2,
    json_format,
    message,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from openapi_spec_validator import validate
from starlette.routing import Route, Router

from vectorgate.v1 import types_pb2
from vectorgate_server.errors import InvalidArgument
from vectorgate_server.http.common import AsgiEndpoint
from vectorgate_server.http.jsonpb import parse_into, to_dict
from vectorgate_server.http.openapi import build_document
from vectorgate_server.http.transcode import all_bindings, compile_template, endpoint_for
from vectorgate_server.services.registry import CallContext, Permission, Rpc

FDP = descriptor_pb2.FieldDescriptorProto

# --------------------------------------------------------------------------- a synthetic API


def _field(
    name: str,
    number: int,
    kind: int,
    *,
    type_name: str = "",
    repeated: bool = False,
    oneof: int | None = None,
    optional: bool = False,
) -> FDP:
    out = FDP(
        name=name,
        number=number,
        type=kind,  # type: ignore[arg-type]
        label=FDP.LABEL_REPEATED if repeated else FDP.LABEL_OPTIONAL,
        json_name="".join(p.capitalize() if i else p for i, p in enumerate(name.split("_"))),
    )
    if type_name:
        out.type_name = type_name
    if oneof is not None:
        out.oneof_index = oneof
    if optional:
        out.proto3_optional = True
    return out


def _map_entry(
    name: str, key: int, value: int, value_type: str = ""
) -> descriptor_pb2.DescriptorProto:
    entry = descriptor_pb2.DescriptorProto(name=name)
    entry.options.map_entry = True
    entry.field.append(_field("key", 1, key))
    entry.field.append(_field("value", 2, value, type_name=value_type))
    return entry


def _build_file() -> descriptor_pb2.FileDescriptorProto:
    f = descriptor_pb2.FileDescriptorProto(
        name="vgtest/v1/library.proto",
        package="vgtest.v1",
        syntax="proto3",
        dependency=[
            "google/api/annotations.proto",
            "google/protobuf/timestamp.proto",
            "google/protobuf/duration.proto",
            "google/protobuf/wrappers.proto",
            "google/protobuf/struct.proto",
            "google/protobuf/field_mask.proto",
        ],
    )
    color = f.enum_type.add(name="Color")
    color.value.add(name="COLOR_UNSPECIFIED", number=0)
    color.value.add(name="COLOR_RED", number=1)
    shelf = f.message_type.add(name="Shelf")
    shelf.field.append(_field("name", 1, FDP.TYPE_STRING))
    shelf.field.append(_field("store", 2, FDP.TYPE_STRING))
    book = f.message_type.add(name="Book")
    scalars = [
        ("name", FDP.TYPE_STRING),
        ("i32", FDP.TYPE_INT32),
        ("i64", FDP.TYPE_INT64),
        ("u32", FDP.TYPE_UINT32),
        ("u64", FDP.TYPE_UINT64),
        ("s32", FDP.TYPE_SINT32),
        ("f64", FDP.TYPE_FIXED64),
        ("f", FDP.TYPE_FLOAT),
        ("d", FDP.TYPE_DOUBLE),
        ("b", FDP.TYPE_BOOL),
        ("raw", FDP.TYPE_BYTES),
    ]
    for n, (name, kind) in enumerate(scalars, start=1):
        book.field.append(_field(name, n, kind))
    book.field.append(_field("color", 12, FDP.TYPE_ENUM, type_name=".vgtest.v1.Color"))
    book.field.append(_field("tags", 13, FDP.TYPE_STRING, repeated=True))
    book.field.append(_field("nums", 14, FDP.TYPE_INT64, repeated=True))
    book.nested_type.append(_map_entry("CountsEntry", FDP.TYPE_STRING, FDP.TYPE_INT32))
    book.field.append(
        _field(
            "counts", 15, FDP.TYPE_MESSAGE, type_name=".vgtest.v1.Book.CountsEntry", repeated=True
        )
    )
    book.nested_type.append(
        _map_entry("ByIdEntry", FDP.TYPE_INT64, FDP.TYPE_MESSAGE, ".vgtest.v1.Shelf")
    )
    book.field.append(
        _field("by_id", 16, FDP.TYPE_MESSAGE, type_name=".vgtest.v1.Book.ByIdEntry", repeated=True)
    )
    book.field.append(_field("shelf", 17, FDP.TYPE_MESSAGE, type_name=".vgtest.v1.Shelf"))
    book.field.append(
        _field("shelves", 18, FDP.TYPE_MESSAGE, type_name=".vgtest.v1.Shelf", repeated=True)
    )
    book.oneof_decl.add(name="pick")
    book.field.append(_field("title", 19, FDP.TYPE_STRING, oneof=0))
    book.field.append(_field("home", 20, FDP.TYPE_MESSAGE, type_name=".vgtest.v1.Shelf", oneof=0))
    book.field.append(_field("when", 21, FDP.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp"))
    book.field.append(_field("took", 22, FDP.TYPE_MESSAGE, type_name=".google.protobuf.Duration"))
    book.field.append(
        _field("maybe", 23, FDP.TYPE_MESSAGE, type_name=".google.protobuf.Int32Value")
    )
    book.nested_type.append(_map_entry("FlagsEntry", FDP.TYPE_BOOL, FDP.TYPE_STRING))
    book.field.append(
        _field("flags", 24, FDP.TYPE_MESSAGE, type_name=".vgtest.v1.Book.FlagsEntry", repeated=True)
    )
    book.field.append(_field("extra", 25, FDP.TYPE_MESSAGE, type_name=".google.protobuf.Struct"))
    book.field.append(_field("any_value", 26, FDP.TYPE_MESSAGE, type_name=".google.protobuf.Value"))
    book.field.append(_field("mask", 27, FDP.TYPE_MESSAGE, type_name=".google.protobuf.FieldMask"))
    book.oneof_decl.add(name="_note")
    book.field.append(_field("note", 28, FDP.TYPE_STRING, oneof=1, optional=True))

    get = f.message_type.add(name="GetBookRequest")
    get.field.append(_field("name", 1, FDP.TYPE_STRING))
    get.field.append(_field("target", 2, FDP.TYPE_MESSAGE, type_name=".vgtest.v1.Shelf"))
    get.field.append(_field("full", 3, FDP.TYPE_BOOL))
    get.field.append(_field("color", 4, FDP.TYPE_ENUM, type_name=".vgtest.v1.Color"))
    get.field.append(_field("fields", 5, FDP.TYPE_STRING, repeated=True))
    get.field.append(_field("since", 6, FDP.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp"))
    get.field.append(_field("limit", 7, FDP.TYPE_INT64))
    update = f.message_type.add(name="UpdateBookRequest")
    update.field.append(_field("name", 1, FDP.TYPE_STRING))
    update.field.append(_field("book", 2, FDP.TYPE_MESSAGE, type_name=".vgtest.v1.Book"))

    service = f.service.add(name="Library")
    m = service.method.add(
        name="GetBook", input_type=".vgtest.v1.GetBookRequest", output_type=".vgtest.v1.Book"
    )
    rule = http_pb2.HttpRule(get="/v1/{name=shelves/*/books/*}")
    rule.additional_bindings.add(get="/v1/stores/{target.store}/shelves/{target.name}/book")
    m.options.Extensions[annotations_pb2.http].CopyFrom(rule)
    m = service.method.add(
        name="UpdateBook",
        input_type=".vgtest.v1.UpdateBookRequest",
        output_type=".vgtest.v1.UpdateBookRequest",
    )
    rule = http_pb2.HttpRule(
        patch="/v1/{name=shelves/*/books/*}:touch", body="book", response_body="book"
    )
    m.options.Extensions[annotations_pb2.http].CopyFrom(rule)
    return f


_pool = descriptor_pool.Default()
try:
    FILE = _pool.FindFileByName("vgtest/v1/library.proto")
except KeyError:
    FILE = _pool.Add(_build_file())
Book = message_factory.GetMessageClass(FILE.message_types_by_name["Book"])
Shelf = message_factory.GetMessageClass(FILE.message_types_by_name["Shelf"])
GetBookRequest = message_factory.GetMessageClass(FILE.message_types_by_name["GetBookRequest"])
UpdateBookRequest = message_factory.GetMessageClass(FILE.message_types_by_name["UpdateBookRequest"])


class Library:
    """Echo handlers: what the transcoder built is what comes back."""

    async def GetBook(self, request: Any, ctx: CallContext) -> message.Message:
        book = Book(name=request.name, b=request.full, color=request.color)
        book.tags.extend(request.fields)
        book.shelf.CopyFrom(request.target)
        book.i64 = request.limit
        if request.HasField("since"):
            book.when.CopyFrom(request.since)
        return book

    async def UpdateBook(self, request: Any, ctx: CallContext) -> message.Message:
        return UpdateBookRequest(name=request.name, book=request.book)


def _rpcs() -> list[Rpc]:
    service = FILE.services_by_name["Library"]
    impl = Library()
    return [
        Rpc(
            service=service.full_name,
            method=method.name,
            descriptor=method,
            request_type=message_factory.GetMessageClass(method.input_type),
            response_type=message_factory.GetMessageClass(method.output_type),
            client_streaming=False,
            handler=getattr(impl, method.name),
            permission=Permission.READ,
        )
        for method in service.methods
    ]


@pytest.fixture
def library() -> httpx.AsyncClient:
    bindings = all_bindings(_rpcs())
    router = Router(
        routes=[
            Route(
                b.route_path, AsgiEndpoint(endpoint_for(b, max_body_bytes=4096)), methods=[b.method]
            )
            for b in bindings
        ]
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=router), base_url="http://t")


# --------------------------------------------------------------------------- templates


def test_compile_template() -> None:
    route, api, variables = compile_template("/v1/collections/{collection}:search")
    assert api == "/v1/collections/{collection}:search"
    assert [v[1] for v in variables] == ["collection"]
    assert route.startswith("/v1/collections/{p0:vg") and route.endswith("}:search")
    route, api, variables = compile_template("/v1/{name=shelves/*/books/**}/x/*")
    assert api == "/v1/{name}/x/{w0}"
    assert variables == [("p0", "name")]
    for bad in ("v1/x", "/v1/{unclosed", "/v1/{a-b}", "/v1/x}", "/v1/{n=a/{b}}"):
        with pytest.raises(ValueError, match="http rule"):
            compile_template(bad)


async def test_a_new_rpc_is_served_from_its_rule_alone(library: httpx.AsyncClient) -> None:
    async with library as client:
        r = await client.get(
            "/v1/shelves/s1/books/b2",
            params=[
                ("full", "true"),
                ("color", "COLOR_RED"),
                ("fields", "a"),
                ("fields", "b"),
                ("target.store", "x"),
                ("since", "2024-01-02T03:04:05Z"),
                ("limit", "9007199254740993"),
            ],
        )
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["name"] == "shelves/s1/books/b2"
        assert got["b"] is True and got["color"] == "COLOR_RED"
        assert got["tags"] == ["a", "b"]
        assert got["shelf"] == {"name": "", "store": "x"}
        assert got["when"] == "2024-01-02T03:04:05Z"
        assert got["i64"] == "9007199254740993"  # exact: int64 travels as a string

        r = await client.get("/v1/stores/st/shelves/sh/book", params={"color": "1"})
        assert r.json()["shelf"] == {"name": "sh", "store": "st"}
        assert r.json()["color"] == "COLOR_RED"

        r = await client.get("/v1/shelves/s1/books/b2", params={"full": "maybe"})
        assert r.status_code == 400 and "full: expected true or false" in r.json()["message"]
        r = await client.get("/v1/shelves/s1/books/b2", params={"target": "x"})
        assert r.status_code == 400  # a message cannot come from the URL
        r = await client.get("/v1/stores/st/shelves/sh/book", params={"target.name": "z"})
        assert r.status_code == 400 and "already set by the URL path" in r.text

        # body: "book" and response_body: "book".
        r = await client.patch("/v1/shelves/s1/books/b2:touch", json={"title": "Dune", "i32": 5})
        assert r.status_code == 200, r.text
        assert r.json()["title"] == "Dune" and r.json()["i32"] == 5
        r = await client.patch("/v1/shelves/s1/books/b2:touch", json={"book": {}})
        assert r.status_code == 400 and "unknown field 'book' in Book" in r.text
        r = await client.patch("/v1/shelves/s1/books/b2:touch?name=x", json={})
        assert r.status_code == 400


def test_openapi_of_the_synthetic_service_is_valid() -> None:
    document = build_document(all_bindings(_rpcs()), [], extra_schemas={})
    validate(document)
    get = document["paths"]["/v1/{name}"]["get"]
    names = {p["name"] for p in get["parameters"]}
    assert {"name", "full", "color", "fields", "target.name", "target.store", "limit"} <= names
    book = document["components"]["schemas"]["vgtest.v1.Book"]["properties"]
    assert book["counts"] == {
        "type": "object",
        "additionalProperties": {"type": "integer", "format": "int32"},
    }
    assert book["when"] == {"type": "string", "format": "date-time"}
    assert book["maybe"] == {"type": "integer", "format": "int32"}
    assert book["note"] == {"type": "string"}


# --------------------------------------------------------------------------- JSON mapping


def _full_book() -> Any:
    book = Book(
        name="n",
        i32=-5,
        i64=-(2**62),
        u32=2**32 - 1,
        u64=2**64 - 1,
        s32=-7,
        f64=12,
        f=0.1,
        d=1e300,
        b=True,
        raw=b"\x00\xffbytes",
        color=1,
        title="t",
        note="",
    )
    book.tags.extend(["x", "y"])
    book.nums.extend([1, -2])
    book.counts["a"] = 1
    book.by_id[7].name = "seven"
    book.flags[True] = "yes"
    book.shelf.name = "s"
    book.shelves.add(name="one")
    book.when.FromJsonString("2024-05-06T07:08:09.500Z")
    book.took.FromJsonString("1.5s")
    book.maybe.value = 0
    book.extra.update({"k": [1, "two", None, {"n": 2.5}], "z": True})
    book.any_value.string_value = "v"
    book.mask.FromJsonString("a.b,c")
    return book


def test_round_trip_matches_json_format() -> None:
    book = _full_book()
    ours = to_dict(book)
    theirs = json_format.MessageToDict(
        book, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    assert ours["f"] == pytest.approx(0.1)  # the exact double of the float32
    assert ours["extra"] == {"k": [1, "two", None, {"n": 2.5}], "z": True}
    for key in theirs:
        if key not in ("f", "extra"):
            assert ours[key] == theirs[key], key
    assert ours["note"] == ""  # proto3 optional, set: printed
    again = Book()
    parse_into(ours, again)
    assert again == book
    # json_format reads what we write, and we read what json_format writes.
    assert json_format.ParseDict(ours, Book()) == book
    mine = Book()
    parse_into(json_format.MessageToDict(book), mine)  # lowerCamel names
    assert mine == book


def test_defaults_are_printed_and_unset_messages_omitted() -> None:
    out = to_dict(Book())
    assert out["name"] == "" and out["i64"] == "0" and out["color"] == "COLOR_UNSPECIFIED"
    assert out["tags"] == [] and out["counts"] == {}
    assert "shelf" not in out and "title" not in out and "note" not in out


def test_special_floats() -> None:
    book = Book(d=math.inf, f=-math.inf)
    book.nums.append(1)
    out = to_dict(book)
    assert out["d"] == "Infinity" and out["f"] == "-Infinity"
    assert to_dict(Book(d=math.nan))["d"] == "NaN"
    parsed = Book()
    parse_into({"d": "NaN", "f": "-Infinity"}, parsed)
    assert math.isnan(parsed.d) and parsed.f == -math.inf


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"i32": 2**31}, "i32", "out of range"),
        ({"u32": -1}, "u32", "out of range"),
        ({"u64": "x"}, "u64", "expected an unsigned 64-bit integer"),
        ({"f": 1e39}, "f", "out of range for a 32-bit float"),
        ({"d": "1e999"}, "d", "expected a number"),
        ({"b": 1}, "b", "expected true or false"),
        ({"raw": "a=b"}, "raw", "not valid base64"),
        ({"raw": "abcde"}, "raw", "not valid base64"),
        ({"color": "COLOR_BLUE"}, "color", "unknown value"),
        ({"color": True}, "color", "expected one of"),
        ({"tags": "x"}, "tags", "expected an array"),
        ({"tags": ["x", 1]}, "tags[1]", "expected a string"),
        ({"shelves": [None]}, "shelves[0]", "null is not allowed"),
        ({"shelves": [{"nam": 1}]}, "shelves[0].nam", "unknown field"),
        ({"counts": {"a": "b"}}, "counts['a']", "integer"),
        ({"by_id": {"x": {}}}, "by_id['x']", "integer"),
        ({"flags": {"yes": "x"}}, "flags['yes']", "true or false"),
        ({"title": "t", "home": {}}, "home", "only one of title, home"),
        ({"when": "tomorrow"}, "when", "invalid Timestamp"),
        ({"took": 5}, "took", "expected a string"),
        ({"extra": [1]}, "extra", "expected a JSON object"),
        ({"name": "a", "name_": 1}, "name_", "unknown field"),
        ({"i32": 1, "i32 ": 2}, "i32 ", "unknown field"),
    ],
)
def test_parse_errors_name_the_field(data: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_into(data, Book())
    assert err.value.field == field
    assert words in err.value.message


def test_parse_accepts_the_proto3_json_forms() -> None:
    book = Book()
    parse_into(
        {
            "i64": "-12",
            "u64": 18446744073709551615,
            "i32": 3.0,
            "f": "2.5",
            "d": 1,
            "raw": base64.urlsafe_b64encode(b"\xfb\xff").decode().rstrip("="),
            "color": 1,
            "byId": {"-3": {"name": "m"}},
            "flags": {"false": "no"},
            "maybe": 4,
            "anyValue": None,
            "mask": "x",
            "note": None,
        },
        book,
    )
    assert book.i64 == -12 and book.u64 == 2**64 - 1 and book.i32 == 3
    assert book.raw == b"\xfb\xff" and book.color == 1
    assert book.by_id[-3].name == "m" and book.flags[False] == "no"
    assert book.maybe.value == 4
    assert book.any_value.WhichOneof("kind") == "null_value"
    assert not book.HasField("note")


def test_recursion_is_bounded() -> None:
    deep: dict[str, Any] = {"condition": {"field": "x"}}
    for _ in range(100):
        deep = {"negate": deep}
    with pytest.raises(InvalidArgument, match="nested more than"):
        parse_into(deep, types_pb2.Filter())
    shallow: dict[str, Any] = {"condition": {"field": "x"}}
    for _ in range(10):
        shallow = {"negate": shallow}
    flt = types_pb2.Filter()
    parse_into(shallow, flt)
    assert to_dict(flt) == json_format.MessageToDict(
        flt, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def test_well_known_types_alone() -> None:
    assert to_dict(timestamp_pb2.Timestamp(seconds=1)) == "1970-01-01T00:00:01Z"
    assert to_dict(duration_pb2.Duration(seconds=2)) == "2s"
    assert to_dict(wrappers_pb2.Int64Value(value=5)) == "5"
    assert to_dict(field_mask_pb2.FieldMask(paths=["a"])) == "a"
    value = struct_pb2.Value()
    parse_into([1, "a"], value)
    assert to_dict(value) == [1, "a"]
