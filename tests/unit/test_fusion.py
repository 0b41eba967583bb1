"""Rank fusion: examples and hypothesis properties (order independence, dedup, top_k, weights)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vectorgate_server.domain import Hit
from vectorgate_server.fusion import (
    FusionMethod,
    ListKey,
    RankedList,
    Retriever,
    dedupe_key,
    fuse,
    rrf,
    weighted,
)


def hits(*ids: str, scores: list[float] | None = None, store: str = "") -> list[Hit]:
    values = scores or [1.0 - i / 100 for i in range(len(ids))]
    return [Hit(id=i, score=s, raw_score=s, store=store) for i, s in zip(ids, values, strict=True)]


def key(store: str, retriever: Retriever = Retriever.DENSE) -> ListKey:
    return ListKey(store, "c", retriever.value)


# --------------------------------------------------------------------------- examples


def test_rrf_scores_are_the_formula() -> None:
    a = RankedList(key("a"), hits("x", "y", "z"))
    b = RankedList(key("b"), hits("y", "w"), weight=2.0)
    out = rrf([a, b], top_k=10, k=60)
    scores = {f.key: f.score for f in out}
    assert scores["y"] == pytest.approx(1 / 62 + 2 / 61)
    assert scores["x"] == pytest.approx(1 / 61)
    assert scores["w"] == pytest.approx(2 / 62)
    assert scores["z"] == pytest.approx(1 / 63)
    assert [f.key for f in out] == ["y", "w", "x", "z"]


def test_same_document_in_two_stores_is_one_hit_with_both_sources() -> None:
    a = RankedList(key("a"), hits("doc", "a2", store="a"))
    b = RankedList(key("b"), hits("b1", "doc", store="b"))
    out = rrf([a, b], top_k=10)
    doc = next(f for f in out if f.key == "doc")
    assert {c.list.store for c in doc.sources} == {"a", "b"}
    assert [c.rank for c in doc.sources] == [1, 2]  # largest contribution first
    assert doc.hit.store == "a"  # representative: the rank-1 occurrence
    assert out[0].key == "doc"


def test_repeated_id_in_one_list_keeps_its_best_rank() -> None:
    out = rrf([RankedList(key("a"), hits("x", "x", "y"))], top_k=10)
    assert [(f.key, f.sources[0].rank) for f in out] == [("x", 1), ("y", 3)]


def test_weighted_fusion_normalises_each_list() -> None:
    dense = RankedList(key("a"), hits("x", "y", "z", scores=[0.9, 0.8, 0.5]))
    keyword = RankedList(
        key("a", Retriever.KEYWORD), hits("z", "q", scores=[12.0, 3.0]), weight=0.5
    )
    out = weighted([dense, keyword], top_k=10)
    scores = {f.key: f.score for f in out}
    assert scores["x"] == pytest.approx(1.0)
    assert scores["y"] == pytest.approx(0.75)
    assert scores["z"] == pytest.approx(0.0 + 0.5)
    assert scores["q"] == pytest.approx(0.0)
    single = weighted([RankedList(key("a"), hits("only", scores=[3.0]))], top_k=1)
    assert single[0].score == 1.0


def test_invalid_inputs() -> None:
    a = RankedList(key("a"), hits("x"))
    with pytest.raises(ValueError, match="twice"):
        rrf([a, RankedList(key("a"), hits("y"))], top_k=3)
    with pytest.raises(ValueError, match="k must be"):
        rrf([a], top_k=3, k=0)
    with pytest.raises(ValueError, match="weight"):
        rrf([RankedList(key("a"), hits("x"), weight=-1)], top_k=3)
    assert rrf([], top_k=5) == []
    assert fuse([a], top_k=0) == []


# --------------------------------------------------------------------------- properties

IDS = st.sampled_from([f"d{i}" for i in range(12)])
WEIGHTS = st.one_of(st.just(0.0), st.floats(min_value=0.01, max_value=5.0))
LIST = st.tuples(st.lists(IDS, max_size=10), WEIGHTS)
LISTS = st.lists(LIST, min_size=0, max_size=5)
METHODS = st.sampled_from([FusionMethod.RRF, FusionMethod.WEIGHTED])


def build(spec: list[tuple[list[str], float]]) -> list[RankedList]:
    out = []
    for n, (ids, weight) in enumerate(spec):
        scores = [1.0 / (1 + i) for i in range(len(ids))]
        out.append(
            RankedList(
                ListKey(f"s{n}", "c", Retriever.DENSE.value),
                [
                    Hit(id=i, score=s, raw_score=s, store=f"s{n}")
                    for i, s in zip(ids, scores, strict=True)
                ],
                weight,
            )
        )
    return out


def summary(fused: list) -> list[tuple[str, float, str]]:  # type: ignore[type-arg]
    return [(f.key, f.score, f.hit.store) for f in fused]


@settings(max_examples=200, deadline=None)
@given(spec=LISTS, top_k=st.integers(0, 15), method=METHODS, data=st.data())
def test_order_independence(
    spec: list[tuple[list[str], float]], top_k: int, method: FusionMethod, data: st.DataObject
) -> None:
    lists = build(spec)
    shuffled = data.draw(st.permutations(lists))
    assert summary(fuse(lists, top_k=top_k, method=method)) == summary(
        fuse(shuffled, top_k=top_k, method=method)
    )


@settings(max_examples=200, deadline=None)
@given(spec=LISTS, top_k=st.integers(0, 15), method=METHODS)
def test_dedup_and_truncation(
    spec: list[tuple[list[str], float]], top_k: int, method: FusionMethod
) -> None:
    lists = build(spec)
    out = fuse(lists, top_k=top_k, method=method)
    keys = [f.key for f in out]
    union = {dedupe_key(h) for lst in lists for h in lst.hits}
    assert len(keys) == len(set(keys))  # each document once
    assert set(keys) <= union
    assert len(out) == min(top_k, len(union))  # truncated to top_k
    scores = [f.score for f in out]
    assert scores == sorted(scores, reverse=True)
    # Nothing left out scores higher than what was kept.
    full = fuse(lists, top_k=len(union) + 1, method=method)
    if out and len(full) > len(out):
        assert full[len(out)].score <= out[-1].score
    # Sources: one per list containing the document.
    for f in out:
        containing = {lst.key for lst in lists if any(h.id == f.key for h in lst.hits)}
        assert {c.list for c in f.sources} == containing


@settings(max_examples=200, deadline=None)
@given(spec=LISTS, factor=st.sampled_from([0.5, 2.0, 4.0]))
def test_scaling_every_weight_scales_every_score(
    spec: list[tuple[list[str], float]], factor: float
) -> None:
    lists = build(spec)
    scaled = [RankedList(lst.key, lst.hits, lst.weight * factor) for lst in lists]
    base = rrf(lists, top_k=100)
    more = rrf(scaled, top_k=100)
    assert {f.key: f.score * factor for f in base} == {f.key: f.score for f in more}


@settings(max_examples=200, deadline=None)
@given(spec=LISTS, k=st.integers(1, 100))
def test_rrf_matches_the_reference(spec: list[tuple[list[str], float]], k: int) -> None:
    lists = build(spec)
    expected: dict[str, float] = {}
    for lst in lists:
        seen: set[str] = set()
        for rank, hit in enumerate(lst.hits, start=1):
            if hit.id in seen:
                continue
            seen.add(hit.id)
            expected[hit.id] = expected.get(hit.id, 0.0) + lst.weight / (k + rank)
    got = {f.key: f.score for f in rrf(lists, top_k=1000, k=k)}
    assert got.keys() == expected.keys()
    for doc, score in expected.items():
        assert math.isclose(got[doc], score, rel_tol=1e-12, abs_tol=1e-15)


@settings(max_examples=100, deadline=None)
@given(heavy=st.floats(min_value=1.01, max_value=10), light=st.floats(min_value=0.01, max_value=1))
def test_heavier_list_wins_a_tie_of_ranks(heavy: float, light: float) -> None:
    a = RankedList(key("a"), hits("from-a"), weight=heavy)
    b = RankedList(key("b"), hits("from-b"), weight=light)
    for method in FusionMethod:
        assert [f.key for f in fuse([b, a], top_k=2, method=method)] == ["from-a", "from-b"]


@settings(max_examples=100, deadline=None)
@given(spec=LISTS, method=METHODS)
def test_zero_weight_list_adds_nothing(
    spec: list[tuple[list[str], float]], method: FusionMethod
) -> None:
    lists = build(spec)
    extra = RankedList(ListKey("zz", "c"), hits("d1", "d2", "new"), weight=0.0)
    with_extra = {f.key: f.score for f in fuse([*lists, extra], top_k=100, method=method)}
    without = {f.key: f.score for f in fuse(lists, top_k=100, method=method)}
    for doc, score in without.items():
        assert with_extra[doc] == pytest.approx(score)
