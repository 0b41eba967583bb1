"""Rank fusion of several ranked lists into one: pure functions, no I/O.

A *ranked list* is the best-first hits of one retriever (dense or keyword) on
one target (store, collection). Fusion merges lists into one ranking:

* **Reciprocal rank fusion** (:func:`rrf`, Cormack et al. 2009): a document
  scores ``sum(weight_l / (k + rank_l))`` over the lists ``l`` containing it,
  ``rank_l`` 1-based. Only ranks matter, so lists whose scores are not
  comparable (cosine vs L2 vs BM25, different stores) fuse soundly. ``k``
  (default 60) damps the advantage of the very top ranks.
* **Weighted score fusion** (:func:`weighted`): each list's scores are min-max
  normalised to [0, 1] (a list whose hits all score the same gives each 1),
  and a document scores ``sum(weight_l * normalised_l)``.

Deduplication: hits are identified by :func:`dedupe_key`, the **document id**
alone, independent of store and collection. The same document indexed in two
stores (or found by both retrievers) is one fused hit whose score adds the
contributions of every list containing it, with each list recorded in its
``sources``. Within one list a repeated id keeps its first (best) position.

Determinism: the result depends only on the *set* of lists, never on their
order. Lists are processed in the canonical order of their :class:`ListKey`
(so floating-point sums are identical), a fused hit's representative (its
text, metadata, store and collection) comes from its largest contribution
(ties: canonical list order), and equal fused scores are ordered by document
id.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .domain import Hit

__all__ = [
    "DEFAULT_RRF_K",
    "Contribution",
    "FusedHit",
    "FusionMethod",
    "ListKey",
    "RankedList",
    "Retriever",
    "dedupe_key",
    "fuse",
    "rrf",
    "weighted",
]

#: The RRF constant of the original paper and of most engines.
DEFAULT_RRF_K = 60


class Retriever(enum.Enum):
    """Which retriever produced a ranked list."""

    DENSE = "dense"
    KEYWORD = "keyword"


class FusionMethod(enum.Enum):
    """How lists are fused."""

    RRF = "rrf"
    WEIGHTED = "weighted"


@dataclass(frozen=True, slots=True, order=True)
class ListKey:
    """Identifies a ranked list; ordered canonically (store, collection, retriever)."""

    store: str
    collection: str
    retriever: str = Retriever.DENSE.value


@dataclass(frozen=True, slots=True)
class RankedList:
    """Best-first hits of one retriever on one target, with the list's fusion weight."""

    key: ListKey
    hits: Sequence[Hit]
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Contribution:
    """One list's part in a fused hit."""

    list: ListKey
    #: 1-based position of the document in the list.
    rank: int
    #: The hit's score in that list (normalised vector score or keyword relevance).
    score: float
    #: The hit's score as the backend returned it.
    raw_score: float
    #: What the list added to the fused score.
    contribution: float


@dataclass(frozen=True, slots=True)
class FusedHit:
    """A document after fusion."""

    #: The dedupe key (the document id).
    key: str
    #: The representative hit (from the largest contribution).
    hit: Hit
    #: The fused score: higher is better.
    score: float
    #: Every list containing the document, largest contribution first.
    sources: tuple[Contribution, ...]


def dedupe_key(hit: Hit) -> str:
    """The identity of a hit across lists: its document id (store-independent)."""
    return hit.id


def _check_lists(lists: Sequence[RankedList]) -> list[RankedList]:
    ordered = sorted(lists, key=lambda item: item.key)
    for before, after in itertools.pairwise(ordered):
        if before.key == after.key:
            raise ValueError(f"ranked list {after.key} is given twice")
    for item in ordered:
        if not math.isfinite(item.weight) or item.weight < 0:
            raise ValueError(f"weight of {item.key} must be finite and >= 0, got {item.weight}")
    return ordered


def _first_positions(hits: Sequence[Hit]) -> Iterable[tuple[int, Hit]]:
    """(1-based rank, hit) for the first occurrence of each key."""
    seen: set[str] = set()
    for position, hit in enumerate(hits, start=1):
        key = dedupe_key(hit)
        if key in seen:
            continue
        seen.add(key)
        yield position, hit


def _combine(
    lists: Sequence[RankedList],
    top_k: int,
    contribution: Callable[[RankedList, int, Hit], float],
) -> list[FusedHit]:
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    ordered = _check_lists(lists)
    parts: dict[str, list[tuple[int, Contribution, Hit]]] = {}
    for order, item in enumerate(ordered):
        for rank, hit in _first_positions(item.hits):
            value = contribution(item, rank, hit)
            part = Contribution(
                list=item.key,
                rank=rank,
                score=hit.score,
                raw_score=hit.raw_score,
                contribution=value,
            )
            parts.setdefault(dedupe_key(hit), []).append((order, part, hit))
    fused: list[FusedHit] = []
    for key, entries in parts.items():
        # Canonical order (the lists were sorted), so the sum does not depend on input order.
        score = 0.0
        for _, part, _ in entries:
            score += part.contribution
        best = sorted(entries, key=lambda e: (-e[1].contribution, e[0]))
        fused.append(
            FusedHit(
                key=key,
                hit=best[0][2],
                score=score,
                sources=tuple(part for _, part, _ in best),
            )
        )
    fused.sort(key=lambda f: (-f.score, f.key))
    return fused[:top_k]


def rrf(lists: Sequence[RankedList], *, top_k: int, k: float = DEFAULT_RRF_K) -> list[FusedHit]:
    """Reciprocal rank fusion of ``lists``, the ``top_k`` best, best first."""
    if not math.isfinite(k) or k < 1:
        raise ValueError(f"the RRF constant k must be >= 1, got {k}")
    return _combine(lists, top_k, lambda item, rank, _hit: item.weight / (k + rank))


def weighted(lists: Sequence[RankedList], *, top_k: int) -> list[FusedHit]:
    """Weighted sum of per-list min-max normalised scores, the ``top_k`` best."""
    bounds: dict[ListKey, tuple[float, float]] = {}
    for item in lists:
        scores = [h.score for _, h in _first_positions(item.hits) if math.isfinite(h.score)]
        bounds[item.key] = (min(scores), max(scores)) if scores else (0.0, 0.0)

    def contribution(item: RankedList, _rank: int, hit: Hit) -> float:
        low, high = bounds[item.key]
        if not math.isfinite(hit.score):
            return 0.0
        normalised = 1.0 if high <= low else (hit.score - low) / (high - low)
        return item.weight * normalised

    return _combine(lists, top_k, contribution)


def fuse(
    lists: Sequence[RankedList],
    *,
    top_k: int,
    method: FusionMethod = FusionMethod.RRF,
    k: float = DEFAULT_RRF_K,
) -> list[FusedHit]:
    """Fuse with ``method``."""
    if method is FusionMethod.WEIGHTED:
        return weighted(lists, top_k=top_k)
    return rrf(lists, top_k=top_k, k=k)
