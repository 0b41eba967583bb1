"""OpenAPI 3.1 document generated at start-up from the proto descriptors.

Every transcoded binding becomes an operation whose request and response
schemas are walked from the message descriptors (JSON Schema 2020-12, as
OpenAPI 3.1 uses): scalars with their formats, 64-bit integers as strings
(integers are accepted on input), enums as their value names, repeated
fields as arrays, maps as objects, oneofs as "at most one of", well-known
types (``Struct``, ``Value``, ``ListValue``, ``Timestamp``, ``Duration``,
wrappers, ``Any``) in their JSON forms, ``(google.api.field_behavior) =
REQUIRED`` as ``required`` and ``OUTPUT_ONLY`` as ``readOnly``. Property names
are the proto field names, which is what responses use; requests also accept
the lowerCamel spellings. The compatibility and health routes add their own
operations (written as code next to the routes).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any, Final

from google.api import field_behavior_pb2
from google.protobuf import descriptor
from google.rpc import status_pb2

from .. import __version__
from .common import Operation
from .jsonpb import WELL_KNOWN, desc_of, enum_of, is_map_field, message_of, scalar_kind
from .transcode import Binding

__all__ = [
    "METADATA_VALUE",
    "SchemaBuilder",
    "build_document",
    "closed_object",
    "example_for",
    "json_body",
    "route_responses",
    "status_ref",
]

_REF_PREFIX: Final = "#/components/schemas/"
_REQUIRED: Final = field_behavior_pb2.REQUIRED
_OUTPUT_ONLY: Final = field_behavior_pb2.OUTPUT_ONLY
#: Error statuses every transcoded operation may answer (errors.py's table, plus 413).
_ERROR_STATUSES: Final = {
    "400": "Invalid request: malformed JSON, unknown field, wrong type or invalid value",
    "401": "Missing or invalid credentials",
    "403": "The credentials do not grant this operation",
    "404": "A named collection, store or index does not exist",
    "409": "Already exists",
    "413": "Request body larger than server.max_message_bytes",
    "429": "A server limit (batch size, top_k, text length) was exceeded",
    "499": "The call was cancelled",
    "500": "Internal error (body carries the request id only)",
    "501": "The store's backend cannot do this operation",
    "503": "The backend is unavailable",
    "504": "The X-Request-Timeout deadline passed",
}
STATUS_SCHEMA: Final = desc_of(status_pb2.Status).full_name


def status_ref() -> dict[str, str]:
    """A ``$ref`` to the ``google.rpc.Status`` schema."""
    return {"$ref": _REF_PREFIX + STATUS_SCHEMA}


#: Statuses a hand-built JSON route (compatibility routes) may answer besides 200.
_ROUTE_STATUSES: Final = ("400", "404", "413", "429", "500", "501", "503", "504")
#: A metadata value as the compatibility routes write it.
METADATA_VALUE: Final = {
    "anyOf": [
        {"type": "string"},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "array", "items": {"type": "string"}},
    ]
}


def closed_object(required: Sequence[str], properties: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of an object with these ``properties`` and no others, the ``required``
    ones mandatory (the compatibility routes' bodies and answers)."""
    schema: dict[str, Any] = {"type": "object"}
    if required:
        schema["required"] = list(required)
    schema["properties"] = properties
    schema["additionalProperties"] = False
    return schema


def json_body(schema: str, example: Any) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a hand-built JSON route: ``schema`` is a component name."""
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": _REF_PREFIX + schema}, "example": example}
        },
    }


def route_responses(schema: str, error_schema: dict[str, Any], not_found: str) -> dict[str, Any]:
    """The OpenAPI responses of a hand-built JSON route: ``schema`` (a component name) on
    200, ``error_schema`` on each error status, ``not_found`` describing its 404."""
    error = {"content": {"application/json": {"schema": error_schema}}}
    out: dict[str, Any] = {
        "200": {
            "description": "OK",
            "content": {"application/json": {"schema": {"$ref": _REF_PREFIX + schema}}},
        }
    }
    for code in _ROUTE_STATUSES:
        text = not_found if code == "404" else _ERROR_STATUSES[code]
        out[code] = {"description": text, **error}
    return out


def _behaviors(fd: descriptor.FieldDescriptor) -> set[int]:
    return set(fd.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def _wkt_schema(full_name: str) -> dict[str, Any]:
    short = full_name.rsplit(".", 1)[1]
    if full_name == "google.protobuf.Struct":
        return {"type": "object", "additionalProperties": True}
    if full_name == "google.protobuf.Value":
        return {}
    if full_name == "google.protobuf.ListValue":
        return {"type": "array"}
    if full_name == "google.protobuf.Timestamp":
        return {"type": "string", "format": "date-time"}
    if full_name == "google.protobuf.Duration":
        return {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"}
    if full_name == "google.protobuf.FieldMask":
        return {"type": "string"}
    if full_name == "google.protobuf.Empty":
        return {"type": "object", "additionalProperties": False}
    if full_name == "google.protobuf.Any":
        return {
            "type": "object",
            "properties": {"@type": {"type": "string"}},
            "required": ["@type"],
            "additionalProperties": True,
        }
    inner: dict[str, dict[str, Any]] = {
        "DoubleValue": {"type": "number", "format": "double"},
        "FloatValue": {"type": "number", "format": "float"},
        "Int64Value": {"type": ["string", "integer"], "format": "int64"},
        "UInt64Value": {"type": ["string", "integer"], "format": "uint64"},
        "Int32Value": {"type": "integer", "format": "int32"},
        "UInt32Value": {"type": "integer", "format": "uint32"},
        "BoolValue": {"type": "boolean"},
        "StringValue": {"type": "string"},
        "BytesValue": {"type": "string", "contentEncoding": "base64"},
    }
    return dict(inner[short])


class SchemaBuilder:
    """JSON Schemas of messages, collected as OpenAPI components."""

    def __init__(self) -> None:
        self.components: dict[str, dict[str, Any]] = {}

    def ref(self, desc: descriptor.Descriptor) -> dict[str, Any]:
        """A reference to the message's schema (building it on first use)."""
        if desc.full_name in WELL_KNOWN:
            return _wkt_schema(desc.full_name)
        if desc.full_name not in self.components:
            self.components[desc.full_name] = {}  # placeholder: breaks recursion
            self.components[desc.full_name] = self._message(desc)
        return {"$ref": _REF_PREFIX + desc.full_name}

    def _enum_ref(self, enum: descriptor.EnumDescriptor) -> dict[str, Any]:
        if enum.full_name not in self.components:
            self.components[enum.full_name] = {
                "type": "string",
                "enum": [v.name for v in enum.values],
                "description": "Enum value name (the value number is also accepted on input).",
            }
        return {"$ref": _REF_PREFIX + enum.full_name}

    def element(self, fd: descriptor.FieldDescriptor) -> dict[str, Any]:
        """Schema of one value of the field (an item, for repeated fields)."""
        kind = scalar_kind(fd)
        if kind in ("int32", "uint32"):
            return {"type": "integer", "format": kind}
        if kind in ("int64", "uint64"):
            return {
                "type": ["string", "integer"],
                "format": kind,
                "description": "64-bit integer: a decimal string in responses.",
            }
        if kind in ("float", "double"):
            return {"type": "number", "format": kind}
        if kind == "bool":
            return {"type": "boolean"}
        if kind == "string":
            return {"type": "string"}
        if kind == "bytes":
            return {"type": "string", "contentEncoding": "base64"}
        if kind == "enum":
            return self._enum_ref(enum_of(fd))
        return self.ref(message_of(fd))

    def field(self, fd: descriptor.FieldDescriptor) -> dict[str, Any]:
        """Schema of the field's JSON value."""
        if is_map_field(fd):
            value = message_of(fd).fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.element(value)}
        schema = self.element(fd)
        if fd.is_repeated:
            schema = {"type": "array", "items": schema}
        if _OUTPUT_ONLY in _behaviors(fd):
            schema = (
                {**schema, "readOnly": True}
                if "$ref" not in schema
                else {
                    "allOf": [schema],
                    "readOnly": True,
                }
            )
        return schema

    def _message(self, desc: descriptor.Descriptor) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        typed_metadata = (
            "typed_metadata" in desc.fields_by_name and "metadata" in desc.fields_by_name
        )
        for fd in desc.fields:
            if typed_metadata and fd.name == "typed_metadata":
                # Over REST the typed values travel in the plain `metadata` object
                # (http/jsonpb.py): integers stay integers, floats stay floats.
                continue
            properties[fd.name] = self.field(fd)
            if _REQUIRED in _behaviors(fd):
                required.append(fd.name)
        schema: dict[str, Any] = {
            "type": "object",
            "title": desc.full_name,
            "properties": properties,
            "additionalProperties": False,
        }
        if required:
            schema["required"] = required
        exclusive = [
            {"required": list(pair)}
            for oneof in desc.oneofs
            if not oneof.name.startswith("_")
            for pair in combinations([f.name for f in oneof.fields], 2)
        ]
        if exclusive:
            schema["not"] = {"anyOf": exclusive}
            names = "; ".join(
                ", ".join(f.name for f in o.fields) for o in desc.oneofs if len(o.fields) > 1
            )
            schema["description"] = f"At most one of each group may be set: {names}."
        return schema

    def without(self, desc: descriptor.Descriptor, names: Iterable[str]) -> dict[str, Any]:
        """The message's schema minus some top-level fields (those bound to the path)."""
        self.ref(desc)
        schema = copy.deepcopy(self.components[desc.full_name])
        drop = set(names)
        for name in drop:
            schema["properties"].pop(name, None)
        if "required" in schema:
            schema["required"] = [r for r in schema["required"] if r not in drop]
            if not schema["required"]:
                del schema["required"]
        return schema


def example_for(builder: SchemaBuilder, schema: dict[str, Any], depth: int = 0) -> Any:
    """A minimal example value: the required fields, with placeholder values."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(_REF_PREFIX)
        return example_for(builder, builder.components[name], depth)
    if "allOf" in schema:
        return example_for(builder, schema["allOf"][0], depth)
    kind = schema.get("type")
    if "enum" in schema:
        values = schema["enum"]
        return values[1] if len(values) > 1 else values[0]
    if kind == "object" and depth < 8:
        props = schema.get("properties", {})
        return {
            name: example_for(builder, props[name], depth + 1)
            for name in schema.get("required", [])
            if name in props
        }
    if kind == "array":
        return []
    if kind == "integer" or kind == ["string", "integer"]:
        return 1
    if kind == "number":
        return 0.5
    if kind == "boolean":
        return False
    if kind == "string":
        return "example"
    return {}


def _error_responses(schema_ref: dict[str, Any]) -> dict[str, Any]:
    return {
        code: {"description": text, "content": {"application/json": {"schema": schema_ref}}}
        for code, text in _ERROR_STATUSES.items()
    }


def _query_parameters(
    builder: SchemaBuilder, desc: descriptor.Descriptor, prefix: str, skip: set[str], depth: int
) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for fd in desc.fields:
        name = prefix + fd.name
        if name in skip:
            continue
        kind = scalar_kind(fd)
        is_map = is_map_field(fd)
        if kind == "message" and not is_map and not fd.is_repeated:
            sub = message_of(fd)
            if sub.full_name in WELL_KNOWN or depth >= 3:
                continue
            params.extend(_query_parameters(builder, sub, name + ".", skip, depth + 1))
            continue
        if kind == "message" or is_map:
            continue
        params.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": builder.field(fd),
                **({"explode": True} if fd.is_repeated else {}),
            }
        )
    return params


def _binding_operation(builder: SchemaBuilder, binding: Binding, op_id: str) -> dict[str, Any]:
    rpc = binding.rpc
    req = desc_of(rpc.request_type)
    service = rpc.service.rsplit(".", 1)[1]
    parameters: list[dict[str, Any]] = []
    for var in binding.variables:
        fd = req.fields_by_name[var.field_path[0]]
        for part in var.field_path[1:]:
            fd = message_of(fd).fields_by_name[part]
        parameters.append(
            {
                "name": var.dotted,
                "in": "path",
                "required": True,
                "schema": builder.element(fd),
                "example": "example",
            }
        )
    operation: dict[str, Any] = {
        "operationId": op_id,
        "tags": [service],
        "summary": f"{service}.{rpc.method}",
        "description": (
            f"Transcoded from `{rpc.full_name}` (`{binding.method} {binding.template}`)."
            + (
                " Client streaming: send a JSON array of request messages, or one message "
                "per line with `Content-Type: application/x-ndjson`."
                if rpc.client_streaming
                else ""
            )
        ),
    }
    top_level_path = {var.field_path[0] for var in binding.variables if len(var.field_path) == 1}
    if binding.body:
        if binding.body == "*":
            body_schema = builder.without(req, top_level_path)
        else:
            body_schema = builder.field(req.fields_by_name[binding.body])
        example = example_for(builder, body_schema)
        content_schema: dict[str, Any] = body_schema
        if rpc.client_streaming:
            content_schema = {"type": "array", "items": body_schema}
            example = [example]
        content: dict[str, Any] = {
            "application/json": {"schema": content_schema, "example": example}
        }
        if rpc.client_streaming:
            content["application/x-ndjson"] = {"schema": body_schema}
        operation["requestBody"] = {"required": binding.body == "*", "content": content}
    else:
        bound = {var.dotted for var in binding.variables}
        parameters.extend(_query_parameters(builder, req, "", bound, 0))
    parameters.append(
        {
            "name": "X-Request-Timeout",
            "in": "header",
            "required": False,
            "schema": {"type": "number", "exclusiveMinimum": 0},
            "description": "Deadline in seconds (504 when it passes).",
        }
    )
    operation["parameters"] = parameters
    response_schema: dict[str, Any]
    if binding.response_body:
        response_desc = desc_of(rpc.response_type)
        response_schema = builder.field(response_desc.fields_by_name[binding.response_body])
    else:
        response_schema = builder.ref(desc_of(rpc.response_type))
    operation["responses"] = {
        "200": {
            "description": "OK",
            "content": {"application/json": {"schema": response_schema}},
        },
        **_error_responses(status_ref()),
    }
    return operation


def build_document(
    bindings: Sequence[Binding],
    operations: Sequence[Operation],
    *,
    extra_schemas: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    builder = SchemaBuilder()
    builder.ref(desc_of(status_pb2.Status))
    paths: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for binding in bindings:
        base = f"{binding.rpc.service.rsplit('.', 1)[1]}_{binding.rpc.method}"
        counts[base] = counts.get(base, 0) + 1
        op_id = base if counts[base] == 1 else f"{base}{counts[base]}"
        paths.setdefault(binding.openapi_path, {})[binding.method.lower()] = _binding_operation(
            builder, binding, op_id
        )
    for op in operations:
        paths.setdefault(op.openapi_path or op.path, {})[op.method.lower()] = op.spec
    schemas = {**builder.components, **extra_schemas}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "vectorgate",
            "version": __version__,
            "description": (
                "REST/JSON face of vectorgate. Every gRPC method is transcoded from its "
                "`google.api.http` rule (protobuf JSON mapping: responses use the proto "
                "field names, snake_case; requests accept those or the lowerCamel names; "
                "64-bit integers are strings in responses; `bytes` are base64, so vectors may "
                'be sent as `{"packed": <base64 little-endian float32>}`). Errors are '
                "`google.rpc.Status` objects, except on the OpenAI-compatible routes, which "
                'answer OpenAI\'s `{"error": {...}}`. Send `x-request-id` to name a call; '
                "every response carries it."
            ),
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "paths": paths,
        "components": {"schemas": schemas},
    }
