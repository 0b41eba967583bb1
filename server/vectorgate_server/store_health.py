"""Whether each configured store answers, so one store being down does not stop the gateway.

At start every store is opened and probed (``list_collections``) concurrently, each within
``timeout_s``. A store that does not answer is reported in one log line (no traceback), shown
as ``UNAVAILABLE`` by ``/readyz`` and by the gRPC health service (service name
``vectorgate.store.<name>``), and its calls answer ``UNAVAILABLE`` while the gateway serves
the other stores. A store found down is opened and probed again after ``retry_s``, the wait
doubling up to ``max_retry_s`` (each probe of a down SDK may log a line of its own), until it
answers; then it is logged once more and reported ``SERVING``.

Only a store found down is re-probed: a store that goes down later shows in its calls'
``UNAVAILABLE`` answers and the backend metrics, not here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from .adapters.base import Adapter
from .errors import Unavailable, VectorgateError

log = logging.getLogger(__name__)

#: Called with (store name, answers) whenever a store's state is settled or changes.
Listener = Callable[[str, bool], Awaitable[None]]


@dataclass(slots=True)
class StoreState:
    backend: str
    #: The adapter's ``start`` succeeded (it is not started again).
    started: bool = False
    #: The last probe answered.
    available: bool = False
    #: Why it is unavailable (the last error's message).
    error: str = ""


class StoreHealth:
    """Opens the stores, probes them, and watches those found down until they answer."""

    def __init__(
        self,
        stores: Mapping[str, Adapter],
        *,
        timeout_s: float = 10.0,
        retry_s: float = 5.0,
        max_retry_s: float = 60.0,
    ) -> None:
        self._stores = stores
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self.states = {name: StoreState(adapter.backend) for name, adapter in stores.items()}
        self.listeners: list[Listener] = []
        self._watcher: asyncio.Task[None] | None = None

    async def open_all(self) -> None:
        """Start and probe every store; log each one that does not answer, then watch it."""
        await asyncio.gather(*(self._check(name, first=True) for name in self._stores))
        if any(not s.available for s in self.states.values()):
            self._watcher = asyncio.create_task(self._watch(), name="vectorgate-store-health")

    async def close(self) -> None:
        task, self._watcher = self._watcher, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def snapshot(self) -> dict[str, dict[str, str]]:
        """Per store: ``status`` (SERVING / UNAVAILABLE), ``backend`` and, when down, ``error``."""
        out: dict[str, dict[str, str]] = {}
        for name, state in self.states.items():
            entry = {"status": "SERVING" if state.available else "UNAVAILABLE"}
            entry["backend"] = state.backend
            if not state.available:
                entry["error"] = state.error
            out[name] = entry
        return out

    async def _check(self, name: str, *, first: bool = False) -> None:
        adapter = self._stores[name]
        state = self.states[name]
        try:
            async with asyncio.timeout(self.timeout_s):
                if not state.started:
                    await adapter.start()
                    state.started = True
                await adapter.list_collections()
        except (VectorgateError, TimeoutError, OSError) as exc:
            error = _describe(exc, self.timeout_s)
            if first or state.available:
                log.warning(
                    "store %r (%s) is unavailable: %s; its calls answer UNAVAILABLE until it "
                    "answers (tried again after %g s, then less often)",
                    name,
                    state.backend,
                    error,
                    self.retry_s,
                )
            changed = first or state.available
            state.available, state.error = False, error
        else:
            if not first and not state.available:
                log.warning("store %r (%s) is available again", name, state.backend)
            changed = first or not state.available
            state.available, state.error = True, ""
        if changed:
            for listener in self.listeners:
                await listener(name, state.available)

    async def _watch(self) -> None:
        wait = self.retry_s
        while any(not s.available for s in self.states.values()):
            await asyncio.sleep(wait)
            down = [name for name, s in self.states.items() if not s.available]
            await asyncio.gather(*(self._check(name) for name in down))
            wait = min(wait * 2, self.max_retry_s)


def _describe(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, Unavailable | VectorgateError):
        return str(exc.args[0]) if exc.args else type(exc).__name__
    return f"{type(exc).__name__}: {exc}"
