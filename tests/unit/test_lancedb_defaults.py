"""vectorgate's default LanceDB index build and search parameters (recall)."""

from __future__ import annotations

import pytest

from vectorgate_server.adapters.lancedb import (
    EF_MAX,
    default_sub_vectors,
    index_build_params,
    search_defaults,
)
from vectorgate_server.domain import IndexSpec


@pytest.mark.parametrize(
    ("dimension", "expected"),
    [(384, 96), (50, 25), (768, 192), (7, 7), (9, 3), (6, 2), (1536, 384)],
)
def test_sub_vectors_are_at_most_four_dimensions_wide(dimension: int, expected: int) -> None:
    subs = default_sub_vectors(dimension)
    assert subs == expected
    assert dimension % subs == 0
    assert dimension // subs <= 4


def test_build_params_fill_only_what_the_spec_leaves_out() -> None:
    assert index_build_params(IndexSpec("IVF_PQ", {}), 384) == {"num_sub_vectors": 96}
    assert index_build_params(IndexSpec("IVF_PQ", {"num_sub_vectors": 48}), 384) == {
        "num_sub_vectors": 48
    }
    assert index_build_params(IndexSpec("IVF_HNSW_PQ", {"num_partitions": 4}), 50) == {
        "num_partitions": 4,
        "num_sub_vectors": 25,
    }
    # Index types without product quantisation get no sub-vector default.
    assert index_build_params(IndexSpec("IVF_HNSW_SQ", {}), 384) == {}


def test_search_defaults_by_index_type() -> None:
    assert search_defaults("IVF_PQ", 10) == {"refine_factor": 10}
    assert search_defaults("ivf_hnsw_sq", 10) == {"ef": 160}
    assert search_defaults("IVF_HNSW_PQ", 10) == {"refine_factor": 10, "ef": 160}
    assert search_defaults("IVF_FLAT", 10) == {}
    # ef is capped, but never below top_k.
    assert search_defaults("IVF_HNSW_SQ", 1000)["ef"] == EF_MAX
    assert search_defaults("IVF_HNSW_SQ", 5000)["ef"] == 5000


def test_search_defaults_probe_every_partition_until_calibrated() -> None:
    # Random vectors spread their neighbours over every partition (see NPROBES_FRACTION).
    assert search_defaults("IVF_SQ", 10, partitions=36) == {"nprobes": 36, "refine_factor": 5}
    assert search_defaults("IVF_SQ", 10, partitions=4)["nprobes"] == 20  # Lance's minimum
    assert "nprobes" not in search_defaults("IVF_SQ", 10)  # partitions unknown
