"""``vectorgate serve`` keeps its start-up objects out of full garbage collections.

Without it, each full collection walked the ~150,000 objects of the imported
libraries (96-164 ms, holding the GIL) and stalled the requests in flight; the
soak's p99 showed it (see vectorgate_server.gc_freeze).
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support.servers import ServerProcess

pytestmark = pytest.mark.integration


def _gauge(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def test_serve_freezes_its_start_up_objects(tmp_path: Path) -> None:
    proc = ServerProcess(
        ["serve", "--grpc-port", "0", "--http-port", "0", "--data-dir", str(tmp_path / "data")]
    )
    try:
        proc.wait_ready()
        metrics = httpx.get(f"http://127.0.0.1:{proc.http_port}/metrics", timeout=10).text
    finally:
        proc.stop()
    # The LanceDB store's libraries alone (lance, pandas, pyarrow) make ~130,000.
    assert _gauge(metrics, "vectorgate_gc_frozen_objects") >= 100_000
    # prometheus_client's own collector: the collections still run.
    assert 'python_gc_collections_total{generation="2"}' in metrics
