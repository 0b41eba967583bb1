"""Typed errors raised by :class:`vectorgate.Client` and :class:`vectorgate.AsyncClient`.

Every failed call raises a subclass of :class:`VectorgateError` chosen by the
gRPC status code, carrying what the server put in the rich status
(``google.rpc.Status`` in the ``grpc-status-details-bin`` trailer)::

    try:
        client.upsert("docs", [{"id": "a", "vector": [0.1, 0.2]}])
    except vectorgate.errors.InvalidArgumentError as err:
        print(err.reason, err.field)   # "DIMENSION_MISMATCH" "documents[0].vector"

Mistakes caught before anything is sent (a bad filter, a document without an
id, both ``text`` and ``vector``) raise plain ``ValueError``/``TypeError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

__all__ = [
    "AlreadyExistsError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "FieldViolation",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "VectorgateError",
    "from_rpc_error",
]

_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One entry of the ``google.rpc.BadRequest`` detail: which field, and what is wrong."""

    field: str
    description: str
    reason: str = ""


class VectorgateError(Exception):
    """Base of every error raised for a failed call.

    Attributes:
        code: the gRPC status code.
        message: the server's error message.
        reason: the ``ErrorReason`` name without its prefix (``"DIMENSION_MISMATCH"``,
            ``"COLLECTION_NOT_FOUND"``, ...), or ``""`` when the server sent none
            (e.g. a connection failure).
        field: the request field at fault (``"documents[3].vector"``), or ``None``.
        metadata: the ``google.rpc.ErrorInfo`` metadata (``"field"``, ``"backend"``, ...).
        violations: the ``google.rpc.BadRequest`` field violations, if any.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        reason: str = "",
        field: str | None = None,
        metadata: Mapping[str, str] | None = None,
        violations: Iterable[FieldViolation] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.field = field
        self.metadata: dict[str, str] = dict(metadata or {})
        self.violations: tuple[FieldViolation, ...] = tuple(violations)

    def __str__(self) -> str:
        extra = [f"reason={self.reason}"] if self.reason else []
        if self.field:
            extra.append(f"field={self.field}")
        suffix = f" ({', '.join(extra)})" if extra else ""
        return f"{self.code.name}: {self.message}{suffix}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code.name}, message={self.message!r}, "
            f"reason={self.reason!r}, field={self.field!r})"
        )


class InvalidArgumentError(VectorgateError):
    """INVALID_ARGUMENT: a request field is missing, malformed or out of range."""


class NotFoundError(VectorgateError):
    """NOT_FOUND: the store, collection or virtual index does not exist."""


class AlreadyExistsError(VectorgateError):
    """ALREADY_EXISTS: a collection or virtual index of that name exists."""


class ResourceExhaustedError(VectorgateError):
    """RESOURCE_EXHAUSTED: a batch, message, text or ``top_k`` exceeds a server limit."""


class FailedPreconditionError(VectorgateError):
    """FAILED_PRECONDITION: the collection cannot serve the request in its state."""


class UnimplementedError(VectorgateError):
    """UNIMPLEMENTED: the backend cannot do this operation."""


class UnavailableError(VectorgateError):
    """UNAVAILABLE: the server or its backend is unreachable; retrying may help."""


class DeadlineExceededError(VectorgateError):
    """DEADLINE_EXCEEDED: the call's timeout passed."""


class UnauthenticatedError(VectorgateError):
    """UNAUTHENTICATED: the API key is missing or invalid."""


class PermissionDeniedError(VectorgateError):
    """PERMISSION_DENIED: the API key does not grant this operation."""


class InternalError(VectorgateError):
    """INTERNAL: an unexpected server error."""


_BY_CODE: dict[grpc.StatusCode, type[VectorgateError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.UNIMPLEMENTED: UnimplementedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.INTERNAL: InternalError,
}


def from_rpc_error(error: grpc.RpcError) -> VectorgateError:
    """Translates a ``grpc.RpcError`` (sync) or ``grpc.aio.AioRpcError`` into a typed error."""
    code = _call_or(error, "code", grpc.StatusCode.UNKNOWN)
    message = _call_or(error, "details", None) or ""
    status = _rich_status(error)
    reason = ""
    metadata: dict[str, str] = {}
    violations: list[FieldViolation] = []
    if status is not None:
        message = status.message or message
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            bad_request = error_details_pb2.BadRequest()
            if detail.Unpack(info):
                reason = info.reason
                metadata.update(info.metadata)
            elif detail.Unpack(bad_request):
                violations.extend(
                    FieldViolation(v.field, v.description, v.reason)
                    for v in bad_request.field_violations
                )
    field = metadata.get("field") or (violations[0].field if violations else None)
    cls = _BY_CODE.get(code, VectorgateError)
    return cls(code, message, reason, field, metadata, violations)


def _rich_status(error: grpc.RpcError) -> status_pb2.Status | None:
    """The ``google.rpc.Status`` of the trailer, if the server sent one.

    Sync errors are also ``grpc.Call`` objects and go through
    ``grpc_status.rpc_status.from_call``. ``grpc_status.rpc_status.aio.from_call``
    awaits the methods of a live ``grpc.aio.Call``, which an ``AioRpcError``
    does not have (its methods are plain), so for aio, and whenever ``from_call``
    rejects a status whose code or message differ from the call's, the trailer
    is decoded directly.
    """
    if not isinstance(error, grpc.aio.AioRpcError):
        try:
            return cast("status_pb2.Status | None", rpc_status.from_call(cast(grpc.Call, error)))
        except (ValueError, AttributeError, TypeError, DecodeError):
            pass
    trailing = _call_or(error, "trailing_metadata", None) or ()
    for key, value in trailing:
        if key == _DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except DecodeError:  # a malformed trailer must not hide the error itself
                return None
    return None


def _call_or(error: object, method: str, default: Any) -> Any:
    fn = getattr(error, method, None)
    return fn() if callable(fn) else default
