"""The adapter contract: every backend adapter must pass this suite unchanged.

Results are compared with :mod:`vectorgate.testing.reference` (portable filter
semantics, exact numpy nearest neighbours). Tests that need data use as few
collections as possible so that backends with slow collection creation stay
usable.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from vectorgate_server.adapters.base import Adapter, upsert, upsert_columns
from vectorgate_server.domain import (
    And,
    CollectionSpec,
    Condition,
    Document,
    DocumentBatch,
    Filter,
    Hit,
    IndexSpec,
    Metadata,
    Metric,
    Not,
    Op,
    Or,
    OutputFields,
    SearchQuery,
    as_float32,
    normalise_score,
)
from vectorgate_server.errors import AlreadyExists, InvalidArgument, NotFound, Unsupported

from .fixtures import AdapterFixtures, Names, Reopen
from .reference import brute_force, canonical_values, matches

C = Condition
FloatMatrix = npt.NDArray[np.float32]

#: Tolerance on canonical values (backends compute in float32).
ATOL = 2e-4
RTOL = 1e-5


# --------------------------------------------------------------------------- helpers


def random_vectors(n: int, dim: int, seed: int) -> FloatMatrix:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def make_docs(
    ids: Sequence[str],
    vectors: FloatMatrix,
    metadata: Sequence[Metadata] | None = None,
    texts: Sequence[str] | None = None,
) -> list[Document]:
    return [
        Document(
            id=doc_id,
            text=texts[i] if texts is not None else f"text of {doc_id}",
            vector=as_float32(vectors[i]),
            metadata=dict(metadata[i]) if metadata is not None else {},
        )
        for i, doc_id in enumerate(ids)
    ]


async def create(
    adapter: Adapter, name: str, dim: int, metric: Metric = Metric.COSINE, **kw: Any
) -> None:
    await adapter.create_collection(CollectionSpec(name=name, dimension=dim, metric=metric, **kw))


def query(
    vector: npt.NDArray[np.floating], k: int, f: Filter | None = None, **kw: Any
) -> SearchQuery:
    return SearchQuery(vector=as_float32(vector), top_k=k, filter=f, **kw)


def ranking_problems(
    hits: Sequence[Hit],
    ids: Sequence[str],
    vectors: FloatMatrix,
    q: npt.NDArray[np.floating],
    metric: Metric,
    k: int,
    mask: npt.NDArray[np.bool_] | None = None,
) -> list[str]:
    """Differences between ``hits`` and the exact top ``k`` (empty when they agree)."""
    problems: list[str] = []
    expected_rows, expected_values = brute_force(vectors, q, metric, k, mask)
    values = canonical_values(vectors, q, metric)
    position = {doc_id: i for i, doc_id in enumerate(ids)}
    got_ids = [h.id for h in hits]
    if len(got_ids) != len(expected_rows):
        return [f"{len(got_ids)} hits, expected {len(expected_rows)}"]
    if len(set(got_ids)) != len(got_ids):
        problems.append(f"duplicate hits: {got_ids}")
    unknown = [i for i in got_ids if i not in position]
    if unknown:
        return [f"unknown ids {unknown}"]
    if mask is not None:
        outside = [i for i in got_ids if not mask[position[i]]]
        if outside:
            problems.append(f"hits not matching the filter: {outside}")
    got_values = np.array([values[position[i]] for i in got_ids])
    # Same order up to ties: the true values, rank by rank, equal the exact ones.
    if not np.allclose(got_values, expected_values, rtol=RTOL, atol=ATOL):
        problems.append(f"ranking differs: got {got_values[:5]}..., expected {expected_values[:5]}")
    expected_ids = {ids[r] for r in expected_rows}
    missed = expected_ids - set(got_ids)
    if missed and len(expected_values):
        boundary = expected_values[-1]
        real = [m for m in missed if abs(values[position[m]] - boundary) > ATOL]
        if real:
            problems.append(f"recall < 1: missed {sorted(real)}")
    for hit, value in zip(hits, got_values, strict=True):
        if not isinstance(hit.raw_score, float) or not math.isfinite(hit.raw_score):
            problems.append(f"{hit.id}: raw_score {hit.raw_score!r}")
        expected_score = normalise_score(metric, float(value))
        if not math.isclose(hit.score, expected_score, rel_tol=1e-4, abs_tol=ATOL):
            problems.append(f"{hit.id}: score {hit.score} != {expected_score}")
    scores = [h.score for h in hits]
    if any(b > a + 1e-6 for a, b in itertools.pairwise(scores)):
        problems.append(f"scores not descending: {scores[:10]}")
    return problems


# --------------------------------------------------------------------------- collections


# --------------------------------------------------------------------------- documents


# --------------------------------------------------------------------------- search


# --------------------------------------------------------------------------- filters

FILTER_N, FILTER_DIM = 300, 16
COLORS = ["red", "green", "blue", "Red", "it's", "", "красный", "🙂", "中文"]
TAGS = ["a", "b", "c", "x y", "it's"]


def filter_corpus() -> tuple[list[str], FloatMatrix, list[Metadata]]:
    """Documents with str/int/float/bool/list metadata, each key missing from some."""
    rng = np.random.default_rng(12)
    ids = [f"doc-{i}" for i in range(FILTER_N)]
    metadata: list[Metadata] = []
    for i in range(FILTER_N):
        m: Metadata = {}
        if rng.random() > 0.15:
            m["color"] = COLORS[int(rng.integers(len(COLORS)))]
        if rng.random() > 0.15:
            # ints and floats in one numeric field
            m["price"] = int(rng.integers(0, 50)) if i % 2 else float(rng.integers(0, 100)) / 2
        if rng.random() > 0.15:
            m["qty"] = int(rng.integers(-5, 6))
        if rng.random() > 0.15:
            m["in_stock"] = bool(rng.random() > 0.5)
        if rng.random() > 0.15:
            m["tags"] = [t for t in TAGS if rng.random() > 0.6]
        if rng.random() > 0.3:
            m["dotted.key"] = int(rng.integers(0, 10))
        if rng.random() > 0.3:
            m["dash-key"] = ["x", "y"][int(rng.integers(2))]
        if rng.random() > 0.3:
            m["_under"] = ["p", "q"][int(rng.integers(2))]
        metadata.append(m)
    return ids, random_vectors(FILTER_N, FILTER_DIM, 13), metadata


FILTER_CASES: list[tuple[str, Filter]] = [
    # EQ on each type
    ("eq-str", C("color", Op.EQ, "red")),
    ("eq-str-case", C("color", Op.EQ, "Red")),
    ("eq-str-empty", C("color", Op.EQ, "")),
    ("eq-str-quote", C("color", Op.EQ, "it's")),
    ("eq-str-unicode", C("color", Op.EQ, "красный")),
    ("eq-str-emoji", C("color", Op.EQ, "🙂")),
    ("eq-int", C("price", Op.EQ, 10)),
    ("eq-float", C("price", Op.EQ, 10.5)),
    ("eq-int-vs-integral-float", C("price", Op.EQ, 12.0)),
    ("eq-negative-int", C("qty", Op.EQ, -3)),
    ("eq-true", C("in_stock", Op.EQ, True)),
    ("eq-false", C("in_stock", Op.EQ, False)),
    ("eq-dotted", C("dotted.key", Op.EQ, 3)),
    ("eq-dash", C("dash-key", Op.EQ, "x")),
    ("eq-underscore", C("_under", Op.EQ, "p")),
    # NE
    ("ne-str", C("color", Op.NE, "red")),
    ("ne-int", C("qty", Op.NE, 0)),
    ("ne-float", C("price", Op.NE, 10.5)),
    ("ne-bool", C("in_stock", Op.NE, True)),
    # ranges, int and float values against int and float data
    ("gt-int", C("price", Op.GT, 20)),
    ("gt-float", C("price", Op.GT, 20.5)),
    ("gte-int", C("qty", Op.GTE, 0)),
    ("gte-float", C("qty", Op.GTE, 0.5)),
    ("lt-int", C("qty", Op.LT, -2)),
    ("lt-float", C("price", Op.LT, 3.25)),
    ("lte-int", C("price", Op.LTE, 7)),
    ("lte-negative-float", C("qty", Op.LTE, -4.5)),
    ("range-dotted", C("dotted.key", Op.GTE, 5)),
    # IN / NIN
    ("in-str", C("color", Op.IN, ("red", "blue", "中文"))),
    ("in-numbers", C("price", Op.IN, (1, 2.5, 10, 30))),
    ("in-ints", C("qty", Op.IN, (-1, 0, 1))),
    ("in-bool", C("in_stock", Op.IN, (True,))),
    ("nin-str", C("color", Op.NIN, ("red", "green"))),
    ("nin-numbers", C("qty", Op.NIN, (0, 1, 2))),
    ("nin-bool", C("in_stock", Op.NIN, (False,))),
    # CONTAINS
    ("contains", C("tags", Op.CONTAINS, "a")),
    ("contains-space", C("tags", Op.CONTAINS, "x y")),
    ("contains-quote", C("tags", Op.CONTAINS, "it's")),
    ("contains-absent-value", C("tags", Op.CONTAINS, "zzz")),
    # id
    ("id-eq", C("id", Op.EQ, "doc-5")),
    ("id-ne", C("id", Op.NE, "doc-5")),
    ("id-in", C("id", Op.IN, ("doc-1", "doc-2", "doc-299", "nope"))),
    ("id-nin", C("id", Op.NIN, ("doc-1", "doc-2"))),
    # missing field
    ("missing-eq", C("nope", Op.EQ, "x")),
    ("missing-ne", C("nope", Op.NE, "x")),
    ("missing-gt", C("nope", Op.GT, 1)),
    ("missing-in", C("nope", Op.IN, ("x",))),
    ("missing-nin", C("nope", Op.NIN, ("x",))),
    ("missing-contains", C("nope", Op.CONTAINS, "x")),
    # type mismatch
    ("eq-number-on-str", C("color", Op.EQ, 1)),
    ("eq-str-on-number", C("price", Op.EQ, "10")),
    ("eq-bool-on-number", C("qty", Op.EQ, True)),
    ("eq-number-on-bool", C("in_stock", Op.EQ, 1)),
    ("eq-str-on-list", C("tags", Op.EQ, "a")),
    ("ne-number-on-str", C("color", Op.NE, 1)),
    ("ne-str-on-list", C("tags", Op.NE, "a")),
    ("range-on-str", C("color", Op.GT, 0)),
    ("range-on-bool", C("in_stock", Op.GTE, 0)),
    ("in-bools-on-number", C("qty", Op.IN, (True, False))),
    ("nin-numbers-on-str", C("color", Op.NIN, (1, 2))),
    ("contains-on-str", C("color", Op.CONTAINS, "red")),
    # boolean combinations
    ("and", And((C("color", Op.EQ, "red"), C("qty", Op.GT, 0)))),
    ("or", Or((C("color", Op.EQ, "red"), C("in_stock", Op.EQ, True)))),
    ("and-single", And((C("qty", Op.GT, 0),))),
    ("or-single", Or((C("qty", Op.GT, 0),))),
    ("not-eq", Not(C("color", Op.EQ, "red"))),
    ("not-ne", Not(C("color", Op.NE, "red"))),
    ("not-gt", Not(C("qty", Op.GT, 0))),
    ("not-contains", Not(C("tags", Op.CONTAINS, "a"))),
    ("not-missing", Not(C("nope", Op.EQ, 1))),
    ("not-mismatch", Not(C("color", Op.GT, 1))),
    ("not-not", Not(Not(C("in_stock", Op.EQ, True)))),
    ("not-and", Not(And((C("color", Op.EQ, "red"), C("qty", Op.GT, 0))))),
    ("not-or", Not(Or((C("in_stock", Op.EQ, True), C("tags", Op.CONTAINS, "b"))))),
    (
        "nested",
        And(
            (
                Or((C("color", Op.IN, ("red", "blue")), Not(C("tags", Op.CONTAINS, "a")))),
                Not(Or((C("qty", Op.LT, -2), C("id", Op.EQ, "doc-7")))),
                C("in_stock", Op.NE, False),
            )
        ),
    ),
    (
        "deep",
        Or(
            (
                And((C("dotted.key", Op.GT, 2), Not(And((C("dash-key", Op.EQ, "x"),))))),
                And(
                    (
                        Not(C("price", Op.GTE, 10)),
                        Or((C("_under", Op.EQ, "q"), C("nope", Op.NE, 1))),
                    )
                ),
            )
        ),
    ),
]


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
]


def _sample_condition(op: Op) -> Condition:
    if op in (Op.IN, Op.NIN):
        return C("color", op, ("red",))
    if op is Op.CONTAINS:
        return C("tags", op, "a")
    if op in (Op.EQ, Op.NE):
        return C("color", op, "red")
    return C("n", op, 1)


# --------------------------------------------------------------------------- metadata


ROUND_TRIP: Metadata = {
    "s": "plain",
    "unicode": "héllo wörld ✓ 🙂🎉 中文 日本語 한국어",
    "i": 42,
    "zero": 0,
    "neg": -7,
    "big": 2**40,
    "f": 2.5,
    "tiny": 1e-9,
    "negf": -0.125,
    "t": True,
    "fl": False,
    "l": ["a", "β", "🙂", "中文"],
    "l_empty": [],
    "dotted.key": "dot",
    "dash-key": 1,
    "_under": True,
}


def assert_same_metadata(got: Mapping[str, object], expected: Mapping[str, object]) -> None:
    assert got == expected
    for key, value in expected.items():
        if isinstance(value, bool):
            assert isinstance(got[key], bool), key
        elif isinstance(value, int):
            assert isinstance(got[key], int) and not isinstance(got[key], bool), key
        elif isinstance(value, float):
            assert isinstance(got[key], float | int), key


# --------------------------------------------------------------------------- typed numbers

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


# --------------------------------------------------------------------------- scale and lifecycle


class AdapterContractTests(AdapterFixtures):
    """The adapter contract: CRUD, search, filters, metadata, scan, persistence."""

    pytestmark = [pytest.mark.asyncio]

    async def test_create_describe_list_drop(self, adapter: Adapter, names: Names) -> None:
        a, b = names.new("with-dash"), names.new("a")
        info = await adapter.create_collection(
            CollectionSpec(
                name=a, dimension=8, metric=Metric.L2, text_field="body", embedding_model="none"
            )
        )
        assert (info.name, info.dimension, info.metric) == (a, 8, Metric.L2)
        await create(adapter, b, 4, Metric.IP)

        described = await adapter.describe_collection(a)
        assert described.name == a
        assert described.dimension == 8
        assert described.metric is Metric.L2
        assert described.text_field == "body"
        assert described.embedding_model == "none"
        assert described.document_count == 0
        assert (await adapter.describe_collection(b)).metric is Metric.IP

        listed = await adapter.list_collections()
        assert {a, b} <= set(listed)
        assert listed == sorted(listed)

        await upsert(adapter, a, make_docs(["x", "y", "z"], random_vectors(3, 8, 0)))
        assert (await adapter.describe_collection(a)).document_count == 3

        await adapter.drop_collection(a)
        assert a not in await adapter.list_collections()
        assert b in await adapter.list_collections()
        with pytest.raises(NotFound):
            await adapter.describe_collection(a)
        # The name can be used again, for a fresh empty collection.
        await create(adapter, a, 4)
        assert (await adapter.describe_collection(a)).document_count == 0

    async def test_create_existing_raises_already_exists(
        self, adapter: Adapter, names: Names
    ) -> None:
        name = names.new()
        await create(adapter, name, 4)
        with pytest.raises(AlreadyExists) as info:
            await create(adapter, name, 4)
        assert name in info.value.message
        assert info.value.reason == "COLLECTION_ALREADY_EXISTS"

    async def test_missing_collection_raises_not_found(
        self, adapter: Adapter, names: Names
    ) -> None:
        name = names.new("missing")
        vector = random_vectors(1, 4, 0)
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "describe": lambda: adapter.describe_collection(name),
            "drop": lambda: adapter.drop_collection(name),
            "count": lambda: adapter.count(name),
            "upsert": lambda: adapter.upsert(name, make_docs(["a"], vector)),
            "get": lambda: adapter.get(name, ["a"], False),
            "delete": lambda: adapter.delete(name, ["a"]),
            "search": lambda: adapter.search(name, query(vector[0], 3)),
        }
        for label, call in calls.items():
            with pytest.raises(NotFound) as info:
                await call()
            assert name in info.value.message, label
            assert info.value.reason == "COLLECTION_NOT_FOUND", label

    async def test_upsert_is_idempotent_and_replaces(self, adapter: Adapter, names: Names) -> None:
        name = names.new()
        await create(adapter, name, 8)
        ids = [f"doc-{i}" for i in range(50)]
        vectors = random_vectors(50, 8, 1)
        meta: list[Metadata] = [{"n": i, "group": "g"} for i in range(50)]
        batch = make_docs(ids, vectors, meta)
        for _ in range(3):
            await upsert(adapter, name, batch)
            assert await adapter.count(name) == 50

        # Re-upserting replaces the whole document: keys not given again are gone.
        new_vector = random_vectors(1, 8, 2)
        await upsert(
            adapter, name, make_docs(["doc-0"], new_vector, [{"other": "x"}], texts=["replaced"])
        )
        assert await adapter.count(name) == 50
        [doc] = await adapter.get(name, ["doc-0"], True)
        assert doc.text == "replaced"
        assert doc.metadata == {"other": "x"}
        assert doc.vector is not None
        np.testing.assert_allclose(doc.vector, new_vector[0], rtol=1e-6)
        assert await adapter.count(name, C("n", Op.EQ, 0)) == 0

    async def test_duplicate_ids_in_one_batch_last_wins(
        self, adapter: Adapter, names: Names
    ) -> None:
        name = names.new()
        await create(adapter, name, 4)
        vectors = random_vectors(3, 4, 3)
        docs = make_docs(
            ["d", "e", "d"], vectors, [{"v": 1}, {"v": 2}, {"v": 3}], texts=["first", "e", "last"]
        )
        await upsert(adapter, name, docs)
        assert await adapter.count(name) == 2
        [doc] = await adapter.get(name, ["d"], True)
        assert (doc.text, doc.metadata) == ("last", {"v": 3})
        assert doc.vector is not None
        np.testing.assert_allclose(doc.vector, vectors[2], rtol=1e-6)

    async def test_columnar_upsert_round_trips_and_is_idempotent(
        self, adapter: Adapter, names: Names
    ) -> None:
        """A columnar batch (``DocumentBatch``: one vector block, metadata columns with
        absent values) writes what the same documents would, and replaces by id."""
        typed = adapter.capabilities.metadata_numbers == "typed"
        name = names.new()
        await create(adapter, name, 8)
        n = 60
        ids = [f"col-{i}" for i in range(n)]
        vectors = random_vectors(n, 8, 45)
        big = BIG if typed else 2**53 - 1
        batch = DocumentBatch(
            ids=ids,
            vectors=vectors,
            texts=[f"text {i}" for i in range(n)],
            metadata={
                "n": [big - i for i in range(n)],
                "ratio": [i + 0.5 for i in range(n)],
                "tag": ["odd" if i % 2 else None for i in range(n)],
                "flag": [i % 3 == 0 for i in range(n)],
                "tags": [["a", str(i)] for i in range(n)],
            },
        )
        for _ in range(2):
            await upsert_columns(adapter, name, batch)
            assert await adapter.count(name) == n
        docs = await adapter.get(name, ["col-3", "col-4"], True)
        assert [d.id for d in docs] == ["col-3", "col-4"]
        assert docs[0].text == "text 3"
        check = _assert_typed if typed else _assert_double
        check(
            docs[0].metadata,
            {"n": big - 3, "ratio": 3.5, "tag": "odd", "flag": True, "tags": ["a", "3"]},
        )
        check(docs[1].metadata, {"n": big - 4, "ratio": 4.5, "flag": False, "tags": ["a", "4"]})
        for doc, row in zip(docs, (3, 4), strict=True):
            assert doc.vector is not None
            np.testing.assert_allclose(doc.vector, vectors[row], rtol=1e-6)
        assert await adapter.count(name, C("tag", Op.EQ, "odd")) == n // 2
        assert await adapter.count(name, C("n", Op.EQ, big)) == 1
        q = random_vectors(1, 8, 46)[0]
        hits = await adapter.search(name, query(q, 5))
        assert not ranking_problems(hits, ids, vectors, q, Metric.COSINE, 5)
        # A columnar re-upsert replaces whole documents, as a document upsert does;
        # a batch without texts or metadata leaves none.
        again = DocumentBatch(ids=["col-0", "col-new"], vectors=random_vectors(2, 8, 47))
        await upsert_columns(adapter, name, again)
        assert await adapter.count(name) == n + 1
        [doc] = await adapter.get(name, ["col-0"], False)
        assert (doc.text, doc.metadata) == ("", {})

    async def test_get_by_ids(self, adapter: Adapter, names: Names) -> None:
        name = names.new()
        await create(adapter, name, 6)
        ids = [f"d{i}" for i in range(10)]
        vectors = random_vectors(10, 6, 4)
        await upsert(adapter, name, make_docs(ids, vectors, [{"i": i} for i in range(10)]))

        docs = await adapter.get(name, ["d7", "missing", "d2", "d9"], False)
        assert [d.id for d in docs] == ["d7", "d2", "d9"]
        assert [d.metadata for d in docs] == [{"i": 7}, {"i": 2}, {"i": 9}]
        assert [d.text for d in docs] == ["text of d7", "text of d2", "text of d9"]
        assert all(d.vector is None for d in docs)

        with_vectors = await adapter.get(name, ["d3", "d0"], True)
        assert [d.id for d in with_vectors] == ["d3", "d0"]
        for doc, row in zip(with_vectors, (3, 0), strict=True):
            assert doc.vector is not None
            assert doc.vector.dtype == np.float32
            np.testing.assert_allclose(doc.vector, vectors[row], rtol=1e-6)

        assert await adapter.get(name, [], False) == []
        assert await adapter.get(name, ["nope"], True) == []

    async def test_delete(self, adapter: Adapter, names: Names) -> None:
        name = names.new()
        await create(adapter, name, 4)
        ids = [f"d{i}" for i in range(12)]
        meta: list[Metadata] = [
            {"color": ["red", "blue", "green"][i % 3]} if i < 9 else {} for i in range(12)
        ]
        await upsert(adapter, name, make_docs(ids, random_vectors(12, 4, 5), meta))

        await adapter.delete(name, ["d0", "d1", "missing"])
        assert await adapter.count(name) == 10
        assert await adapter.get(name, ["d0", "d1"], False) == []

        await adapter.delete(name, filter=C("color", Op.EQ, "red"))  # d3, d6
        assert await adapter.count(name) == 8
        assert await adapter.get(name, ["d3", "d6"], False) == []

        # ids OR filter
        await adapter.delete(name, ["d2"], C("color", Op.EQ, "blue"))  # d2, d4, d7
        remaining = {d.id for d in await adapter.get(name, ids, False)}
        assert remaining == {"d5", "d8", "d9", "d10", "d11"}

        # NE matches documents without the key too.
        await adapter.delete(name, filter=C("color", Op.NE, "green"))
        remaining = {d.id for d in await adapter.get(name, ids, False)}
        assert remaining == {"d5", "d8"}

        # A filter matching nothing deletes nothing.
        await adapter.delete(name, filter=C("color", Op.EQ, "purple"))
        assert await adapter.count(name) == 2

    async def test_count(self, adapter: Adapter, names: Names) -> None:
        name = names.new()
        await create(adapter, name, 4)
        assert await adapter.count(name) == 0
        meta: list[Metadata] = [{"n": i, "odd": i % 2 == 1} for i in range(20)]
        await upsert(
            adapter, name, make_docs([f"d{i}" for i in range(20)], random_vectors(20, 4, 6), meta)
        )
        assert await adapter.count(name) == 20
        assert await adapter.count(name, C("odd", Op.EQ, True)) == 10
        assert await adapter.count(name, C("n", Op.GTE, 15)) == 5
        assert await adapter.count(name, C("n", Op.GT, 100)) == 0

    @pytest.mark.parametrize("metric", list(Metric), ids=lambda m: m.value)
    async def test_search_matches_brute_force(
        self, adapter: Adapter, names: Names, metric: Metric
    ) -> None:
        name = names.new(metric.value)
        n, dim = 2000, 32
        await create(adapter, name, dim, metric)
        vectors = random_vectors(n, dim, 7)
        ids = [f"v{i}" for i in range(n)]
        await upsert(adapter, name, make_docs(ids, vectors))

        queries = [*random_vectors(5, dim, 8), vectors[17]]
        for q in queries:
            hits = await adapter.search(name, query(q, 10))
            problems = ranking_problems(hits, ids, vectors, q, metric, 10)
            assert not problems, problems
            expected_rows, _ = brute_force(vectors, q, metric, 10)
            recall = len({h.id for h in hits} & {ids[r] for r in expected_rows}) / 10
            assert recall == 1.0

    async def test_search_output_fields(self, adapter: Adapter, names: Names) -> None:
        name = names.new()
        await create(adapter, name, 4)
        vectors = random_vectors(3, 4, 9)
        meta: list[Metadata] = [{"a": i, "b": "x", "c": True} for i in range(3)]
        await upsert(adapter, name, make_docs(["p", "q", "r"], vectors, meta))

        hits = await adapter.search(name, query(vectors[0], 3))
        assert hits[0].id == "p"
        assert hits[0].text == "text of p"
        assert hits[0].metadata == {"a": 0, "b": "x", "c": True}
        assert hits[0].vector is None

        out = OutputFields(text=False, vector=True, metadata_keys=frozenset({"a", "c", "zz"}))
        hits = await adapter.search(name, query(vectors[1], 1, output=out))
        assert hits[0].id == "q"
        assert hits[0].text == ""
        assert hits[0].metadata == {"a": 1, "c": True}
        assert hits[0].vector is not None
        np.testing.assert_allclose(hits[0].vector, vectors[1], rtol=1e-6)

        hits = await adapter.search(name, query(vectors[2], 1, output=OutputFields(metadata=False)))
        assert hits[0].metadata == {}

    async def test_search_rejects_unknown_native_param(
        self, adapter: Adapter, names: Names
    ) -> None:
        name = names.new()
        await create(adapter, name, 4)
        with pytest.raises(InvalidArgument) as info:
            await adapter.search(
                name, query(random_vectors(1, 4, 0)[0], 3, native_params={"bogus_param": 1})
            )
        assert info.value.field == "native_params.bogus_param"

    async def test_empty_results(self, adapter: Adapter, names: Names) -> None:
        name = names.new()
        await create(adapter, name, 4)
        q = random_vectors(1, 4, 10)[0]
        assert await adapter.search(name, query(q, 5)) == []
        assert await adapter.search(name, query(q, 5, C("color", Op.EQ, "red"))) == []
        await upsert(
            adapter, name, make_docs(["a", "b"], random_vectors(2, 4, 11), [{"color": "blue"}, {}])
        )
        assert await adapter.search(name, query(q, 5, C("color", Op.EQ, "red"))) == []
        assert await adapter.search(name, query(q, 5, C("nope", Op.GT, 1))) == []
        assert await adapter.count(name, C("color", Op.IN, ("red", "green"))) == 0
        assert len(await adapter.search(name, query(q, 5))) == 2

    async def test_filtered_search_matches_reference(self, adapter: Adapter, names: Names) -> None:
        name = names.new()
        await create(adapter, name, FILTER_DIM)
        ids, vectors, metadata = filter_corpus()
        await upsert(adapter, name, make_docs(ids, vectors, metadata))
        q = random_vectors(1, FILTER_DIM, 14)[0]

        failures: list[str] = []
        for label, f in FILTER_CASES:
            mask = np.array([matches(f, i, m) for i, m in zip(ids, metadata, strict=True)])
            count = await adapter.count(name, f)
            if count != int(mask.sum()):
                failures.append(f"{label}: count {count}, expected {int(mask.sum())}")
            everything = await adapter.search(name, query(q, FILTER_N, f))
            expected = {ids[i] for i in np.flatnonzero(mask)}
            got = {h.id for h in everything}
            if got != expected:
                failures.append(
                    f"{label}: search returned {len(got)} docs, expected {len(expected)}; "
                    f"extra {sorted(got - expected)[:5]}, missing {sorted(expected - got)[:5]}"
                )
            top = await adapter.search(name, query(q, 10, f))
            problems = ranking_problems(top, ids, vectors, q, Metric.COSINE, 10, mask)
            failures.extend(f"{label}: {p}" for p in problems)
        assert not failures, "\n".join(failures)

    async def test_injection_strings_never_widen_results(
        self, adapter: Adapter, names: Names
    ) -> None:
        name = names.new()
        await create(adapter, name, 4)
        ids = [f"d{i}" for i in range(12)]
        metadata: list[Metadata] = [{"color": "red", "tags": ["red"]} for _ in range(10)]
        # Two documents hold injection strings verbatim: they, and only they, match them.
        metadata.append({"color": INJECTIONS[0], "tags": [INJECTIONS[1]]})
        metadata.append({"color": INJECTIONS[1], "tags": [INJECTIONS[0]]})
        await upsert(adapter, name, make_docs(ids, random_vectors(12, 4, 15), metadata))
        q = random_vectors(1, 4, 16)[0]

        failures: list[str] = []
        for value in INJECTIONS:
            for f in (
                C("color", Op.EQ, value),
                C("color", Op.IN, (value,)),
                C("tags", Op.CONTAINS, value),
                C("id", Op.EQ, value),
                C("id", Op.IN, ("d0", value)),
                And((C("color", Op.EQ, value), C("tags", Op.CONTAINS, value))),
                Not(C("color", Op.NE, value)),
            ):
                expected = {i for i, m in zip(ids, metadata, strict=True) if matches(f, i, m)}
                got = {h.id for h in await adapter.search(name, query(q, 12, f))}
                if got != expected:
                    failures.append(f"{f}: got {sorted(got)}, expected {sorted(expected)}")
                if await adapter.count(name, f) != len(expected):
                    failures.append(f"{f}: count differs")
        assert not failures, "\n".join(failures)
        assert await adapter.count(name) == 12

    @pytest.mark.parametrize("op", list(Op), ids=lambda o: o.name)
    async def test_unsupported_operator_raises(
        self, adapter: Adapter, names: Names, op: Op
    ) -> None:
        supported = adapter.capabilities.filter_ops
        if supported >= set(Op):
            pytest.skip(f"{adapter.backend} supports every operator")
        if op in supported:
            pytest.skip(f"{adapter.backend} supports {op.name}")
        name = names.new()
        await create(adapter, name, 4)
        await upsert(adapter, name, make_docs(["a"], random_vectors(1, 4, 0), [{"color": "red"}]))
        with pytest.raises(Unsupported) as info:
            await adapter.search(name, query(random_vectors(1, 4, 1)[0], 3, _sample_condition(op)))
        assert info.value.backend == adapter.backend
        assert op.name.lower() in info.value.operation.lower()
        assert adapter.backend in info.value.message

    async def test_unsupported_boolean_filters_raise(self, adapter: Adapter, names: Names) -> None:
        if adapter.capabilities.filter_boolean:
            pytest.skip(f"{adapter.backend} supports boolean filters")
        name = names.new()
        await create(adapter, name, 4)
        f = Or((C("color", Op.EQ, "red"), C("color", Op.EQ, "blue")))
        with pytest.raises(Unsupported) as info:
            await adapter.search(name, query(random_vectors(1, 4, 1)[0], 3, f))
        assert info.value.backend == adapter.backend

    async def test_metadata_round_trip(self, adapter: Adapter, names: Names) -> None:
        name = names.new()
        await create(adapter, name, 4)
        text = "Unicode text: 日本語 ✨ emoji 🎉 and CJK 中文 한국어 — with 'quotes' and \"more\""
        vectors = random_vectors(2, 4, 17)
        docs = make_docs(["rt-1", "rt-2"], vectors, [ROUND_TRIP, {}], texts=[text, ""])
        await upsert(adapter, name, docs)

        got = await adapter.get(name, ["rt-1", "rt-2"], False)
        assert got[0].text == text
        assert_same_metadata(got[0].metadata, ROUND_TRIP)
        assert got[1].metadata == {}
        assert got[1].text == ""

        [hit] = await adapter.search(name, query(vectors[0], 1))
        assert hit.id == "rt-1"
        assert hit.text == text
        assert_same_metadata(hit.metadata, ROUND_TRIP)

        # Unicode values filter exactly.
        assert (
            await adapter.count(name, C("unicode", Op.EQ, "héllo wörld ✓ 🙂🎉 中文 日本語 한국어"))
            == 1
        )
        assert await adapter.count(name, C("l", Op.CONTAINS, "🙂")) == 1

    async def test_typed_metadata_round_trip(self, adapter: Adapter, names: Names) -> None:
        """Ints stay exact, floats stay floats: an adapter whose ``metadata_numbers`` is
        ``"typed"`` reads back an ``int`` as that ``int`` (all of int64) and ``3.0`` as a
        ``float``, and filters on integers beyond 2**53 exactly; a ``"double"`` one never
        sees integers beyond 2**53 (the application refuses them) and reads integral
        numbers back as ints."""
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
        await upsert(adapter, name, make_docs(["t1", "t2", "t3"], vectors, neighbours))

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

    async def test_new_metadata_key_extends(self, adapter: Adapter, names: Names) -> None:
        name = names.new()
        await create(adapter, name, 4)
        vectors = random_vectors(3, 4, 18)
        await upsert(adapter, name, make_docs(["a"], vectors[:1], [{"k1": 1}]))
        await upsert(
            adapter, name, make_docs(["b", "c"], vectors[1:], [{"k1": 2, "k2": "x"}, {"k3": [""]}])
        )
        docs = {d.id: d.metadata for d in await adapter.get(name, ["a", "b", "c"], False)}
        assert docs == {"a": {"k1": 1}, "b": {"k1": 2, "k2": "x"}, "c": {"k3": [""]}}
        assert await adapter.count(name, C("k2", Op.EQ, "x")) == 1
        assert await adapter.count(name, C("k2", Op.NE, "x")) == 2
        assert await adapter.count(name, C("k3", Op.CONTAINS, "")) == 1
        hits = await adapter.search(name, query(vectors[0], 3, C("k2", Op.NE, "x")))
        assert {h.id for h in hits} == {"a", "c"}

    async def test_type_conflict_is_invalid_argument(self, adapter: Adapter, names: Names) -> None:
        name = names.new()
        await create(adapter, name, 4)
        vectors = random_vectors(4, 4, 19)
        await upsert(adapter, name, make_docs(["a"], vectors[:1], [{"price": 1, "color": "red"}]))

        conflicts: list[tuple[list[Metadata], str]] = [
            ([{"price": 2}, {"color": "x"}, {"price": "cheap"}], "documents[2].metadata.price"),
            ([{"price": True}], "documents[0].metadata.price"),
            ([{"color": ["red"]}], "documents[0].metadata.color"),
            ([{}, {"color": 5}], "documents[1].metadata.color"),
            # a new key with two types in one batch
            ([{"fresh": 1}, {"fresh": "one"}], "documents[1].metadata.fresh"),
        ]
        for batch_meta, field in conflicts:
            ids = [f"new{i}" for i in range(len(batch_meta))]
            with pytest.raises(InvalidArgument) as info:
                await upsert(adapter, name, make_docs(ids, vectors[: len(ids)], batch_meta))
            assert info.value.field == field
            assert field in info.value.message
            # Nothing of a rejected batch is written.
            assert await adapter.count(name) == 1
        [doc] = await adapter.get(name, ["a"], False)
        assert doc.metadata == {"price": 1, "color": "red"}

    async def test_scan_pages_through_everything(self, adapter: Adapter, names: Names) -> None:
        name = names.new()
        n, dim, page = 2_500, 8, 1_000
        await create(adapter, name, dim)
        vectors = random_vectors(n, dim, 23)
        # Not zero-padded: string order differs from numeric order.
        ids = [f"scan-{i}" for i in range(n)]
        meta: list[Metadata] = [
            {"n": i, "tag": [f"t{i % 3}"], "even": i % 2 == 0} if i % 5 else {} for i in range(n)
        ]
        texts = [f"text {i} — ünïcode ✓" for i in range(n)]
        docs = make_docs(ids, vectors, meta, texts)
        order = np.random.default_rng(24).permutation(n)
        await upsert(adapter, name, [docs[i] for i in order])

        assert await adapter.scan(name, after=None, limit=0, include_vectors=False) == []
        seen: list[Document] = []
        after: str | None = None
        while True:
            batch = await adapter.scan(name, after=after, limit=page, include_vectors=True)
            if not batch:
                break
            assert len(batch) <= page
            seen.extend(batch)
            after = batch[-1].id
        got_ids = [d.id for d in seen]
        assert sorted(got_ids) == sorted(ids)  # each id exactly once
        expected = {d.id: d for d in docs}
        for doc in seen:
            want = expected[doc.id]
            assert doc.text == want.text
            assert_same_metadata(doc.metadata, want.metadata)
            assert doc.vector is not None and want.vector is not None
            np.testing.assert_allclose(doc.vector, want.vector, rtol=1e-5, atol=1e-6)

        # A cursor in the middle resumes strictly after it; vectors are optional.
        # The order is fixed: a cursor in the middle resumes strictly after it, and a
        # deleted cursor document still works. Vectors are optional.
        rest = await adapter.scan(name, after=got_ids[1_234], limit=3, include_vectors=False)
        assert [d.id for d in rest] == got_ids[1_235:1_238]
        assert all(d.vector is None for d in rest)
        await adapter.delete(name, ids=[got_ids[1_234]])
        rest = await adapter.scan(name, after=got_ids[1_234], limit=2, include_vectors=False)
        assert [d.id for d in rest] == got_ids[1_235:1_237]
        assert await adapter.scan(name, after=got_ids[-1], limit=page, include_vectors=True) == []
        with pytest.raises(NotFound):
            await adapter.scan(names.new("missing"), after=None, limit=10, include_vectors=False)

    @pytest.mark.slow
    async def test_batch_of_10000(self, adapter: Adapter, names: Names) -> None:
        name = names.new()
        n, dim = 10_000, 16
        await create(adapter, name, dim, Metric.L2)
        vectors = random_vectors(n, dim, 20)
        ids = [f"big-{i}" for i in range(n)]
        meta: list[Metadata] = [{"n": i, "even": i % 2 == 0} for i in range(n)]
        # Through the gateway's write path, which splits to capabilities.max_write_batch.
        await upsert(adapter, name, make_docs(ids, vectors, meta))
        assert await adapter.count(name) == n
        assert await adapter.count(name, C("even", Op.EQ, True)) == n // 2
        got = await adapter.get(name, ["big-9999", "big-0", "big-5000"], True)
        assert [d.metadata["n"] for d in got] == [9999, 0, 5000]
        q = random_vectors(1, dim, 21)[0]
        hits = await adapter.search(name, query(q, 10))
        assert not ranking_problems(hits, ids, vectors, q, Metric.L2, 10)
        mask = np.arange(n) % 2 == 1
        hits = await adapter.search(name, query(q, 10, C("even", Op.EQ, False)))
        assert not ranking_problems(hits, ids, vectors, q, Metric.L2, 10, mask)

    async def test_persistence_across_restart(
        self, adapter: Adapter, names: Names, reopen: Reopen
    ) -> None:
        name = names.new()
        spec = CollectionSpec(
            name=name, dimension=8, metric=Metric.IP, text_field="body", embedding_model="none"
        )
        await adapter.create_collection(spec)
        vectors = random_vectors(5, 8, 22)
        meta: list[Metadata] = [{"n": i, "tag": ["x"]} for i in range(5)]
        await upsert(adapter, name, make_docs([f"p{i}" for i in range(5)], vectors, meta))
        before = await adapter.describe_collection(name)
        await adapter.close()

        other = await reopen()
        after = await other.describe_collection(name)
        assert after == before
        assert after.metric is Metric.IP
        assert after.dimension == 8
        assert after.text_field == "body"
        assert after.embedding_model == "none"
        assert after.index == IndexSpec() or after.index == before.index
        assert after.document_count == 5
        assert name in await other.list_collections()

        docs = await other.get(name, ["p3", "p1"], True)
        assert [d.metadata for d in docs] == [{"n": 3, "tag": ["x"]}, {"n": 1, "tag": ["x"]}]
        assert docs[0].vector is not None
        np.testing.assert_allclose(docs[0].vector, vectors[3], rtol=1e-6)
        hits = await other.search(name, query(vectors[2], 5, C("n", Op.LT, 4)))
        assert not ranking_problems(
            hits, [f"p{i}" for i in range(5)], vectors, vectors[2], Metric.IP, 5, np.arange(5) < 4
        )
        # The reopened store keeps accepting writes, including new keys.
        await other.upsert(name, make_docs(["p9"], vectors[:1], [{"n": 9, "late": True}]))
        assert await other.count(name, C("late", Op.EQ, True)) == 1
