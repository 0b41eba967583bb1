"""The table of RPCs both transports serve.

Every RPC of every ``vectorgate.v1`` service is bound here, from the proto
descriptors, to a handler method of the same name on a service object, with
the permission it needs. An RPC without a handler, or a handler without a
declared permission, fails start-up: nothing is served undeclared.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from google.protobuf import descriptor, message, symbol_database
from google.rpc import error_details_pb2, status_pb2

from vectorgate.v1 import (
    collection_admin_service_pb2,
    index_admin_service_pb2,
    key_service_pb2,
    search_service_pb2,
    upsert_service_pb2,
)

from ..errors import VectorgateError, classify

#: The proto files whose services are served.
SERVICE_FILES = (
    collection_admin_service_pb2,
    upsert_service_pb2,
    search_service_pb2,
    index_admin_service_pb2,
    key_service_pb2,
)

ERROR_DOMAIN = "vectorgate.dev"


class Permission(enum.Enum):
    """What an RPC needs of the caller's credentials."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


F = TypeVar("F", bound=Callable[..., Any])


def requires(permission: Permission, *, per_index: bool = False) -> Callable[[F], F]:
    """Declare the permission a handler needs.

    ``per_index`` (ADMIN RPCs only): the RPC acts on the one collection its
    request names, so a virtual key holding the index permission ``admin`` on
    the virtual index naming it may call it (collection lifecycle); other
    ADMIN RPCs need the master key.
    """
    if per_index and permission is not Permission.ADMIN:
        raise ValueError("per_index applies to ADMIN RPCs only")

    def mark(fn: F) -> F:
        fn.__vectorgate_permission__ = permission  # type: ignore[attr-defined]
        fn.__vectorgate_per_index__ = per_index  # type: ignore[attr-defined]
        return fn

    return mark


@dataclass(slots=True)
class CallContext:
    """Transport-neutral facts about a call."""

    #: Seconds left before the caller's deadline, when it set one (at call start).
    timeout: float | None = None
    #: Request metadata / headers, lower-case keys.
    metadata: Mapping[str, str] = field(default_factory=dict)
    peer: str = ""
    request_id: str = ""
    started: float = field(default_factory=time.monotonic)
    #: Who is calling (``auth.Credentials``), once authenticated.
    credentials: object | None = None


Handler = Callable[[Any, CallContext], Awaitable[message.Message]]


@dataclass(frozen=True, slots=True)
class Rpc:
    """One served RPC."""

    service: str
    method: str
    descriptor: descriptor.MethodDescriptor
    request_type: type[message.Message]
    response_type: type[message.Message]
    client_streaming: bool
    handler: Handler
    permission: Permission
    #: An ADMIN RPC a key may call on a virtual index it holds ``admin`` on.
    per_index: bool = False

    @property
    def full_name(self) -> str:
        """``/package.Service/Method``, as gRPC names it."""
        return f"/{self.service}/{self.method}"


def service_descriptors() -> list[descriptor.ServiceDescriptor]:
    """The served services' descriptors, in file order."""
    out: list[descriptor.ServiceDescriptor] = []
    for module in SERVICE_FILES:
        out.extend(module.DESCRIPTOR.services_by_name.values())
    return out


def build_rpcs(implementations: Mapping[str, object]) -> list[Rpc]:
    """Bind every RPC to ``implementations[service short name].<Method>``."""
    db = symbol_database.Default()
    rpcs: list[Rpc] = []
    for service in service_descriptors():
        impl = implementations.get(service.name)
        if impl is None:
            raise RuntimeError(f"no implementation for service {service.full_name}")
        for method in service.methods:
            handler = getattr(impl, method.name, None)
            if handler is None:
                raise RuntimeError(f"{service.full_name}/{method.name} has no handler")
            permission = getattr(handler, "__vectorgate_permission__", None)
            if not isinstance(permission, Permission):
                raise RuntimeError(
                    f"{service.full_name}/{method.name} declares no permission (use @requires)"
                )
            if method.server_streaming:
                raise RuntimeError(
                    f"{service.full_name}/{method.name}: server streaming unsupported"
                )
            rpcs.append(
                Rpc(
                    service=service.full_name,
                    method=method.name,
                    descriptor=method,
                    request_type=db.GetSymbol(method.input_type.full_name),
                    response_type=db.GetSymbol(method.output_type.full_name),
                    client_streaming=method.client_streaming,
                    handler=handler,
                    permission=permission,
                    per_index=bool(getattr(handler, "__vectorgate_per_index__", False)),
                )
            )
    return rpcs


def to_status(error: VectorgateError, code: int) -> status_pb2.Status:
    """``google.rpc.Status`` with ``ErrorInfo`` (and ``BadRequest`` naming the field)."""
    status = status_pb2.Status(code=code, message=error.message)
    info = error_details_pb2.ErrorInfo(
        reason=error.reason,
        domain=ERROR_DOMAIN,
        metadata=error.metadata,
    )
    status.details.add().Pack(info)
    if error.field is not None and classify(error).http_status == 400:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=error.field, description=error.message
                )
            ]
        )
        status.details.add().Pack(bad)
    return status
