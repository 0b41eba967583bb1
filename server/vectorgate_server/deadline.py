"""The caller's deadline of the call being served, for backend calls to honour.

The transports (gRPC and HTTP) :func:`start` it around a handler; an adapter
bounds each backend call's own timeout with :func:`bound`, so a backend call
never outlives the caller's deadline (its worker thread and connection are
freed when the caller stops waiting, not after the store's ``timeout_s``).
``asyncio`` tasks and ``asyncio.to_thread`` copy the context, so it follows
the call wherever it runs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

#: ``time.monotonic()`` at which the current call's deadline passes; None without one.
_DEADLINE: ContextVar[float | None] = ContextVar("vectorgate_deadline", default=None)

#: The smallest timeout handed to a backend (a zero or negative one means "none" to some).
MIN_TIMEOUT_S = 0.001


@contextlib.contextmanager
def start(timeout: float | None) -> Iterator[None]:
    """Within the block, the current call has ``timeout`` seconds left (None: no deadline)."""
    token = _DEADLINE.set(None if timeout is None else time.monotonic() + timeout)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining() -> float | None:
    """Seconds left before the current call's deadline, or None without one."""
    at = _DEADLINE.get()
    return None if at is None else at - time.monotonic()


def bound(timeout: float) -> float:
    """``timeout`` cut down to what is left of the current call's deadline."""
    left = remaining()
    if left is None:
        return timeout
    return max(MIN_TIMEOUT_S, min(timeout, left))
