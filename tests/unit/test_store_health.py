"""StoreHealth: a store that does not answer at start is reported, watched, and comes back."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from vectorgate_server.errors import Unavailable
from vectorgate_server.store_health import StoreHealth


class FlakyStore:
    """Fails ``start`` (like Milvus) or the probe (like the lazy SDKs) until told to answer."""

    def __init__(self, backend: str, *, fail_start: bool = False, fail_probe: bool = False) -> None:
        self.backend = backend
        self.store = backend
        self.fail_start = fail_start
        self.fail_probe = fail_probe
        self.hang = False
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        if self.fail_start:
            raise Unavailable(f"{self.backend} at 127.0.0.1:1 is unavailable: refused")

    async def list_collections(self) -> list[str]:
        if self.hang:
            await asyncio.sleep(3600)
        if self.fail_probe:
            raise Unavailable(f"{self.backend}: connection refused")
        return []

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


async def test_down_stores_are_reported_once_and_recover(caplog: pytest.LogCaptureFixture) -> None:
    up = FlakyStore("lancedb")
    milvus = FlakyStore("milvus", fail_start=True)
    qdrant = FlakyStore("qdrant", fail_probe=True)
    health = StoreHealth(
        {"up": up, "m": milvus, "q": qdrant},  # type: ignore[dict-item]
        retry_s=0.05,
        max_retry_s=0.1,
    )
    events: list[tuple[str, bool]] = []

    async def listener(name: str, available: bool) -> None:
        events.append((name, available))

    health.listeners.append(listener)
    with caplog.at_level(logging.INFO, logger="vectorgate_server.store_health"):
        await health.open_all()
        snap = health.snapshot()
        assert snap["up"] == {"status": "SERVING", "backend": "lancedb"}
        assert snap["m"]["status"] == "UNAVAILABLE" and "refused" in snap["m"]["error"]
        assert snap["q"]["status"] == "UNAVAILABLE" and "refused" in snap["q"]["error"]
        assert sorted(events) == [("m", False), ("q", False), ("up", True)]
        await asyncio.sleep(0.4)  # several retries: no new log lines, no new events
        assert milvus.starts > 2
        down_lines = [r for r in caplog.records if "is unavailable" in r.getMessage()]
        assert len(down_lines) == 2 and all(r.exc_info is None for r in down_lines)
        milvus.fail_start = False
        qdrant.fail_probe = False
        for _ in range(100):
            if all(v["status"] == "SERVING" for v in health.snapshot().values()):
                break
            await asyncio.sleep(0.05)
        assert all(v["status"] == "SERVING" for v in health.snapshot().values())
        assert sorted(events[3:]) == [("m", True), ("q", True)]
        assert len([r for r in caplog.records if "available again" in r.getMessage()]) == 2
    starts = milvus.starts
    await asyncio.sleep(0.3)
    assert milvus.starts == starts  # started once it answered, never again
    await health.close()


async def test_a_store_that_does_not_answer_in_time_is_unavailable() -> None:
    slow = FlakyStore("opensearch")
    slow.hang = True
    health = StoreHealth({"os": slow}, timeout_s=0.2)  # type: ignore[dict-item]
    await health.open_all()
    assert health.snapshot()["os"] == {
        "status": "UNAVAILABLE",
        "backend": "opensearch",
        "error": "no answer within 0.2 s",
    }
    await health.close()
