"""The search bench runs end to end in its smoke mode (its figures are not checked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.bench import run_bench

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_search_smoke(tmp_path: Path) -> None:
    out = tmp_path / "search.json"
    proc = run_bench("bench_search.py", "--smoke", "--out", str(out), timeout=240)
    assert "targets:" in proc.stdout
    results = json.loads(out.read_text())
    assert results["mode"] == "smoke"
    by_name = {b["backend"]: b for b in results["backends"]}
    for backend in ("lancedb", "qdrant-edge", "pgvector"):
        measured = by_name[backend]
        assert "error" not in measured, measured
        size = measured["sizes"][0]
        for path in ("direct", "grpc"):
            assert size["latency"][path]["p50_ms"] > 0
            assert size["qps"][path] > 0
        assert size["latency"]["same_ids_fraction"] == 1.0
        assert size["upsert_vps"]["gateway"] > 0
        assert measured["rss_idle_mb"] > 0
    recall = results["recall"]
    assert recall and all(0.0 <= r["recall_at_10"] <= 1.0 for r in recall)
