"""qdrant-client's local mode, the stand-in server that runs :class:`.QdrantAdapter` in tests.

Local mode (``path`` or ``":memory:"``) runs qdrant-client's in-process engine,
whose "async" API computes synchronously; its calls therefore run on one private
thread with its own event loop, never on the caller's loop. qdrant-client locks
a storage directory to one client, so adapters of this process on the same
directory share one client (reference-counted).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import portalocker
from qdrant_client import AsyncQdrantClient

T = TypeVar("T")


class _LoopThread:
    """A private event loop on its own thread, for the synchronous local-mode engine."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the private loop."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the private loop and wait for it from the caller's loop."""
        return await asyncio.wrap_future(self.submit(coro))

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()


@dataclass(slots=True)
class LocalStore:
    """One opened local-mode storage, shared by the adapters of this process that use it."""

    #: The storage's real path (or ``":memory:"``, never shared).
    key: str
    thread: _LoopThread
    opening: concurrent.futures.Future[AsyncQdrantClient]
    refs: int = 1


#: Local storages open in this process, by real path. qdrant-client locks a storage
#: directory to one client, so adapters on the same directory share that client.
_LOCAL_STORES: dict[str, LocalStore] = {}
_LOCAL_STORES_LOCK = threading.Lock()


def local_key(path: str) -> str:
    return path if path == ":memory:" else os.path.realpath(path)


async def open_local(path: str, key: str, store: str) -> tuple[LocalStore, AsyncQdrantClient]:
    """The shared client of a local storage (opened on first use) and its store entry.

    ``key`` is :func:`local_key` of ``path``.
    """
    memory = path == ":memory:"

    async def open_client() -> AsyncQdrantClient:
        if memory:
            return AsyncQdrantClient(location=":memory:")
        _check_not_locked(path)
        return AsyncQdrantClient(path=path)

    with _LOCAL_STORES_LOCK:
        entry = None if memory else _LOCAL_STORES.get(key)
        if entry is not None:
            entry.refs += 1
        else:
            thread = _LoopThread(f"qdrant-local-{store}")
            opening = thread.submit(open_client())
            entry = LocalStore(key=key, thread=thread, opening=opening)
            if not memory:
                _LOCAL_STORES[key] = entry
    try:
        client = await asyncio.wrap_future(entry.opening)
    except BaseException:
        await release_local(entry)
        raise
    return entry, client


async def release_local(entry: LocalStore) -> None:
    """Drop one reference to a local storage; the last one closes it."""
    with _LOCAL_STORES_LOCK:
        entry.refs -= 1
        if entry.refs > 0:
            return
        if _LOCAL_STORES.get(entry.key) is entry:
            del _LOCAL_STORES[entry.key]
    try:
        if entry.opening.done() and entry.opening.exception() is None:
            await entry.thread.run(entry.opening.result().close())
    finally:
        entry.thread.stop()


def _check_not_locked(path: str) -> None:
    """Fail early when another client holds the local storage.

    qdrant-client raises too, but leaks the lock file handle when it does; taking
    and releasing the same (non-blocking) lock first keeps that path clean.
    """
    lock_path = os.path.join(path, ".lock")
    if not os.path.exists(lock_path):
        return
    with open(lock_path, "r+") as handle:
        try:
            portalocker.lock(
                handle, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING
            )
        except portalocker.exceptions.LockException:
            raise RuntimeError(
                f"the local storage {path} is already open in another Qdrant client"
            ) from None
        portalocker.unlock(handle)
