"""Golden tests of the pgvector filter compiler: the exact SQL and parameters per operator.

Values (and metadata keys) must travel as parameters only: the SQL text of a
filter never contains a value. The compiled predicates are also run on a real
PostgreSQL (the session's ``pgvector_server``) against documents in the
adapter's JSONB layout and compared with the reference evaluator
(:mod:`vectorgate.testing.reference`), so the golden shapes are known to mean
what the portable semantics say.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from tests.support.pgserver import PgvectorServer
from vectorgate.testing.reference import matches
from vectorgate_server.domain import And, Condition, Filter, Metadata, Not, Op, Or
from vectorgate_server.errors import InvalidFilter
from vectorgate_server.filters.pgvector import MAX_OR_VALUES, compile_filter

C = Condition
M = '"metadata"'


def contains(doc: str) -> str:
    return f"{M} @> %s::jsonb"


def rng(op: str) -> str:
    return (
        f"(jsonb_typeof({M} -> %s::text) = 'number' AND ({M} -> %s::text) {op} %s::jsonb) IS TRUE"
    )


GOLDEN: list[tuple[str, Filter, str, tuple[object, ...]]] = [
    # EQ: typed containment (GIN jsonb_path_ops)
    ("eq-str", C("color", Op.EQ, "red"), f"{M} @> %s::jsonb", ('{"color":"red"}',)),
    ("eq-empty-str", C("color", Op.EQ, ""), f"{M} @> %s::jsonb", ('{"color":""}',)),
    (
        "eq-unicode",
        C("color", Op.EQ, "красный 🙂"),
        f"{M} @> %s::jsonb",
        ('{"color":"красный 🙂"}',),
    ),
    ("eq-int", C("price", Op.EQ, 10), f"{M} @> %s::jsonb", ('{"price":10}',)),
    ("eq-negative", C("price", Op.EQ, -7), f"{M} @> %s::jsonb", ('{"price":-7}',)),
    ("eq-float", C("price", Op.EQ, 2.5), f"{M} @> %s::jsonb", ('{"price":2.5}',)),
    ("eq-integral-float", C("price", Op.EQ, 3.0), f"{M} @> %s::jsonb", ('{"price":3.0}',)),
    (
        "eq-int64-max",
        C("price", Op.EQ, 2**63 - 1),
        f"{M} @> %s::jsonb",
        ('{"price":9223372036854775807}',),
    ),
    ("eq-true", C("in_stock", Op.EQ, True), f"{M} @> %s::jsonb", ('{"in_stock":true}',)),
    ("eq-false", C("in_stock", Op.EQ, False), f"{M} @> %s::jsonb", ('{"in_stock":false}',)),
    ("eq-dotted-key", C("a.b", Op.EQ, 1), f"{M} @> %s::jsonb", ('{"a.b":1}',)),
    ("eq-dash-key", C("x-y", Op.EQ, "z"), f"{M} @> %s::jsonb", ('{"x-y":"z"}',)),
    # NE: NOT of EQ (true for missing keys and other types)
    ("ne-str", C("color", Op.NE, "red"), f"NOT ({M} @> %s::jsonb)", ('{"color":"red"}',)),
    ("ne-bool", C("in_stock", Op.NE, True), f"NOT ({M} @> %s::jsonb)", ('{"in_stock":true}',)),
    # ranges: numbers only, NULL (missing key) mapped to false
    ("gt-int", C("price", Op.GT, 10), rng(">"), ("price", "price", "10")),
    ("gte-float", C("price", Op.GTE, 1.5), rng(">="), ("price", "price", "1.5")),
    ("lt-negative", C("price", Op.LT, -2), rng("<"), ("price", "price", "-2")),
    ("lte-tiny", C("price", Op.LTE, 1e-9), rng("<="), ("price", "price", "1e-09")),
    # IN: OR of containments; duplicates dropped
    ("in-one", C("color", Op.IN, ("red",)), f"{M} @> %s::jsonb", ('{"color":"red"}',)),
    (
        "in-str",
        C("color", Op.IN, ("red", "blue", "red")),
        f"({M} @> %s::jsonb OR {M} @> %s::jsonb)",
        ('{"color":"red"}', '{"color":"blue"}'),
    ),
    (
        "in-numbers",
        C("price", Op.IN, (1, 2.5, 1.0)),
        f"({M} @> %s::jsonb OR {M} @> %s::jsonb)",
        ('{"price":1}', '{"price":2.5}'),
    ),
    (
        "in-bools",
        C("in_stock", Op.IN, (True, False)),
        f"({M} @> %s::jsonb OR {M} @> %s::jsonb)",
        ('{"in_stock":true}', '{"in_stock":false}'),
    ),
    (
        "nin-str",
        C("color", Op.NIN, ("red", "blue")),
        f"NOT (({M} @> %s::jsonb OR {M} @> %s::jsonb))",
        ('{"color":"red"}', '{"color":"blue"}'),
    ),
    # CONTAINS: the key holds a list with the value
    ("contains", C("tags", Op.CONTAINS, "a"), f"{M} @> %s::jsonb", ('{"tags":["a"]}',)),
    ("contains-empty", C("tags", Op.CONTAINS, ""), f"{M} @> %s::jsonb", ('{"tags":[""]}',)),
    # id: the primary key
    ("id-eq", C("id", Op.EQ, "doc-1"), '"id" = %s::text', ("doc-1",)),
    ("id-ne", C("id", Op.NE, "doc-1"), 'NOT ("id" = %s::text)', ("doc-1",)),
    ("id-in", C("id", Op.IN, ("a", "b", "a")), '"id" = ANY(%s::text[])', (["a", "b"],)),
    ("id-nin", C("id", Op.NIN, ("a", "b")), 'NOT ("id" = ANY(%s::text[]))', (["a", "b"],)),
    # boolean structure
    (
        "and",
        And((C("color", Op.EQ, "red"), C("price", Op.GT, 1))),
        f"({M} @> %s::jsonb AND {rng('>')})",
        ('{"color":"red"}', "price", "price", "1"),
    ),
    (
        "or",
        Or((C("color", Op.EQ, "red"), C("id", Op.EQ, "x"))),
        f'({M} @> %s::jsonb OR "id" = %s::text)',
        ('{"color":"red"}', "x"),
    ),
    ("and-single", And((C("color", Op.EQ, "red"),)), f"{M} @> %s::jsonb", ('{"color":"red"}',)),
    ("or-single", Or((C("color", Op.EQ, "red"),)), f"{M} @> %s::jsonb", ('{"color":"red"}',)),
    ("not", Not(C("color", Op.EQ, "red")), f"NOT ({M} @> %s::jsonb)", ('{"color":"red"}',)),
    (
        "not-not-ne",
        Not(Not(C("color", Op.NE, "red"))),
        f"NOT (NOT (NOT ({M} @> %s::jsonb)))",
        ('{"color":"red"}',),
    ),
    (
        "nested",
        Not(Or((And((C("a", Op.EQ, 1), C("b", Op.CONTAINS, "x"))), C("c", Op.LT, 0)))),
        f"NOT ((({M} @> %s::jsonb AND {M} @> %s::jsonb) OR {rng('<')}))",
        ('{"a":1}', '{"b":["x"]}', "c", "c", "0"),
    ),
]


@pytest.mark.parametrize(("case", "f", "text", "params"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(case: str, f: Filter, text: str, params: tuple[object, ...]) -> None:
    compiled = compile_filter(f)
    assert compiled.sql.as_string(None) == text
    assert compiled.params == params
    assert text.count("%s") == len(params)


def test_every_operator_is_covered() -> None:
    ops = {g[1].op for g in GOLDEN if isinstance(g[1], Condition)}
    assert ops == set(Op)


def test_strings_with_nul_match_nothing() -> None:
    # PostgreSQL cannot store U+0000, so no document holds such a value.
    nul = "a\x00b"
    assert compile_filter(C("color", Op.EQ, nul)).sql.as_string(None) == "false"
    assert compile_filter(C("color", Op.NE, nul)).sql.as_string(None) == "NOT (false)"
    assert compile_filter(C("tags", Op.CONTAINS, nul)).params == ()
    assert compile_filter(C("id", Op.IN, (nul,))).sql.as_string(None) == "false"
    partial = compile_filter(C("color", Op.IN, (nul, "red")))
    assert partial.sql.as_string(None) == f"{M} @> %s::jsonb"
    assert partial.params == ('{"color":"red"}',)
    assert compile_filter(C("id", Op.NIN, ("x", nul))).params == ("x",)


def test_long_in_lists_compile_to_one_array_parameter() -> None:
    values = tuple(f"v{i}" for i in range(MAX_OR_VALUES + 1))
    compiled = compile_filter(C("color", Op.IN, values))
    assert compiled.sql.as_string(None) == f"{M} @> ANY(%s::jsonb[])"
    assert compiled.params == ([f'{{"color":"{v}"}}' for v in values],)
    at_limit = compile_filter(C("color", Op.IN, values[:MAX_OR_VALUES]))
    assert at_limit.sql.as_string(None).count(" OR ") == MAX_OR_VALUES - 1


def test_columns_are_quoted_identifiers() -> None:
    compiled = compile_filter(
        And((C("id", Op.EQ, "a"), C("k", Op.EQ, 1))), id_column="Doc Id", metadata_column="m"
    )
    assert compiled.sql.as_string(None) == '("Doc Id" = %s::text AND "m" @> %s::jsonb)'


#: The injection strings of the other filter tests and of the contract suite.
INJECTIONS = [
    "x' OR 1=1 --",
    'x" or id != "',
    "' OR ''='",
    "red' OR color != 'red",
    'red" OR 1=1 OR "',
    "`color` = 'red'",
    "red') OR ('1'='1",
    "\\' OR 1=1 --",
    "red; DELETE FROM t",
    "$ne",
    '{"$ne": null}',
    '\\"); drop',
    '{"match_all": {}}',
    "*",
    "metadata",
    "%s",
    "%(x)s",
    "{}",
    "$1",
    "'; DROP TABLE vg_catalog; --",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_values_never_reach_the_sql_text(value: str) -> None:
    benign = "plain"
    for make in (
        lambda v: C("color", Op.EQ, v),
        lambda v: C("color", Op.NE, v),
        lambda v: C("color", Op.IN, (v, "b")),
        lambda v: C("tags", Op.CONTAINS, v),
        lambda v: C("id", Op.EQ, v),
        lambda v: C("id", Op.IN, (v, "b")),
        lambda v: And((C("color", Op.EQ, v), Not(C("tags", Op.CONTAINS, v)))),
    ):
        compiled, reference = compile_filter(make(value)), compile_filter(make(benign))
        # Same SQL as for a harmless value: the value changes parameters only.
        assert compiled.sql.as_string(None) == reference.sql.as_string(None)
        assert len(compiled.params) == len(reference.params)
        # ... and reaches PostgreSQL intact: as a text parameter or a JSON string.
        assert value in _strings(compiled.params)


def _strings(params: object) -> set[str]:
    """Every string a parameter carries: itself, and the string leaves of JSON documents."""
    out: set[str] = set()
    if isinstance(params, str):
        out.add(params)
        try:
            decoded = json.loads(params)
        except ValueError:
            return out
        if isinstance(decoded, dict | list):
            out |= _strings(list(decoded.values()) if isinstance(decoded, dict) else decoded)
    elif isinstance(params, list | tuple):
        for item in params:
            out |= _strings(item)
    return out


@pytest.mark.parametrize(
    ("f", "field"),
    [
        (C("color", Op.GT, "a"), "filter.condition.value"),
        (C("tags", Op.CONTAINS, 1), "filter.condition.value"),
        (C("color", Op.IN, ()), "filter.condition.value.list_value"),
        (C("color", Op.IN, ("a", 1)), "filter.condition.value.list_value"),
        (C("color", Op.EQ, ("a",)), "filter.condition.value"),
        (C("price", Op.EQ, math.nan), "filter.condition.value"),
        (C("price", Op.EQ, math.inf), "filter.condition.value"),
        (C("price", Op.EQ, 2**64), "filter.condition.value"),
        (C("id", Op.GT, "a"), "filter.condition.op"),
        (C("id", Op.EQ, 5), "filter.condition.value"),
        (C("bad key", Op.EQ, "a"), "filter.condition.field"),
        (C("a'b", Op.EQ, "a"), "filter.condition.field"),
        (C('a"b', Op.EQ, "a"), "filter.condition.field"),
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
        compile_filter(C("color", Op.GT, "a"), path="policy_filter")
    assert err.value.field == "policy_filter.condition.value"


# --------------------------------------------------------------------------- on a real server

DOCS: dict[str, Metadata] = {
    "s-red": {"color": "red", "tags": ["a", "b"], "price": 10, "in_stock": True},
    "s-blue": {"color": "blue", "tags": ["b"], "price": 10.0, "in_stock": False},
    "s-empty": {"color": "", "tags": [], "price": -2.5},
    "odd-1": {"color": 1, "tags": "a", "price": "10", "in_stock": "true"},
    "odd-2": {"color": True, "tags": ["red"], "price": False},
    "big": {"price": 2**62, "a.b": 3, "x-y": "z"},
    "none": {},
    "inj-1": {"color": INJECTIONS[0], "tags": [INJECTIONS[1]]},
    "inj-2": {"color": INJECTIONS[1], "tags": [INJECTIONS[0]]},
}

SEMANTIC_FILTERS: list[Filter] = [
    *(f for _, f, _, _ in GOLDEN),
    C("price", Op.EQ, 2**62),
    C("price", Op.GT, 2**61),
    C("price", Op.EQ, "10"),
    C("in_stock", Op.EQ, "true"),
    C("color", Op.EQ, 1),
    C("color", Op.NE, 1),
    C("tags", Op.EQ, "a"),
    C("tags", Op.CONTAINS, "red"),
    C("color", Op.CONTAINS, "red"),
    C("price", Op.GTE, 0),
    Not(C("price", Op.GTE, 0)),
    C("price", Op.IN, tuple(range(MAX_OR_VALUES + 5))),
    C("price", Op.NIN, tuple(range(MAX_OR_VALUES + 5))),
    *(C("color", Op.EQ, v) for v in INJECTIONS[:2]),
    *(C("tags", Op.CONTAINS, v) for v in INJECTIONS[:2]),
    *(C("id", Op.IN, ("none", v)) for v in INJECTIONS[:2]),
    C("color", Op.NE, "a\x00"),
    C("id", Op.NIN, ("s-red", "a\x00")),
]


@pytest.fixture(scope="module")
def loaded(pgvector_server: PgvectorServer) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A table in the adapter's layout (id, metadata jsonb) holding :data:`DOCS`."""
    conn = psycopg.connect(pgvector_server.dsn(), autocommit=True)
    conn.execute("DROP SCHEMA IF EXISTS filters_golden CASCADE")
    conn.execute("CREATE SCHEMA filters_golden")
    conn.execute(
        'CREATE TABLE filters_golden.docs (id text COLLATE "C" PRIMARY KEY, '
        "metadata jsonb NOT NULL DEFAULT '{}'::jsonb)"
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO filters_golden.docs (id, metadata) VALUES (%s, %s)",
            [(doc_id, Jsonb(metadata)) for doc_id, metadata in DOCS.items()],
        )
    try:
        yield conn
    finally:
        conn.execute("DROP SCHEMA filters_golden CASCADE")
        conn.close()


@pytest.mark.parametrize("f", SEMANTIC_FILTERS, ids=[str(i) for i in range(len(SEMANTIC_FILTERS))])
def test_compiled_filters_select_what_the_reference_selects(
    loaded: psycopg.Connection[tuple[object, ...]], f: Filter
) -> None:
    compiled = compile_filter(f)
    query = sql.SQL("SELECT id FROM filters_golden.docs WHERE {}").format(compiled.sql)
    got = {str(row[0]) for row in loaded.execute(query, compiled.params).fetchall()}
    expected = {doc_id for doc_id, metadata in DOCS.items() if matches(f, doc_id, metadata)}
    assert got == expected
