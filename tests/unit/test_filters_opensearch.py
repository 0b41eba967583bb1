"""Golden tests of the OpenSearch filter compiler: the exact query DSL per operator and type.

The compiled queries are also run through the OpenSearch test server against
documents in the typed metadata layout and compared with the reference
evaluator (``vectorgate/testing/reference.py``), so the golden shapes are known to
mean what the portable semantics say.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers.opensearch_server import OpenSearchTestServer
from vectorgate.testing.reference import matches
from vectorgate_server.domain import And, Condition, Filter, Metadata, Not, Op, Or
from vectorgate_server.errors import InvalidFilter
from vectorgate_server.filters.common import FieldType
from vectorgate_server.filters.opensearch import (
    compile_filter,
    decode_metadata,
    encode_metadata,
    field_name,
    field_path,
    metadata_key,
)

C = Condition


def must_not(query: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"must_not": [query]}}


def term(path: str, value: Any) -> dict[str, Any]:
    return {"term": {path: {"value": value}}}


GOLDEN: list[tuple[str, Filter, dict[str, Any]]] = [
    # EQ: the typed field of the value's type
    ("eq-str", C("color", Op.EQ, "red"), term("metadata.str.color", "red")),
    ("eq-empty-str", C("color", Op.EQ, ""), term("metadata.str.color", "")),
    ("eq-int", C("price", Op.EQ, 10), term("metadata.num.price", 10)),
    ("eq-negative-int", C("price", Op.EQ, -7), term("metadata.num.price", -7)),
    ("eq-float", C("price", Op.EQ, 2.5), term("metadata.num.price", 2.5)),
    ("eq-integral-float", C("price", Op.EQ, 3.0), term("metadata.num.price", 3.0)),
    # integers of magnitude 2**53 and more: exact on the long companion where a document
    # has one, the double elsewhere (a float, or a document written before the companion)
    (
        "eq-int64-max",
        C("price", Op.EQ, 2**63 - 1),
        {
            "bool": {
                "should": [
                    term("metadata.int.price", 2**63 - 1),
                    {
                        "bool": {
                            "filter": [term("metadata.num.price", 2**63 - 1)],
                            "must_not": [{"exists": {"field": "metadata.int.price"}}],
                        }
                    },
                ],
                "minimum_should_match": 1,
            }
        },
    ),
    ("eq-true", C("in_stock", Op.EQ, True), term("metadata.bool.in_stock", True)),
    ("eq-false", C("in_stock", Op.EQ, False), term("metadata.bool.in_stock", False)),
    # NE: must_not of EQ (true for missing fields and other types)
    ("ne-str", C("color", Op.NE, "red"), must_not(term("metadata.str.color", "red"))),
    ("ne-int", C("price", Op.NE, 10), must_not(term("metadata.num.price", 10))),
    ("ne-bool", C("in_stock", Op.NE, True), must_not(term("metadata.bool.in_stock", True))),
    # ranges: numbers only
    ("gt-int", C("price", Op.GT, 10), {"range": {"metadata.num.price": {"gt": 10}}}),
    ("gte-float", C("price", Op.GTE, 1.5), {"range": {"metadata.num.price": {"gte": 1.5}}}),
    ("lt-negative", C("price", Op.LT, -3), {"range": {"metadata.num.price": {"lt": -3}}}),
    ("lte-float", C("price", Op.LTE, -0.25), {"range": {"metadata.num.price": {"lte": -0.25}}}),
    # IN / NIN
    (
        "in-str",
        C("color", Op.IN, ("red", "blue")),
        {"terms": {"metadata.str.color": ["red", "blue"]}},
    ),
    ("in-one", C("color", Op.IN, ("red",)), {"terms": {"metadata.str.color": ["red"]}}),
    (
        "in-numbers",
        C("price", Op.IN, (1, 2.5, -3)),
        {"terms": {"metadata.num.price": [1, 2.5, -3]}},
    ),
    ("in-bool", C("in_stock", Op.IN, (True,)), {"terms": {"metadata.bool.in_stock": [True]}}),
    (
        "nin-str",
        C("color", Op.NIN, ("red", "blue")),
        must_not({"terms": {"metadata.str.color": ["red", "blue"]}}),
    ),
    (
        "nin-numbers",
        C("price", Op.NIN, (1, 2)),
        must_not({"terms": {"metadata.num.price": [1, 2]}}),
    ),
    (
        "nin-bool",
        C("in_stock", Op.NIN, (False,)),
        must_not({"terms": {"metadata.bool.in_stock": [False]}}),
    ),
    # CONTAINS: only lists of strings
    ("contains", C("tags", Op.CONTAINS, "x"), term("metadata.strs.tags", "x")),
    # id: the document _id
    ("id-eq", C("id", Op.EQ, "doc-1"), {"ids": {"values": ["doc-1"]}}),
    ("id-ne", C("id", Op.NE, "doc-1"), must_not({"ids": {"values": ["doc-1"]}})),
    ("id-in", C("id", Op.IN, ("a", "b")), {"ids": {"values": ["a", "b"]}}),
    ("id-nin", C("id", Op.NIN, ("a",)), must_not({"ids": {"values": ["a"]}})),
    # field names: '.' becomes '~'; '-', '_' and case are kept
    ("dotted-key", C("a.b-c", Op.GT, 1), {"range": {"metadata.num.a~b-c": {"gt": 1}}}),
    ("underscore-key", C("_private", Op.EQ, "x"), term("metadata.str._private", "x")),
    ("upper-key", C("Upper", Op.EQ, "x"), term("metadata.str.Upper", "x")),
    # reserved names other than id address a field no document has
    ("reserved-text", C("text", Op.EQ, "x"), term("metadata.str.text", "x")),
    # boolean structure
    (
        "and",
        And((C("color", Op.EQ, "red"), C("price", Op.LT, 5))),
        {
            "bool": {
                "filter": [
                    term("metadata.str.color", "red"),
                    {"range": {"metadata.num.price": {"lt": 5}}},
                ]
            }
        },
    ),
    (
        "or",
        Or((C("color", Op.EQ, "red"), C("in_stock", Op.EQ, True))),
        {
            "bool": {
                "should": [term("metadata.str.color", "red"), term("metadata.bool.in_stock", True)],
                "minimum_should_match": 1,
            }
        },
    ),
    ("not", Not(C("color", Op.EQ, "red")), must_not(term("metadata.str.color", "red"))),
    (
        "not-ne",
        Not(C("color", Op.NE, "red")),
        must_not(must_not(term("metadata.str.color", "red"))),
    ),
    (
        "nested",
        And(
            (
                Or((C("id", Op.IN, ("a", "b")), Not(C("tags", Op.CONTAINS, "t")))),
                Not(And((C("price", Op.GTE, 1), C("price", Op.LTE, 2)))),
            )
        ),
        {
            "bool": {
                "filter": [
                    {
                        "bool": {
                            "should": [
                                {"ids": {"values": ["a", "b"]}},
                                must_not(term("metadata.strs.tags", "t")),
                            ],
                            "minimum_should_match": 1,
                        }
                    },
                    must_not(
                        {
                            "bool": {
                                "filter": [
                                    {"range": {"metadata.num.price": {"gte": 1}}},
                                    {"range": {"metadata.num.price": {"lte": 2}}},
                                ]
                            }
                        }
                    ),
                ]
            }
        },
    ),
    (
        "single-child-and",
        And((C("color", Op.EQ, "red"),)),
        {"bool": {"filter": [term("metadata.str.color", "red")]}},
    ),
]


@pytest.mark.parametrize(("case", "f", "expected"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(case: str, f: Filter, expected: dict[str, Any]) -> None:
    assert compile_filter(f) == expected


def test_every_operator_is_covered() -> None:
    ops = {g[1].op for g in GOLDEN if isinstance(g[1], Condition)}
    assert ops == set(Op)


INJECTIONS = [
    'x" or id != "',
    "x' OR 1=1 --",
    '\\"); drop',
    '{"match_all": {}}',
    "*",
    "metadata.str.color",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_values_stay_json_values(value: str) -> None:
    compiled = compile_filter(C("color", Op.EQ, value))
    assert compiled == term("metadata.str.color", value)
    # the value survives a JSON round trip unchanged and as a single string value
    assert json.loads(json.dumps(compiled))["term"]["metadata.str.color"]["value"] == value
    assert compile_filter(C("id", Op.IN, (value, "b"))) == {"ids": {"values": [value, "b"]}}


@pytest.mark.parametrize(
    ("f", "field"),
    [
        (C("color", Op.GT, "a"), "filter.condition.value"),
        (C("tags", Op.CONTAINS, 1), "filter.condition.value"),
        (C("color", Op.IN, ()), "filter.condition.value.list_value"),
        (C("color", Op.IN, ("a", 1)), "filter.condition.value.list_value"),
        (C("color", Op.EQ, ("a",)), "filter.condition.value"),
        (C("price", Op.EQ, math.nan), "filter.condition.value"),
        (C("price", Op.EQ, 2**64), "filter.condition.value"),
        (C("id", Op.GT, "a"), "filter.condition.op"),
        (C("id", Op.EQ, 5), "filter.condition.value"),
        (C("bad key", Op.EQ, "a"), "filter.condition.field"),
        (C("a~b", Op.EQ, "a"), "filter.condition.field"),
        (And(()), "filter.all_of.filters"),
        (Or(()), "filter.any_of.filters"),
        (Not(And(())), "filter.negate.all_of.filters"),
    ],
)
def test_invalid_filters(f: Filter, field: str) -> None:
    with pytest.raises(InvalidFilter) as err:
        compile_filter(f)
    assert err.value.field == field


def test_error_path_is_the_request_field() -> None:
    with pytest.raises(InvalidFilter) as err:
        compile_filter(C("color", Op.GT, "a"), "policy_filter")
    assert err.value.field == "policy_filter.condition.value"


def test_field_names_are_reversible() -> None:
    for key in ["a", "a.b", "a.b.c", "_x", "x-y", "A.B_c"]:
        assert metadata_key(field_name(key)) == key
        assert "." not in field_name(key)
    assert field_path("a.b", FieldType.NUMBER) == "metadata.num.a~b"


def test_metadata_round_trip() -> None:
    metadata: Metadata = {
        "s": "x",
        "i": 5,
        "f": 1.5,
        "b": False,
        "l": ["p", "q"],
        "e": [],
        "a.b": "dotted",
    }
    encoded = encode_metadata(metadata)
    assert encoded == {
        "str": {"s": "x", "a~b": "dotted"},
        "num": {"i": 5, "f": 1.5},
        "bool": {"b": False},
        "strs": {"l": ["p", "q"], "e": []},
    }
    decoded = decode_metadata(json.loads(json.dumps(encoded)))
    assert decoded == metadata
    assert isinstance(decoded["i"], int) and isinstance(decoded["f"], float)


def test_big_integers_get_an_exact_companion() -> None:
    # A double rounds 2**53 + 1; the long companion keeps it for exact filters.
    encoded = encode_metadata({"n": 2**53 + 1, "m": -(2**63), "small": 2**53 - 1, "f": 3.0})
    assert encoded["num"] == {"n": 2**53 + 1, "m": -(2**63), "small": 2**53 - 1, "f": 3.0}
    assert encoded["int"] == {"n": 2**53 + 1, "m": -(2**63)}
    decoded = decode_metadata(json.loads(json.dumps(encoded)))
    assert decoded == {"n": 2**53 + 1, "m": -(2**63), "small": 2**53 - 1, "f": 3.0}
    assert isinstance(decoded["f"], float)


def test_decode_ignores_foreign_content() -> None:
    assert decode_metadata(None) == {}
    assert decode_metadata({"other": {"x": 1}, "num": {"ok": 1, "bad": "x", "flag": True}}) == {
        "ok": 1
    }
    assert decode_metadata({"strs": {"one": "a"}}) == {"one": ["a"]}


# --------------------------------------------------------------------------- semantics


DOCS: dict[str, Metadata] = {
    "s-red": {"color": "red", "price": 5, "tags": ["x", "y"], "flag": True},
    "s-blue": {"color": "blue", "price": 5.0, "tags": [], "flag": False},
    "num-color": {"color": 7, "price": "5", "tags": "x"},
    "bool-color": {"color": True, "price": 2.5, "flag": "true"},
    "list-color": {"color": ["red"], "price": -1},
    "empty": {},
    "dotted": {"a.b": 1, "a": "top"},
    "inject": {"color": 'x" or id != "'},
}

SEMANTIC_FILTERS: list[Filter] = [
    C("color", Op.EQ, "red"),
    C("color", Op.NE, "red"),
    C("color", Op.EQ, 7),
    C("color", Op.EQ, True),
    C("color", Op.IN, ("red", "blue")),
    C("color", Op.NIN, ("red", "blue")),
    C("color", Op.IN, (7, 8)),
    C("price", Op.EQ, 5),
    C("price", Op.EQ, "5"),
    C("price", Op.GT, 2.5),
    C("price", Op.GTE, 2.5),
    C("price", Op.LT, 5),
    C("price", Op.LTE, -1),
    C("price", Op.NE, 5),
    C("tags", Op.CONTAINS, "x"),
    C("tags", Op.EQ, "x"),
    C("flag", Op.EQ, True),
    C("flag", Op.NE, True),
    C("flag", Op.IN, (False,)),
    C("a.b", Op.EQ, 1),
    C("a", Op.EQ, "top"),
    C("id", Op.EQ, "empty"),
    C("id", Op.NIN, ("empty", "s-red")),
    C("color", Op.EQ, 'x" or id != "'),
    Not(C("color", Op.EQ, "red")),
    Not(Not(C("tags", Op.CONTAINS, "x"))),
    Or((C("color", Op.EQ, "blue"), C("price", Op.LT, 0))),
    And((C("price", Op.GTE, 0), Not(C("flag", Op.EQ, True)))),
    Not(Or((C("color", Op.EQ, "red"), C("color", Op.EQ, 7)))),
]


@pytest.fixture(scope="module")
def server() -> Iterator[OpenSearchTestServer]:
    with OpenSearchTestServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def loaded(server: OpenSearchTestServer) -> str:
    from opensearchpy import OpenSearch

    client = OpenSearch(hosts=[server.url])
    templates = [
        {f"t_{group}": {"path_match": f"metadata.{group}.*", "mapping": {"type": kind}}}
        for group, kind in [
            ("str", "keyword"),
            ("strs", "keyword"),
            ("num", "double"),
            ("bool", "boolean"),
        ]
    ]
    client.indices.create(
        index="filters",
        body={
            "mappings": {
                "dynamic": "strict",
                "dynamic_templates": templates,
                "properties": {
                    "metadata": {
                        "type": "object",
                        "dynamic": True,
                        "properties": {
                            g: {"type": "object", "dynamic": True}
                            for g in ("str", "strs", "num", "bool")
                        },
                    }
                },
            }
        },
    )
    body: list[dict[str, Any]] = []
    for doc_id, metadata in DOCS.items():
        body += [{"index": {"_index": "filters", "_id": doc_id}}, {"metadata": _encode(metadata)}]
    response = client.bulk(body=body, refresh=True)
    assert not response["errors"], response
    client.close()
    return "filters"


def _encode(metadata: Metadata) -> dict[str, Any]:
    # the test corpus holds deliberately odd values (a string "true" flag, a scalar
    # "tags"): encode them by their actual type as the adapter would
    return encode_metadata(metadata)


@pytest.mark.parametrize("f", SEMANTIC_FILTERS, ids=[str(i) for i in range(len(SEMANTIC_FILTERS))])
def test_compiled_filters_select_what_the_reference_selects(
    server: OpenSearchTestServer, loaded: str, f: Filter
) -> None:
    from opensearchpy import OpenSearch

    client = OpenSearch(hosts=[server.url])
    try:
        response = client.search(
            index=loaded, body={"size": 100, "query": compile_filter(f), "_source": False}
        )
    finally:
        client.close()
    got = {hit["_id"] for hit in response["hits"]["hits"]}
    expected = {doc_id for doc_id, metadata in DOCS.items() if matches(f, doc_id, metadata)}
    assert got == expected
