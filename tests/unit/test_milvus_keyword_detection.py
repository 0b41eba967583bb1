"""Which Milvus engines get BM25 collections, and which BM25 functions a schema has."""

from __future__ import annotations

import pytest
from pymilvus import FunctionType

from vectorgate_server.adapters.milvus.client import _has_full_text
from vectorgate_server.adapters.milvus.schema import _bm25_outputs


@pytest.mark.parametrize(
    ("version", "lite", "expected"),
    [
        ("v2.3.5", False, False),
        ("2.4.15", False, False),
        ("v2.5.0", False, True),
        ("2.6.3", False, True),
        ("v3.0.0-beta", False, True),
        ("milvus_lite-3.2.2", True, True),
        # milvus-lite server reached by URL reports the same version string
        ("milvus_lite-3.2.2", False, True),
        ("milvus_lite-2.4.12", True, False),
        ("", True, True),
        ("", False, False),
        ("unknown", False, False),
    ],
)
def test_full_text_support_by_version(version: str, lite: bool, expected: bool) -> None:
    assert _has_full_text(version, lite=lite) is expected


def test_bm25_outputs_of_a_described_schema() -> None:
    functions = [
        {
            "name": "fts",
            "type": FunctionType.BM25,
            "input_field_names": ["body"],
            "output_field_names": ["sparse"],
        },
        # an int type code (as some servers describe it), output not a sparse field
        {"type": 1, "input_field_names": ["title"], "output_field_names": ["dense"]},
        # not BM25
        {"type": 2, "input_field_names": ["title"], "output_field_names": ["other"]},
        {"type": 1, "input_field_names": ["a", "b"], "output_field_names": ["other"]},
        "garbage",
    ]
    assert _bm25_outputs(functions, {"sparse", "other"}) == {"sparse": "body"}
    assert _bm25_outputs(None, {"sparse"}) == {}
    assert _bm25_outputs([], {"sparse"}) == {}
