"""Golden tests of the LanceDB filter compiler: exact SQL per operator and value type."""

from __future__ import annotations

import math

import pytest

from vectorgate_server.domain import And, Condition, Filter, Not, Op, Or
from vectorgate_server.errors import InvalidFilter
from vectorgate_server.filters import FieldType
from vectorgate_server.filters.lancedb import (
    column_name,
    compile_filter,
    metadata_key,
    sql_literal,
)

TYPES = {
    "color": FieldType.STRING,
    "price": FieldType.NUMBER,
    "in_stock": FieldType.BOOL,
    "tags": FieldType.STRING_LIST,
    "a.b-c": FieldType.NUMBER,
    "_private": FieldType.STRING,
    "Upper": FieldType.STRING,
}


def sql(f: Filter) -> str:
    return compile_filter(f, TYPES)


C = Condition

GOLDEN: list[tuple[str, Filter, str]] = [
    # EQ
    ("eq-str", C("color", Op.EQ, "red"), "`color` = 'red'"),
    ("eq-empty-str", C("color", Op.EQ, ""), "`color` = ''"),
    ("eq-int", C("price", Op.EQ, 10), "`price` = 10"),
    ("eq-negative-int", C("price", Op.EQ, -7), "`price` = -7"),
    ("eq-float", C("price", Op.EQ, 2.5), "`price` = 2.5"),
    ("eq-integral-float", C("price", Op.EQ, 3.0), "`price` = 3.0"),
    ("eq-big-float", C("price", Op.EQ, 1e20), "`price` = 1e+20"),
    ("eq-small-float", C("price", Op.EQ, 1e-05), "`price` = 1e-05"),
    ("eq-int64-max", C("price", Op.EQ, 2**63 - 1), "`price` = 9223372036854775807"),
    ("eq-true", C("in_stock", Op.EQ, True), "`in_stock` = true"),
    ("eq-false", C("in_stock", Op.EQ, False), "`in_stock` = false"),
    # NE
    ("ne-str", C("color", Op.NE, "red"), "(`color` = 'red') IS NOT TRUE"),
    ("ne-int", C("price", Op.NE, 10), "(`price` = 10) IS NOT TRUE"),
    ("ne-float", C("price", Op.NE, 0.5), "(`price` = 0.5) IS NOT TRUE"),
    ("ne-bool", C("in_stock", Op.NE, True), "(`in_stock` = true) IS NOT TRUE"),
    # ranges
    ("gt-int", C("price", Op.GT, 10), "`price` > 10"),
    ("gte-float", C("price", Op.GTE, 1.5), "`price` >= 1.5"),
    ("lt-negative", C("price", Op.LT, -3), "`price` < -3"),
    ("lte-float", C("price", Op.LTE, -0.25), "`price` <= -0.25"),
    # IN / NIN
    ("in-str", C("color", Op.IN, ("red", "blue")), "`color` IN ('red', 'blue')"),
    ("in-one", C("color", Op.IN, ("red",)), "`color` IN ('red')"),
    ("in-numbers", C("price", Op.IN, (1, 2.5, -3)), "`price` IN (1, 2.5, -3)"),
    ("in-bool", C("in_stock", Op.IN, (True,)), "`in_stock` IN (true)"),
    ("nin-str", C("color", Op.NIN, ("red", "blue")), "(`color` IN ('red', 'blue')) IS NOT TRUE"),
    ("nin-numbers", C("price", Op.NIN, (1, 2)), "(`price` IN (1, 2)) IS NOT TRUE"),
    ("nin-bool", C("in_stock", Op.NIN, (False,)), "(`in_stock` IN (false)) IS NOT TRUE"),
    # CONTAINS
    ("contains", C("tags", Op.CONTAINS, "x"), "array_has(`tags`, 'x')"),
    # id
    ("id-eq", C("id", Op.EQ, "doc-1"), "`id` = 'doc-1'"),
    ("id-ne", C("id", Op.NE, "doc-1"), "(`id` = 'doc-1') IS NOT TRUE"),
    ("id-in", C("id", Op.IN, ("a", "b")), "`id` IN ('a', 'b')"),
    ("id-nin", C("id", Op.NIN, ("a",)), "(`id` IN ('a')) IS NOT TRUE"),
    # column names: '.' and a leading '_' are mapped, '-' and case are kept
    ("dotted-key", C("a.b-c", Op.GT, 1), "`a:b-c` > 1"),
    ("underscore-key", C("_private", Op.EQ, "x"), "`:_private` = 'x'"),
    ("upper-key", C("Upper", Op.EQ, "x"), "`Upper` = 'x'"),
    # missing field: not matched, except NE/NIN
    ("missing-eq", C("nope", Op.EQ, "x"), "FALSE"),
    ("missing-ne", C("nope", Op.NE, "x"), "TRUE"),
    ("missing-gt", C("nope", Op.GT, 1), "FALSE"),
    ("missing-in", C("nope", Op.IN, (1, 2)), "FALSE"),
    ("missing-nin", C("nope", Op.NIN, (1, 2)), "TRUE"),
    ("missing-contains", C("nope", Op.CONTAINS, "x"), "FALSE"),
    ("case-differs", C("upper", Op.EQ, "x"), "FALSE"),
    # reserved names are not metadata keys
    ("text-is-not-metadata", C("text", Op.EQ, "x"), "FALSE"),
    ("vector-is-not-metadata", C("vector", Op.NE, "x"), "TRUE"),
    # type mismatch: not matched, except NE/NIN
    ("eq-number-on-string", C("color", Op.EQ, 1), "FALSE"),
    ("eq-string-on-number", C("price", Op.EQ, "1"), "FALSE"),
    ("eq-bool-on-number", C("price", Op.EQ, True), "FALSE"),
    ("eq-number-on-bool", C("in_stock", Op.EQ, 1), "FALSE"),
    ("eq-string-on-list", C("tags", Op.EQ, "x"), "FALSE"),
    ("ne-number-on-string", C("color", Op.NE, 1), "TRUE"),
    ("ne-string-on-list", C("tags", Op.NE, "x"), "TRUE"),
    ("gt-on-string", C("color", Op.GT, 1), "FALSE"),
    ("gt-on-bool", C("in_stock", Op.GT, 0), "FALSE"),
    ("in-bools-on-number", C("price", Op.IN, (True, False)), "FALSE"),
    ("nin-numbers-on-string", C("color", Op.NIN, (1, 2)), "TRUE"),
    ("contains-on-string", C("color", Op.CONTAINS, "r"), "FALSE"),
    # escaping
    ("quote", C("color", Op.EQ, "it's"), "`color` = 'it''s'"),
    ("sql-injection", C("color", Op.EQ, "x' OR 1=1 --"), "`color` = 'x'' OR 1=1 --'"),
    ("double-quote-injection", C("color", Op.EQ, 'x" or id != "'), "`color` = 'x\" or id != \"'"),
    ("backslash", C("color", Op.EQ, "a\\'b"), "`color` = 'a\\''b'"),
    ("backtick", C("color", Op.EQ, "`id`"), "`color` = '`id`'"),
    ("newline", C("color", Op.EQ, "a\nb"), "`color` = 'a\nb'"),
    ("unicode", C("color", Op.EQ, "红色 🙂"), "`color` = '红色 🙂'"),
    ("in-escaped", C("color", Op.IN, ("a'", "b")), "`color` IN ('a''', 'b')"),
    ("contains-escaped", C("tags", Op.CONTAINS, "x')--"), "array_has(`tags`, 'x'')--')"),
    ("id-escaped", C("id", Op.EQ, "' OR ''='"), "`id` = ''' OR ''''='''"),
    # boolean structure
    (
        "and",
        And((C("color", Op.EQ, "red"), C("price", Op.GT, 10))),
        "(`color` = 'red') AND (`price` > 10)",
    ),
    (
        "or",
        Or((C("color", Op.EQ, "red"), C("in_stock", Op.EQ, True))),
        "(`color` = 'red') OR (`in_stock` = true)",
    ),
    ("and-single", And((C("color", Op.EQ, "red"),)), "(`color` = 'red')"),
    ("not", Not(C("color", Op.EQ, "red")), "(`color` = 'red') IS NOT TRUE"),
    ("not-ne", Not(C("color", Op.NE, "red")), "((`color` = 'red') IS NOT TRUE) IS NOT TRUE"),
    (
        "not-not",
        Not(Not(C("price", Op.GT, 1))),
        "((`price` > 1) IS NOT TRUE) IS NOT TRUE",
    ),
    ("not-missing", Not(C("nope", Op.EQ, 1)), "(FALSE) IS NOT TRUE"),
    (
        "not-and",
        Not(And((C("color", Op.EQ, "red"), C("price", Op.GT, 10)))),
        "((`color` = 'red') AND (`price` > 10)) IS NOT TRUE",
    ),
    (
        "nested",
        And(
            (
                Or((C("color", Op.IN, ("red", "blue")), Not(C("tags", Op.CONTAINS, "x")))),
                Not(Or((C("price", Op.LT, 0), C("id", Op.EQ, "z")))),
                C("in_stock", Op.NE, False),
            )
        ),
        "((`color` IN ('red', 'blue')) OR ((array_has(`tags`, 'x')) IS NOT TRUE))"
        " AND (((`price` < 0) OR (`id` = 'z')) IS NOT TRUE)"
        " AND ((`in_stock` = false) IS NOT TRUE)",
    ),
    (
        "mismatch-inside-or",
        Or((C("color", Op.GT, 1), C("price", Op.GT, 1))),
        "(FALSE) OR (`price` > 1)",
    ),
]


@pytest.mark.parametrize(
    ("f", "expected"), [(f, e) for _, f, e in GOLDEN], ids=[n for n, _, _ in GOLDEN]
)
def test_golden(f: Filter, expected: str) -> None:
    assert sql(f) == expected


def test_list_values_may_be_lists() -> None:
    assert sql(C("color", Op.IN, ["a", "b"])) == "`color` IN ('a', 'b')"  # type: ignore[arg-type]


def test_columns_override() -> None:
    assert (
        compile_filter(C("color", Op.EQ, "x"), TYPES, columns={"color": "Colour"})
        == "`Colour` = 'x'"
    )


def test_integer_columns_are_cast() -> None:
    f = And((C("price", Op.LT, 1.5), C("price", Op.NIN, (1, 2)), C("color", Op.EQ, "x")))
    assert compile_filter(f, TYPES, integer_keys={"price", "color"}) == (
        "(CAST(`price` AS DOUBLE) < 1.5) AND ((CAST(`price` AS DOUBLE) IN (1, 2)) IS NOT TRUE)"
        " AND (`color` = 'x')"
    )


@pytest.mark.parametrize(
    ("key", "column"),
    [
        ("color", "color"),
        ("a.b", "a:b"),
        ("a.b.c-d", "a:b:c-d"),
        ("_rowid", ":_rowid"),
        ("_a.b", ":_a:b"),
        ("Mixed_Case-1", "Mixed_Case-1"),
    ],
)
def test_column_name_round_trip(key: str, column: str) -> None:
    assert column_name(key) == column
    assert metadata_key(column) == key


def test_literals() -> None:
    assert sql_literal("it's") == "'it''s'"
    assert sql_literal(True) == "true"
    assert sql_literal(0) == "0"
    assert sql_literal(-0.0) == "-0.0"
    assert sql_literal(5e-324) == "5e-324"


# --------------------------------------------------------------------------- errors

ERRORS: list[tuple[str, Filter, str]] = [
    ("nan", C("price", Op.EQ, math.nan), "filter.condition.value"),
    ("inf", C("price", Op.GT, math.inf), "filter.condition.value"),
    (
        "-inf-in-list",
        C("price", Op.IN, (1.0, -math.inf)),
        "filter.condition.value.list_value.values[1]",
    ),
    ("int-too-big", C("price", Op.EQ, 2**63), "filter.condition.value"),
    ("gt-string", C("price", Op.GT, "10"), "filter.condition.value"),
    ("lte-bool", C("price", Op.LTE, True), "filter.condition.value"),
    ("contains-number", C("tags", Op.CONTAINS, 1), "filter.condition.value"),
    ("contains-bool", C("tags", Op.CONTAINS, False), "filter.condition.value"),
    ("in-scalar", C("color", Op.IN, "red"), "filter.condition.value"),
    ("eq-list", C("color", Op.EQ, ("red",)), "filter.condition.value"),
    ("in-empty", C("color", Op.IN, ()), "filter.condition.value.list_value"),
    ("nin-mixed", C("color", Op.NIN, ("a", 1)), "filter.condition.value.list_value"),
    ("in-bool-and-int", C("price", Op.IN, (1, True)), "filter.condition.value.list_value"),
    ("value-none", C("color", Op.EQ, None), "filter.condition.value"),  # type: ignore[arg-type]
    ("id-gt", C("id", Op.GT, 1), "filter.condition.op"),
    ("id-contains", C("id", Op.CONTAINS, "a"), "filter.condition.op"),
    ("id-int", C("id", Op.EQ, 1), "filter.condition.value"),
    ("id-in-ints", C("id", Op.IN, (1, 2)), "filter.condition.value"),
    ("bad-field", C("bad key", Op.EQ, 1), "filter.condition.field"),
    ("empty-field", C("", Op.EQ, 1), "filter.condition.field"),
    ("quote-in-field", C("a`b", Op.EQ, 1), "filter.condition.field"),
    ("empty-and", And(()), "filter.all_of.filters"),
    ("empty-or", Or(()), "filter.any_of.filters"),
    (
        "nested-path",
        And((C("color", Op.EQ, "x"), Or((Not(C("price", Op.GT, "1")),)))),
        "filter.all_of.filters[1].any_of.filters[0].negate.condition.value",
    ),
    (
        "nested-empty",
        Not(And((C("color", Op.EQ, "x"), Or(())))),
        "filter.negate.all_of.filters[1].any_of.filters",
    ),
]


@pytest.mark.parametrize(
    ("f", "field"), [(f, p) for _, f, p in ERRORS], ids=[n for n, _, _ in ERRORS]
)
def test_invalid(f: Filter, field: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        sql(f)
    assert info.value.field == field
    assert info.value.reason == "INVALID_FILTER"
    assert info.value.message.startswith(field)


def test_base_path_is_prefixed() -> None:
    with pytest.raises(InvalidFilter) as info:
        compile_filter(And((C("price", Op.GT, "x"),)), TYPES, path="query.filter")
    assert info.value.field == "query.filter.all_of.filters[0].condition.value"


def test_too_deep() -> None:
    f: Filter = C("color", Op.EQ, "x")
    for _ in range(100):
        f = Not(f)
    with pytest.raises(InvalidFilter):
        sql(f)
