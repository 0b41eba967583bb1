"""Domain exceptions and the one table mapping them to gRPC codes and HTTP statuses.

Adapters, the embedding layer and the application raise these; the gRPC
servicers and the HTTP shim translate them with :func:`classify` only. An
exception that is not a :class:`VectorgateError` is an internal error: it is
logged with its traceback and the caller sees ``INTERNAL`` with no details.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc


class BackendUnavailable(Exception):
    """A configured backend cannot be used in this installation (its SDK is missing, or its
    configuration names something vectorgate cannot serve). Raised at startup, never to callers."""


class VectorgateError(Exception):
    """Base of every error the gateway reports to callers.

    ``field`` names the offending request field (a dotted path such as
    ``documents[3].vector``) where there is one; ``reason`` is an
    ``ErrorReason`` enum value name without its prefix; ``metadata`` adds
    machine-readable context to ``google.rpc.ErrorInfo``.
    """

    reason = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if reason is not None:
            self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})
        if field is not None:
            self.metadata.setdefault("field", field)


class InvalidArgument(VectorgateError):
    """The request is malformed: a field is missing, of the wrong shape or out of range."""

    reason = "INVALID_FIELD"


class DimensionMismatch(InvalidArgument):
    """A vector's dimension differs from the collection's."""

    reason = "DIMENSION_MISMATCH"

    def __init__(self, *, field: str, expected: int, actual: int, collection: str) -> None:
        super().__init__(
            f"{field}: vector has dimension {actual} but collection {collection!r} "
            f"has dimension {expected}",
            field=field,
            metadata={"expected": str(expected), "actual": str(actual), "collection": collection},
        )


class InvalidVector(InvalidArgument):
    """A vector cannot be decoded or has NaN/Inf components."""

    reason = "INVALID_VECTOR"


class InvalidFilter(InvalidArgument):
    """A filter is malformed or its types do not fit."""

    reason = "INVALID_FILTER"


class NotFound(VectorgateError):
    """A named resource does not exist."""

    reason = "COLLECTION_NOT_FOUND"


class AlreadyExists(VectorgateError):
    """A resource of that name already exists."""

    reason = "COLLECTION_ALREADY_EXISTS"


class LimitExceeded(VectorgateError):
    """A size or count limit of the server was exceeded."""

    reason = "LIMIT_EXCEEDED"


class FailedPrecondition(VectorgateError):
    """The system is not in a state in which the request can run."""

    reason = "FAILED_PRECONDITION"


class BackendAuthFailed(FailedPrecondition):
    """A backend refused the credentials the gateway's configuration gives it.

    Never retried; not the caller's ``UNAUTHENTICATED`` (the caller's key is
    fine, the store's token is not): ``FAILED_PRECONDITION`` over gRPC and
    502 Bad Gateway over HTTP.
    """


class Unsupported(VectorgateError):
    """The backend cannot do this operation. Never silently degraded."""

    reason = "UNSUPPORTED_OPERATION"

    def __init__(self, *, backend: str, operation: str, detail: str = "") -> None:
        message = f"backend {backend!r} does not support {operation}"
        if detail:
            message += f": {detail}"
        super().__init__(message, metadata={"backend": backend, "operation": operation})
        self.backend = backend
        self.operation = operation


class Unavailable(VectorgateError):
    """The backend (or a dependency) is unreachable or failing; retrying may help.

    ``retryable`` is False where the backend's SDK already retried the call
    within its deadline (the gateway's retry policy then adds none).
    """

    reason = "BACKEND_UNAVAILABLE"

    def __init__(self, message: str, *, retryable: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retryable = retryable


class DeadlineExceeded(VectorgateError):
    """The call's deadline passed before the work finished."""

    reason = "DEADLINE_EXCEEDED"


class EmbeddingFailed(VectorgateError):
    """The embedding model is unknown or failed."""

    reason = "EMBEDDING_FAILED"


class Unauthenticated(VectorgateError):
    """Missing or invalid credentials."""

    reason = "UNAUTHENTICATED"


class PermissionDenied(VectorgateError):
    """The credentials do not grant the operation."""

    reason = "PERMISSION_DENIED"


class Internal(VectorgateError):
    """An unexpected failure; details are logged, not returned."""

    reason = "INTERNAL"


@dataclass(frozen=True, slots=True)
class Mapping:
    """How one exception class is reported."""

    code: grpc.StatusCode
    http_status: int


#: The one table. Most specific classes first: the first ``isinstance`` match wins.
ERROR_TABLE: tuple[tuple[type[VectorgateError], Mapping], ...] = (
    (InvalidArgument, Mapping(grpc.StatusCode.INVALID_ARGUMENT, 400)),
    (EmbeddingFailed, Mapping(grpc.StatusCode.INVALID_ARGUMENT, 400)),
    (NotFound, Mapping(grpc.StatusCode.NOT_FOUND, 404)),
    (AlreadyExists, Mapping(grpc.StatusCode.ALREADY_EXISTS, 409)),
    (LimitExceeded, Mapping(grpc.StatusCode.RESOURCE_EXHAUSTED, 429)),
    (BackendAuthFailed, Mapping(grpc.StatusCode.FAILED_PRECONDITION, 502)),
    (FailedPrecondition, Mapping(grpc.StatusCode.FAILED_PRECONDITION, 400)),
    (Unsupported, Mapping(grpc.StatusCode.UNIMPLEMENTED, 501)),
    (Unavailable, Mapping(grpc.StatusCode.UNAVAILABLE, 503)),
    (DeadlineExceeded, Mapping(grpc.StatusCode.DEADLINE_EXCEEDED, 504)),
    (Unauthenticated, Mapping(grpc.StatusCode.UNAUTHENTICATED, 401)),
    (PermissionDenied, Mapping(grpc.StatusCode.PERMISSION_DENIED, 403)),
    (Internal, Mapping(grpc.StatusCode.INTERNAL, 500)),
)

_INTERNAL = Mapping(grpc.StatusCode.INTERNAL, 500)


def classify(error: VectorgateError) -> Mapping:
    """The gRPC code and HTTP status for a domain error."""
    for cls, mapping in ERROR_TABLE:
        if isinstance(error, cls):
            return mapping
    return _INTERNAL
