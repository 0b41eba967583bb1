"""What every HTTP route shares: calls, bodies, responses and error bodies.

Error bodies
------------
Every route answers errors with a ``google.rpc.Status`` JSON object (proto
field names, like every other body)::

    {"code": 5, "message": "...", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "...",
         "domain": "vectorgate.dev", "metadata": {"field": "..."}},
        {"@type": "type.googleapis.com/google.rpc.BadRequest", "field_violations": [...]}]}

with the HTTP status from :func:`vectorgate_server.errors.classify` (the
grpc-gateway mapping), except the OpenAI-compatible routes
(``/v1/embeddings``, ``/v1/vector_stores/...``), which answer the body OpenAI
clients parse: ``{"error": {"message", "type", "param", "code"}}`` (see
:func:`openai_error`). Both carry ``x-request-id``; OpenAI-style errors also
carry ``x-should-retry: false`` unless retrying can help (503, 504), so the
official clients do not retry a request that cannot succeed.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import grpc
import orjson
from google.protobuf import message
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .. import deadline
from ..errors import (
    DeadlineExceeded,
    InvalidArgument,
    LimitExceeded,
    VectorgateError,
    classify,
)
from ..jsondepth import check_depth
from ..observability import REQUEST_ID_SCOPE_KEY, request_id_or_new
from ..services.registry import CallContext, Rpc, to_status
from .bodies import require_object
from .jsonpb import to_dict

if TYPE_CHECKING:
    from ..app import Gateway
    from ..config import Config

log = logging.getLogger("vectorgate_server.http")

REQUEST_ID_HEADER: Final = "x-request-id"
TIMEOUT_HEADER: Final = "x-request-timeout"
JSON: Final = "application/json"


class ErrorStyle(enum.Enum):
    """Which error body a route answers."""

    STATUS = "google.rpc.Status"
    OPENAI = "openai"


class BodyTooLarge(LimitExceeded):
    """The request body exceeds ``server.max_message_bytes`` (HTTP 413)."""


class RouteError(Exception):
    """A routing-level failure (unknown path, wrong method): no domain details."""

    def __init__(
        self, http_status: int, code: grpc.StatusCode, message: str, headers: dict[str, str]
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message
        self.headers = headers


@dataclass(slots=True)
class Call:
    """One HTTP request being served."""

    request: Request
    context: CallContext
    style: ErrorStyle = ErrorStyle.STATUS
    #: Field renames for error messages, ``(ours, the route's)``; first matching prefix wins.
    param_names: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def start_call(
    request: Request,
    style: ErrorStyle = ErrorStyle.STATUS,
    param_names: tuple[tuple[str, str], ...] = (),
) -> Call:
    """The call context of a request: request id, headers as metadata, peer.

    The deadline header is validated later, by :func:`parse_timeout`, so that
    a bad value is reported in the route's error style.
    """
    scope = request.scope
    metadata = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    # The id ObservedHttp chose for this request (so logs, metrics and body agree).
    request_id = scope.get(REQUEST_ID_SCOPE_KEY) or request_id_or_new(
        metadata.get(REQUEST_ID_HEADER, "")
    )
    client = scope.get("client")
    ctx = CallContext(
        metadata=metadata,
        peer=f"{client[0]}:{client[1]}" if client else "",
        request_id=request_id,
    )
    return Call(request=request, context=ctx, style=style, param_names=param_names)


def parse_timeout(call: Call) -> None:
    """``X-Request-Timeout`` (seconds, > 0) into the call's deadline."""
    raw = call.context.metadata.get(TIMEOUT_HEADER)
    if raw is None:
        return
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidArgument(
            f"X-Request-Timeout: must be a positive number of seconds, got {raw!r}",
            field="X-Request-Timeout",
        )
    call.context.timeout = seconds


def time_left(ctx: CallContext) -> float | None:
    """Seconds left before the call's deadline (None without one)."""
    if ctx.timeout is None:
        return None
    return ctx.timeout - (time.monotonic() - ctx.started)


async def run_with_deadline(ctx: CallContext, what: str, work: Awaitable[Any]) -> Any:
    """Await ``work`` within what is left of the call's deadline."""
    left = time_left(ctx)
    if left is None:
        return await work
    try:
        if left <= 0:
            raise TimeoutError
        async with asyncio.timeout(left):
            with deadline.start(left):
                return await work
    except TimeoutError as exc:
        if asyncio.iscoroutine(work):
            work.close()
        raise DeadlineExceeded(f"deadline of {ctx.timeout:.3f}s exceeded in {what}") from exc


async def invoke(rpc: Rpc, request: Any, ctx: CallContext) -> message.Message:
    """Run ``rpc.handler(request, ctx)`` (the handler the gRPC transport calls) under the
    call's deadline. Routes that make several calls share one deadline."""
    response: message.Message = await run_with_deadline(ctx, rpc.method, rpc.handler(request, ctx))
    return response


# --------------------------------------------------------------------------- bodies


async def body_chunks(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives (straight from ASGI ``receive``)."""
    receive = request.receive
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            raise RouteError(499, grpc.StatusCode.CANCELLED, "the client disconnected", {})
        chunk = event.get("body", b"")
        if chunk:
            yield chunk
        if not event.get("more_body", False):
            return


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or :class:`BodyTooLarge` as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in body_chunks(request):
        size += len(chunk)
        if size > limit:
            raise too_large(size, limit)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def too_large(size: int, limit: int) -> BodyTooLarge:
    """The 413 error of a body of ``size`` bytes over ``limit``."""
    return BodyTooLarge(
        f"body: {size} bytes exceeds the limit of {limit} bytes (server.max_message_bytes)",
        metadata={"limit": str(limit)},
    )


def decode_json(raw: bytes, where: str = "body") -> Any:
    """``orjson.loads`` with the position of a syntax error in the message; a value nested
    deeper than :data:`..jsondepth.MAX_JSON_DEPTH` is refused naming the limit."""
    try:
        value = orjson.loads(raw)
        check_depth(value, where)
        return value
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(
            f"{where}: malformed JSON at line {exc.lineno} column {exc.colno} "
            f"(byte {exc.pos}): {exc.msg}",
            metadata={"line": str(exc.lineno), "column": str(exc.colno), "position": str(exc.pos)},
        ) from None


# --------------------------------------------------------------------------- media types


class BodyKind(enum.Enum):
    """How a body is parsed."""

    #: One JSON value (``application/json``, ``application/*+json``, or no Content-Type).
    JSON = "json"
    #: One JSON value per line (``application/x-ndjson``, ``application/jsonl``, ...).
    NDJSON = "ndjson"
    #: A file, as bytes: the route reads it by its own rules (the console's upload).
    FILE = "file"


#: The media type of bytes of no particular type (the same as no Content-Type).
UNTYPED: Final = "application/octet-stream"
#: Media types of newline-delimited JSON.
NDJSON_TYPES: Final = ("application/x-ndjson", "application/jsonl", "application/ndjson")


def media_kind(content_type: str | None) -> BodyKind | None:
    """What a Content-Type says the body is; None for anything that is not JSON.

    Only the media type counts (parameters such as ``charset`` are ignored), and
    only whole: ``application/json; x=ndjson`` is JSON, ``text/plain`` is neither.
    ``application/octet-stream`` names no type at all (RFC 9110 section 8.3: what
    a body without a Content-Type may be assumed to be), so it is read as one
    without: JSON. HTTP clients send it for untyped bytes, LiteLLM's async Milvus
    search among them.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if (
        not media
        or media in (JSON, UNTYPED)
        or (media.startswith("application/") and media.endswith("+json"))
    ):
        return BodyKind.JSON
    if media in NDJSON_TYPES:
        return BodyKind.NDJSON
    return None


@dataclass(frozen=True, slots=True)
class BodyFormat:
    """What a route takes as its body, and so how it parses it.

    The auth gate and the route both ask :meth:`negotiate`, so the gate always
    inspects exactly what the route is going to parse; any other Content-Type
    is a 415 before the route runs.
    """

    kinds: frozenset[BodyKind]
    #: The route parses its body its one way (``kinds`` has one member) whatever the
    #: Content-Type declares: no type is refused, and the gate treats the body as
    #: that kind too.
    any_type: bool = False

    @property
    def reads_body(self) -> bool:
        """Whether the route reads a body at all."""
        return bool(self.kinds)

    def negotiate(self, content_type: str | None) -> BodyKind:
        """How this route parses a body of ``content_type``; a 415 if it takes none such."""
        if self.any_type:
            (only,) = self.kinds
            return only
        kind = media_kind(content_type)
        if kind is None or kind not in self.kinds:
            accepted = [JSON] if BodyKind.JSON in self.kinds else []
            if BodyKind.NDJSON in self.kinds:
                accepted.extend(NDJSON_TYPES)
            media = (content_type or "").split(";", 1)[0].strip()
            raise RouteError(
                415,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Content-Type {media!r} is not accepted here: send "
                f"{' or '.join(accepted) or 'no body'}",
                {},
            )
        return kind


#: A route that reads no body.
NO_BODY: Final = BodyFormat(frozenset())
#: A route that reads one JSON value.
JSON_BODY: Final = BodyFormat(frozenset({BodyKind.JSON}))
#: A route that reads one JSON value whatever the declared Content-Type, as Milvus's
#: REST API does (its handlers bind the body as JSON without looking at the type;
#: LiteLLM's Milvus provider sends ``application/octet-stream``): the passthrough.
JSON_ANY_TYPE: Final = BodyFormat(frozenset({BodyKind.JSON}), any_type=True)
#: A route that takes a file of any type and reads it by its own rules (the console's
#: upload, chunked as ``vectorgate ingest`` chunks it).
FILE_BODY: Final = BodyFormat(frozenset({BodyKind.FILE}), any_type=True)
#: A client-streaming route: a JSON value (an array of messages), or NDJSON lines.
JSON_STREAM: Final = BodyFormat(frozenset({BodyKind.JSON, BodyKind.NDJSON}))


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON; an empty body is ``{}``. A body declared as anything but JSON
    is a 415 (:data:`JSON_BODY`), whatever it holds."""
    JSON_BODY.negotiate(request.headers.get("content-type"))
    raw = await read_body(request, limit)
    if not raw.strip():
        return {}
    return decode_json(raw)


async def read_ndjson(request: Request, line_limit: int) -> AsyncIterator[tuple[int, Any]]:
    """Newline-delimited JSON values as they arrive: ``(line number, value)``.

    Blank lines are skipped. Each line may be up to ``line_limit`` bytes; the
    stream as a whole is not limited (it is consumed batch by batch).
    """
    pending: list[bytes] = []  # the start of the current line, not yet terminated
    pending_size = 0
    line_no = 0
    async for chunk in body_chunks(request):
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                if start < len(chunk):
                    pending.append(chunk[start:])
                    pending_size += len(chunk) - start
                if pending_size > line_limit:
                    raise too_large(pending_size, line_limit)
                break
            line = b"".join([*pending, chunk[start:end]]) if pending else chunk[start:end]
            pending, pending_size = [], 0
            start = end + 1
            line_no += 1
            if len(line) > line_limit:
                raise too_large(len(line), line_limit)
            if line.strip():
                yield line_no, decode_json(line, f"line {line_no}")
    if pending_size:
        line = b"".join(pending)
        if line.strip():
            yield line_no + 1, decode_json(line, f"line {line_no + 1}")


# --------------------------------------------------------------------------- responses


class JsonResponse(Response):
    """An already serialised JSON body (skips Starlette's generic header building)."""

    media_type = JSON

    def __init__(
        self, body: bytes, status_code: int = 200, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("latin-1")),
            *headers,
        ]


def json_response(
    call: Call,
    content: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    option: int | None = None,
) -> Response:
    """``content`` serialised with orjson, with the call's request id."""
    raw = [(b"x-request-id", call.context.request_id.encode("latin-1"))]
    if headers:
        raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
    return JsonResponse(orjson.dumps(content, option=option), status, raw)


#: OpenAI error ``type`` by HTTP status.
_OPENAI_TYPES: Final[dict[int, str]] = {
    401: "authentication_error",
    403: "permission_error",
    429: "invalid_request_error",
}


def openai_error(
    http_status: int, message_text: str, *, param: str | None, code: str | None
) -> dict[str, Any]:
    """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``."""
    kind = _OPENAI_TYPES.get(
        http_status, "invalid_request_error" if http_status < 500 else "server_error"
    )
    return {"error": {"message": message_text, "type": kind, "param": param, "code": code}}


def _renamed(call: Call, field_path: str | None) -> str | None:
    """The field path as the route's body names it (``text`` -> ``query``, ...)."""
    if field_path is None:
        return None
    for ours, theirs in call.param_names:
        if field_path == ours or field_path.startswith((ours + ".", ours + "[")):
            rest = field_path[len(ours) :]
            return theirs + rest if theirs else rest.removeprefix(".") or field_path
    return field_path


def _rename_field(call: Call, exc: VectorgateError) -> None:
    renamed = _renamed(call, exc.field)
    if renamed is None or exc.field is None or renamed == exc.field:
        return
    if exc.message.startswith(exc.field):
        exc.message = renamed + exc.message[len(exc.field) :]
    exc.field = renamed
    exc.metadata["field"] = renamed


def _retry_header(call: Call, http_status: int) -> dict[str, str]:
    if call.style is ErrorStyle.OPENAI and http_status not in (503, 504):
        return {"x-should-retry": "false"}
    return {}


def error_response(call: Call, exc: BaseException) -> Response:
    """The response for any exception raised while serving ``call``."""
    if isinstance(exc, VectorgateError):
        _rename_field(call, exc)
        mapping = classify(exc)
        http_status = 413 if isinstance(exc, BodyTooLarge) else mapping.http_status
        if http_status >= 500:
            log.warning(
                "%s %s failed: %s",
                call.request.method,
                call.request.url.path,
                exc.message,
                extra={"request_id": call.context.request_id},
            )
        headers = _retry_header(call, http_status)
        if call.style is ErrorStyle.OPENAI:
            code = getattr(exc, "openai_code", None) or exc.reason.lower()
            body = openai_error(http_status, exc.message, param=exc.field, code=code)
            return json_response(call, body, http_status, headers)
        status = to_status(exc, mapping.code.value[0])
        return json_response(call, to_dict(status), http_status, headers)
    if isinstance(exc, RouteError):
        headers = {**exc.headers, **_retry_header(call, exc.http_status)}
        if call.style is ErrorStyle.OPENAI:
            body = openai_error(exc.http_status, exc.message, param=None, code=None)
        else:
            body = {"code": exc.code.value[0], "message": exc.message, "details": []}
        return json_response(call, body, exc.http_status, headers)
    log.error(
        "%s %s: internal error",
        call.request.method,
        call.request.url.path,
        exc_info=exc,
        extra={"request_id": call.context.request_id},
    )
    text = f"internal error (request id {call.context.request_id})"
    if call.style is ErrorStyle.OPENAI:
        return json_response(call, openai_error(500, text, param=None, code="internal"), 500)
    body = {"code": grpc.StatusCode.INTERNAL.value[0], "message": text, "details": []}
    return json_response(call, body, 500)


Endpoint = Callable[[Request], Awaitable[Response]]


class RpcRoutes:
    """A group of hand-built routes (compatibility APIs) answered by the RPC handlers the
    gRPC transport calls; their JSON bodies are read up to ``max_body_bytes``."""

    def __init__(
        self, rpcs: Mapping[str, Rpc], gateway: Gateway, config: Config, max_body_bytes: int
    ) -> None:
        self.rpcs = rpcs
        self.gateway = gateway
        self.config = config
        self.limit = max_body_bytes
        self.search_rpc = rpcs["/vectorgate.v1.SearchService/Search"]


#: A route's work on its JSON object body (see :func:`json_endpoint`).
JsonFlow = Callable[[dict[str, Any], Call], Awaitable[Response]]


def json_endpoint(
    flow: JsonFlow,
    limit: int,
    style: ErrorStyle = ErrorStyle.STATUS,
    params: tuple[tuple[str, str], ...] = (),
) -> Endpoint:
    """The endpoint of a hand-built route taking a JSON object body: starts the call
    (``params`` renames request fields to the body's names in errors), checks the
    deadline header, reads at most ``limit`` bytes of body and runs ``flow``; any error
    is answered in ``style``."""

    async def endpoint(request: Request) -> Response:
        call = start_call(request, style, params)
        try:
            parse_timeout(call)
            body = require_object(await read_json(request, limit), "")
            return await flow(body, call)
        except Exception as exc:
            return error_response(call, exc)

    return endpoint


class AsgiEndpoint:
    """``async def endpoint(request) -> Response`` as a plain ASGI app.

    Starlette routes hand ASGI apps the request directly, without the
    per-request wrappers of function endpoints; every endpoint here catches
    its own errors, so those wrappers have nothing to do.
    """

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.endpoint(Request(scope, receive))
        await response(scope, receive, send)


@dataclass(frozen=True, slots=True)
class Operation:
    """A hand-built route (compatibility, health) with its OpenAPI description."""

    method: str
    #: Starlette route path.
    path: str
    endpoint: Endpoint
    #: The OpenAPI operation object.
    spec: dict[str, Any]
    #: The OpenAPI path (defaults to ``path``).
    openapi_path: str = ""
    #: Error body of the route (decides the 404/405 body for its path prefix).
    style: ErrorStyle = ErrorStyle.STATUS
    #: What the route takes as its body; None: JSON for POST/PUT/PATCH, else none.
    body_format: BodyFormat | None = None
