"""The protobuf JSON mapping, driven by descriptors, with request field paths in errors.

``google.protobuf.json_format`` is correct but reports type errors without a
usable field path, accepts malformed base64 silently and is slow on large
responses. This module implements the same mapping (proto3 JSON):

* **Parsing** (:func:`parse_into`) accepts the original field name and the
  lowerCamel JSON name, rejects unknown fields, wrong types, out-of-range
  integers, malformed base64 and two members of one oneof, each as an
  :class:`~vectorgate_server.errors.InvalidArgument` naming the field by its
  proto path (``documents[3].vector.packed``). ``null`` means "not set".
* **Serialising** (:func:`to_dict`) uses the original (snake_case) proto
  field names, prints every field without presence (scalars at their
  defaults, empty lists and maps) and omits unset message and oneof fields.
  64-bit integers are strings, enums their value names, bytes standard
  base64, ``Timestamp`` RFC 3339, ``Struct`` a plain JSON object. Floats are
  printed as the exact double of their value, so they compare equal to what a
  gRPC client reads.

Metadata (``Document``, ``Hit``, ``Passage``) is one plain JSON object,
``metadata``, read into and written from the typed ``typed_metadata`` map
with the shared codec (:mod:`vectorgate._values`): an integer stays an
integer (int64, printed exactly as a JSON number) and a number written with
a fraction or exponent stays a float (``3.0`` comes back ``3.0``). The
verbose ``typed_metadata`` member is accepted in requests too.

Conversion plans are built once per message type and cached.
"""

from __future__ import annotations

import base64
import binascii
import keyword
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, cast

from google.protobuf import descriptor, json_format, message, struct_pb2

from vectorgate._values import (
    ValueCodecError,
    fill_typed_map,
    number_from_double,
    typed_map_to_dict,
)

from ..errors import InvalidArgument
from .bodies import join, type_name

FD = descriptor.FieldDescriptor

__all__ = [
    "MAX_FLOAT32",
    "desc_of",
    "enum_of",
    "field_by_name",
    "is_map_field",
    "is_wkt",
    "message_of",
    "metadata_json",
    "parse_into",
    "scalar_kind",
    "struct_to_json",
    "to_dict",
]

MAX_FLOAT32: Final = 3.4028234663852886e38
_INT32_RANGE: Final = (-(2**31), 2**31 - 1)
_UINT32_RANGE: Final = (0, 2**32 - 1)
_INT64_RANGE: Final = (-(2**63), 2**63 - 1)
_UINT64_RANGE: Final = (0, 2**64 - 1)
_SPECIAL_FLOATS: Final = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_BASE64_RE: Final = re.compile(r"[A-Za-z0-9+/\-_]*={0,2}")
#: Deepest message nesting accepted in a request (bounds recursion).
MAX_DEPTH: Final = 64

_STRUCT = "google.protobuf.Struct"
_VALUE = "google.protobuf.Value"
_LIST_VALUE = "google.protobuf.ListValue"
_TIMESTAMP = "google.protobuf.Timestamp"
_DURATION = "google.protobuf.Duration"
_FIELD_MASK = "google.protobuf.FieldMask"
_ANY = "google.protobuf.Any"
_EMPTY = "google.protobuf.Empty"
_WRAPPERS: Final = frozenset(
    f"google.protobuf.{n}Value"
    for n in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)
#: Well-known types with a special JSON form.
WELL_KNOWN: Final = frozenset(
    {_STRUCT, _VALUE, _LIST_VALUE, _TIMESTAMP, _DURATION, _FIELD_MASK, _ANY, _EMPTY} | _WRAPPERS
)


def desc_of(msg: message.Message | type[message.Message]) -> descriptor.Descriptor:
    """The descriptor of a message or message class (typed for the stubs)."""
    return cast(descriptor.Descriptor, msg.DESCRIPTOR)


def message_of(fd: descriptor.FieldDescriptor) -> descriptor.Descriptor:
    """The message type of a message field."""
    if fd.message_type is None:
        raise TypeError(f"{fd.full_name} is not a message field")
    return fd.message_type


def enum_of(fd: descriptor.FieldDescriptor) -> descriptor.EnumDescriptor:
    """The enum type of an enum field."""
    if fd.enum_type is None:
        raise TypeError(f"{fd.full_name} is not an enum field")
    return fd.enum_type


def is_map_field(fd: descriptor.FieldDescriptor) -> bool:
    """Whether the field is a ``map<K, V>``."""
    return bool(
        fd.is_repeated and fd.message_type is not None and fd.message_type.GetOptions().map_entry
    )


def is_wkt(desc: descriptor.Descriptor) -> bool:
    """Whether the message type has a special JSON form (Struct, Timestamp, wrappers, ...)."""
    return desc.full_name in WELL_KNOWN


def scalar_kind(fd: descriptor.FieldDescriptor) -> str:
    """``int32``/``uint32``/``int64``/``uint64``/``float``/``double``/``bool``/``string``/
    ``bytes``/``enum``/``message`` for a field."""
    return _KIND[fd.type]


_KIND: Final[dict[int, str]] = {
    FD.TYPE_INT32: "int32",
    FD.TYPE_SINT32: "int32",
    FD.TYPE_SFIXED32: "int32",
    FD.TYPE_UINT32: "uint32",
    FD.TYPE_FIXED32: "uint32",
    FD.TYPE_INT64: "int64",
    FD.TYPE_SINT64: "int64",
    FD.TYPE_SFIXED64: "int64",
    FD.TYPE_UINT64: "uint64",
    FD.TYPE_FIXED64: "uint64",
    FD.TYPE_FLOAT: "float",
    FD.TYPE_DOUBLE: "double",
    FD.TYPE_BOOL: "bool",
    FD.TYPE_STRING: "string",
    FD.TYPE_BYTES: "bytes",
    FD.TYPE_ENUM: "enum",
    FD.TYPE_MESSAGE: "message",
    FD.TYPE_GROUP: "message",
}


def _fail(path: str, problem: str) -> InvalidArgument:
    where = path or "body"
    return InvalidArgument(f"{where}: {problem}", field=where)


# --------------------------------------------------------------------------- scalar parsers

ScalarParser = Callable[[Any, str], Any]


def _integer(bounds: tuple[int, int], what: str) -> ScalarParser:
    low, high = bounds

    def parse(value: Any, path: str) -> int:
        if isinstance(value, bool):
            raise _fail(path, f"expected {what}, got boolean")
        if isinstance(value, int):
            number = value
        elif isinstance(value, float):
            if not value.is_integer():
                raise _fail(path, f"expected {what}, got {value!r}")
            number = int(value)
        elif isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                raise _fail(path, f"expected {what}, got {value!r}") from None
        else:
            raise _fail(path, f"expected {what}, got {type_name(value)}")
        if not low <= number <= high:
            raise _fail(path, f"{number} is out of range for {what}")
        return number

    return parse


def _floating(single: bool) -> ScalarParser:
    what = "a number (float)" if single else "a number (double)"

    def parse(value: Any, path: str) -> float:
        if isinstance(value, bool):
            raise _fail(path, f"expected {what}, got boolean")
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            special = _SPECIAL_FLOATS.get(value)
            if special is not None:
                return special
            try:
                number = float(value)
            except ValueError:
                raise _fail(path, f"expected {what}, got {value!r}") from None
            if not math.isfinite(number):
                raise _fail(path, f"expected {what}, got {value!r}")
        else:
            raise _fail(path, f"expected {what}, got {type_name(value)}")
        if single and abs(number) > MAX_FLOAT32:
            raise _fail(path, f"{value!r} is out of range for a 32-bit float")
        return number

    return parse


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, f"expected true or false, got {type_name(value)}")
    return value


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"expected a string, got {type_name(value)}")
    return value


def decode_base64(value: Any, path: str) -> bytes:
    """Standard or URL-safe base64, padding optional; anything else is an error."""
    if not isinstance(value, str):
        raise _fail(path, f"expected a base64 string, got {type_name(value)}")
    try:
        return binascii.a2b_base64(value, strict_mode=True)  # the common, fast case
    except (binascii.Error, ValueError):
        pass
    text = value.strip()
    if not _BASE64_RE.fullmatch(text) or len(text.rstrip("=")) % 4 == 1:
        raise _fail(path, "not valid base64")
    text = text.replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _fail(path, "not valid base64") from None


def _enum(enum_type: descriptor.EnumDescriptor) -> ScalarParser:
    names = ", ".join(v.name for v in enum_type.values)

    def parse(value: Any, path: str) -> int:
        if isinstance(value, str):
            found = enum_type.values_by_name.get(value)
            if found is None:
                raise _fail(path, f"unknown value {value!r} (one of {names})")
            return int(found.number)
        if isinstance(value, int) and not isinstance(value, bool):
            if not _INT32_RANGE[0] <= value <= _INT32_RANGE[1]:
                raise _fail(path, f"{value} is out of range for an enum")
            return value
        raise _fail(path, f"expected one of {names}, got {type_name(value)}")

    return parse


_SCALAR_PARSERS: Final[dict[str, ScalarParser]] = {
    "int32": _integer(_INT32_RANGE, "a 32-bit integer"),
    "uint32": _integer(_UINT32_RANGE, "an unsigned 32-bit integer"),
    "int64": _integer(_INT64_RANGE, "a 64-bit integer"),
    "uint64": _integer(_UINT64_RANGE, "an unsigned 64-bit integer"),
    "float": _floating(True),
    "double": _floating(False),
    "bool": _boolean,
    "string": _string,
    "bytes": decode_base64,
}


# --------------------------------------------------------------------------- plans


@dataclass(slots=True)
class _Field:
    fd: descriptor.FieldDescriptor
    name: str
    kind: str
    repeated: bool
    is_map: bool
    oneof: str | None
    parse_scalar: ScalarParser | None
    message_type: descriptor.Descriptor | None
    key: _Field | None = None
    value: _Field | None = None


@dataclass(slots=True)
class _Plan:
    by_key: dict[str, _Field]
    fields: list[_Field]
    oneofs: dict[str, list[str]]
    #: The message has both ``metadata`` (Struct) and ``typed_metadata``: its
    #: JSON ``metadata`` object is read into and written from ``typed_metadata``.
    typed_metadata: bool = False


def _has_typed_metadata(desc: descriptor.Descriptor) -> bool:
    struct = desc.fields_by_name.get("metadata")
    typed = desc.fields_by_name.get("typed_metadata")
    return (
        struct is not None
        and typed is not None
        and struct.message_type is not None
        and struct.message_type.full_name == _STRUCT
        and is_map_field(typed)
    )


_PLANS: dict[str, _Plan] = {}


def _field_plan(fd: descriptor.FieldDescriptor) -> _Field:
    kind = _KIND[fd.type]
    is_map = is_map_field(fd)
    parser: ScalarParser | None
    if kind == "enum":
        parser = _enum(enum_of(fd))
    elif kind == "message":
        parser = None
    else:
        parser = _SCALAR_PARSERS[kind]
    plan = _Field(
        fd=fd,
        name=fd.name,
        kind=kind,
        repeated=fd.is_repeated and not is_map,
        is_map=is_map,
        oneof=(
            fd.containing_oneof.name
            if fd.containing_oneof is not None and not fd.containing_oneof.name.startswith("_")
            else None
        ),
        parse_scalar=parser,
        message_type=fd.message_type,
    )
    if is_map:
        entry = message_of(fd)
        plan.key = _field_plan(entry.fields_by_name["key"])
        plan.value = _field_plan(entry.fields_by_name["value"])
    return plan


def _plan(desc: descriptor.Descriptor) -> _Plan:
    found = _PLANS.get(desc.full_name)
    if found is not None:
        return found
    by_key: dict[str, _Field] = {}
    fields: list[_Field] = []
    oneofs: dict[str, list[str]] = {}
    for fd in desc.fields:
        plan = _field_plan(fd)
        fields.append(plan)
        by_key[fd.name] = plan
        by_key[fd.json_name] = plan
        if plan.oneof is not None:
            oneofs.setdefault(plan.oneof, []).append(fd.name)
    built = _Plan(
        by_key=by_key, fields=fields, oneofs=oneofs, typed_metadata=_has_typed_metadata(desc)
    )
    _PLANS[desc.full_name] = built
    return built


def field_by_name(desc: descriptor.Descriptor, name: str) -> descriptor.FieldDescriptor | None:
    """A field by its proto name or its lowerCamel JSON name."""
    plan = _plan(desc).by_key.get(name)
    return plan.fd if plan is not None else None


# --------------------------------------------------------------------------- parsing


def parse_into(data: Any, msg: message.Message, path: str = "", depth: int = 0) -> None:
    """Merge the JSON value ``data`` (from ``orjson.loads``) into ``msg``."""
    if depth > MAX_DEPTH:
        raise _fail(path, f"nested more than {MAX_DEPTH} messages deep")
    desc = desc_of(msg)
    if desc.full_name in WELL_KNOWN:
        _parse_wkt(data, msg, path)
        return
    if not isinstance(data, dict):
        raise _fail(path, f"expected a JSON object ({desc.name}), got {type_name(data)}")
    plan = _plan(desc)
    seen: dict[str, str] = {}
    oneof_set: dict[str, str] = {}
    for key, value in data.items():
        field = plan.by_key.get(key)
        if field is None:
            known = ", ".join(f.name for f in plan.fields)
            raise _fail(join(path, key), f"unknown field {key!r} in {desc.name} (fields: {known})")
        fpath = join(path, field.name)
        if field.name in seen:
            raise _fail(fpath, f"given twice (as {seen[field.name]!r} and {key!r})")
        seen[field.name] = key
        if value is None and not (
            field.message_type is not None and field.message_type.full_name == _VALUE
        ):
            continue
        if field.oneof is not None and field.oneof in plan.oneofs:
            other = oneof_set.get(field.oneof)
            if other is not None:
                members = ", ".join(plan.oneofs[field.oneof])
                raise _fail(fpath, f"only one of {members} may be set (also got {other!r})")
            oneof_set[field.oneof] = field.name
        if plan.typed_metadata and field.name == "metadata":
            _set_typed_metadata(msg, value, fpath)
            continue
        _set_field(msg, field, value, fpath, depth + 1)
    if plan.typed_metadata and "metadata" in seen and "typed_metadata" in seen:
        raise _fail(join(path, "metadata"), "set metadata or typed_metadata, not both")


def _set_typed_metadata(msg: message.Message, value: Any, path: str) -> None:
    """A JSON ``metadata`` object into ``typed_metadata``: integers stay integers
    (int64, exact), numbers with a fraction or exponent stay floats."""
    if not isinstance(value, dict):
        raise _fail(path, f"expected an object, got {type_name(value)}")
    try:
        fill_typed_map(getattr(msg, "typed_metadata"), value, path)  # noqa: B009
    except ValueCodecError as exc:
        raise _fail(exc.path, exc.problem) from None


def _set_field(msg: message.Message, field: _Field, value: Any, path: str, depth: int) -> None:
    if field.is_map:
        _set_map(msg, field, value, path, depth)
        return
    if field.repeated:
        if not isinstance(value, list):
            raise _fail(path, f"expected an array, got {type_name(value)}")
        target = getattr(msg, field.name)
        if field.kind == "message":
            for i, item in enumerate(value):
                ipath = f"{path}[{i}]"
                if item is None:
                    raise _fail(ipath, "null is not allowed in a list")
                parse_into(item, target.add(), ipath, depth)
            return
        if field.kind in ("float", "double") and all(
            type(item) is float or type(item) is int for item in value
        ):
            target.extend(value)  # fast path for vectors: no per-item Python checks
            return
        parser = field.parse_scalar
        assert parser is not None
        target.extend([parser(item, f"{path}[{i}]") for i, item in enumerate(value)])
        return
    if field.kind == "message":
        sub = getattr(msg, field.name)
        parse_into(value, sub, path, depth)
        sub.SetInParent()
        return
    parser = field.parse_scalar
    assert parser is not None
    setattr(msg, field.name, parser(value, path))


def _set_map(msg: message.Message, field: _Field, value: Any, path: str, depth: int) -> None:
    if not isinstance(value, dict):
        raise _fail(path, f"expected an object, got {type_name(value)}")
    key_field, value_field = field.key, field.value
    assert key_field is not None and value_field is not None
    target = getattr(msg, field.name)
    for raw_key, item in value.items():
        kpath = f"{path}[{raw_key!r}]"
        key: Any
        if key_field.kind == "bool":
            if raw_key not in ("true", "false"):
                raise _fail(kpath, "map keys of this field are true or false")
            key = raw_key == "true"
        elif key_field.kind == "string":
            key = raw_key
        else:
            assert key_field.parse_scalar is not None
            key = key_field.parse_scalar(raw_key, kpath)
        if value_field.kind == "message":
            if item is None:
                raise _fail(kpath, "null is not allowed as a map value")
            parse_into(item, target[key], kpath, depth)
        else:
            assert value_field.parse_scalar is not None
            target[key] = value_field.parse_scalar(item, kpath)


def _parse_wkt(data: Any, msg: message.Message, path: str) -> None:
    desc = desc_of(msg)
    name = desc.full_name
    try:
        if name == _STRUCT:
            if not isinstance(data, dict):
                raise _fail(path, f"expected a JSON object, got {type_name(data)}")
            assert isinstance(msg, struct_pb2.Struct)
            msg.update(data)
        elif name == _LIST_VALUE:
            if not isinstance(data, list):
                raise _fail(path, f"expected an array, got {type_name(data)}")
            assert isinstance(msg, struct_pb2.ListValue)
            msg.extend(data)
        elif name in (_TIMESTAMP, _DURATION, _FIELD_MASK):
            if not isinstance(data, str):
                raise _fail(path, f"expected a string, got {type_name(data)}")
            msg.FromJsonString(data)  # type: ignore[attr-defined]
        elif name in _WRAPPERS:
            inner = _plan(desc).by_key["value"]
            assert inner.parse_scalar is not None
            setattr(msg, "value", inner.parse_scalar(data, path))  # noqa: B010
        else:
            json_format.ParseDict(data, msg)
    except InvalidArgument:
        raise
    except RecursionError:
        raise _fail(path, "nested too deeply") from None
    except (ValueError, TypeError, json_format.ParseError) as exc:
        raise _fail(path, f"invalid {desc.name}: {exc}") from None


# --------------------------------------------------------------------------- serialising

Converter = Callable[[Any], Any]

#: Message full name -> its serialiser, generated on first use.
_SERIALIZERS: dict[str, Converter] = {}


def _special_float(value: float) -> Any:
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _number_out(value: float) -> Any:
    return value if value - value == 0 else _special_float(value)


def _bytes_out(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _struct_value_out(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        if number - number == 0:
            return number_from_double(number)
        return _special_float(number)
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return _struct_out(value.struct_value)
    if kind == "list_value":
        return [_struct_value_out(v) for v in value.list_value.values]
    return None


def struct_to_json(value: struct_pb2.Struct) -> dict[str, Any]:
    """A ``Struct`` as a plain JSON object (integral numbers as integers)."""
    return _struct_out(value)


def metadata_json(msg: Any) -> dict[str, Any]:
    """The metadata of a Hit, Document or Passage as a plain JSON object, from its typed
    form when set (ints as integers, floats as floats), else from its Struct."""
    if len(msg.typed_metadata):
        return typed_map_to_dict(msg.typed_metadata)
    return _struct_out(msg.metadata)


def _struct_out(value: struct_pb2.Struct) -> dict[str, Any]:
    fields = value.fields
    return {k: _struct_value_out(fields[k]) for k in fields}


def _wkt_out(desc: descriptor.Descriptor) -> Converter:
    name = desc.full_name
    if name == _STRUCT:
        return _struct_out
    if name == _VALUE:
        return _struct_value_out
    if name == _LIST_VALUE:
        return lambda v: [_struct_value_out(x) for x in v.values]
    if name in (_TIMESTAMP, _DURATION, _FIELD_MASK):
        return lambda v: v.ToJsonString()
    if name in _WRAPPERS:
        inner = desc.fields_by_name["value"]
        kind = _KIND[inner.type]
        if kind in ("int64", "uint64"):
            return lambda v: str(v.value)
        if kind in ("float", "double"):
            return lambda v: _number_out(v.value)
        if kind == "bytes":
            return lambda v: _bytes_out(v.value)
        return lambda v: v.value
    if name == _EMPTY:
        return lambda v: {}
    return lambda v: json_format.MessageToDict(v, preserving_proto_field_name=True)


def _serializer(desc: descriptor.Descriptor) -> Converter:
    """The serialiser of a message type: generated code reading each field once."""
    name = desc.full_name
    found = _SERIALIZERS.get(name)
    if found is not None:
        return found
    if name in WELL_KNOWN:
        special = _wkt_out(desc)
        _SERIALIZERS[name] = special
        return special

    # Recursive types (Filter in Filter) reach this placeholder while generating.
    def placeholder(m: Any) -> Any:
        return _SERIALIZERS[name](m)

    _SERIALIZERS[name] = placeholder
    namespace: dict[str, Any] = {"n": _number_out, "b64": _bytes_out}

    def value_expr(fd: descriptor.FieldDescriptor, var: str) -> str:
        kind = _KIND[fd.type]
        if kind in ("int64", "uint64"):
            return f"str({var})"
        if kind in ("float", "double"):
            return f"({var} if {var} - {var} == 0 else n({var}))"
        if kind == "bytes":
            return f"b64({var})"
        if kind == "enum":
            ref = f"e{len(namespace)}"
            namespace[ref] = {v.number: v.name for v in enum_of(fd).values}
            return f"{ref}.get({var}, {var})"
        if kind == "message":
            ref = f"c{len(namespace)}"
            namespace[ref] = _serializer(message_of(fd))
            return f"{ref}({var})"
        return var

    # Fields without presence go into one dict literal (in field order); fields
    # with presence (messages, oneof members, proto3 optional) follow when set.
    literal: list[str] = []
    present: list[str] = []
    typed_metadata = _has_typed_metadata(desc)
    if typed_metadata:
        # One plain JSON object with the typed values: ints as integers, floats as floats.
        namespace["tm"] = typed_map_to_dict
        namespace["so"] = _struct_out
        present.append("    if len(m.typed_metadata):")
        present.append("        out['metadata'] = tm(m.typed_metadata)")
        present.append("    elif m.HasField('metadata'):")
        present.append("        out['metadata'] = so(m.metadata)")
    for fd in desc.fields:
        if typed_metadata and fd.name in ("metadata", "typed_metadata"):
            continue
        attr = f"m.{fd.name}" if not keyword.iskeyword(fd.name) else f"getattr(m, {fd.name!r})"
        key = repr(fd.name)
        plan = _field_plan(fd)
        if plan.is_map:
            assert plan.key is not None and plan.value is not None
            key_kind = plan.key.kind
            k = (
                '("true" if k else "false")'
                if key_kind == "bool"
                else ("k" if key_kind == "string" else "str(k)")
            )
            literal.append(
                f"{key}: {{{k}: {value_expr(plan.value.fd, 'x')} for k, x in {attr}.items()}}"
            )
        elif plan.repeated:
            expr = value_expr(fd, "x")
            literal.append(
                f"{key}: list({attr})" if expr == "x" else f"{key}: [{expr} for x in {attr}]"
            )
        elif fd.has_presence:
            present.append(f"    if m.HasField({key}):")
            present.append(f"        x = {attr}")
            present.append(f"        out[{key}] = {value_expr(fd, 'x')}")
        else:
            kind = _KIND[fd.type]
            if kind in ("float", "double"):
                literal.append(f"{key}: (x if (x := {attr}) - x == 0 else n(x))")
            else:
                literal.append(f"{key}: {value_expr(fd, attr)}")
    lines = ["def serialize(m):", "    out = {" + ", ".join(literal) + "}", *present]
    lines.append("    return out")
    exec(compile("\n".join(lines), f"<jsonpb {name}>", "exec"), namespace)
    fn: Converter = namespace["serialize"]
    _SERIALIZERS[name] = fn
    return fn


def to_dict(msg: message.Message) -> Any:
    """The JSON value of ``msg`` (a dict for ordinary messages), proto field names.

    Fields without presence are always printed (at their defaults when unset);
    unset message, oneof and ``optional`` fields are omitted.
    """
    return _serializer(desc_of(msg))(msg)
