"""glibc malloc settings for the ``vectorgate serve`` process, and giving freed heap back.

Measured on ``vectorgate serve`` (default LanceDB store, local model loaded;
RSS from /proc/<pid>/status, 2-core host; bench/bench_embeddings.py --serve):

* ``M_ARENA_MAX`` 2. By default every thread that mallocs (gRPC, the
  embedding pool, onnxruntime's and LanceDB's worker threads) may get its own
  64 MiB arena, whose freed memory stays resident.
* ``M_MMAP_THRESHOLD`` is left dynamic by default. Fixing it at 128 KiB kept
  large buffers mmapped (loading the model frees ~60 MB of them), but every
  search then mapped and unmapped its multi-MB scratch buffers: LanceDB
  search p50 through the gateway went from 1.06 x to 2.63 x the direct call
  and Qdrant local mode from 1.3 x to 1.8 x (bench/bench_search.py, 10k x
  384). :func:`release_free_memory` after the model loads gives most of that
  memory back instead. ``mmap_threshold=`` (or glibc's own
  ``MALLOC_MMAP_THRESHOLD_``) still fixes it.

glibc's own environment variables win: if ``MALLOC_ARENA_MAX`` or
``MALLOC_MMAP_THRESHOLD_`` is set, that setting is left alone. On a C library
other than glibc everything here is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_ARENA_MAX",
    "DEFAULT_MMAP_THRESHOLD",
    "MallocSettings",
    "configure",
    "release_free_memory",
]

log = logging.getLogger(__name__)

#: mallopt() parameter numbers from glibc's <malloc.h>.
_M_MMAP_THRESHOLD: Final = -3
_M_ARENA_MAX: Final = -8

DEFAULT_ARENA_MAX: Final = 2
#: glibc's initial (and minimum dynamic) threshold: a value for ``mmap_threshold=``.
DEFAULT_MMAP_THRESHOLD: Final = 128 * 1024

_libc_lock = threading.Lock()
_libc: ctypes.CDLL | None = None
_libc_loaded = False


def _glibc() -> ctypes.CDLL | None:
    """The process's glibc, or ``None`` when the C library is not glibc."""
    global _libc, _libc_loaded
    with _libc_lock:
        if not _libc_loaded:
            _libc_loaded = True
            name = ctypes.util.find_library("c") or "libc.so.6"
            try:
                libc = ctypes.CDLL(name)
                libc.gnu_get_libc_version  # noqa: B018 - present only in glibc
                libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                libc.mallopt.restype = ctypes.c_int
                libc.malloc_trim.argtypes = [ctypes.c_size_t]
                libc.malloc_trim.restype = ctypes.c_int
            except (OSError, AttributeError):
                libc = None
            _libc = libc
        return _libc


@dataclass(frozen=True, slots=True)
class MallocSettings:
    """What :func:`configure` set (``None``: left to glibc or its environment)."""

    glibc: bool
    arena_max: int | None
    mmap_threshold: int | None


def configure(
    environ: Mapping[str, str] | None = None,
    *,
    arena_max: int = DEFAULT_ARENA_MAX,
    mmap_threshold: int | None = None,
) -> MallocSettings:
    """Apply the serve-process malloc settings unless the environment sets them.

    Call early, before the server starts its threads (arena limits apply to
    arenas created afterwards).
    """
    env = os.environ if environ is None else environ
    libc = _glibc()
    if libc is None:
        return MallocSettings(glibc=False, arena_max=None, mmap_threshold=None)
    applied_arenas: int | None = None
    applied_threshold: int | None = None
    if "MALLOC_ARENA_MAX" not in env and libc.mallopt(_M_ARENA_MAX, arena_max) == 1:
        applied_arenas = arena_max
    if (
        mmap_threshold is not None
        and "MALLOC_MMAP_THRESHOLD_" not in env
        and libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1
    ):
        applied_threshold = mmap_threshold
    settings = MallocSettings(
        glibc=True, arena_max=applied_arenas, mmap_threshold=applied_threshold
    )
    log.debug("malloc settings: %s", settings)
    return settings


def release_free_memory() -> bool:
    """Return free heap memory to the system (``malloc_trim(0)``).

    Worth it after a burst of large temporary allocations, e.g. loading the
    embedding model (-62 MB RSS measured). True if memory was released.
    """
    libc = _glibc()
    return libc is not None and libc.malloc_trim(0) == 1
