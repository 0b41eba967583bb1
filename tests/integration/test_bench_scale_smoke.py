"""The scale bench runs end to end in its smoke mode and prints its whole table.

Its figures are not compared with any target (speed goals live in the bench,
never in a timed test): only that every column is there and every value is
one a working run can give.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from tests.support import readme
from tests.support.bench import run_bench

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COLUMNS = (
    "rows",
    "index",
    "path",
    "ingest v/s",
    "p50 ms",
    "p99 ms",
    "QPS@8",
    "recall@10",
    "peak RSS MB",
)
RATIO_COLUMNS = ("p50 x", "p99 x", "QPS x", "ingest x add", "ingest x merge", "RSS x")


def readme_arguments() -> list[str]:
    """The bench's arguments as README.md's "Scale (embedded default)" section runs it."""
    for block in readme.bash_blocks(readme.section("Scale (embedded default)")):
        for line in block.text.splitlines():
            words = shlex.split(line, comments=True)
            if len(words) > 1 and words[1] == "bench/bench_scale.py":
                return words[2:]
    raise AssertionError("README.md's Scale section runs no bench/bench_scale.py")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """The README's command, in smoke mode (tiny sizes instead of its ``--sizes``)."""
    out = tmp_path_factory.mktemp("bench-scale") / "scale.json"
    arguments = [*readme_arguments(), "--smoke", "--out", str(out)]
    proc = run_bench("bench_scale.py", *arguments, timeout=300)
    return proc.stdout, json.loads(out.read_text())


def test_the_table_has_every_column_and_a_row_per_size_mode_and_path(
    smoke: tuple[str, dict[str, Any]],
) -> None:
    stdout, results = smoke
    lines = stdout.splitlines()
    header = next(line for line in lines if line.startswith("rows") and "path" in line)
    for column in COLUMNS:
        assert column in header, column
    ratio_header = next(line for line in lines if line.startswith("rows") and "p50 x" in line)
    for column in RATIO_COLUMNS:
        assert column in ratio_header, column
    assert results["mode"] == "smoke"
    sizes = [entry["rows"] for entry in results["sizes"]]
    assert len(sizes) >= 2 and sizes == sorted(sizes)
    for size in sizes:
        for path in ("LanceDB direct", "gateway"):
            rows = [line for line in lines if line.startswith(f"{size:,} ") and path in line]
            assert len(rows) == 2, (size, path, rows)  # exact and auto index
        assert any(line.startswith(f"{size:,} ") and "auto index" in line for line in lines)
        assert any(line.startswith(f"{size:,} ") and "merge_insert" in line for line in lines)
    assert f"gateway's client sent {results['client_input']}" in stdout
    assert results["client_input"] in ("numpy", "pyarrow", "dicts")


def test_every_value_is_one_a_working_run_gives(smoke: tuple[str, dict[str, Any]]) -> None:
    _, results = smoke
    for entry in results["sizes"]:
        ingest = entry["ingest_vps"]
        assert set(ingest) == {"add", "merge_insert", "gateway exact", "gateway auto"}
        assert all(v > 0 for v in ingest.values()), ingest
        assert entry["rss_peak_mb"]["gateway"] > 0
        assert entry["rss_peak_mb"]["direct"] > 0
        assert set(entry["modes"]) == {"exact", "auto"}
        for mode, one in entry["modes"].items():
            for who in ("direct", "gateway"):
                m = one[who]
                assert 0 < m["p50_ms"] <= m["p99_ms"], (mode, who, m)
                assert m["qps"] > 0, (mode, who, m)
                assert m["qps_searches"] > 0, (mode, who, m)
                assert 0.0 <= m["recall_at_10"] <= 1.0, (mode, who, m)
                if mode == "exact":
                    # Both search every row: the same top 10 as numpy's brute force
                    # (a swap of two near-tied 10th and 11th hits aside).
                    assert m["recall_at_10"] >= 0.95, (who, m)
        auto = entry["modes"]["auto"]
        assert auto["direct_index"]["build_s"] > 0
        status = auto["gateway_index"]
        assert status["reported"] in (True, False)
        if status["reported"]:
            # Built over every row, or none due (the gateway idle): never given up on.
            assert status["ready"] or status["idle"], status
    hwm = results["rss_hwm_mb"]
    assert hwm["gateway"] > 0 and hwm["direct"] > 0
