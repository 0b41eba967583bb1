"""The scale bench's QPS window order and its tuning of the direct table to the
gateway's recall, with stand-ins for the two paths (the smoke run's sizes never
build the automatic index, so it cannot reach the tuning)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bench_scale


class FakeDirect:
    """Records the calls; a search finds the id naming the ``nprobes`` set last."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.nprobes: int | None = None

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        self.calls.append(op)
        if op == "tune":
            self.nprobes = args["nprobes"]
            return {}
        if op == "search":
            return {"ids": [str(self.nprobes)], "ms": 1.0}
        if op == "qps":
            return {"done": 3}
        raise AssertionError(op)


class FakeGateway:
    def __init__(self, direct: FakeDirect) -> None:
        self.direct = direct

    def qps(self, clients: int, seconds: float, q: Any, mode: str) -> int:
        self.direct.calls.append("gateway")
        return 5


class FakeTruth:
    """recall@10 by the ``nprobes`` a search was made with."""

    def __init__(self, recall_at: dict[int, float]) -> None:
        self.q = np.zeros((200, 4), dtype=np.float32)
        self.recall_at = recall_at
        self.sizes: list[int] = []

    def recall(self, found: list[list[str]]) -> float:
        self.sizes.append(len(found))
        return self.recall_at[int(found[0][0])]


def settings(windows: int) -> bench_scale.Settings:
    return bench_scale.Settings([1000], ["exact"], 10, 8, windows, 0.0, 1.0, "numpy", {})


def test_qps_windows_alternate_which_path_goes_first() -> None:
    direct = FakeDirect()
    out = bench_scale.throughput(
        direct,  # type: ignore[arg-type]
        FakeGateway(direct),  # type: ignore[arg-type]
        np.zeros((1, 4), dtype=np.float32),
        "exact",
        settings(3),
    )
    assert direct.calls == ["qps", "gateway", "gateway", "qps", "qps", "gateway"]
    assert (out["direct_searches"], out["gateway_searches"]) == (9, 15)
    assert out["direct"] > 0 and out["gateway"] > 0


def test_tuning_keeps_the_fewest_probes_reaching_the_target() -> None:
    direct = FakeDirect()
    truth = FakeTruth({2: 0.3, 4: 0.6, 8: 0.97, 16: 1.0})
    tuned = bench_scale.tune_direct(direct, truth, 0.96)  # type: ignore[arg-type]
    assert tuned["nprobes"] == 8 and direct.nprobes == 8
    assert tuned["tried"] == {2: 0.3, 4: 0.6, 8: 0.97}
    assert tuned["refine_factor"] == bench_scale.TUNE_REFINE_FACTOR
    assert set(truth.sizes) == {bench_scale.TUNE_QUERIES}


def test_tuning_that_never_reaches_the_target_keeps_the_most_probes() -> None:
    direct = FakeDirect()
    truth = FakeTruth(dict.fromkeys(bench_scale.TUNE_NPROBES, 0.5))
    tuned = bench_scale.tune_direct(direct, truth, 0.9)  # type: ignore[arg-type]
    assert tuned["nprobes"] == bench_scale.TUNE_NPROBES[-1] == direct.nprobes
    assert len(tuned["tried"]) == len(bench_scale.TUNE_NPROBES)
