"""The one retry policy of backend calls, and the one table classifying backend failures.

Table
    :data:`BACKEND_FAILURES` says, for the canonical status of a failed backend
    call (gRPC backends give it; REST backends' HTTP statuses are read as one
    through :data:`HTTP_CODES`), what the failure is: transient (unreachable,
    overloaded, throttled, timed out: worth another attempt), or one that no
    retry can fix (the store's credentials refused, a bad request, a missing
    resource, a conflict, an unsupported operation). Adapters build their
    domain error from it with :func:`backend_error`: a transient failure is an
    ``Unavailable``, refused credentials a :class:`~.errors.BackendAuthFailed`
    (never retried, and never reported as the caller's own ``UNAUTHENTICATED``:
    it is the gateway's configuration that is wrong).

Policy
    :func:`call` runs a backend call and retries it while it fails with a
    retryable ``Unavailable``: at most :attr:`RetryPolicy.max_attempts` attempts
    in all, sleeping a jittered exponential backoff between them ("full jitter":
    uniform in ``[0, min(max_delay_s, base_delay_s x 2^n)]``, or a server's
    ``Retry-After`` up to the cap), and never past the
    caller's deadline (:mod:`.deadline`): a retry whose backoff would end at or
    after the deadline is not made, and the last error is raised. The
    application layer applies it to reads only (a write that failed may still
    have been applied).

SDKs that retry by themselves are bounded or switched off where the adapters
build their clients, so retries never stack: pymilvus retries a failed RPC
within the call's ``timeout`` (always cut to the caller's deadline), so the
Milvus adapter marks its ``Unavailable`` as already retried
(``retryable=False``); opensearch-py gets ``max_retries=0``; Pinecone's client
gets ``RetryConfig(max_retries=0)``; qdrant-client, psycopg and httpx (without
a ``retries`` transport) do not retry.

Library: tenacity rather than stamina (both are maintained): the stop
condition here must read the caller's deadline when each retry is decided,
together with the backoff about to be slept (tenacity computes the wait before
the stop and hands both to a stop callable), while stamina takes a fixed total
timeout per call site and adds process-wide switches and instrumentation hooks
the gateway does not use.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypeVar

import grpc
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from . import deadline
from .errors import BackendAuthFailed, Unavailable, VectorgateError

__all__ = [
    "BACKEND_FAILURES",
    "DEFAULT_POLICY",
    "HTTP_CODES",
    "RETRIED",
    "Failure",
    "RetryPolicy",
    "backend_error",
    "backoff_delay",
    "call",
    "failure_of",
    "http_code",
    "options",
    "retryable",
    "stop_at_deadline",
    "wait_backoff",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


class Failure(StrEnum):
    """What a failed backend call means for retrying it."""

    #: Unreachable, overloaded, throttled or cut off: another attempt may succeed.
    TRANSIENT = "transient"
    #: The attempt's own timeout passed (another attempt may, if the caller has time).
    TIMEOUT = "timeout"
    #: The store's credentials were refused: a configuration error, never retried.
    AUTH = "auth"
    #: The request itself is wrong (or the backend's state forbids it).
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    UNSUPPORTED = "unsupported"


#: The failures a retry can fix.
RETRIED: Final = frozenset({Failure.TRANSIENT, Failure.TIMEOUT})

#: The one table: canonical status of a failed backend call -> what it means.
BACKEND_FAILURES: Final[Mapping[grpc.StatusCode, Failure]] = {
    grpc.StatusCode.UNAVAILABLE: Failure.TRANSIENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Failure.TRANSIENT,
    grpc.StatusCode.ABORTED: Failure.TRANSIENT,
    grpc.StatusCode.CANCELLED: Failure.TRANSIENT,
    grpc.StatusCode.INTERNAL: Failure.TRANSIENT,
    grpc.StatusCode.UNKNOWN: Failure.TRANSIENT,
    grpc.StatusCode.DEADLINE_EXCEEDED: Failure.TIMEOUT,
    grpc.StatusCode.UNAUTHENTICATED: Failure.AUTH,
    grpc.StatusCode.PERMISSION_DENIED: Failure.AUTH,
    grpc.StatusCode.INVALID_ARGUMENT: Failure.INVALID,
    grpc.StatusCode.FAILED_PRECONDITION: Failure.INVALID,
    grpc.StatusCode.OUT_OF_RANGE: Failure.INVALID,
    grpc.StatusCode.NOT_FOUND: Failure.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: Failure.CONFLICT,
    grpc.StatusCode.UNIMPLEMENTED: Failure.UNSUPPORTED,
}

#: HTTP statuses of REST backends as canonical codes (google.rpc's HTTP mapping).
HTTP_CODES: Final[Mapping[int, grpc.StatusCode]] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    402: grpc.StatusCode.PERMISSION_DENIED,  # Pinecone: the plan does not allow it
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.ALREADY_EXISTS,
    412: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    425: grpc.StatusCode.UNAVAILABLE,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    500: grpc.StatusCode.INTERNAL,
    501: grpc.StatusCode.UNIMPLEMENTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def http_code(status: int) -> grpc.StatusCode:
    """The canonical code of an HTTP status (other 4xx: invalid; other 5xx: unavailable)."""
    code = HTTP_CODES.get(status)
    if code is not None:
        return code
    if 400 <= status < 500:
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.UNAVAILABLE


def failure_of(code: grpc.StatusCode) -> Failure:
    """What a backend failure with canonical ``code`` means (unknown codes: transient)."""
    return BACKEND_FAILURES.get(code, Failure.TRANSIENT)


def backend_error(
    code: grpc.StatusCode,
    *,
    store: str,
    backend: str,
    where: str,
    cause: str,
    retryable: bool = True,
) -> VectorgateError | None:
    """The domain error of a backend failure the table makes transport-level.

    ``BackendAuthFailed`` for refused credentials, ``Unavailable`` for a
    transient failure or a timeout (``retryable=False`` when the SDK already
    retried it), None for the rest (the adapter knows better what a bad
    request or a missing resource means). ``where`` names the store (``"qdrant
    store 'q' at http://…"``), ``cause`` what failed and the backend's words.
    """
    failure = failure_of(code)
    metadata = {"store": store, "backend": backend}
    if failure is Failure.AUTH:
        return BackendAuthFailed(
            f"{where}: {cause}: the store's credentials were refused ({code.name}); check "
            "its token, api_key or user in the gateway's configuration",
            metadata={**metadata, "backend_code": code.name},
        )
    if failure in RETRIED:
        return Unavailable(
            f"{where} is unavailable: {cause}", metadata=metadata, retryable=retryable
        )
    return None


def retryable(exc: BaseException) -> bool:
    """Whether :func:`call` retries after ``exc``: a retryable ``Unavailable`` only."""
    return isinstance(exc, Unavailable) and exc.retryable


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a failed call is retried."""

    #: Attempts in all (1 = no retry).
    max_attempts: int = 2
    #: Backoff base: retry ``n`` (0-based) sleeps up to ``base x 2^n`` seconds.
    base_delay_s: float = 0.1
    #: Backoff cap, and the longest ``Retry-After`` honoured.
    max_delay_s: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("backoff delays must be >= 0")


#: The gateway's policy for backend reads.
DEFAULT_POLICY: Final = RetryPolicy()


def backoff_delay(
    attempt: int,
    policy: RetryPolicy,
    retry_after: str | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to sleep before attempt ``attempt + 1`` (``attempt`` is 0-based): the
    server's ``Retry-After`` when it asks for no more than the cap, else full jitter."""
    if retry_after:
        try:
            asked = float(retry_after)
        except ValueError:
            asked = -1.0
        if 0 <= asked <= policy.max_delay_s:
            return asked
    cap = min(policy.max_delay_s, policy.base_delay_s * (2**attempt))
    return (rng or random).uniform(0, cap)


class wait_backoff(wait_base):
    """:func:`backoff_delay` after the attempt just failed (its error's ``retry_after``)."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        retry_after = getattr(error, "retry_after", None)
        asked = retry_after if isinstance(retry_after, str) else None
        return backoff_delay(retry_state.attempt_number - 1, self.policy, asked)


class stop_at_deadline(stop_base):
    """Stop when the backoff about to be slept would end at or after the caller's deadline."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        left = deadline.remaining()
        return left is not None and left <= retry_state.upcoming_sleep


def options(policy: RetryPolicy, should_retry: Callable[[BaseException], bool]) -> dict[str, Any]:
    """tenacity's arguments for ``policy``: retry what ``should_retry`` accepts, at most
    ``max_attempts`` attempts, :func:`backoff_delay` between them, never past the deadline."""
    return {
        "retry": retry_if_exception(should_retry),
        "stop": stop_after_attempt(policy.max_attempts) | stop_at_deadline(),
        "wait": wait_backoff(policy),
        "reraise": True,
    }


def _log_retry(state: RetryCallState) -> None:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    log.info(
        "backend call failed (attempt %d): %s; retrying in %.3fs",
        state.attempt_number,
        error,
        state.upcoming_sleep,
    )


async def call(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy = DEFAULT_POLICY,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """``await fn()``, retried as ``policy`` says while it fails with a retryable error.

    The first attempt runs outside tenacity (building its loop costs ~30 µs, paid on
    every read otherwise); a retryable failure of it becomes tenacity's first attempt,
    so the attempt count, backoff and deadline are the policy's as if tenacity had
    made it."""
    try:
        return await fn()
    except Exception as exc:
        if not retryable(exc):
            raise
        first: Exception | None = exc
    retrying = AsyncRetrying(sleep=sleep, before_sleep=_log_retry, **options(policy, retryable))
    # Attempt by attempt (not ``retrying(fn)``: tenacity would call a plain callable that
    # returns an awaitable, such as a lambda, as a synchronous function).
    async for attempt in retrying:
        with attempt:
            if first is not None:
                error, first = first, None
                raise error
            return await fn()
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover
