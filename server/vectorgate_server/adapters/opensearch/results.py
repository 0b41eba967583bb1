"""OpenSearch responses as domain values: documents, hits and their scores."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from ...domain import Document, Hit, Metric, OutputFields, as_float32, normalise_score
from ...filters.opensearch import METADATA_FIELD, decode_metadata
from .layout import Layout


def canonical_score(
    metric: Metric,
    raw: float,
    *,
    exact: bool,
    engine: str | None,
    version: tuple[int, int],
) -> float:
    """The canonical value (cosine similarity, Euclidean distance, inner product) of a score.

    ``exact`` says whether the score came from the ``knn_score`` script
    (``script_score``) or the approximate ``knn`` query; ``engine`` and the
    cluster ``version`` matter for cosine before OpenSearch 2.19.
    """
    if metric is Metric.L2:
        if raw <= 0.0:
            return math.inf
        return math.sqrt(max(1.0 / raw - 1.0, 0.0))
    if metric is Metric.IP:
        if raw > 1.0:
            return raw - 1.0
        if raw <= 0.0:
            return -math.inf
        return 1.0 - 1.0 / raw
    modern = version >= (2, 19)
    if exact:
        return 2.0 * raw - 1.0 if modern else raw - 1.0
    if modern or engine == "lucene":
        return 2.0 * raw - 1.0
    if raw <= 0.0:
        return -1.0
    return 2.0 - 1.0 / raw


def vector_score(
    layout: Layout, *, exact: bool, version: tuple[int, int]
) -> Callable[[float], float]:
    """The ``score`` of a k-NN hit from its ``_score``: canonical, then normalised."""

    def score(raw: float) -> float:
        canonical = canonical_score(
            layout.metric, raw, exact=exact, engine=layout.engine, version=version
        )
        return normalise_score(layout.metric, canonical)

    return score


def document(layout: Layout, hit: Mapping[str, Any], include_vector: bool) -> Document:
    """The document of a search hit or ``_mget`` entry (its ``_id`` and ``_source``)."""
    source = hit.get("_source") or {}
    vector = source.get(layout.vector_field) if include_vector else None
    text = source.get(layout.text_field, "")
    return Document(
        id=str(hit["_id"]),
        text=text if isinstance(text, str) else "",
        vector=as_float32(vector) if isinstance(vector, list) else None,
        metadata=decode_metadata(source.get(METADATA_FIELD)),
    )


def hits(
    response: Mapping[str, Any],
    layout: Layout,
    output: OutputFields,
    top_k: int,
    score: Callable[[float], float],
    *,
    store: str,
    collection: str,
) -> list[Hit]:
    """The hits of a ``_search`` response, at most ``top_k``, ``score`` of each ``_score``
    (``raw_score`` is the ``_score`` itself), with the fields ``output`` asks for."""
    out: list[Hit] = []
    for raw_hit in (response.get("hits") or {}).get("hits") or ():
        raw = float(raw_hit["_score"])
        doc = document(layout, raw_hit, output.vector)
        out.append(
            Hit(
                id=doc.id,
                score=score(raw),
                raw_score=raw,
                text=doc.text if output.text else "",
                metadata=output.project(doc.metadata),
                vector=doc.vector if output.vector else None,
                store=store,
                collection=collection,
            )
        )
    return out[:top_k]
