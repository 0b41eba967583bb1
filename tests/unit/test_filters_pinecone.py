"""Golden tests for the Pinecone filter compiler, plus exactness against Pinecone's semantics.

The exactness test evaluates compiled filters with the filter evaluator of the
Pinecone test server (Pinecone's documented semantics: lists take on each of
their values, ``$ne``/``$nin`` need the field, ...) over documents stored in
the typed layout, and compares with the portable semantics.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from tests.servers.pinecone_server import matches, validate_filter
from vectorgate_server.domain import And, Condition, Filter, Not, Op, Or
from vectorgate_server.errors import InvalidFilter
from vectorgate_server.filters.common import (
    NEGATIVE_OPS,
    FieldType,
    applies,
    metadata_type,
    positive_op,
)
from vectorgate_server.filters.pinecone import (
    IN_CHUNK,
    compile_filter,
    decode_metadata,
    encode_metadata,
    stored_names,
    stored_type,
    typed_key,
)

LACKS_S = {"_vg:keys": {"$nin": ["s:k"]}}


def c(field: str, op: Op, value: Any) -> Condition:
    return Condition(field, op, value)


# --------------------------------------------------------------------------- golden


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        # EQ / NE per scalar type
        (c("k", Op.EQ, "a"), {"s:k": {"$eq": "a"}}),
        (c("k", Op.EQ, 5), {"n:k": {"$eq": 5}}),
        (c("k", Op.EQ, 2.5), {"n:k": {"$eq": 2.5}}),
        (c("k", Op.EQ, True), {"b:k": {"$eq": True}}),
        (c("k", Op.NE, "a"), {"$or": [LACKS_S, {"s:k": {"$ne": "a"}}]}),
        (c("k", Op.NE, 5), {"$or": [{"_vg:keys": {"$nin": ["n:k"]}}, {"n:k": {"$ne": 5}}]}),
        (
            c("k", Op.NE, False),
            {"$or": [{"_vg:keys": {"$nin": ["b:k"]}}, {"b:k": {"$ne": False}}]},
        ),
        # ranges
        (c("k", Op.GT, 1), {"n:k": {"$gt": 1}}),
        (c("k", Op.GTE, 1.5), {"n:k": {"$gte": 1.5}}),
        (c("k", Op.LT, -2), {"n:k": {"$lt": -2}}),
        (c("k", Op.LTE, 0), {"n:k": {"$lte": 0}}),
        # IN / NIN
        (c("k", Op.IN, ("a", "b")), {"s:k": {"$in": ["a", "b"]}}),
        (c("k", Op.IN, (1, 2.5)), {"n:k": {"$in": [1, 2.5]}}),
        (c("k", Op.IN, ("a", "a")), {"s:k": {"$in": ["a"]}}),
        (c("k", Op.IN, (True,)), {"b:k": {"$eq": True}}),
        (c("k", Op.IN, (True, False)), {"_vg:keys": {"$in": ["b:k"]}}),
        (c("k", Op.NIN, ("a", "b")), {"$or": [LACKS_S, {"s:k": {"$nin": ["a", "b"]}}]}),
        (
            c("k", Op.NIN, (False,)),
            {"$or": [{"_vg:keys": {"$nin": ["b:k"]}}, {"b:k": {"$ne": False}}]},
        ),
        (c("k", Op.NIN, (True, False)), {"_vg:keys": {"$nin": ["b:k"]}}),
        # CONTAINS on list of strings
        (c("k", Op.CONTAINS, "a"), {"l:k": {"$in": ["a"]}}),
        # id
        (c("id", Op.EQ, "x"), {"_vg:id": {"$eq": "x"}}),
        (c("id", Op.NE, "x"), {"_vg:id": {"$ne": "x"}}),
        (c("id", Op.IN, ("x", "y")), {"_vg:id": {"$in": ["x", "y"]}}),
        (c("id", Op.NIN, ("x",)), {"_vg:id": {"$nin": ["x"]}}),
        # keys with dots and dashes are stored as is after the type prefix
        (c("a.b-c", Op.EQ, "v"), {"s:a.b-c": {"$eq": "v"}}),
    ],
)
def test_golden(flt: Filter, expected: dict[str, Any]) -> None:
    assert compile_filter(flt) == expected


def test_not_pushes_down_with_de_morgan() -> None:
    flt = Not(And((c("a", Op.EQ, "x"), Or((c("n", Op.GT, 1), Not(c("t", Op.CONTAINS, "z")))))))
    assert compile_filter(flt) == {
        "$or": [
            {"$or": [{"_vg:keys": {"$nin": ["s:a"]}}, {"s:a": {"$ne": "x"}}]},
            {
                "$and": [
                    {"$or": [{"_vg:keys": {"$nin": ["n:n"]}}, {"n:n": {"$lte": 1}}]},
                    {"l:t": {"$in": ["z"]}},
                ]
            },
        ]
    }


@pytest.mark.parametrize(
    ("op", "inverse"), [(Op.GT, "$lte"), (Op.GTE, "$lt"), (Op.LT, "$gte"), (Op.LTE, "$gt")]
)
def test_negated_ranges_use_the_inverse_operator(op: Op, inverse: str) -> None:
    assert compile_filter(Not(c("n", op, 3))) == {
        "$or": [{"_vg:keys": {"$nin": ["n:n"]}}, {"n:n": {inverse: 3}}]
    }


def test_negated_contains() -> None:
    assert compile_filter(Not(c("t", Op.CONTAINS, "a"))) == {
        "$or": [{"_vg:keys": {"$nin": ["l:t"]}}, {"l:t": {"$nin": ["a"]}}]
    }


def test_double_negation_and_negated_negative_ops() -> None:
    assert compile_filter(Not(Not(c("k", Op.EQ, "a")))) == {"s:k": {"$eq": "a"}}
    assert compile_filter(Not(c("k", Op.NE, "a"))) == {"s:k": {"$eq": "a"}}
    assert compile_filter(Not(c("k", Op.NIN, (1, 2)))) == {"n:k": {"$in": [1, 2]}}
    assert compile_filter(Not(c("id", Op.NE, "x"))) == {"_vg:id": {"$eq": "x"}}


def test_single_child_boolean_nodes_collapse() -> None:
    assert compile_filter(And((c("k", Op.EQ, 1),))) == {"n:k": {"$eq": 1}}
    assert compile_filter(Or((c("k", Op.EQ, 1), c("k", Op.EQ, 2)))) == {
        "$or": [{"n:k": {"$eq": 1}}, {"n:k": {"$eq": 2}}]
    }


def test_long_in_lists_are_split_into_chunks() -> None:
    values = tuple(f"v{i}" for i in range(IN_CHUNK + 5))
    compiled = compile_filter(c("k", Op.IN, values))
    assert [len(p["s:k"]["$in"]) for p in compiled["$or"]] == [IN_CHUNK, 5]
    negated = compile_filter(c("k", Op.NIN, values))
    assert negated["$or"][0] == LACKS_S
    assert [len(p["s:k"]["$nin"]) for p in negated["$or"][1]["$and"]] == [IN_CHUNK, 5]


@pytest.mark.parametrize(
    "evil", ['x" or id != "', "x' OR 1=1 --", '\\"); drop', '{"$ne": 1}', "$or", "a\x00b"]
)
def test_values_are_json_values_never_spliced(evil: str) -> None:
    compiled = compile_filter(And((c("k", Op.EQ, evil), c("id", Op.NE, evil))))
    assert compiled == {"$and": [{"s:k": {"$eq": evil}}, {"_vg:id": {"$ne": evil}}]}
    # The JSON round trip keeps the value a single string.
    assert json.loads(json.dumps(compiled)) == compiled
    docs = [
        encode_metadata("a", "", {"k": "x"}),
        encode_metadata(evil, "", {"k": evil}),
    ]
    selected = [d["_vg:id"] for d in docs if matches(compile_filter(c("k", Op.EQ, evil)), d)]
    assert selected == [evil]


@pytest.mark.parametrize(
    ("flt", "field"),
    [
        (c("k", Op.GT, "a"), "filter.condition.value"),
        (c("k", Op.CONTAINS, 1), "filter.condition.value"),
        (c("k", Op.IN, ()), "filter.condition.value.list_value"),
        (c("k", Op.IN, ("a", 1)), "filter.condition.value.list_value"),
        (c("id", Op.GT, 1), "filter.condition.op"),
        (c("id", Op.EQ, 1), "filter.condition.value"),
        (c("$bad", Op.EQ, 1), "filter.condition.field"),
        (c("k", Op.EQ, float("nan")), "filter.condition.value"),
        (And(()), "filter.all_of.filters"),
        (Not(Or(())), "filter.negate.any_of.filters"),
    ],
)
def test_invalid_filters_name_the_field(flt: Filter, field: str) -> None:
    with pytest.raises(InvalidFilter) as err:
        compile_filter(flt)
    assert err.value.field == field


def test_custom_path() -> None:
    with pytest.raises(InvalidFilter) as err:
        compile_filter(c("k", Op.GT, "a"), "policy")
    assert err.value.field == "policy.condition.value"


# --------------------------------------------------------------------------- layout


def test_layout_round_trip() -> None:
    md: dict[str, Any] = {"s": "v", "i": 3, "f": 2.5, "b": True, "l": ["a", "b"], "e": []}
    stored = encode_metadata("id-1", "hello", md)
    assert stored == {
        "_vg:id": "id-1",
        "_vg:text": "hello",
        "s:s": "v",
        "n:i": 3,
        "n:f": 2.5,
        "b:b": True,
        "l:l": ["a", "b"],
        "e:e": True,
        "_vg:keys": ["_vg:id", "s:s", "n:i", "n:f", "b:b", "l:l", "e:e"],
    }
    # Pinecone returns numbers as floats; integral ones come back as int.
    returned = {k: float(v) if k.startswith("n:") else v for k, v in stored.items()}
    doc_id, text, decoded = decode_metadata(returned)
    assert (doc_id, text, decoded) == ("id-1", "hello", md)
    assert isinstance(decoded["i"], int)
    assert typed_key("x", FieldType.STRING_LIST) == "l:x"
    assert stored_names("k") == ["s:k", "n:k", "b:k", "l:k", "e:k"]
    assert stored_type("e:k") == ("k", FieldType.STRING_LIST)
    assert stored_type("n:a.b") == ("a.b", FieldType.NUMBER)
    assert stored_type("_vg:id") is None


# --------------------------------------------------------------------------- exactness


def reference(f: Filter, doc_id: str, md: dict[str, Any]) -> bool:
    """The portable semantics (filters/common.py)."""
    if isinstance(f, And):
        return all(reference(x, doc_id, md) for x in f.filters)
    if isinstance(f, Or):
        return any(reference(x, doc_id, md) for x in f.filters)
    if isinstance(f, Not):
        return not reference(f.filter, doc_id, md)
    negative = f.op in NEGATIVE_OPS
    op = positive_op(f.op)
    if f.field == "id":
        value: Any = doc_id
    else:
        if f.field not in md or not applies(f, metadata_type(md[f.field])):
            return negative
        value = md[f.field]
    arg = f.value
    if op is Op.EQ:
        result = value == arg
    elif op is Op.IN:
        assert isinstance(arg, tuple)
        result = any(value == a for a in arg)
    elif op is Op.CONTAINS:
        result = arg in value
    elif op is Op.GT:
        result = value > arg
    elif op is Op.GTE:
        result = value >= arg
    elif op is Op.LT:
        result = value < arg
    else:
        result = value <= arg
    return result != negative


_VALUES: list[Any] = [
    "a",
    "b",
    "",
    "x' OR 1=1 --",
    0,
    1,
    2.5,
    -3,
    True,
    False,
    ["a"],
    ["a", "b"],
    ["b"],
    [],
]


def _corpus(rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for i in range(60):
        md = {k: rng.choice(_VALUES) for k in ("k", "m") if rng.random() < 0.8}
        docs.append((f"d{i}", md))
    return docs


def _random_condition(rng: random.Random) -> Condition:
    field = rng.choice(["k", "m", "missing", "id"])
    if field == "id":
        op = rng.choice([Op.EQ, Op.NE, Op.IN, Op.NIN])
        ids = tuple(f"d{rng.randrange(60)}" for _ in range(rng.randint(1, 3)))
        return c("id", op, ids if op in (Op.IN, Op.NIN) else ids[0])
    op = rng.choice(list(Op))
    if op in (Op.GT, Op.GTE, Op.LT, Op.LTE):
        return c(field, op, rng.choice([0, 1, 2.5, -3]))
    if op is Op.CONTAINS:
        return c(field, op, rng.choice(["a", "b", "z"]))
    kind = rng.choice(["s", "n", "b"])
    pool: list[Any] = {"s": ["a", "b", "", "zz"], "n": [0, 1, 2.5], "b": [True, False]}[kind]
    if op in (Op.IN, Op.NIN):
        return c(field, op, tuple(rng.sample(pool, rng.randint(1, len(pool)))))
    return c(field, op, rng.choice(pool))


def _random_filter(rng: random.Random, depth: int = 0) -> Filter:
    roll = rng.random()
    if depth >= 3 or roll < 0.4:
        return _random_condition(rng)
    if roll < 0.6:
        return Not(_random_filter(rng, depth + 1))
    children = tuple(_random_filter(rng, depth + 1) for _ in range(rng.randint(1, 3)))
    return And(children) if roll < 0.8 else Or(children)


def test_compiled_filters_are_exact_under_pinecone_semantics() -> None:
    rng = random.Random(20240611)
    docs = _corpus(rng)
    stored = [(doc_id, md, encode_metadata(doc_id, "", md)) for doc_id, md in docs]
    for _ in range(400):
        flt = _random_filter(rng)
        native = compile_filter(flt)
        validate_filter(native)  # the server accepts it as Pinecone would
        got = [d for d, _, s in stored if matches(native, s)]
        want = [d for d, md, _ in stored if reference(flt, d, md)]
        assert got == want, (flt, native)


def test_raw_pinecone_semantics_are_not_portable() -> None:
    """Why the typed layout exists: raw ``$eq``/``$ne`` differ from the portable semantics."""
    raw = {"k": ["a", "b"]}
    assert matches({"k": {"$eq": "a"}}, raw)  # portable EQ never looks inside lists
    assert not matches({"k": {"$ne": "a"}}, {})  # portable NE matches a missing field
