"""The ASGI application and the uvicorn server running it in the gateway's event loop."""

from __future__ import annotations

import asyncio
import logging
import math
import socket
from collections.abc import Callable, Sequence
from typing import Any

import grpc
import orjson
import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route, Router
from starlette.types import Receive, Scope, Send

from ..app import Gateway
from ..config import Config
from ..observability import ObservedHttp
from ..services.registry import Rpc
from . import compat_vector, openai_compat
from .common import (
    JSON_BODY,
    NO_BODY,
    AsgiEndpoint,
    BodyFormat,
    Endpoint,
    ErrorStyle,
    JsonResponse,
    Operation,
    RouteError,
    error_response,
    json_response,
    start_call,
)
from .compat_vector import VectorApi
from .connection import DISCARD_LIMIT, ClientGuard, protocol_class
from .openai_compat import OpenAIApi
from .openapi import build_document, closed_object
from .transcode import all_bindings, body_format, endpoint_for

__all__ = ["HttpApp", "HttpServer", "build_app"]

log = logging.getLogger(__name__)

_STATUS_SCHEMA = closed_object(["status"], {"status": {"type": "string"}})

_READY_SCHEMA = closed_object(
    ["status", "stores"],
    {
        "status": {"type": "string"},
        "stores": {
            "type": "object",
            "description": "Per configured store: SERVING, or UNAVAILABLE with the error",
            "additionalProperties": closed_object(
                ["status", "backend"],
                {
                    "status": {"type": "string", "enum": ["SERVING", "UNAVAILABLE"]},
                    "backend": {"type": "string"},
                    "error": {"type": "string"},
                },
            ),
        },
    },
)


def _health_operations(
    ready: Callable[[], bool],
    stores: Callable[[], dict[str, dict[str, str]]],
    document: list[bytes],
) -> list[Operation]:
    async def healthz(request: Request) -> Response:
        return json_response(start_call(request), {"status": "ok"})

    async def readyz(request: Request) -> Response:
        serving = ready()
        body = {"status": "SERVING" if serving else "NOT_SERVING", "stores": stores()}
        return json_response(start_call(request), body, 200 if serving else 503)

    async def openapi(request: Request) -> Response:
        call = start_call(request)
        return JsonResponse(
            document[0], 200, [(b"x-request-id", call.context.request_id.encode("latin-1"))]
        )

    def status_response(
        description: str, schema: dict[str, Any] = _STATUS_SCHEMA
    ) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }

    return [
        Operation(
            "GET",
            "/healthz",
            healthz,
            {
                "operationId": "healthz",
                "tags": ["Health"],
                "summary": "Liveness: the process serves HTTP",
                "responses": {"200": status_response("Alive")},
            },
        ),
        Operation(
            "GET",
            "/readyz",
            readyz,
            {
                "operationId": "readyz",
                "tags": ["Health"],
                "summary": "Readiness, as the gRPC health service reports it",
                "responses": {
                    "200": status_response(
                        "SERVING (each store's own state in stores)", _READY_SCHEMA
                    ),
                    "503": status_response(
                        "NOT_SERVING (starting or shutting down)", _READY_SCHEMA
                    ),
                },
            },
        ),
        Operation(
            "GET",
            "/openapi.json",
            openapi,
            {
                "operationId": "openapi",
                "tags": ["Health"],
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            },
        ),
    ]


class _JsonRoute(Route):
    """A route whose wrong-method answer is the JSON 405 of its error style.

    ``body_format`` declares the body it takes (the auth gate inspects exactly that).
    """

    def __init__(
        self,
        path: str,
        endpoint: Endpoint,
        method: str,
        style: ErrorStyle,
        allowed: Callable[[Scope], list[str]],
        body: BodyFormat,
        template: str = "",
    ) -> None:
        super().__init__(path, AsgiEndpoint(endpoint), methods=[method])
        self.style = style
        self.body_format = body
        self._allowed = allowed
        #: The path as documented (OpenAPI), for metrics and logs.
        self.template = template or path

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # Starlette's Route.matches, minus work these routes never need: every
        # path parameter is a plain string (no conversion) and nothing is mounted.
        if scope["type"] != "http":
            return Match.NONE, {}
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root) and (path == root or path[len(root)] == "/"):
            path = path[len(root) :]
        found = self.path_regex.match(path)
        if found is None:
            return Match.NONE, {}
        child = {"endpoint": self.endpoint, "path_params": found.groupdict()}
        if self.methods and scope["method"] not in self.methods:
            return Match.PARTIAL, child
        return Match.FULL, child

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            allowed = ", ".join(self._allowed(scope))
            error = RouteError(
                405,
                grpc.StatusCode.UNIMPLEMENTED,
                f"method {scope['method']} is not allowed on {scope['path']} (allowed: {allowed})",
                {"Allow": allowed},
            )
            response = error_response(start_call(Request(scope, receive), self.style), error)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class HttpApp:
    """The ASGI application: a Starlette :class:`~starlette.routing.Router` of JSON routes.

    Like a ``Starlette`` application it exposes ``router`` (so other modules
    may add routes, e.g. ``/metrics``), without its per-request middleware:
    every endpoint answers its own errors.
    """

    def __init__(
        self,
        router: Router,
        document: dict[str, Any],
        *,
        body_timeout_s: float = 0,
        body_min_rate: float = 500,
        max_body_bytes: int = DISCARD_LIMIT,
    ) -> None:
        self.router = router
        #: The OpenAPI document served at ``/openapi.json``.
        self.document = document
        # Slow-body timeout and cancel-on-disconnect around every route, and every
        # request, whichever route (even ones added later) or none, observed.
        guarded = ClientGuard(router, body_timeout_s, body_min_rate, max_body_bytes)
        self._observed = ObservedHttp(guarded, router.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._observed(scope, receive, send)


def build_app(
    rpcs: Sequence[Rpc], gateway: Gateway, config: Config, ready: Callable[[], bool]
) -> HttpApp:
    """The ASGI application and its OpenAPI document."""
    limit = config.server.max_message_bytes
    by_name = {rpc.full_name: rpc for rpc in rpcs}
    bindings = all_bindings(rpcs)
    document_bytes: list[bytes] = [b""]
    operations = [
        *VectorApi(by_name, gateway, config, limit).operations(),
        *OpenAIApi(by_name, gateway, config, limit).operations(),
        *_health_operations(ready, gateway.store_health.snapshot, document_bytes),
    ]
    document = build_document(
        bindings,
        operations,
        extra_schemas={**compat_vector.SCHEMAS, **openai_compat.SCHEMAS},
    )
    document_bytes[0] = orjson.dumps(document)
    routes: list[_JsonRoute] = []

    def allowed(scope: Scope) -> list[str]:
        methods: set[str] = set()
        for route in routes:
            if route.path_regex.match(scope["path"]) and route.methods:
                methods |= route.methods
        return sorted(methods)

    routes.extend(
        _JsonRoute(
            binding.route_path,
            endpoint_for(binding, max_body_bytes=limit),
            binding.method,
            ErrorStyle.STATUS,
            allowed,
            body_format(binding),
            binding.openapi_path,
        )
        for binding in bindings
    )
    routes.extend(
        _JsonRoute(
            op.path,
            op.endpoint,
            op.method,
            op.style,
            allowed,
            op.body_format or (JSON_BODY if op.method in ("POST", "PUT", "PATCH") else NO_BODY),
            op.openapi_path,
        )
        for op in operations
    )
    openai_prefixes = tuple(
        op.path.split("{", 1)[0] for op in operations if op.style is ErrorStyle.OPENAI
    )

    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        style = ErrorStyle.OPENAI if path.startswith(openai_prefixes) else ErrorStyle.STATUS
        error = RouteError(
            404,
            grpc.StatusCode.NOT_FOUND,
            f"no route for {scope['method']} {path} (see /openapi.json)",
            {},
        )
        response = error_response(start_call(Request(scope, receive), style), error)
        await response(scope, receive, send)

    router = Router(routes=list(routes), default=not_found, redirect_slashes=False)
    return HttpApp(
        router,
        document,
        body_timeout_s=config.server.body_timeout_s,
        body_min_rate=config.server.body_min_bytes_per_s,
        max_body_bytes=config.server.max_message_bytes,
    )


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise OSError(f"cannot bind HTTP on {host}:{port}: {exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot bind HTTP on {host}:{port}: {exc}") from exc
    return sock


class HttpServer:
    """The REST face: uvicorn serving :func:`build_app` on the running event loop.

    The port is bound on construction (so ``port`` is known, and a busy port
    fails before anything starts); :meth:`start` begins serving.
    """

    def __init__(self, rpcs: Sequence[Rpc], gateway: Gateway, config: Config) -> None:
        self.serving = False
        self.app = build_app(rpcs, gateway, config, lambda: self.serving)
        host = config.server.host
        self._socket = _bind(host, config.server.http_port)
        self.port: int = self._socket.getsockname()[1]
        self._config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            access_log=False,
            ws="none",
            interface="asgi3",
            # Slow request heads get a 408 and a closed connection (slowloris).
            http=protocol_class(config.server.header_timeout_s, config.server.max_message_bytes),
            server_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=math.ceil(config.server.grace_period_s),
        )
        self._server: uvicorn.Server | None = None
        self._main: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Accept connections and report SERVING on ``/readyz``."""
        self._config.load()
        server = uvicorn.Server(self._config)
        server.lifespan = self._config.lifespan_class(self._config)
        await server.startup(sockets=[self._socket])
        self._server = server
        self._main = asyncio.create_task(server.main_loop(), name="vectorgate-http")
        self.serving = True

    async def stop(self, grace: float) -> None:
        """NOT_SERVING, stop accepting, let in-flight requests finish within ``grace`` s."""
        self.serving = False
        server, self._server = self._server, None
        if server is None:
            self._socket.close()
            return
        # uvicorn takes whole seconds; a fraction still deserves its own second.
        server.config.timeout_graceful_shutdown = math.ceil(grace)
        server.should_exit = True
        if self._main is not None:
            await self._main
        await server.shutdown(sockets=[self._socket])
