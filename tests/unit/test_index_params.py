"""The one integer check of index build parameters, shared by LanceDB, OpenSearch and Qdrant."""

from __future__ import annotations

from typing import Any

import pytest

from vectorgate_server.adapters.index_params import positive_int_params
from vectorgate_server.errors import InvalidArgument


def test_names_default_to_a_minimum_of_one() -> None:
    assert positive_int_params({"m": 16, "ef": 64.0}, ["ef", "m"], "HNSW") == {"m": 16, "ef": 64}
    for value in (0, -3, 1.5, True, "8", None, float("inf"), 2**31):
        with pytest.raises(InvalidArgument) as info:
            positive_int_params({"m": value}, ["m"], "HNSW")
        assert info.value.field == "collection.index.params.m"
        assert "positive integer" in str(info.value)


def test_minimums_per_parameter() -> None:
    minimums = {"m": 0, "ef_construct": 4}
    assert positive_int_params({"m": 0, "ef_construct": 4.0}, minimums, "Qdrant HNSW") == {
        "m": 0,
        "ef_construct": 4,
    }
    bad: list[tuple[str, Any, str]] = [
        ("m", -1, "at least 0"),
        ("m", False, "at least 0"),
        ("ef_construct", 3, "at least 4"),
    ]
    for key, value, wanted in bad:
        with pytest.raises(InvalidArgument) as info:
            positive_int_params({key: value}, minimums, "Qdrant HNSW")
        assert info.value.field == f"collection.index.params.{key}"
        assert wanted in str(info.value)


def test_unknown_parameter_names_the_accepted_ones() -> None:
    with pytest.raises(InvalidArgument) as info:
        positive_int_params({"nlist": 4}, {"m": 0, "ef_construct": 4}, "Qdrant HNSW")
    assert info.value.field == "collection.index.params.nlist"
    assert "accepted: m, ef_construct" in str(info.value)
