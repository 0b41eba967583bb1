"""Authentication and authorization, in one place for both transports.

Every RPC of the table (:mod:`..services.registry`) declares the permission it
needs; :func:`secure_rpcs` wraps each handler so that the call is
authenticated (:class:`Authenticator`, from the ``authorization`` metadata /
header) and then authorized by :func:`authorize` before the handler runs.
The gRPC transport and every HTTP route that calls an RPC go through those
handlers. HTTP routes that call no RPC declare their permission in
:data:`HTTP_ROUTES`; :func:`secure_http` gates every route of the router and
denies any route that is declared nowhere.

Credentials:

* no master key configured: every caller is an administrator (the server then
  binds loopback only, see :func:`check_bind`);
* the master key: administrator;
* a virtual key (``sk-`` + 32 random bytes, stored only as its SHA-256): the
  index permissions it was granted (``read``, ``write``, ``admin``) on virtual
  indexes, by virtual name only. ``admin`` on an index allows the ADMIN RPCs
  declared ``per_index`` (creating and dropping the collection behind it), and
  nothing on other indexes or on the virtual indexes themselves.

Every face takes its permissions from the RPC table: gRPC and transcoded REST
call the RPCs; the Milvus passthrough maps each endpoint to its equivalent RPC
and authorizes a request of that RPC naming the collection (:func:`naming_request`).

A key's rights are its *effective* rights, recomputed at every call from the
current records of the key and of every key above it (the key that created
it, that key's creator, ...): index permissions and models are the
intersection of theirs, the expiry the earliest. A key whose creator was
deleted or expired stops working with it. Records come from the
:class:`~..storage.KeyStore` cache, which every replica empties as soon as
any key changes, so this costs no I/O while nothing changes. A stream
(``BulkUpsertDocuments``, gRPC or NDJSON) re-checks its key before every
message it accepts.

The models a caller may use travel with the call (``embeddings.CALLER_MODELS``)
and are checked where an embedder is obtained, so every embedding a request
causes is covered, whatever route or RPC caused it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from google.protobuf import message
from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vectorgate.v1 import collection_admin_service_pb2 as cpb
from vectorgate.v1 import search_service_pb2 as spb

from ..embeddings import ModelScope, caller_models
from ..errors import InvalidArgument, LimitExceeded, PermissionDenied, Unauthenticated
from ..jsondepth import MAX_JSON_DEPTH, too_deep
from ..services.registry import CallContext, Permission, Rpc
from ..storage import KeyRecord, KeyStore, VirtualIndex

log = logging.getLogger(__name__)

#: Prefix of every virtual key.
KEY_PREFIX: Final = "sk-"
#: Random bytes in a virtual key.
KEY_BYTES: Final = 32
#: The RPC service whose handlers check key ownership themselves.
KEY_SERVICE: Final = "vectorgate.v1.KeyService"


class Public:
    """Declaration of a route anyone may call (health, readiness, metrics, OpenAPI)."""

    def __repr__(self) -> str:
        return "PUBLIC"


PUBLIC: Final = Public()


class IndexAdmin:
    """Declaration of a route binding a ``per_index`` ADMIN RPC: the master key, or a key
    holding ``admin`` on the index the request names (decided by :func:`authorize`)."""

    def __repr__(self) -> str:
        return "INDEX_ADMIN"


INDEX_ADMIN: Final = IndexAdmin()

Declaration = Permission | Public | IndexAdmin

#: Permissions of the HTTP routes that are not RPC bindings, by (method, path).
#: RPC bindings take the permission of their RPC. Anything else is denied.
HTTP_ROUTES: Final[Mapping[tuple[str, str], Declaration]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    # The web console's pages and assets: static, no data (the data comes from the API).
    ("GET", "/ui"): PUBLIC,
    ("GET", "/ui/{path:path}"): PUBLIC,
    # The console's file upload: every RPC it calls is authorized again, per index.
    ("POST", "/v1/collections/{collection}/documents:ingest"): Permission.WRITE,
    # Compatibility routes: each RPC they call is authorized again, per index.
    ("POST", "/v1/vector/store"): Permission.WRITE,
    ("POST", "/v1/vector/search"): Permission.READ,
    ("POST", "/v1/vector_stores/{vector_store_id}/search"): Permission.READ,
    ("POST", "/vector_stores/{vector_store_id}/search"): Permission.READ,
    ("POST", "/v1/embeddings"): Permission.READ,
    ("POST", "/embeddings"): Permission.READ,
    # Milvus REST v2 passthrough: each endpoint the permission of its equivalent RPC
    # (milvus_rest.ENDPOINTS), checked by the route.
    ("POST", "/milvus/v2/vectordb/{group}/{action}"): Permission.READ,
}


def hash_key(key: str) -> str:
    """The stored id of a key: hex SHA-256 (keys carry 256 random bits)."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh virtual key."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who is calling."""

    #: Administrator: the master key, or anyone when no master key is configured.
    admin: bool
    #: The virtual key, for a key caller, with its *effective* grants and expiry (its
    #: own, narrowed by every key above it); ``models`` is its own list.
    key: KeyRecord | None = None
    #: The ``models`` lists of the key and the keys above it that restrict models:
    #: a model must be in every one.
    model_limits: tuple[frozenset[str], ...] = ()

    @property
    def token(self) -> str:
        """The key's id; empty for an administrator."""
        return self.key.token if self.key is not None else ""


ADMIN: Final = Credentials(admin=True)


def effective(chain: Sequence[KeyRecord]) -> Credentials:
    """A key's credentials from its record and those above it (``chain[0]`` is the key)."""
    own = chain[0]
    grants = dict(own.grants)
    expires = own.expires
    for above in chain[1:]:
        grants = {
            name: perms & above.grants.get(name, frozenset()) for name, perms in grants.items()
        }
        if above.expires is not None and (expires is None or above.expires < expires):
            expires = above.expires
    grants = {name: perms for name, perms in grants.items() if perms}
    limits = tuple(frozenset(r.models) for r in chain if r.models)
    return Credentials(
        admin=False,
        key=dataclasses.replace(own, grants=grants, expires=expires),
        model_limits=limits,
    )


class Authenticator:
    """Turns the ``authorization`` metadata of a call into :class:`Credentials`."""

    def __init__(self, master_key: str | None, keys: KeyStore) -> None:
        self._master = master_key.encode() if master_key else None
        self.keys = keys

    @property
    def enabled(self) -> bool:
        """Whether a master key is configured (and so every call needs a key)."""
        return self._master is not None

    async def authenticate(self, metadata: Mapping[str, str]) -> Credentials:
        """The caller's credentials; :class:`Unauthenticated` without valid ones."""
        if self._master is None:
            return ADMIN
        header = metadata.get("authorization", "")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated(
                "authorization: send 'Authorization: Bearer <key>'", field="authorization"
            )
        if hmac.compare_digest(token.encode(), self._master):
            return ADMIN
        if not token.startswith(KEY_PREFIX):
            raise Unauthenticated("authorization: invalid key", field="authorization")
        return await self._current(hash_key(token))

    async def _current(self, digest: str) -> Credentials:
        """The effective credentials of the key with id ``digest``, as they are now."""
        chain = await self.keys.chain(digest)
        if chain is None or not hmac.compare_digest(chain[0].token, digest):
            # Unknown, deleted, or created by a key that was deleted since.
            raise Unauthenticated("authorization: invalid key", field="authorization")
        credentials = effective(chain)
        assert credentials.key is not None
        expires = credentials.key.expires
        if expires is not None and expires <= datetime.now(UTC):
            raise Unauthenticated("authorization: key expired", field="authorization")
        return credentials

    async def revalidate(self, credentials: Credentials) -> Credentials:
        """The credentials of a call still in progress, as they are now (a stream checks
        this before each message): :class:`Unauthenticated` once the key was deleted or
        expired, or any key above it was; narrowed when its rights were."""
        if credentials.admin or credentials.key is None:
            return credentials
        return await self._current(credentials.key.token)

    async def for_call(self, ctx: CallContext) -> Credentials:
        """The credentials of a call, authenticated once per call context."""
        cached = ctx.credentials
        if isinstance(cached, Credentials):
            return cached
        credentials = await self.authenticate(ctx.metadata)
        ctx.credentials = credentials
        return credentials


# --------------------------------------------------------------------------- authorization

IndexLookup = Callable[[str], VirtualIndex | None]


def _targets(request: message.Message) -> list[tuple[str, str, str]]:
    """``(field path, store, collection)`` of everything a request names."""
    if isinstance(request, spb.RetrieveRequest):
        return [(f"search.{f}", s, c) for f, s, c in _targets(request.search)]
    if isinstance(request, spb.SearchRequest):
        if request.rag_group:
            raise PermissionDenied(
                "rag_group: configured groups are not available to virtual keys",
                field="rag_group",
            )
        out: list[tuple[str, str, str]] = []
        if request.collection or request.store:
            out.append(("collection", request.store, request.collection))
        out.extend(
            (f"targets[{i}].collection", t.store, t.collection)
            for i, t in enumerate(request.targets)
        )
        return out
    if isinstance(request, cpb.CreateCollectionRequest):
        c = request.collection
        return [("collection.name", c.store, c.name)]
    fields = request.DESCRIPTOR.fields_by_name
    store = str(getattr(request, "store", ""))
    for name in ("collection", "name"):
        fd = fields.get(name)
        if fd is not None and fd.type == fd.TYPE_STRING:
            return [(name, store, str(getattr(request, name)))]
    return []


def authorize(rpc: Rpc, request: Any, credentials: Credentials, lookup: IndexLookup) -> None:
    """Allow the call or raise :class:`PermissionDenied`. Deny by default.

    Administrators may call anything. A virtual key may call READ and WRITE
    RPCs on the virtual indexes it was granted that permission on, and the
    ``per_index`` ADMIN RPCs on those it holds ``admin`` on (except an index
    with a policy filter, whose collection is shared), named by their virtual
    name with no ``store``; never other ADMIN RPCs, real collections, other
    indexes or configured RAG groups. Key management RPCs check ownership and
    rights in their handlers.
    """
    if credentials.admin:
        return
    key = credentials.key
    if key is None:
        raise PermissionDenied(f"{rpc.method}: not allowed")
    if rpc.service == KEY_SERVICE and rpc.permission is not Permission.ADMIN:
        return
    if rpc.permission is Permission.ADMIN and not rpc.per_index:
        raise PermissionDenied(f"{rpc.method}: requires the master key")
    if not isinstance(request, message.Message):
        raise PermissionDenied(f"{rpc.method}: not allowed")
    targets = _targets(request)
    if not targets:
        raise PermissionDenied(
            f"{rpc.method}: virtual keys must name a virtual index they were granted"
        )
    wanted = rpc.permission.value
    for field, store, name in targets:
        if store:
            store_field = field.rsplit(".", 1)[0] + ".store" if "." in field else "store"
            if field.startswith("targets["):
                store_field = field.replace(".collection", ".store")
            raise PermissionDenied(
                f"{store_field}: virtual keys use virtual index names only", field=store_field
            )
        granted = key.grants.get(name, frozenset())
        index = lookup(name)
        if wanted not in granted or index is None:
            raise PermissionDenied(
                f"{field}: this key has no {wanted} access to index {name!r}", field=field
            )
        if rpc.permission is Permission.ADMIN and index.policy_filter is not None:
            raise PermissionDenied(
                f"{field}: index {name!r} has a policy filter (its collection is shared); "
                f"{rpc.method} on it requires the master key",
                field=field,
            )


def naming_request(rpc: Rpc, name: str) -> message.Message:
    """A request of ``rpc`` naming collection ``name``: what :func:`authorize` checks for
    a face that does not speak protobuf (the Milvus passthrough) but calls the same
    operation. A request type that names no collection stays empty (keys are denied)."""
    request = rpc.request_type()
    if isinstance(request, cpb.CreateCollectionRequest):
        request.collection.name = name
        return request
    fields = request.DESCRIPTOR.fields_by_name
    for field_name in ("collection", "name"):
        fd = fields.get(field_name)
        if fd is not None and fd.type == fd.TYPE_STRING:
            setattr(request, field_name, name)
            break
    return request


def call_authorizer(
    authenticator: Authenticator, lookup: IndexLookup
) -> Callable[[Rpc, Any, CallContext], Awaitable[None]]:
    """``check(rpc, request, ctx)``: authenticate and authorize a call of ``rpc`` without
    making it, for routes that must refuse before doing work the RPC would refuse."""

    async def check(rpc: Rpc, request: Any, ctx: CallContext) -> None:
        authorize(rpc, request, await authenticator.for_call(ctx), lookup)

    return check


async def _authorized_stream(
    rpc: Rpc,
    requests: AsyncIterator[Any],
    credentials: Credentials,
    authenticator: Authenticator,
    lookup: IndexLookup,
    refresh: Callable[[], Awaitable[None]] | None,
    scope: ModelScope,
) -> AsyncIterator[Any]:
    """The stream's messages, each accepted only if the caller may still send it.

    Before every message the key is checked again as it is now (deleted,
    expired, narrowed, or any key above it so) and the message authorized
    against the index the stream names, so a write already accepted is the
    only one that can land after the key stopped being valid. Each check is a
    few dictionary reads while no key or index changed.
    """
    named_by: Any = None
    async for request in requests:
        if refresh is not None:
            await refresh()
        credentials = await authenticator.revalidate(credentials)
        scope.limits = credentials.model_limits
        names = str(getattr(request, "collection", "")) + str(getattr(request, "store", ""))
        if named_by is None or names:
            named_by = request
        authorize(rpc, named_by, credentials, lookup)
        reject_endpoints(request)
        yield request


def secure_rpcs(
    rpcs: Sequence[Rpc],
    authenticator: Authenticator,
    lookup: IndexLookup,
    refresh: Callable[[], Awaitable[None]] | None = None,
) -> list[Rpc]:
    """The RPC table with every handler authenticating and authorizing first.

    ``refresh`` (when given) brings the virtual indexes up to date first, so
    that replicas sharing one database agree on them. The caller's models are
    in force (``embeddings.CALLER_MODELS``) while the handler runs.
    """

    def secured(rpc: Rpc) -> Rpc:
        inner = rpc.handler

        async def handler(request: Any, ctx: CallContext) -> message.Message:
            credentials = await authenticator.for_call(ctx)
            if refresh is not None:
                await refresh()
            scope = ModelScope(credentials.model_limits)
            if rpc.client_streaming:
                request = _authorized_stream(
                    rpc, request, credentials, authenticator, lookup, refresh, scope
                )
            else:
                authorize(rpc, request, credentials, lookup)
                reject_endpoints(request)
            with caller_models(scope):
                return await inner(request, ctx)

        return dataclasses.replace(rpc, handler=handler)

    return [secured(rpc) for rpc in rpcs]


# --------------------------------------------------------------------------- endpoints

#: Keys that would name an endpoint or carry a credential: never taken from a request.
ENDPOINT_FIELDS: Final = frozenset(
    {
        "api_base",
        "api_key",
        "apikey",
        "base_url",
        "url",
        "uri",
        "host",
        "hosts",
        "endpoint",
        "password",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
    }
)
#: Subtrees that hold caller data (document metadata), not configuration.
DATA_FIELDS: Final = frozenset({"metadata"})


def endpoint_field(value: Any, path: str = "") -> str | None:
    """The path of the first endpoint/credential key in a JSON value, if any.

    Walked with an explicit stack, never recursion; a value nested deeper than
    :data:`..jsondepth.MAX_JSON_DEPTH` is :class:`InvalidArgument` naming the limit.
    """
    # (value, its path, its depth, whether keys below are caller data)
    stack: list[tuple[Any, str, int, bool]] = [(value, path, 1, False)]
    while stack:
        item, where, depth, data = stack.pop()
        if isinstance(item, dict):
            if depth > MAX_JSON_DEPTH:
                raise too_deep(where)
            below: list[tuple[Any, str, int, bool]] = []
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                if not data and str(key).lower() in ENDPOINT_FIELDS:
                    return child_path
                if isinstance(child, dict | list):
                    below.append((child, child_path, depth + 1, data or key in DATA_FIELDS))
            stack.extend(reversed(below))
        elif isinstance(item, list):
            if depth > MAX_JSON_DEPTH:
                raise too_deep(where)
            for i in range(len(item) - 1, -1, -1):
                child = item[i]
                if isinstance(child, dict | list):
                    stack.append((child, f"{where}[{i}]", depth + 1, data))
    return None


#: Free-form JSON message types: the only place a request can carry an endpoint key.
_JSON_TYPES: Final = frozenset(
    {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)


@functools.cache
def _may_hold_json(desc: Any) -> bool:
    """Whether messages of type ``desc`` are, or can hold at any depth, free-form JSON
    outside :data:`DATA_FIELDS`. Typed fields are fixed by the protos; only JSON can
    name an endpoint.

    Walking a 1,000-document upsert field by field cost more CPU than writing
    it; document types hold no JSON but their metadata, so they are skipped.
    """
    seen = {desc.full_name}
    todo = [desc]
    while todo:
        current = todo.pop()
        if current.full_name in _JSON_TYPES:
            return True
        for fd in current.fields:
            sub = fd.message_type
            if sub is not None and fd.name not in DATA_FIELDS and sub.full_name not in seen:
                seen.add(sub.full_name)
                todo.append(sub)
    return False


def _message_endpoint_field(msg: message.Message, path: str = "") -> str | None:
    from google.protobuf import json_format, struct_pb2

    if not _may_hold_json(msg.DESCRIPTOR):
        return None
    for fd, value in msg.ListFields():
        where = f"{path}.{fd.name}" if path else fd.name
        if fd.name in DATA_FIELDS or fd.message_type is None:
            continue
        if not _may_hold_json(fd.message_type):
            continue
        items = value if fd.is_repeated else [value]
        for i, item in enumerate(items):
            item_path = f"{where}[{i}]" if fd.is_repeated else where
            if isinstance(item, struct_pb2.Struct | struct_pb2.Value | struct_pb2.ListValue):
                found = endpoint_field(json_format.MessageToDict(item), item_path)
            elif isinstance(item, message.Message):
                found = _message_endpoint_field(item, item_path)
            else:
                continue
            if found is not None:
                return found
    return None


def reject_endpoints(value: Any) -> None:
    """INVALID_ARGUMENT naming any endpoint or credential field in a request."""
    found = (
        _message_endpoint_field(value)
        if isinstance(value, message.Message)
        else endpoint_field(value)
    )
    if found is not None:
        raise InvalidArgument(
            f"{found}: endpoints and credentials come from the server's configuration, "
            "never from a request",
            field=found,
            reason="ENDPOINT_NOT_ALLOWED",
        )


# --------------------------------------------------------------------------- HTTP


def route_declarations(rpcs: Sequence[Rpc]) -> dict[tuple[str, str], Declaration]:
    """Every declared HTTP route: RPC bindings (their RPC's permission) and :data:`HTTP_ROUTES`."""
    from ..http.transcode import all_bindings

    declared: dict[tuple[str, str], Declaration] = dict(HTTP_ROUTES)
    for binding in all_bindings(rpcs):
        rpc = binding.rpc
        declared[(binding.method, binding.route_path)] = (
            INDEX_ADMIN if rpc.per_index else rpc.permission
        )
    return declared


def _route_keys(route: BaseRoute) -> list[tuple[str, str]]:
    path = getattr(route, "path", "")
    methods = sorted((getattr(route, "methods", None) or {"GET"}) - {"HEAD"})
    return [(method, path) for method in methods]


def undeclared_routes(
    routes: Sequence[BaseRoute], declared: Mapping[tuple[str, str], Declaration]
) -> list[tuple[str, str]]:
    """Routes of a router that declare no permission (should be none)."""
    return [key for route in routes for key in _route_keys(route) if key not in declared]


#: Routes that reject endpoint and credential fields themselves (Milvus passthrough).
#: (The ingest upload's body is a file, not JSON: its documents are checked as RPC requests.)
SELF_CHECKED_ROUTES: Final = frozenset(
    {"/milvus/v2/vectordb/{group}/{action}", "/v1/collections/{collection}/documents:ingest"}
)

_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


class _Gate:
    """Authenticates (and coarse-authorizes) an HTTP route before it runs.

    The body is held to the size limit as it streams in (whatever the route does
    with it), and judged by what the route parses (its ``body_format``), never by
    what the Content-Type merely mentions: a type the route does not take is a
    415 here; a JSON body is read, parsed as the route will parse it and
    inspected; NDJSON lines become RPC messages, each inspected by the RPC layer
    (:func:`_authorized_stream`) as it arrives. The route then runs with the
    caller's models in force.
    """

    def __init__(
        self,
        app: ASGIApp,
        declaration: Declaration | None,
        authenticator: Authenticator,
        style: Any,
        max_body_bytes: int,
        body: Any,
        *,
        inspect: bool = True,
    ) -> None:
        #: The body limit; 0 for routes that take an unbounded stream (NDJSON bulk
        #: upserts, which bound each line themselves).
        self.max_body_bytes = max_body_bytes
        #: Whether the JSON body is checked here (routes that check their own do not).
        self.inspect = inspect
        self.app = app
        self.declaration = declaration
        self.authenticator = authenticator
        self.style = style
        self.body_format = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if isinstance(self.declaration, Public):
            await self.app(scope, receive, send)
            return
        from ..http.common import RouteError, error_response, start_call

        request = Request(scope, receive)
        try:
            if self.declaration is None:
                raise PermissionDenied(f"{scope['method']} {scope['path']}: not allowed")
            metadata = {
                k.decode("latin-1").lower(): v.decode("latin-1")
                for k, v in scope.get("headers", ())
            }
            credentials = await self.authenticator.authenticate(metadata)
            if self.declaration is Permission.ADMIN and not credentials.admin:
                raise PermissionDenied(f"{scope['path']}: requires the master key")
            if self.max_body_bytes > 0:
                receive = _limited(receive, metadata, self.max_body_bytes)
            receive = await self._inspect_body(scope, receive, metadata)
        except (
            Unauthenticated,
            PermissionDenied,
            InvalidArgument,
            LimitExceeded,
            RouteError,
        ) as exc:
            response = error_response(start_call(request, self.style), exc)
            await response(scope, receive, send)
            return
        with caller_models(ModelScope(credentials.model_limits)):
            await self.app(scope, receive, send)

    async def _inspect_body(
        self, scope: Scope, receive: Receive, metadata: Mapping[str, str]
    ) -> Receive:
        """Refuse a body the route does not take; reject a JSON body naming an endpoint
        or credential; replay what was read."""
        from ..http.common import BodyKind, RouteError

        if scope["method"] not in _BODY_METHODS or not self.body_format.reads_body:
            return receive
        try:
            kind = self.body_format.negotiate(metadata.get("content-type"))
        except RouteError:
            if self.max_body_bytes > 0:
                # The body is read (and dropped) before the 415, through the limit: an
                # oversized body is the same 413 whether its length was declared
                # (refused before reading) or streamed, and the connection stays usable.
                await _drain(receive)
            raise
        if kind is not BodyKind.JSON or not self.inspect or self.max_body_bytes <= 0:
            # NDJSON (and streaming routes' bodies): every message is checked as an RPC
            # message; routes that check their own bodies do so.
            return receive
        chunks: list[Message] = []
        size = 0
        more = True
        while more and size <= self.max_body_bytes:
            event = await receive()
            chunks.append(event)
            if event["type"] != "http.request":
                break
            size += len(event.get("body", b""))
            more = bool(event.get("more_body", False))
        if not more and size <= self.max_body_bytes:
            raw = b"".join(c.get("body", b"") for c in chunks if c["type"] == "http.request")
            try:
                body = orjson.loads(raw) if raw.strip() else None
            except orjson.JSONDecodeError:
                body = None  # the route reports the syntax error
            reject_endpoints(body)
        pending = list(chunks)

        async def replay() -> Message:
            if pending:
                return pending.pop(0)
            return await receive()

        return replay


async def _drain(receive: Receive) -> None:
    """Read the rest of a request body, keeping none of it."""
    while True:
        event = await receive()
        if event["type"] != "http.request" or not event.get("more_body", False):
            return


def _limited(receive: Receive, metadata: Mapping[str, str], limit: int) -> Receive:
    """``receive`` refusing a body over ``limit`` bytes: at once when its Content-Length
    says so (nothing is read), else as soon as the streamed (e.g. chunked) bytes pass it.
    Nothing is buffered here, so the refusal costs no memory whatever the body's size."""
    from ..http.common import too_large

    declared = metadata.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(int(declared), limit)
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        event = await receive()
        if event["type"] == "http.request":
            seen += len(event.get("body", b""))
            if seen > limit:
                raise too_large(seen, limit)
        return event

    return limited


def secure_http(
    routes: Sequence[BaseRoute],
    declared: Mapping[tuple[str, str], Declaration],
    authenticator: Authenticator,
    max_body_bytes: int,
    *,
    streaming: Collection[str] = (),
) -> None:
    """Put the gate in front of every route (in place); undeclared routes deny every call.

    Every route's body is held to ``max_body_bytes`` as it streams in, except the
    ``streaming`` route paths (client-streaming RPCs, whose NDJSON streams are bounded
    per line and whose JSON bodies are bounded by the route).
    """
    from ..http.common import JSON_BODY, NO_BODY, ErrorStyle

    for route in routes:
        if not isinstance(route, Route):
            continue
        keys = _route_keys(route)
        declarations = {declared.get(key) for key in keys}
        declaration = declarations.pop() if len(declarations) == 1 else None
        style = getattr(route, "style", ErrorStyle.STATUS)
        # Routes that declare no body format take JSON when they take a body at all.
        body = getattr(route, "body_format", None) or (
            JSON_BODY if _BODY_METHODS & set(route.methods or ()) else NO_BODY
        )
        limit = 0 if route.path in streaming else max_body_bytes
        route.app = _Gate(
            route.app,
            declaration,
            authenticator,
            style,
            limit,
            body,
            # Routes that check their own bodies (raw entity rows may hold any field name).
            inspect=route.path not in SELF_CHECKED_ROUTES,
        )


def streaming_routes(rpcs: Sequence[Rpc]) -> frozenset[str]:
    """Route paths of the client-streaming RPC bindings."""
    from ..http.transcode import all_bindings

    return frozenset(b.route_path for b in all_bindings(rpcs) if b.rpc.client_streaming)


# --------------------------------------------------------------------------- binding


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, master_key: bool, allow_remote: bool) -> None:
    """Without a master key, serve loopback only unless explicitly told otherwise."""
    if master_key or is_loopback(host):
        return
    if not allow_remote:
        raise OSError(
            f"refusing to serve on {host} without a master key: set "
            "general_settings.master_key (or VECTORGATE_MASTER_KEY), bind 127.0.0.1, or "
            "start with --insecure-allow-remote"
        )
    log.warning(
        "INSECURE: serving on %s with no master key (--insecure-allow-remote): "
        "anyone who can reach this port has full administrator access",
        host,
    )
