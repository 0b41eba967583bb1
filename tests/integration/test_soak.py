"""A bounded loopback soak: steady mixed search/upsert traffic over gRPC.

``vectorgate serve`` runs as a subprocess on its default store; a vectors-only
collection takes ``RATE`` requests per second (3 searches to 1 upsert) for
``VECTORGATE_SOAK_SECONDS`` seconds (45 by default, the CI run). The first
quarter of the run, at least 20 s and at most 30 s, is warm-up: the default LanceDB
store reaches its steady state once its first versions are old enough to delete
(15 s) and it has swapped its connection once (every 200 writes, ~16 s here);
before that, each optimize has fewer versions to handle and nothing to delete, so
comparing a third of that period with a later one compares two different regimes.
Checks: error rate < 0.1 %, resident memory growth < 5 % between the end of
warm-up and the end, and p99 stable (the last third's p99 at most 2 x the first
third's, plus 10 ms of slack for timer noise at sub-millisecond latencies).

A longer run, e.g. five minutes::

    VECTORGATE_SOAK_SECONDS=300 .venv/bin/pytest -m soak -s tests/integration/test_soak.py
"""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.support.servers import ServerProcess
from vectorgate import Client

SOAK_SECONDS = float(os.environ.get("VECTORGATE_SOAK_SECONDS", "45"))
WARMUP_SECONDS = min(30.0, max(20.0, SOAK_SECONDS / 4))
RATE = 50.0
DIM = 32
IDS = 2_000
COLLECTION = "soak"

pytestmark = [
    pytest.mark.soak,
    pytest.mark.integration,
    pytest.mark.timeout(int(SOAK_SECONDS * 2 + 120)),
]


@dataclass(slots=True)
class Sample:
    at: float
    latency: float
    ok: bool


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _p99(values: list[float]) -> float:
    return float(np.percentile(np.asarray(values), 99)) if values else 0.0


def _vector(rng: random.Random) -> list[float]:
    return [rng.uniform(-1, 1) for _ in range(DIM)]


def test_steady_load(tmp_path: Path) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc for resident memory")
    proc = ServerProcess(
        ["serve", "--grpc-port", "0", "--http-port", "0", "--data-dir", str(tmp_path / "data")]
    )
    try:
        target = f"127.0.0.1:{proc.wait_ready()}"
        rng = random.Random(7)
        with Client(target, timeout=10) as client:
            client.create_collection(COLLECTION, dimension=DIM, embedding_model="none")
            client.upsert(
                COLLECTION,
                [{"id": f"d{i}", "text": f"doc {i}", "vector": _vector(rng)} for i in range(IDS)],
                batch_size=500,
            )
            samples: list[Sample] = []
            errors: list[str] = []
            lock = threading.Lock()

            def one(n: int) -> None:
                local = random.Random(n)
                started = time.monotonic()
                ok = True
                try:
                    if n % 4 == 3:
                        i = local.randrange(IDS)
                        client.upsert(
                            COLLECTION,
                            [{"id": f"d{i}", "text": f"doc {i} v{n}", "vector": _vector(local)}],
                        )
                    else:
                        client.search(COLLECTION, vector=_vector(local), top_k=10)
                except Exception as exc:  # counted: the error rate is the figure
                    ok = False
                    with lock:
                        errors.append(repr(exc)[:200])
                with lock:
                    samples.append(Sample(started, time.monotonic() - started, ok))

            # The warm-up covers the LanceDB store reaching its steady state
            # (versions kept 15 s, then deleted by each optimize).
            warmup = WARMUP_SECONDS
            assert warmup + 15 <= SOAK_SECONDS, "the measured part needs thirds of 5 s or more"
            begin = time.monotonic()
            rss_warm = 0
            with ThreadPoolExecutor(max_workers=16) as pool:
                n = 0
                while True:
                    due = begin + n / RATE
                    now = time.monotonic()
                    if due - begin >= SOAK_SECONDS:
                        break
                    if not rss_warm and now - begin >= warmup:
                        rss_warm = _rss_kib(proc.proc.pid)
                    if due > now:
                        time.sleep(due - now)
                    pool.submit(one, n)
                    n += 1
            rss_end = _rss_kib(proc.proc.pid)
            wall = time.monotonic() - begin
    finally:
        proc.stop()

    measured = [s for s in samples if s.at - begin >= warmup]
    window = SOAK_SECONDS - warmup
    thirds: list[list[float]] = [[], [], []]
    for s in measured:
        third = min(2, int((s.at - begin - warmup) / (window / 3)))
        thirds[third].append(s.latency)
    first, last = thirds[0], thirds[2]
    error_rate = len(errors) / max(1, len(samples))
    growth = (rss_end - rss_warm) / rss_warm
    p99_first, p99_last = _p99(first), _p99(last)
    all_lat = [s.latency for s in measured]
    print(
        f"\nsoak {SOAK_SECONDS:.0f}s at {RATE:.0f} req/s: {len(samples)} requests in {wall:.1f}s "
        f"({len(samples) / wall:.1f}/s), errors {len(errors)} ({error_rate:.3%}); "
        f"p50 {np.percentile(all_lat, 50) * 1e3:.2f} ms, p99 {_p99(all_lat) * 1e3:.2f} ms; "
        f"p99 first third {p99_first * 1e3:.2f} ms, last third {p99_last * 1e3:.2f} ms; "
        f"RSS {rss_warm / 1024:.1f} MiB after warm-up -> {rss_end / 1024:.1f} MiB "
        f"({growth:+.2%})"
    )
    assert error_rate < 0.001, errors[:5]
    assert len(samples) >= 0.95 * RATE * SOAK_SECONDS
    assert growth < 0.05
    # A third of a 45 s run holds ~415 samples, so its p99 is the ~4th-worst latency:
    # allow 2x plus 10 ms of scheduling noise on a shared 2-core box. A leak or a
    # growing queue (the failure this guards against) exceeds that.
    assert p99_last <= 2.0 * p99_first + 0.010, (p99_first, p99_last)
