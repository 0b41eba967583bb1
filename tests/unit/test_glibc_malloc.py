"""The serve process's glibc malloc settings: applied, or left to the environment."""

from __future__ import annotations

import pytest

from vectorgate_server import glibc_malloc

glibc = glibc_malloc._glibc() is not None


@pytest.mark.skipif(not glibc, reason="the C library is not glibc")
def test_configure_caps_arenas_and_leaves_the_mmap_threshold_dynamic() -> None:
    settings = glibc_malloc.configure({})
    assert settings.glibc
    assert settings.arena_max == glibc_malloc.DEFAULT_ARENA_MAX
    assert settings.mmap_threshold is None


@pytest.mark.skipif(not glibc, reason="the C library is not glibc")
def test_a_fixed_mmap_threshold_on_request() -> None:
    settings = glibc_malloc.configure({}, mmap_threshold=glibc_malloc.DEFAULT_MMAP_THRESHOLD)
    assert settings.mmap_threshold == glibc_malloc.DEFAULT_MMAP_THRESHOLD


@pytest.mark.skipif(not glibc, reason="the C library is not glibc")
def test_the_environment_wins() -> None:
    settings = glibc_malloc.configure(
        {"MALLOC_ARENA_MAX": "4", "MALLOC_MMAP_THRESHOLD_": "1"}, mmap_threshold=1 << 20
    )
    assert settings.glibc
    assert settings.arena_max is None
    assert settings.mmap_threshold is None


@pytest.mark.skipif(not glibc, reason="the C library is not glibc")
def test_release_free_memory_gives_freed_heap_back() -> None:
    # 125 MiB of heap blocks (below the mmap threshold), then one block after them so
    # that free() cannot shrink the heap top itself: only malloc_trim returns the hole.
    big = [bytearray(64 * 1024) for _ in range(2000)]
    pin = bytearray(64 * 1024)
    del big
    released = glibc_malloc.release_free_memory()
    assert isinstance(released, bool)
    assert released is True
    del pin


def test_without_glibc_everything_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(glibc_malloc, "_glibc", lambda: None)
    assert glibc_malloc.configure({}) == glibc_malloc.MallocSettings(False, None, None)
    assert glibc_malloc.release_free_memory() is False
