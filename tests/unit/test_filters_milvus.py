"""Golden tests of the Milvus filter compiler: every operator x value type -> exact expression.

The semantics of these expressions are checked against the reference
evaluator on Milvus Lite and the Milvus server by the contract suite and by
``tests/integration/test_milvus_adapter.py``.
"""

from __future__ import annotations

import pytest

from vectorgate_server.domain import And, Condition, Filter, Not, Op, Or
from vectorgate_server.errors import InvalidFilter
from vectorgate_server.filters.common import FieldType
from vectorgate_server.filters.milvus import (
    FilterSchema,
    and_expressions,
    canonical_int_id,
    check_native_expression,
    compile_filter,
    literal,
    string_literal,
)

C = Condition

NUM = 'metadata_num["n"]'
STR = 'metadata_str["s"]'
BOOL = 'metadata_bool["b"]'
LIST = 'metadata_list["tags"]'


def guarded(path: str, expr: str) -> str:
    return f"(exists {path}) and ({expr})"


GOLDEN: list[tuple[str, Filter, str]] = [
    # EQ / NE on each scalar type
    ("eq-str", C("s", Op.EQ, "red"), guarded(STR, f'{STR} == "red"')),
    ("eq-int", C("n", Op.EQ, 5), guarded(NUM, f"{NUM} == 5")),
    ("eq-float", C("n", Op.EQ, 2.5), guarded(NUM, f"{NUM} == 2.5")),
    ("eq-negative", C("n", Op.EQ, -3), guarded(NUM, f"{NUM} == -3")),
    ("eq-true", C("b", Op.EQ, True), guarded(BOOL, f"{BOOL} == true")),
    ("eq-false", C("b", Op.EQ, False), guarded(BOOL, f"{BOOL} == false")),
    ("ne-str", C("s", Op.NE, "red"), "not (" + guarded(STR, STR + ' == "red"') + ")"),
    ("ne-int", C("n", Op.NE, 0), f"not ({guarded(NUM, f'{NUM} == 0')})"),
    ("ne-bool", C("b", Op.NE, True), f"not ({guarded(BOOL, f'{BOOL} == true')})"),
    # ranges
    ("gt-int", C("n", Op.GT, 20), guarded(NUM, f"{NUM} > 20")),
    ("gte-float", C("n", Op.GTE, 0.5), guarded(NUM, f"{NUM} >= 0.5")),
    ("lt-negative", C("n", Op.LT, -2), guarded(NUM, f"{NUM} < -2")),
    ("lte-exp", C("n", Op.LTE, 1e-9), guarded(NUM, f"{NUM} <= 1e-09")),
    ("gt-big", C("n", Op.GT, 1e20), guarded(NUM, f"{NUM} > 1e+20")),
    # IN / NIN
    (
        "in-str",
        C("s", Op.IN, ("a", "b")),
        guarded(STR, f'({STR} == "a") or ({STR} == "b")'),
    ),
    ("in-single", C("s", Op.IN, ("a",)), guarded(STR, f'{STR} == "a"')),
    (
        "in-numbers",
        C("n", Op.IN, (1, 2.5)),
        guarded(NUM, f"({NUM} == 1) or ({NUM} == 2.5)"),
    ),
    ("in-bool", C("b", Op.IN, (True,)), guarded(BOOL, f"{BOOL} == true")),
    (
        "nin-str",
        C("s", Op.NIN, ("a", "b")),
        "not (" + guarded(STR, f'({STR} == "a") or ({STR} == "b")') + ")",
    ),
    (
        "nin-numbers",
        C("n", Op.NIN, (0, 1)),
        f"not ({guarded(NUM, f'({NUM} == 0) or ({NUM} == 1)')})",
    ),
    # CONTAINS
    ("contains", C("tags", Op.CONTAINS, "a"), f'json_contains({LIST}, "a")'),
    ("contains-empty", C("tags", Op.CONTAINS, ""), f'json_contains({LIST}, "")'),
    # id
    ("id-eq", C("id", Op.EQ, "doc-1"), 'id == "doc-1"'),
    ("id-ne", C("id", Op.NE, "doc-1"), 'not (id == "doc-1")'),
    ("id-in", C("id", Op.IN, ("a", "b")), 'id in ["a", "b"]'),
    ("id-in-single", C("id", Op.IN, ("a",)), 'id == "a"'),
    ("id-nin", C("id", Op.NIN, ("a", "b")), 'not (id in ["a", "b"])'),
    # keys that are not identifiers
    (
        "dotted",
        C("dotted.key", Op.EQ, 3),
        guarded('metadata_num["dotted.key"]', 'metadata_num["dotted.key"] == 3'),
    ),
    (
        "dash",
        C("dash-key", Op.EQ, "x"),
        guarded('metadata_str["dash-key"]', 'metadata_str["dash-key"] == "x"'),
    ),
    (
        "underscore",
        C("_under", Op.EQ, True),
        guarded('metadata_bool["_under"]', 'metadata_bool["_under"] == true'),
    ),
    # reserved names other than id are ordinary (absent) keys
    ("text", C("text", Op.EQ, "x"), guarded('metadata_str["text"]', 'metadata_str["text"] == "x"')),
]


@pytest.mark.parametrize(("label", "f", "expected"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(label: str, f: Filter, expected: str) -> None:
    assert compile_filter(f) == expected


def test_boolean_nesting() -> None:
    f = And(
        (
            Or((C("s", Op.EQ, "a"), Not(C("tags", Op.CONTAINS, "x")))),
            Not(C("n", Op.GT, 1)),
        )
    )
    eq_a = guarded(STR, STR + ' == "a"')
    gt_1 = guarded(NUM, f"{NUM} > 1")
    assert compile_filter(f) == (
        f'(({eq_a}) or (not (json_contains({LIST}, "x")))) and (not ({gt_1}))'
    )


def test_single_child_and_or_are_unwrapped() -> None:
    inner = C("n", Op.GT, 0)
    assert compile_filter(And((inner,))) == compile_filter(inner)
    assert compile_filter(Or((inner,))) == compile_filter(inner)
    assert compile_filter(Not(Not(inner))) == f"not (not ({compile_filter(inner)}))"


def test_literals() -> None:
    assert literal(True) == "true"
    assert literal(False) == "false"
    assert literal(0) == "0"
    assert literal(-(2**63)) == "-9.223372036854776e+18"
    assert literal(2**63 - 1) == "9223372036854775807"
    assert literal(-0.0) == "0.0"
    assert literal(0.1) == "0.1"
    with pytest.raises(ValueError):
        literal(float("nan"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('x" or id != "', r'"x\" or id != \""'),
        ("x' OR 1=1 --", '"x\' OR 1=1 --"'),
        ('\\"); drop', r'"\\\"); drop"'),
        ("back\\slash", r'"back\\slash"'),
        ("a\nb\rc\td", r'"a\nb\rc\td"'),
        ("nul\x00bell\x07", '"nul\x00bell\x07"'),
        ("ü 🎉 中文 красный", '"ü 🎉 中文 красный"'),
        ("", '""'),
        (']"[)(', r'"]\"[)("'),
    ],
)
def test_string_escaping(value: str, expected: str) -> None:
    assert string_literal(value) == expected
    # The escaped literal is one self-contained token: it balances as an expression.
    assert check_native_expression(f"a == {expected}") is None


@pytest.mark.parametrize(
    "value",
    ['x" or id != "', "x' OR 1=1 --", '\\"); drop', 'red" OR 1=1 OR "', "\\' OR 1=1 --"],
)
def test_injection_strings_stay_inside_literals(value: str) -> None:
    for f in (
        C("s", Op.EQ, value),
        C("tags", Op.CONTAINS, value),
        C("id", Op.IN, ("d0", value)),
        C("s", Op.NIN, (value,)),
    ):
        compiled = compile_filter(f)
        assert string_literal(value) in compiled
        assert check_native_expression(compiled) is None
        # Removing the literal leaves no trace of the value's text.
        assert "OR 1=1" not in compiled.replace(string_literal(value), '""')
        assert "drop" not in compiled.replace(string_literal(value), '""')


# --------------------------------------------------------------------------- other collections

FOREIGN = FilterSchema(
    id_field="book_id",
    id_is_int=True,
    typed_json=None,
    fields={
        "word_count": (FieldType.NUMBER, False),
        "title": (FieldType.STRING, False),
        "flag": (FieldType.BOOL, True),
    },
    dynamic=True,
    excluded=frozenset({"book_id", "book_intro", "book_text"}),
)


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (C("word_count", Op.GT, 5), "word_count > 5"),
        (C("word_count", Op.IN, (1, 2)), "word_count in [1, 2]"),
        (C("word_count", Op.NIN, (1, 2)), "not (word_count in [1, 2])"),
        (C("word_count", Op.EQ, "5"), "book_id in []"),  # string on a number field
        (C("word_count", Op.NE, "5"), ""),  # ... so NE matches everything
        (C("title", Op.EQ, "x"), 'title == "x"'),
        (C("flag", Op.EQ, True), "(flag is not null) and (flag == true)"),
        (C("book_text", Op.EQ, "x"), "book_id in []"),  # the text field is not metadata
        (C("book_intro", Op.NE, "x"), ""),
        (C("extra", Op.EQ, 1), '(exists $meta["extra"]) and ($meta["extra"] == 1)'),
        (C("extra", Op.CONTAINS, "a"), 'json_contains($meta["extra"], "a")'),
        (
            C("extra", Op.IN, ("a", "b")),
            '(exists $meta["extra"]) and (($meta["extra"] == "a") or ($meta["extra"] == "b"))',
        ),
        (C("id", Op.EQ, "12"), "book_id == 12"),
        (C("id", Op.EQ, "012"), "book_id in []"),
        (C("id", Op.EQ, "abc"), "book_id in []"),
        (C("id", Op.NE, "abc"), ""),
        (C("id", Op.IN, ("1", "x", "-7")), "book_id in [1, -7]"),
        (And((C("title", Op.EQ, "x"), C("id", Op.EQ, "x"))), "book_id in []"),
        (Or((C("title", Op.EQ, "x"), C("id", Op.NE, "x"))), ""),
        (Not(C("book_text", Op.EQ, "x")), ""),
        (And((C("title", Op.EQ, "x"), C("book_text", Op.NE, "x"))), 'title == "x"'),
    ],
)
def test_foreign_schema(f: Filter, expected: str) -> None:
    assert compile_filter(f, schema=FOREIGN) == expected


def test_foreign_schema_without_dynamic_field() -> None:
    schema = FilterSchema(id_field="pk", typed_json=None, fields={}, dynamic=False)
    assert compile_filter(C("extra", Op.EQ, 1), schema=schema) == "pk in []"
    assert compile_filter(C("id", Op.EQ, "a"), schema=schema) == 'pk == "a"'


def test_canonical_int_id() -> None:
    assert canonical_int_id("0") == 0
    assert canonical_int_id("-5") == -5
    assert canonical_int_id("9223372036854775807") == 2**63 - 1
    for bad in ("-0", "01", "+1", "1.0", " 1", "9223372036854775808", "", "x"):
        assert canonical_int_id(bad) is None, bad


# --------------------------------------------------------------------------- native expressions


@pytest.mark.parametrize(
    ("expression", "ok"),
    [
        ("book_id > 0", True),
        ('(a == "x)") and b in [1, 2]', True),
        ("a == 'it\\'s'", True),
        ('x == 1) or (id != ""', False),
        ("x == 1 or (id", False),
        ('a == "unterminated', False),
        ("a in [1, 2", False),
        ("a in [1, 2)", False),
        ("", False),
        ("   ", False),
    ],
)
def test_check_native_expression(expression: str, ok: bool) -> None:
    assert (check_native_expression(expression) is None) is ok


def test_and_expressions() -> None:
    assert and_expressions("", "") == ""
    assert and_expressions("a > 1", "") == "a > 1"
    assert and_expressions("a > 1", "b < 2") == "(a > 1) and (b < 2)"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("f", "field"),
    [
        (C("n", Op.GT, "x"), "filter.condition.value"),
        (C("s", Op.CONTAINS, 1), "filter.condition.value"),
        (C("s", Op.IN, ()), "filter.condition.value.list_value"),
        (C("s", Op.IN, ("a", 1)), "filter.condition.value.list_value"),
        (C("id", Op.GT, 1), "filter.condition.op"),
        (C("bad key!", Op.EQ, 1), "filter.condition.field"),
        (C("n", Op.EQ, float("inf")), "filter.condition.value"),
        (And(()), "filter.all_of.filters"),
    ],
)
def test_invalid_filters(f: Filter, field: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        compile_filter(f)
    assert info.value.field == field


def test_error_path_prefix() -> None:
    with pytest.raises(InvalidFilter) as info:
        compile_filter(C("n", Op.GT, "x"), "ids")
    assert info.value.field == "ids.condition.value"
