"""The one retry policy (``vectorgate_server.retry``): its table, backoff and deadline stop."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from vectorgate_server import deadline, retry
from vectorgate_server.errors import (
    BackendAuthFailed,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
    VectorgateError,
    classify,
)
from vectorgate_server.retry import Failure, RetryPolicy

AUTH_CODES = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
RETRIED_CODES = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
)
NEVER_RETRIED_CODES = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.UNIMPLEMENTED,
    *AUTH_CODES,
)


def test_every_status_code_but_ok_is_classified() -> None:
    assert set(retry.BACKEND_FAILURES) == set(grpc.StatusCode) - {
        grpc.StatusCode.OK,
        grpc.StatusCode.DATA_LOSS,  # unknown to the table: transient by default
    }
    assert retry.failure_of(grpc.StatusCode.DATA_LOSS) is Failure.TRANSIENT


@pytest.mark.parametrize("code", AUTH_CODES)
def test_auth_failures_are_a_clear_error_never_retried(code: grpc.StatusCode) -> None:
    assert retry.failure_of(code) is Failure.AUTH
    error = retry.backend_error(code, store="s", backend="b", where="store 's'", cause="search")
    assert isinstance(error, BackendAuthFailed) and not isinstance(error, Unavailable)
    assert not retry.retryable(error)
    assert error.message.startswith("store 's': search: the store's credentials were refused")
    assert code.name in error.message and "unavailable" not in error.message
    assert error.metadata == {"store": "s", "backend": "b", "backend_code": code.name}
    mapping = classify(error)  # the caller's key is fine: not UNAUTHENTICATED / 401
    assert (mapping.code, mapping.http_status) == (grpc.StatusCode.FAILED_PRECONDITION, 502)


@pytest.mark.parametrize("code", RETRIED_CODES)
def test_transient_failures_are_retryable_unavailable(code: grpc.StatusCode) -> None:
    error = retry.backend_error(code, store="s", backend="b", where="store 's'", cause="down")
    assert isinstance(error, Unavailable) and retry.retryable(error)
    assert error.message == "store 's' is unavailable: down"
    already = retry.backend_error(
        code, store="s", backend="b", where="store 's'", cause="down", retryable=False
    )
    assert isinstance(already, Unavailable) and not retry.retryable(already)


@pytest.mark.parametrize("code", [c for c in NEVER_RETRIED_CODES if c not in AUTH_CODES])
def test_request_failures_are_left_to_the_adapter(code: grpc.StatusCode) -> None:
    assert retry.failure_of(code) not in retry.RETRIED
    assert retry.backend_error(code, store="s", backend="b", where="w", cause="x") is None


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        (401, Failure.AUTH),
        (403, Failure.AUTH),
        (400, Failure.INVALID),
        (422, Failure.INVALID),
        (404, Failure.NOT_FOUND),
        (409, Failure.CONFLICT),
        (408, Failure.TIMEOUT),
        (429, Failure.TRANSIENT),
        (500, Failure.TRANSIENT),
        (502, Failure.TRANSIENT),
        (503, Failure.TRANSIENT),
        (504, Failure.TIMEOUT),
        (418, Failure.INVALID),  # other 4xx
        (599, Failure.TRANSIENT),  # other 5xx
    ],
)
def test_http_statuses_read_as_canonical_codes(status: int, failure: Failure) -> None:
    assert retry.failure_of(retry.http_code(status)) is failure


class Flaky:
    """A backend call failing ``failures`` times with ``error`` and then answering."""

    def __init__(self, error: VectorgateError, failures: int, *, takes_s: float = 0.0) -> None:
        self.error = error
        self.failures = failures
        self.takes_s = takes_s
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.takes_s:
            await asyncio.sleep(self.takes_s)
        if self.calls <= self.failures:
            raise self.error
        return "ok"


class Sleeps:
    """Records the backoffs slept, and sleeps none of them."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


async def test_retryable_errors_are_retried_with_bounded_jittered_backoff() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay_s=0.1, max_delay_s=0.3)
    call, sleeps = Flaky(Unavailable("down"), failures=4), Sleeps()
    assert await retry.call(call, policy, sleep=sleeps) == "ok"
    assert call.calls == 5
    assert len(sleeps.slept) == 4
    for n, slept in enumerate(sleeps.slept):
        assert 0 <= slept <= min(0.3, 0.1 * 2**n)


async def test_a_lambda_returning_a_coroutine_is_awaited_and_retried() -> None:
    """The application passes ``lambda: adapter.search(...)``: a plain callable."""
    call, sleeps = Flaky(Unavailable("down"), failures=1), Sleeps()
    assert await retry.call(lambda: call(), sleep=sleeps) == "ok"
    assert call.calls == 2 and len(sleeps.slept) == 1


async def test_attempts_run_out_and_the_last_error_is_raised() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.01)
    call, sleeps = Flaky(Unavailable("down"), failures=10), Sleeps()
    with pytest.raises(Unavailable, match="down"):
        await retry.call(call, policy, sleep=sleeps)
    assert call.calls == 3 and len(sleeps.slept) == 2


@pytest.mark.parametrize(
    "error",
    [
        BackendAuthFailed("token refused"),
        InvalidArgument("bad", field="x"),
        NotFound("gone"),
        FailedPrecondition("not now"),
        Unavailable("pymilvus retried it already", retryable=False),
    ],
    ids=["auth", "invalid", "not-found", "precondition", "sdk-retried"],
)
async def test_never_retried(error: VectorgateError) -> None:
    call, sleeps = Flaky(error, failures=10), Sleeps()
    with pytest.raises(type(error)):
        await retry.call(call, RetryPolicy(max_attempts=10), sleep=sleeps)
    assert call.calls == 1 and sleeps.slept == []


async def test_the_default_policy_retries_a_read_once() -> None:
    call, sleeps = Flaky(Unavailable("down"), failures=10), Sleeps()
    with pytest.raises(Unavailable):
        await retry.call(call, sleep=sleeps)
    assert call.calls == retry.DEFAULT_POLICY.max_attempts == 2


async def test_retries_stop_at_the_callers_deadline() -> None:
    """Many attempts allowed, but none starts when its backoff would end past the deadline."""
    policy = RetryPolicy(max_attempts=1000, base_delay_s=0.02, max_delay_s=0.05)
    call = Flaky(Unavailable("down"), failures=10_000, takes_s=0.01)
    left_at_sleep: list[tuple[float, float]] = []

    async def sleep(seconds: float) -> None:
        left = deadline.remaining()
        assert left is not None
        left_at_sleep.append((left, seconds))
        await asyncio.sleep(seconds)

    timeout = 0.5
    started = time.monotonic()
    with deadline.start(timeout), pytest.raises(Unavailable):
        await retry.call(call, policy, sleep=sleep)
    elapsed = time.monotonic() - started
    assert 2 < call.calls < 1000  # retried, then stopped by the deadline, not by attempts
    assert len(left_at_sleep) == call.calls - 1
    assert all(left > seconds for left, seconds in left_at_sleep)  # never slept past it
    # Bounded by the deadline plus one attempt in flight (and the loop's scheduling).
    assert elapsed < timeout + 0.25, elapsed


async def test_no_retry_when_the_deadline_leaves_no_time_for_the_backoff() -> None:
    call, sleeps = Flaky(Unavailable("down"), failures=10), Sleeps()
    with deadline.start(0.0), pytest.raises(Unavailable):
        await retry.call(
            call, RetryPolicy(max_attempts=5, base_delay_s=1.0, max_delay_s=1.0), sleep=sleeps
        )
    assert call.calls == 1 and sleeps.slept == []


def test_policy_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="backoff"):
        RetryPolicy(base_delay_s=-1)
