"""Typed metadata through every adapter: ints stay exact, floats stay floats.

An adapter whose ``Capabilities.metadata_numbers`` is ``"typed"`` stores and
reads back an ``int`` as that ``int`` (all of int64) and a ``float`` as a
``float`` (``3.0`` is not ``3``), and filters on integers beyond 2**53
exactly. One that is ``"double"`` (every number a 64-bit float) never sees an
integer beyond 2**53 (the application refuses them, see
``tests/api/test_typed_metadata.py``) and reads integral numbers back as ints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.contract.test_contract import create, make_docs, query, random_vectors
from vectorgate_server.adapters.base import Adapter
from vectorgate_server.domain import Condition, Metadata, Op

if TYPE_CHECKING:
    from tests.contract.conftest import Names

C = Condition
BIG = 2**53 + 1

TYPED: Metadata = {
    "ratio": 3.0,
    "count": 3,
    "big": BIG,
    "min": -(2**63),
    "max": 2**63 - 1,
    "half": 0.5,
    "flag": True,
    "tags": ["a", "b"],
}
#: What a doubles-only backend can hold: every integer within 2**53.
DOUBLE_SAFE: Metadata = {
    "ratio": 3.0,
    "count": 3,
    "big": 2**53 - 1,
    "half": 0.5,
    "flag": True,
    "tags": ["a", "b"],
}


def _assert_typed(got: Metadata, expected: Metadata) -> None:
    assert got == expected
    for key, value in expected.items():
        assert type(got[key]) is type(value), (key, got[key], value)


def _assert_double(got: Metadata, expected: Metadata) -> None:
    assert got == expected  # 3.0 == 3: the value is kept, its int/float kind is not
    for key, value in expected.items():
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            assert type(got[key]) is int, (key, got[key])
        elif isinstance(value, float):
            assert type(got[key]) is float, (key, got[key])
        else:
            assert type(got[key]) is type(value), (key, got[key], value)


async def test_typed_metadata_round_trip(adapter: Adapter, names: Names) -> None:
    typed = adapter.capabilities.metadata_numbers == "typed"
    meta = TYPED if typed else DOUBLE_SAFE
    check = _assert_typed if typed else _assert_double
    name = names.new()
    await create(adapter, name, 4)
    vectors = random_vectors(3, 4, 41)
    neighbours: list[Metadata] = [
        meta,
        {"big": BIG - 1 if typed else 2**53 - 2, "ratio": 2.5, "count": 4},
        {"big": BIG + 1 if typed else 2**53, "ratio": 3.5, "count": 2},
    ]
    await adapter.upsert(name, make_docs(["t1", "t2", "t3"], vectors, neighbours))

    [doc, *_] = await adapter.get(name, ["t1"], False)
    check(doc.metadata, meta)
    [hit] = await adapter.search(name, query(vectors[0], 1))
    assert hit.id == "t1"
    check(hit.metadata, meta)

    big = meta["big"]
    assert isinstance(big, int)
    # Filters on the integer itself, not on its nearest double.
    assert await adapter.count(name, C("big", Op.EQ, big)) == 1
    assert await adapter.count(name, C("big", Op.NE, big)) == 2
    assert await adapter.count(name, C("big", Op.IN, (big, 7))) == 1
    assert await adapter.count(name, C("big", Op.NIN, (big, 7))) == 2
    if adapter.capabilities.exact_int_ranges:
        # (A backend comparing ranges as doubles never gets such bounds: the application
        # refuses range bounds of 2**53 and beyond for it.)
        assert await adapter.count(name, C("big", Op.GT, big)) == 1
        assert await adapter.count(name, C("big", Op.GTE, big)) == 2
        assert await adapter.count(name, C("big", Op.LT, big)) == 1
    assert await adapter.count(name, C("big", Op.GT, 2**52)) == 3
    hits = await adapter.search(name, query(vectors[0], 3, C("big", Op.EQ, big)))
    assert [h.id for h in hits] == ["t1"]
    # int and float still compare as one numeric type.
    assert await adapter.count(name, C("ratio", Op.EQ, 3)) == 1
    assert await adapter.count(name, C("count", Op.EQ, 3.0)) == 1
    assert await adapter.count(name, C("ratio", Op.GT, 2.75)) == 2
    if typed:
        assert await adapter.count(name, C("min", Op.EQ, -(2**63))) == 1
        assert await adapter.count(name, C("max", Op.EQ, 2**63 - 1)) == 1
    if typed and adapter.capabilities.exact_int_ranges:
        assert await adapter.count(name, C("max", Op.GTE, 2**63 - 1)) == 1
        assert await adapter.count(name, C("min", Op.LT, -(2**62))) == 1
