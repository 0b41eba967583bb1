"""The application layer refuses, once, the numbers a backend would round or misorder."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from vectorgate_server.adapters.base import Capabilities
from vectorgate_server.adapters.pinecone import PineconeAdapter
from vectorgate_server.adapters.qdrant import QdrantAdapter
from vectorgate_server.app import Gateway, Target, _check_double_metadata
from vectorgate_server.domain import Condition, Op
from vectorgate_server.errors import InvalidArgument, InvalidFilter

BIG = 2**53 + 1


def _target(caps: Capabilities, backend: str) -> Target:
    adapter = SimpleNamespace(capabilities=caps, backend=backend, store="s")
    return Target(cast(Any, adapter), "c")


def test_backends_declare_how_they_store_numbers() -> None:
    assert PineconeAdapter.capabilities.metadata_numbers == "double"
    assert QdrantAdapter.capabilities.exact_int_ranges is False
    assert Capabilities().metadata_numbers == "typed" and Capabilities().exact_int_ranges


def test_doubles_only_backend_refuses_big_integers() -> None:
    target = _target(Capabilities(metadata_numbers="double"), "pinecone")
    _check_double_metadata({"n": 2**53, "m": -(2**53), "f": 1e300}, "documents[0].metadata", target)
    with pytest.raises(InvalidArgument) as err:
        _check_double_metadata({"ok": 1, "n": -BIG}, "documents[4].metadata", target)
    assert err.value.field == "documents[4].metadata.n"
    for f in (Condition("n", Op.EQ, BIG), Condition("n", Op.IN, (1, -BIG))):
        with pytest.raises(InvalidFilter) as ferr:
            Gateway.check_filter(cast(Any, None), target, f)
        assert "'n'" in ferr.value.message
    Gateway.check_filter(cast(Any, None), target, Condition("n", Op.GT, 2**53))


def test_inexact_range_backend_refuses_big_range_bounds_only() -> None:
    target = _target(Capabilities(exact_int_ranges=False), "qdrant")
    Gateway.check_filter(cast(Any, None), target, Condition("n", Op.EQ, BIG))  # exact match
    Gateway.check_filter(cast(Any, None), target, Condition("n", Op.GT, 2**53 - 1))
    for bound in (2**53, -BIG, 2.0**60):
        with pytest.raises(InvalidFilter):
            Gateway.check_filter(cast(Any, None), target, Condition("n", Op.LTE, bound))
