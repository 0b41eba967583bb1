"""Plain result types returned by :class:`vectorgate.Client` and :class:`vectorgate.AsyncClient`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Document:
    """A document: text and/or a vector, with metadata, under a caller-chosen id.

    Give ``vector`` to store your own embedding; leave it ``None`` to have the
    server embed ``text`` with the collection's model. ``metadata`` values are
    strings, ints (64-bit, kept exact), floats (kept floats: ``3.0`` reads back
    ``3.0``), bools or lists of strings.
    """

    id: str
    text: str = ""
    vector: list[float] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HitSource:
    """One ranked list in which a fused hit was found.

    ``retriever`` is ``"dense"`` or ``"keyword"``; ``rank`` is 1-based;
    ``contribution`` is this list's share of the fusion score.
    """

    store: str
    collection: str
    retriever: str
    rank: int
    score: float
    raw_score: float
    contribution: float


@dataclass(frozen=True, slots=True)
class TargetFailure:
    """A target (or stage) of a fused search that failed; its hits are missing.

    ``stage`` is ``"search"``, ``"keyword"``, ``"embed"`` or ``"rerank"``;
    ``code`` the gRPC status name and ``reason`` the ``ErrorReason`` name.
    """

    store: str
    collection: str
    stage: str
    code: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class SearchTarget:
    """One collection of a multi-target search; ``weight`` ``None`` means 1 (or the group's)."""

    collection: str
    store: str = ""
    weight: float | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result.

    ``score`` is normalised so that higher is better (cosine similarity, the
    inner product, or ``1 / (1 + distance)`` for L2); ``raw_score`` is the score
    or distance exactly as the backend returned it. ``vector`` is set only when
    ``"vector"`` is among the search's ``output_fields``.
    """

    id: str
    score: float
    raw_score: float
    text: str
    metadata: dict[str, Any]
    store: str
    collection: str
    vector: list[float] | None = None
    #: Where a fused hit was found (empty for a single-collection dense search).
    sources: tuple[HitSource, ...] = ()


class SearchResults(list[Hit]):
    """The hits of a search, best first (a ``list``), with ``failures``: the targets of a
    fused search that did not answer (empty when everything answered)."""

    failures: list[TargetFailure]

    def __init__(self, hits: list[Hit], failures: list[TargetFailure] | None = None) -> None:
        super().__init__(hits)
        self.failures = failures or []


@dataclass(frozen=True, slots=True)
class Passage:
    """A passage of a retrieved context: ``[citation] text`` in ``RetrieveResult.context``."""

    citation: int
    id: str
    store: str
    collection: str
    text: str
    metadata: dict[str, Any]
    score: float
    token_count: int
    truncated: bool
    sources: tuple[HitSource, ...] = ()


@dataclass(frozen=True, slots=True)
class RetrieveResult:
    """Context for a prompt: the passages joined as ``[n] text`` blocks, with citations."""

    context: str
    passages: list[Passage]
    token_count: int
    omitted_count: int
    failures: list[TargetFailure] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """The state of a collection's ANN index, where the store reports it.

    ``state`` is ``"none"`` (no index yet: searches are exact), ``"building"``
    (in the background; searches stay exact) or ``"ready"``. ``unindexed_rows``
    are rows written since the last build or update (still searched, exhaustively);
    ``auto_index_min_rows`` is the row count at which the index gets built (0: none
    planned).
    """

    state: str
    type: str
    params: dict[str, Any]
    indexed_rows: int
    unindexed_rows: int
    auto_index_min_rows: int


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """A collection as the server describes it.

    ``metric`` is ``"cosine"``, ``"l2"`` or ``"ip"``. ``document_count`` is the
    current number of documents (``get_collection`` and ``list_collections``).
    ``index_status`` is the ANN index's state, or None where the store does not
    report it.
    """

    name: str
    store: str
    dimension: int
    metric: str
    text_field: str
    embedding_model: str
    index_type: str
    index_params: dict[str, Any]
    document_count: int
    backend: str
    create_time: datetime | None = None
    index_status: IndexStatus | None = None


@dataclass(frozen=True, slots=True)
class VirtualIndex:
    """A virtual index: a named view onto a real collection of a configured store.

    ``policy_filter`` is the filter ANDed into every read and write through the
    index, in the JSON dict form accepted wherever a filter is (see
    :class:`vectorgate.F`), or ``None``.
    """

    index_name: str
    collection: str
    store: str
    policy_filter: dict[str, Any] | None
    description: str
    create_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Explanation:
    """What a search would send to the backend, returned by ``explain``."""

    backend: str
    native_filter: str
    native_params: dict[str, Any]
