"""Pinecone SDK errors mapped to domain errors, in one table."""

from __future__ import annotations

from pinecone import (
    ApiError,
    ConflictError,
    FailedPreconditionError,
    ForbiddenError,
    IndexInitFailedError,
    IndexTerminatedError,
    NotFoundError,
    PayloadTooLargeError,
    PaymentRequiredError,
    PineconeConnectionError,
    PineconeTimeoutError,
    PineconeTypeError,
    PineconeValueError,
    RateLimitError,
    ResponseParsingError,
    ServiceError,
    UnauthorizedError,
)

from ...errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
    VectorgateError,
)
from ...retry import backend_error, http_code
from .layout import BACKEND


def collection_not_found(store: str, collection: str) -> NotFound:
    """``NotFound`` (``COLLECTION_NOT_FOUND``) for a collection of ``store``."""
    return NotFound(
        f"collection {collection!r} not found in store {store!r}",
        reason="COLLECTION_NOT_FOUND",
        metadata={"collection": collection, "store": store},
    )


def sdk_error(
    exc: Exception,
    *,
    store: str,
    collection: str | None = None,
    field: str | None = None,
    action: str = "call",
) -> VectorgateError:
    """The domain error for an SDK error raised while doing ``action``."""
    where = f"pinecone store {store!r}"
    if collection is not None:
        where += f", collection {collection!r}"
    message = getattr(exc, "message", "") or type(exc).__name__
    error: VectorgateError
    if isinstance(exc, NotFoundError) and collection is not None:
        error = collection_not_found(store, collection)
    elif isinstance(exc, ConflictError) and collection is not None:
        error = AlreadyExists(
            f"collection {collection!r} already exists in store {store!r}",
            reason="COLLECTION_ALREADY_EXISTS",
            metadata={"collection": collection, "store": store},
        )
    elif isinstance(exc, UnauthorizedError | ForbiddenError):
        status = 401 if isinstance(exc, UnauthorizedError) else 403
        auth = backend_error(
            http_code(status),
            store=store,
            backend=BACKEND,
            where=where,
            cause=f"Pinecone refused the configured API key ({action}): {message}",
        )
        assert auth is not None  # 401 and 403 are auth failures in the table
        error = auth
    elif isinstance(exc, PaymentRequiredError | FailedPreconditionError):
        error = FailedPrecondition(f"{where}: Pinecone refused to {action}: {message}")
    elif isinstance(exc, RateLimitError | ServiceError):
        error = Unavailable(f"{where}: Pinecone is unavailable ({action}): {message}")
    elif isinstance(exc, PayloadTooLargeError):
        error = InvalidArgument(f"{where}: request too large: {message}", field=field)
    elif isinstance(exc, ApiError):
        if exc.status_code >= 500:
            error = Unavailable(f"{where}: Pinecone failed ({action}): {message}")
        else:
            error = InvalidArgument(f"{where}: Pinecone rejected {action}: {message}", field=field)
    elif isinstance(exc, PineconeTimeoutError):
        error = Unavailable(f"{where}: Pinecone timed out ({action})")
    elif isinstance(exc, PineconeConnectionError):
        error = Unavailable(f"{where}: cannot reach Pinecone ({action}): {message}")
    elif isinstance(exc, PineconeValueError | PineconeTypeError):
        error = InvalidArgument(f"{where}: {message}", field=field)
    elif isinstance(exc, IndexInitFailedError | IndexTerminatedError):
        error = Unavailable(f"{where}: the index is not usable: {message}")
    elif isinstance(exc, ResponseParsingError):
        error = Unavailable(f"{where}: unexpected response from Pinecone ({action})")
    else:
        error = Unavailable(f"{where}: Pinecone call failed ({action}): {type(exc).__name__}")
    if isinstance(error, Unavailable):
        error.metadata.setdefault("store", store)
        # The SDK retried already (RetryConfig: 408/429/5xx and transport errors),
        # bounded by the caller's deadline, which cancels the call: none on top.
        error.retryable = False
    return error
