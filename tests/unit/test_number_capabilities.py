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


def test_backends_without_nul_get_it_refused_once() -> None:
    import numpy as np

    from vectorgate_server.adapters.pgvector import PgvectorAdapter
    from vectorgate_server.app import _check_no_nul
    from vectorgate_server.domain import Document

    assert PgvectorAdapter.capabilities.nul_in_strings is False
    assert Capabilities().nul_in_strings is True
    target = _target(Capabilities(nul_in_strings=False), "pgvector")
    vector = np.ones(2, np.float32)
    fine = Document("a", "t", vector, {"k": "v", "l": ["x"], "n": 1})
    _check_no_nul(fine, "documents[0]", target)
    for doc, field in (
        (Document("a\x00", "", vector), "documents[3].id"),
        (Document("a", "t\x00", vector), "documents[3].text"),
        (Document("a", "", vector, {"k": "\x00"}), "documents[3].metadata.k"),
        (Document("a", "", vector, {"k": ["ok", "\x00"]}), "documents[3].metadata.k[1]"),
    ):
        with pytest.raises(InvalidArgument) as err:
            _check_no_nul(doc, "documents[3]", target)
        assert err.value.field == field
        assert "'pgvector'" in err.value.message and "U+0000" in err.value.message


def test_zero_vectors_are_refused_where_the_backend_refuses_them() -> None:
    import numpy as np

    from vectorgate_server.adapters.opensearch import OpenSearchAdapter
    from vectorgate_server.app import check_vector, refuses_zero_vectors
    from vectorgate_server.domain import CollectionInfo, Metric
    from vectorgate_server.errors import InvalidVector

    pinecone = PineconeAdapter.capabilities
    assert pinecone.zero_vector_refused == frozenset(Metric)
    assert not pinecone.zero_vector_refused_in_queries
    opensearch = OpenSearchAdapter("os", ["http://127.0.0.1:9"]).capabilities
    assert opensearch.zero_vector_refused == {Metric.COSINE}
    assert opensearch.zero_vector_refused_in_queries
    assert not Capabilities().zero_vector_refused
    zero, one = np.zeros(3, np.float32), np.ones(3, np.float32)
    for refused_in in (frozenset(), frozenset({Metric.COSINE}), frozenset(Metric)):
        for in_queries in (False, True):
            caps = Capabilities(
                zero_vector_refused=refused_in, zero_vector_refused_in_queries=in_queries
            )
            adapter = cast(Any, SimpleNamespace(capabilities=caps, backend="b"))
            for metric in Metric:
                info = CollectionInfo("c", 3, metric)
                for write in (False, True):
                    refused = metric in refused_in and (write or in_queries)
                    assert refuses_zero_vectors(info, adapter, write=write) is refused
                    check_vector(info, one, "vector", "c", adapter, write=write)
                    if not refused:
                        check_vector(info, zero, "vector", "c", adapter, write=write)
                        continue
                    with pytest.raises(InvalidVector) as err:
                        check_vector(info, zero, "documents[2].vector", "c", adapter, write=write)
                    assert err.value.field == "documents[2].vector"
                    assert "'b'" in err.value.message and metric.name in err.value.message
