"""Bounded worker threads for one store's blocking SDK calls.

A store whose SDK blocks (pymilvus) runs its calls here, never on the event
loop's shared default pool: each store has its own pool of at most
``limit`` threads and a semaphore of as many slots. A call waits for a slot
no longer than the caller's deadline (or, without one, the store's timeout)
and then fails fast; a slot is given back only when its thread has really
finished, so a stalled backend holds at most ``limit`` threads and starves
neither the other stores nor the routes that touch no store.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from . import deadline
from .errors import DeadlineExceeded, Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Default number of concurrent backend calls per store (``max_concurrency``).
DEFAULT_LIMIT = 8
#: Longest wait for a slot, without a caller's deadline or a store ``timeout_s``.
DEFAULT_WAIT_S = 60.0


class CallSlots:
    """At most ``limit`` calls of one store in flight (``max_concurrency``).

    A call waits for a slot no longer than the caller's deadline (or, without one,
    ``wait_s``: the store's timeout), then fails fast: ``DeadlineExceeded`` when the
    caller's deadline ran out, else ``Unavailable``.
    """

    def __init__(
        self, store: str, limit: int = DEFAULT_LIMIT, wait_s: float = DEFAULT_WAIT_S
    ) -> None:
        self.store = store
        self.limit = limit
        self.wait_s = wait_s
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._slots is None:
            # First use, or a new event loop (tests): fresh slots bound to it.
            self._slots = asyncio.Semaphore(self.limit)
            self._loop = loop
        return self._slots

    @property
    def busy(self) -> int:
        """Slots in use."""
        if self._slots is None:
            return 0
        return self.limit - self._slots._value

    async def acquire(self) -> asyncio.Semaphore:
        """Take a slot; give it back with ``release()`` on the semaphore returned."""
        slots = self._semaphore()
        left = deadline.remaining()
        wait = self.wait_s if left is None else max(0.0, left)
        try:
            async with asyncio.timeout(wait):
                await slots.acquire()
        except TimeoutError:
            message = (
                f"store {self.store!r}: all {self.limit} backend call slots stayed busy "
                f"for {wait:.3f}s"
            )
            if left is not None:
                raise DeadlineExceeded(message) from None
            raise Unavailable(message, metadata={"store": self.store}) from None
        return slots

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """A slot for the duration of the block."""
        slots = await self.acquire()
        try:
            yield
        finally:
            slots.release()


class StoreWorkers:
    """At most ``limit`` concurrent blocking calls of one store, in its own threads."""

    def __init__(
        self, store: str, limit: int = DEFAULT_LIMIT, wait_s: float = DEFAULT_WAIT_S
    ) -> None:
        self.store = store
        self.limit = limit
        self._executor: ThreadPoolExecutor | None = None
        self._slots = CallSlots(store, limit, wait_s)

    @property
    def wait_s(self) -> float:
        """Longest wait for a slot when the call has no deadline (the store's timeout)."""
        return self._slots.wait_s

    @wait_s.setter
    def wait_s(self, value: float) -> None:
        self._slots.wait_s = value

    @property
    def busy(self) -> int:
        """Slots in use (threads running or queued for this store)."""
        return self._slots.busy

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in one of the store's threads, with the caller's context."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.limit, thread_name_prefix=f"vg-store-{self.store}"
            )
        executor = self._executor
        loop = asyncio.get_running_loop()
        slots = await self._slots.acquire()

        def release(_: Future[Any]) -> None:
            # A closed loop (RuntimeError) has nothing waiting on the slots any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(slots.release)

        context = contextvars.copy_context()
        try:
            future = executor.submit(functools.partial(context.run, fn, *args, **kwargs))
        except BaseException:
            slots.release()
            raise
        # The slot comes back when the thread is done, not when the caller stops waiting.
        future.add_done_callback(release)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Stop taking work; threads finish what they run (never waited for here)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
