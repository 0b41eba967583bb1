"""Golden tests: portable filters -> ``qdrant_client.models.Filter``.

Each case pins the exact native filter (compared as models and as their
``model_dump``). The semantics behind each shape are explained in
:mod:`vectorgate_server.filters.qdrant`; the contract suite checks them
against the reference evaluator on a real engine.
"""

from __future__ import annotations

import uuid

import pytest
from qdrant_client import models as m

from vectorgate_server.domain import And, Condition, Filter, Not, Op, Or
from vectorgate_server.errors import InvalidFilter
from vectorgate_server.filters.qdrant import (
    LISTS_PATH,
    POINT_ID_NAMESPACE,
    compile_filter,
    metadata_path,
    point_id,
)

INJECTIONS = ['x" or id != "', "x' OR 1=1 --", '\\"); drop']


def fc_match(key: str, value: str | int | bool) -> m.FieldCondition:
    return m.FieldCondition(key=key, match=m.MatchValue(value=value))


def fc_range(key: str, **bounds: float) -> m.FieldCondition:
    return m.FieldCondition(key=key, range=m.Range(**bounds))  # type: ignore[arg-type]


def is_list(key: str) -> m.FieldCondition:
    return fc_match(LISTS_PATH, key)


def scalar_string(key: str, match: m.MatchValue | m.MatchAny) -> m.Filter:
    """A string EQ/IN: the value matches and the field is not a list."""
    return m.Filter(
        must=[m.FieldCondition(key=f"metadata.{key}", match=match)], must_not=[is_list(key)]
    )


def pid(doc_id: str) -> str:
    return str(uuid.uuid5(POINT_ID_NAMESPACE, doc_id))


def must(*conditions: m.Condition) -> m.Filter:
    return m.Filter(must=list(conditions))


def root(condition: m.Condition) -> m.Filter:
    """A condition as the root filter: a filter stays itself, anything else is wrapped."""
    return condition if isinstance(condition, m.Filter) else must(condition)


def assert_compiles(f: Filter, expected: m.Filter) -> None:
    got = compile_filter(f)
    assert got == expected
    assert got.model_dump() == expected.model_dump()


# --------------------------------------------------------------------------- operators x types

CASES: list[tuple[str, Filter, m.Filter]] = [
    # EQ
    (
        "eq-str",
        Condition("genre", Op.EQ, "jazz"),
        root(scalar_string("genre", m.MatchValue(value="jazz"))),
    ),
    (
        "eq-empty-str",
        Condition("genre", Op.EQ, ""),
        root(scalar_string("genre", m.MatchValue(value=""))),
    ),
    ("eq-int", Condition("year", Op.EQ, 1999), root(fc_range("metadata.year", gte=1999, lte=1999))),
    ("eq-neg-float", Condition("t", Op.EQ, -2.5), root(fc_range("metadata.t", gte=-2.5, lte=-2.5))),
    ("eq-zero", Condition("n", Op.EQ, 0), root(fc_range("metadata.n", gte=0, lte=0))),
    ("eq-true", Condition("ok", Op.EQ, True), root(fc_match("metadata.ok", True))),
    ("eq-false", Condition("ok", Op.EQ, False), root(fc_match("metadata.ok", False))),
    # NE
    (
        "ne-str",
        Condition("genre", Op.NE, "jazz"),
        m.Filter(must_not=[scalar_string("genre", m.MatchValue(value="jazz"))]),
    ),
    (
        "ne-int",
        Condition("year", Op.NE, 5),
        m.Filter(must_not=[fc_range("metadata.year", gte=5, lte=5)]),
    ),
    (
        "ne-float",
        Condition("x", Op.NE, 0.5),
        m.Filter(must_not=[fc_range("metadata.x", gte=0.5, lte=0.5)]),
    ),
    ("ne-bool", Condition("ok", Op.NE, True), m.Filter(must_not=[fc_match("metadata.ok", True)])),
    # ranges
    ("gt-int", Condition("year", Op.GT, 2000), root(fc_range("metadata.year", gt=2000))),
    ("gte-float", Condition("score", Op.GTE, 0.25), root(fc_range("metadata.score", gte=0.25))),
    ("lt-neg", Condition("t", Op.LT, -3), root(fc_range("metadata.t", lt=-3))),
    ("lte-float", Condition("t", Op.LTE, 1e-9), root(fc_range("metadata.t", lte=1e-9))),
    # IN
    (
        "in-str",
        Condition("genre", Op.IN, ("jazz", "blues")),
        root(scalar_string("genre", m.MatchAny(any=["jazz", "blues"]))),
    ),
    (
        "in-str-single-dedup",
        Condition("genre", Op.IN, ("jazz", "jazz")),
        root(scalar_string("genre", m.MatchAny(any=["jazz"]))),
    ),
    (
        "in-int",
        Condition("year", Op.IN, (1, 2)),
        m.Filter(
            should=[
                fc_range("metadata.year", gte=1, lte=1),
                fc_range("metadata.year", gte=2, lte=2),
            ]
        ),
    ),
    (
        "in-mixed-int-float-dedup",
        Condition("year", Op.IN, (1, 1.0, 2.5)),
        m.Filter(
            should=[
                fc_range("metadata.year", gte=1, lte=1),
                fc_range("metadata.year", gte=2.5, lte=2.5),
            ]
        ),
    ),
    (
        "in-int-single",
        Condition("year", Op.IN, (7,)),
        root(fc_range("metadata.year", gte=7, lte=7)),
    ),
    ("in-bool-single", Condition("ok", Op.IN, (False,)), root(fc_match("metadata.ok", False))),
    (
        "in-bool-both",
        Condition("ok", Op.IN, (True, False)),
        m.Filter(should=[fc_match("metadata.ok", True), fc_match("metadata.ok", False)]),
    ),
    # NIN
    (
        "nin-str",
        Condition("genre", Op.NIN, ("a", "b")),
        m.Filter(must_not=[scalar_string("genre", m.MatchAny(any=["a", "b"]))]),
    ),
    (
        "nin-num",
        Condition("n", Op.NIN, (1, 2.5)),
        m.Filter(
            must_not=[
                m.Filter(
                    should=[
                        fc_range("metadata.n", gte=1, lte=1),
                        fc_range("metadata.n", gte=2.5, lte=2.5),
                    ]
                )
            ]
        ),
    ),
    (
        "nin-bool",
        Condition("ok", Op.NIN, (True,)),
        m.Filter(must_not=[fc_match("metadata.ok", True)]),
    ),
    # CONTAINS: the value is an element and the field is a list
    (
        "contains",
        Condition("tags", Op.CONTAINS, "red"),
        root(m.Filter(must=[fc_match("metadata.tags", "red"), is_list("tags")])),
    ),
    # id
    ("id-eq", Condition("id", Op.EQ, "doc-1"), root(m.HasIdCondition(has_id=[pid("doc-1")]))),
    (
        "id-ne",
        Condition("id", Op.NE, "doc-1"),
        m.Filter(must_not=[m.HasIdCondition(has_id=[pid("doc-1")])]),
    ),
    (
        "id-in",
        Condition("id", Op.IN, ("a", "b", "a")),
        root(m.HasIdCondition(has_id=[pid("a"), pid("b")])),
    ),
    (
        "id-nin",
        Condition("id", Op.NIN, ("a",)),
        m.Filter(must_not=[m.HasIdCondition(has_id=[pid("a")])]),
    ),
    # key paths
    (
        "dotted-key-quoted",
        Condition("a.b", Op.GT, 1),
        root(fc_range('metadata."a.b"', gt=1)),
    ),
    ("dashed-key", Condition("my-key", Op.EQ, True), root(fc_match("metadata.my-key", True))),
    ("underscore-key", Condition("_x", Op.LT, 1), root(fc_range("metadata._x", lt=1))),
    (
        "dotted-key-list-guard-uses-raw-key",
        Condition("a.b", Op.CONTAINS, "x"),
        root(m.Filter(must=[fc_match('metadata."a.b"', "x"), is_list("a.b")])),
    ),
    # reserved names other than id are metadata keys no document has
    (
        "text-is-not-the-text",
        Condition("text", Op.EQ, "hello"),
        root(scalar_string("text", m.MatchValue(value="hello"))),
    ),
]


@pytest.mark.parametrize(("name", "f", "expected"), CASES, ids=[c[0] for c in CASES])
def test_operator_and_type(name: str, f: Filter, expected: m.Filter) -> None:
    assert_compiles(f, expected)


# --------------------------------------------------------------------------- boolean structure


def test_and_or_not_nesting() -> None:
    f = And(
        (
            Or((Condition("genre", Op.EQ, "jazz"), Condition("year", Op.LT, 1960))),
            Not(Condition("ok", Op.EQ, False)),
        )
    )
    expected = m.Filter(
        must=[
            m.Filter(
                should=[
                    scalar_string("genre", m.MatchValue(value="jazz")),
                    fc_range("metadata.year", lt=1960),
                ]
            ),
            m.Filter(must_not=[fc_match("metadata.ok", False)]),
        ]
    )
    assert_compiles(f, expected)


def test_double_negation_and_negated_negative_op() -> None:
    f = Not(Not(Condition("n", Op.NE, 1)))
    inner = m.Filter(must_not=[fc_range("metadata.n", gte=1, lte=1)])
    assert_compiles(f, m.Filter(must_not=[m.Filter(must_not=[inner])]))


def test_single_child_and_or() -> None:
    assert_compiles(And((Condition("n", Op.GT, 1),)), m.Filter(must=[fc_range("metadata.n", gt=1)]))
    assert_compiles(
        Or((Condition("n", Op.GT, 1),)), m.Filter(should=[fc_range("metadata.n", gt=1)])
    )


def test_deep_nesting_compiles() -> None:
    f: Filter = Condition("n", Op.EQ, 1)
    expected: m.Condition = fc_range("metadata.n", gte=1, lte=1)
    for _ in range(30):
        f = Not(f)
        expected = m.Filter(must_not=[expected])
    assert compile_filter(f) == expected


def test_explain_json_shape() -> None:
    dumped = compile_filter(Condition("tags", Op.CONTAINS, "red")).model_dump(
        mode="json", exclude_none=True
    )
    assert dumped == {
        "must": [
            {"key": "metadata.tags", "match": {"value": "red"}},
            {"key": "_vectorgate.lists", "match": {"value": "tags"}},
        ]
    }


# --------------------------------------------------------------------------- escaping


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_strings_stay_literal_values(value: str) -> None:
    assert_compiles(
        Condition("genre", Op.EQ, value), root(scalar_string("genre", m.MatchValue(value=value)))
    )
    assert_compiles(
        Condition("genre", Op.IN, (value, "b")),
        root(scalar_string("genre", m.MatchAny(any=[value, "b"]))),
    )
    assert_compiles(
        Condition("tags", Op.CONTAINS, value),
        root(m.Filter(must=[fc_match("metadata.tags", value), is_list("tags")])),
    )
    # ids are hashed into point ids: nothing of the string reaches a key or an expression
    assert_compiles(Condition("id", Op.EQ, value), must(m.HasIdCondition(has_id=[pid(value)])))


def test_metadata_path_quotes_only_dots() -> None:
    assert metadata_path("year") == "metadata.year"
    assert metadata_path("a-b_c") == "metadata.a-b_c"
    assert metadata_path("a.b.c") == 'metadata."a.b.c"'
    with pytest.raises(ValueError):
        metadata_path('a"b')


def test_point_id_is_a_stable_uuid5() -> None:
    # Pinned: the mapping is part of the storage format.
    assert point_id("doc-1") == "515965c8-6f5f-5d47-b289-f17c83fa827b"
    value = uuid.UUID(point_id("doc-1"))
    assert value.version == 5
    assert point_id("doc-1") == str(uuid.uuid5(POINT_ID_NAMESPACE, "doc-1"))
    assert point_id("doc-1") == point_id("doc-1")
    assert point_id("doc-1") != point_id("doc-2")
    # The namespace is part of the storage format: it must never change.
    assert str(POINT_ID_NAMESPACE) == "8a29ee83-58e9-5681-aaaa-2ee3951e9283"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("f", "field"),
    [
        (Condition("bad key", Op.EQ, 1), "filter.condition.field"),
        (Condition('a"b', Op.EQ, 1), "filter.condition.field"),
        (Condition("n", Op.GT, "x"), "filter.condition.value"),
        (Condition("n", Op.GT, True), "filter.condition.value"),
        (Condition("tags", Op.CONTAINS, 1), "filter.condition.value"),
        (Condition("n", Op.IN, ()), "filter.condition.value.list_value"),
        (Condition("n", Op.IN, (1, "a")), "filter.condition.value.list_value"),
        (Condition("n", Op.EQ, (1,)), "filter.condition.value"),
        (Condition("n", Op.EQ, float("nan")), "filter.condition.value"),
        (Condition("n", Op.EQ, 2**70), "filter.condition.value"),
        (Condition("id", Op.GT, "a"), "filter.condition.op"),
        (Condition("id", Op.EQ, 5), "filter.condition.value"),
        (And(()), "filter.all_of.filters"),
        (Or(()), "filter.any_of.filters"),
        (
            And((Condition("n", Op.EQ, 1), Not(Condition("n", Op.LT, "z")))),
            "filter.all_of.filters[1].negate.condition.value",
        ),
    ],
)
def test_invalid_filters_name_the_field(f: Filter, field: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        compile_filter(f)
    assert info.value.field == field


def test_error_path_prefix() -> None:
    with pytest.raises(InvalidFilter) as info:
        compile_filter(Condition("n", Op.GT, "x"), "queries[2].filter")
    assert info.value.field == "queries[2].filter.condition.value"
