"""HTTP/JSON transcoding of every RPC from its ``google.api.http`` rule.

At start-up each RPC's rule (and its ``additional_bindings``) is read from the
method descriptor and turned into a Starlette route; nothing here knows any
particular RPC. A request message is built from, in order:

1. the JSON body: ``body: "*"`` is the whole request message, ``body: "f"``
   the field ``f``; no ``body`` means no body is read;
2. path variables (``{name}``, ``{collection.store}``,
   ``{name=collections/*}``): set on the field they name, converted to its
   type; a body giving the same field a different value is a 400;
3. query parameters, for the fields not bound by the path or the body
   (dotted paths for nested fields, repeated parameters for repeated
   fields, ``true``/``false`` for booleans, enum value names or numbers).
   With ``body: "*"`` there are none, so any query parameter is a 400.

Field names in JSON bodies and query parameters may be the proto names or
their lowerCamel JSON names. The message is then handed to exactly
``rpc.handler(request, ctx)``, the handler the gRPC transport calls, and its
response serialised by :func:`vectorgate_server.http.jsonpb.to_dict` (or only
the rule's ``response_body`` field).

Client-streaming RPCs take either a JSON array of request messages (or a
single object), or, with ``Content-Type: application/x-ndjson`` (or
``application/jsonl``), one message per line, read and handed to the handler
as they arrive. Path variables apply to every message.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, message
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response

from ..errors import InvalidArgument
from ..services.registry import Rpc
from .common import (
    JSON_BODY,
    JSON_STREAM,
    NO_BODY,
    BodyFormat,
    BodyKind,
    Endpoint,
    decode_json,
    error_response,
    invoke,
    json_response,
    parse_timeout,
    read_body,
    read_json,
    read_ndjson,
    start_call,
)
from .jsonpb import (
    WELL_KNOWN,
    desc_of,
    field_by_name,
    message_of,
    parse_into,
    scalar_kind,
    to_dict,
)

__all__ = [
    "Binding",
    "PathVariable",
    "all_bindings",
    "bindings_for",
    "body_format",
    "coerce_text",
    "compile_template",
    "endpoint_for",
]

_IDENT_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MISSING: Final = object()


class _PatternConvertor(Convertor[str]):
    """A path variable matching a fixed regular expression; the value is the raw text."""

    def __init__(self, regex: str) -> None:
        self.regex = regex  # type: ignore[misc]

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


_CONVERTORS: dict[str, str] = {}


def _convertor(regex: str) -> str:
    """The name of a registered Starlette convertor for ``regex``."""
    name = _CONVERTORS.get(regex)
    if name is None:
        name = "vg" + hashlib.sha256(regex.encode()).hexdigest()[:12]
        register_url_convertor(name, _PatternConvertor(regex))
        _CONVERTORS[regex] = name
    return name


@dataclass(frozen=True, slots=True)
class PathVariable:
    """A path variable: the Starlette parameter and the request field it sets."""

    param: str
    #: Proto field names from the request message down to the bound field.
    field_path: tuple[str, ...]
    #: The bound field.
    leaf: descriptor.FieldDescriptor

    @property
    def dotted(self) -> str:
        return ".".join(self.field_path)


@dataclass(frozen=True, slots=True)
class Binding:
    """One HTTP binding of one RPC."""

    rpc: Rpc
    method: str
    template: str
    #: The Starlette route path, with ``{pN:convertor}`` parameters.
    route_path: str
    #: The OpenAPI path, with ``{field.path}`` parameters.
    openapi_path: str
    variables: tuple[PathVariable, ...]
    #: ``""`` (no body), ``"*"`` or a top-level request field name.
    body: str
    #: ``""`` (the whole response) or a top-level response field name.
    response_body: str


def _segments_regex(segments: str, template: str) -> str:
    parts: list[str] = []
    for segment in segments.split("/"):
        if segment == "*":
            parts.append("[^/]+")
        elif segment == "**":
            parts.append(".+")
        elif segment and "{" not in segment and "}" not in segment:
            parts.append(re.escape(segment))
        else:
            raise ValueError(f"http rule {template!r}: bad segment {segment!r}")
    return "/".join(parts)


def compile_template(template: str) -> tuple[str, str, list[tuple[str, str]]]:
    """A path template into (Starlette path, OpenAPI path, [(param, field path)]).

    Grammar (``google/api/http.proto``)::

        Template = "/" Segments [ Verb ] ;   Segment = "*" | "**" | LITERAL | Variable ;
        Variable = "{" FieldPath [ "=" Segments ] "}" ;   Verb = ":" LITERAL ;
    """
    if not template.startswith("/"):
        raise ValueError(f"http rule {template!r}: the path must start with '/'")
    route = ""
    openapi = ""
    variables: list[tuple[str, str]] = []
    anonymous = 0
    i = 0
    while i < len(template):
        ch = template[i]
        if ch == "{":
            end = template.find("}", i)
            if end < 0:
                raise ValueError(f"http rule {template!r}: unclosed '{{'")
            inner = template[i + 1 : end]
            field_path, _, pattern = inner.partition("=")
            if not all(_IDENT_RE.fullmatch(p) for p in field_path.split(".")):
                raise ValueError(f"http rule {template!r}: bad field path {field_path!r}")
            param = f"p{len(variables)}"
            regex = _segments_regex(pattern, template) if pattern else "[^/]+"
            route += "{" + param + ":" + _convertor(regex) + "}"
            openapi += "{" + field_path + "}"
            variables.append((param, field_path))
            i = end + 1
            continue
        if ch == "*" and (i == 0 or template[i - 1] == "/"):
            wide = template.startswith("**", i)
            name = f"w{anonymous}"
            anonymous += 1
            route += "{" + name + ":" + _convertor(".+" if wide else "[^/]+") + "}"
            openapi += "{" + name + "}"
            i += 2 if wide else 1
            continue
        if ch == "}":
            raise ValueError(f"http rule {template!r}: unbalanced '}}'")
        route += ch
        openapi += ch
        i += 1
    return route, openapi, variables


def _rule_patterns(rule: http_pb2.HttpRule) -> list[tuple[str, str, str, str]]:
    """(method, template, body, response_body) of a rule and its additional bindings."""
    out: list[tuple[str, str, str, str]] = []
    kind = rule.WhichOneof("pattern")
    if kind is not None:
        if kind == "custom":
            method, template = rule.custom.kind.upper(), rule.custom.path
        else:
            method, template = kind.upper(), getattr(rule, kind)
        out.append((method, template, rule.body, rule.response_body))
    for extra in rule.additional_bindings:
        out.extend(_rule_patterns(extra))
    return out


def _resolve_field_path(desc: descriptor.Descriptor, dotted: str, where: str) -> tuple[str, ...]:
    names: list[str] = []
    current: descriptor.Descriptor | None = desc
    parts = dotted.split(".")
    for n, part in enumerate(parts):
        fd = current.fields_by_name.get(part) if current is not None else None
        if fd is None:
            raise ValueError(f"{where}: {desc.name} has no field {dotted!r}")
        if fd.is_repeated:
            raise ValueError(f"{where}: field {dotted!r} is repeated; it cannot be bound")
        last = n == len(parts) - 1
        if not last and scalar_kind(fd) != "message":
            raise ValueError(f"{where}: {part!r} in {dotted!r} is not a message")
        names.append(fd.name)
        current = fd.message_type
    return tuple(names)


def bindings_for(rpc: Rpc) -> list[Binding]:
    """The HTTP bindings of one RPC, from its ``google.api.http`` option."""
    options = rpc.descriptor.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return []
    rule = options.Extensions[annotations_pb2.http]
    req_desc = desc_of(rpc.request_type)
    out: list[Binding] = []
    for method, template, body, response_body in _rule_patterns(rule):
        where = f"{rpc.full_name} ({method} {template})"
        route_path, openapi_path, raw_vars = compile_template(template)
        variables = tuple(
            PathVariable(param, path, _leaf(req_desc, path))
            for param, path in (
                (param, _resolve_field_path(req_desc, dotted, where)) for param, dotted in raw_vars
            )
        )
        if body not in ("", "*") and body not in req_desc.fields_by_name:
            raise ValueError(f"{where}: body field {body!r} is not a request field")
        if response_body and response_body not in desc_of(rpc.response_type).fields_by_name:
            raise ValueError(f"{where}: response_body {response_body!r} is not a response field")
        if rpc.client_streaming and body != "*":
            raise ValueError(f'{where}: a client-streaming RPC needs body: "*"')
        out.append(
            Binding(
                rpc=rpc,
                method=method,
                template=template,
                route_path=route_path,
                openapi_path=openapi_path,
                variables=variables,
                body=body,
                response_body=response_body,
            )
        )
    return out


# --------------------------------------------------------------------------- building requests


def coerce_text(fd: descriptor.FieldDescriptor, text: str, path: str) -> Any:
    """A path or query string as the JSON value of field ``fd``."""
    kind = scalar_kind(fd)
    if kind in ("int32", "uint32", "int64", "uint64"):
        try:
            return int(text)
        except ValueError:
            raise InvalidArgument(
                f"{path}: expected an integer, got {text!r}", field=path
            ) from None
    if kind in ("float", "double"):
        if text in ("NaN", "Infinity", "-Infinity"):
            return text
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise InvalidArgument(f"{path}: expected a number, got {text!r}", field=path)
        return number
    if kind == "bool":
        lowered = text.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise InvalidArgument(f"{path}: expected true or false, got {text!r}", field=path)
    if kind == "enum":
        stripped = text.lstrip("-")
        return int(text) if stripped.isdigit() else text
    if kind == "message":
        sub = message_of(fd)
        name = sub.full_name
        if name.endswith("Value") and name in WELL_KNOWN and name != "google.protobuf.Value":
            return coerce_text(sub.fields_by_name["value"], text, path)
        if name in WELL_KNOWN and name not in (
            "google.protobuf.Struct",
            "google.protobuf.ListValue",
            "google.protobuf.Any",
            "google.protobuf.Empty",
        ):
            return text
        raise InvalidArgument(
            f"{path}: a message field cannot be set from the URL; send it in a JSON body",
            field=path,
        )
    return text


def _set_nested(
    data: dict[str, Any],
    desc: descriptor.Descriptor,
    parts: Sequence[str],
    value: Any,
    origin: str,
    *,
    append: bool = False,
) -> None:
    node = data
    current = desc
    for n, part in enumerate(parts):
        fd = field_by_name(current, part)
        assert fd is not None
        path = ".".join(parts[: n + 1])
        keys = [k for k in dict.fromkeys((fd.name, fd.json_name)) if k in node]
        existing = node[keys[0]] if keys else _MISSING
        if n < len(parts) - 1:
            if existing is _MISSING or existing is None:
                existing = {}
                for k in keys:
                    del node[k]
                node[fd.name] = existing
            elif not isinstance(existing, dict):
                raise InvalidArgument(f"{path}: expected a JSON object", field=path)
            node = existing
            current = message_of(fd)
            continue
        if append:
            node.setdefault(fd.name, []).append(value)
        elif existing is not _MISSING and existing is not None and existing != value:
            raise InvalidArgument(
                f"{path}: the {origin} says {value!r} but the body says {existing!r}", field=path
            )
        else:
            for k in keys:
                del node[k]
            node[fd.name] = value


def _apply_path(data: dict[str, Any], binding: Binding, params: dict[str, Any]) -> None:
    desc = desc_of(binding.rpc.request_type)
    for var in binding.variables:
        value = coerce_text(var.leaf, str(params[var.param]), var.dotted)
        leaf = var.leaf
        if len(var.field_path) == 1 and leaf.name not in data and leaf.json_name not in data:
            data[leaf.name] = value  # the common case: nothing to reconcile
            continue
        _set_nested(data, desc, var.field_path, value, "URL path")


def _leaf(desc: descriptor.Descriptor, parts: Sequence[str]) -> descriptor.FieldDescriptor:
    current: descriptor.Descriptor | None = desc
    fd: descriptor.FieldDescriptor | None = None
    for part in parts:
        assert current is not None
        fd = field_by_name(current, part)
        assert fd is not None
        current = fd.message_type
    assert fd is not None
    return fd


def _apply_query(data: dict[str, Any], binding: Binding, request: Request) -> None:
    if not request.scope.get("query_string"):
        return
    query = request.query_params
    desc = desc_of(binding.rpc.request_type)
    bound = {var.field_path for var in binding.variables}
    seen: set[tuple[str, ...]] = set()
    for key, raw in query.multi_items():
        if binding.body == "*":
            raise InvalidArgument(
                f"{key}: query parameters are not accepted here; send every field in the JSON body",
                field=key,
            )
        names: list[str] = []
        current: descriptor.Descriptor | None = desc
        fd: descriptor.FieldDescriptor | None = None
        for part in key.split("."):
            fd = field_by_name(current, part) if current is not None else None
            if fd is None:
                raise InvalidArgument(f"{key}: unknown query parameter", field=key)
            names.append(fd.name)
            if fd.is_repeated and scalar_kind(fd) == "message":
                raise InvalidArgument(
                    f"{key}: repeated message fields cannot be set from the URL", field=key
                )
            current = fd.message_type if scalar_kind(fd) == "message" else None
        assert fd is not None
        path = tuple(names)
        dotted = ".".join(path)
        if path in bound or path[:1] in bound:
            raise InvalidArgument(f"{dotted}: already set by the URL path", field=dotted)
        if binding.body and path[0] == binding.body:
            raise InvalidArgument(f"{dotted}: belongs in the JSON body", field=dotted)
        if not fd.is_repeated and path in seen:
            raise InvalidArgument(f"{dotted}: query parameter given twice", field=dotted)
        seen.add(path)
        value = coerce_text(fd, raw, dotted)
        _set_nested(data, desc, path, value, "query", append=fd.is_repeated)


async def _request_message(binding: Binding, request: Request, limit: int) -> message.Message:
    data: dict[str, Any] = {}
    if binding.body == "*":
        body = await read_json(request, limit)
        if not isinstance(body, dict):
            raise InvalidArgument(
                f"body: expected a JSON object ({desc_of(binding.rpc.request_type).name})"
            )
        data = body
    elif binding.body:
        JSON_BODY.negotiate(request.headers.get("content-type"))
        raw = await read_body(request, limit)
        if raw.strip():
            data[binding.body] = decode_json(raw)
    _apply_path(data, binding, request.scope.get("path_params", {}))
    _apply_query(data, binding, request)
    msg = binding.rpc.request_type()
    parse_into(data, msg)
    return msg


def _response_json(binding: Binding, response: message.Message) -> Any:
    if binding.response_body:
        whole = to_dict(response)
        return whole.get(binding.response_body)
    return to_dict(response)


def _unary_endpoint(binding: Binding, limit: int) -> Endpoint:
    rpc = binding.rpc

    async def endpoint(request: Request) -> Response:
        call = start_call(request)
        try:
            parse_timeout(call)
            msg = await _request_message(binding, request, limit)
            response = await invoke(rpc, msg, call.context)
            return json_response(call, _response_json(binding, response))
        except Exception as exc:
            return error_response(call, exc)

    return endpoint


def body_format(binding: Binding) -> BodyFormat:
    """What the route of a binding takes as its body."""
    if binding.rpc.client_streaming:
        return JSON_STREAM
    return JSON_BODY if binding.body else NO_BODY


async def _stream_items(request: Request, limit: int) -> AsyncIterator[tuple[str, Any]]:
    if JSON_STREAM.negotiate(request.headers.get("content-type")) is BodyKind.NDJSON:
        async for line_no, value in read_ndjson(request, limit):
            yield f"line {line_no}", value
        return
    body = await read_json(request, limit)
    items = body if isinstance(body, list) else [body]
    for i, item in enumerate(items):
        yield f"body[{i}]", item


def _stream_endpoint(binding: Binding, limit: int) -> Endpoint:
    rpc = binding.rpc
    desc = desc_of(rpc.request_type)

    async def endpoint(request: Request) -> Response:
        call = start_call(request)
        try:
            parse_timeout(call)
            _apply_query({}, binding, request)
            path_params = request.path_params

            async def messages() -> AsyncIterator[message.Message]:
                index = 0
                async for where, item in _stream_items(request, limit):
                    prefix = f"requests[{index}]"
                    if not isinstance(item, dict):
                        raise InvalidArgument(
                            f"{prefix}: expected a JSON object ({desc.name}) at {where}",
                            field=prefix,
                        )
                    try:
                        _apply_path(item, binding, path_params)
                    except InvalidArgument as exc:
                        raise InvalidArgument(
                            f"{prefix}.{exc.message}", field=f"{prefix}.{exc.field}"
                        ) from None
                    msg = rpc.request_type()
                    parse_into(item, msg, prefix)
                    index += 1
                    yield msg

            response = await invoke(rpc, messages(), call.context)
            return json_response(call, _response_json(binding, response))
        except Exception as exc:
            return error_response(call, exc)

    return endpoint


def endpoint_for(binding: Binding, *, max_body_bytes: int) -> Endpoint:
    """The endpoint serving one binding."""
    make = _stream_endpoint if binding.rpc.client_streaming else _unary_endpoint
    return make(binding, max_body_bytes)


def all_bindings(rpcs: Sequence[Rpc]) -> list[Binding]:
    """The bindings of every RPC with an HTTP rule, in RPC table order."""
    return [binding for rpc in rpcs for binding in bindings_for(rpc)]
