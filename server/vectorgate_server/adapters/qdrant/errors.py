"""qdrant-client's exceptions as vectorgate errors (server and local mode)."""

from __future__ import annotations

import grpc
import httpx
from qdrant_client.common.client_exceptions import QdrantException
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ...errors import InvalidArgument, Unavailable
from ...retry import backend_error, http_code
from .layout import BACKEND, already_exists, not_found

_NOT_FOUND_GRPC = frozenset({grpc.StatusCode.NOT_FOUND})


def translate(
    exc: Exception,
    collection: str | None,
    *,
    store: str,
    where: str,
    local: bool,
    creating: bool,
) -> Exception:
    """The vectorgate error of a failed client call on ``collection`` (``exc`` if none fits).

    ``where`` names the store in messages; ``local``: qdrant-client's local mode,
    whose engine raises plain ``ValueError`` / ``RuntimeError``.
    """
    if isinstance(exc, UnexpectedResponse):
        status = exc.status_code or 0
        detail = _response_detail(exc)
        if status == 404 and collection is not None:
            return not_found(store, collection)
        if status == 409 or (creating and "already exists" in detail.lower()):
            return already_exists(store, collection)
        if status in (400, 422):
            return InvalidArgument(f"{where} rejected the request: {detail}")
        error = backend_error(
            http_code(status),
            store=store,
            backend=BACKEND,
            where=where,
            cause=f"HTTP {status}: {detail}",
        )
        return (
            error if error is not None else Unavailable(f"{where} answered HTTP {status}: {detail}")
        )
    if isinstance(exc, grpc.aio.AioRpcError):
        code = exc.code()
        detail = exc.details() or ""
        if code in _NOT_FOUND_GRPC and collection is not None:
            return not_found(store, collection)
        if code is grpc.StatusCode.ALREADY_EXISTS or (
            creating and "already exists" in detail.lower()
        ):
            return already_exists(store, collection)
        if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
            return InvalidArgument(f"{where} rejected the request: {detail}")
        error = backend_error(
            code,
            store=store,
            backend=BACKEND,
            where=where,
            cause=f"{code.name} {detail}".rstrip(),
        )
        return error if error is not None else exc
    if isinstance(exc, ResponseHandlingException | httpx.HTTPError | QdrantException):
        source = exc.source if isinstance(exc, ResponseHandlingException) else exc
        return Unavailable(f"{where} is unavailable: {type(source).__name__}")
    if isinstance(exc, TimeoutError | ConnectionError):
        return Unavailable(f"{where} is unavailable: {type(exc).__name__}")
    if local and isinstance(exc, ValueError) and collection is not None:
        message = str(exc)
        if "not found" in message:
            return not_found(store, collection)
        if creating and "already exists" in message:
            return already_exists(store, collection)
    if local and isinstance(exc, RuntimeError) and "closed" in str(exc):
        return Unavailable(f"{where} is closed")
    return exc


def _response_detail(exc: UnexpectedResponse) -> str:
    try:
        body = exc.structured()
    except ValueError:
        return exc.reason_phrase
    status = body.get("status") if isinstance(body, dict) else None
    if isinstance(status, dict) and isinstance(status.get("error"), str):
        return str(status["error"])
    return exc.reason_phrase
