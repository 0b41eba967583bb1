"""A reranker without network: the local embedding model re-scores the candidates.

Each candidate's full text and the query are embedded with the local
all-MiniLM-L6-v2 model (one batch); relevance is their cosine similarity.
With ``mmr_lambda`` the order is diversified by maximal marginal relevance
(Carbonell & Goldstein 1998): each next document maximises
``lambda * relevance - (1 - lambda) * max similarity to those already chosen``,
and its score is that marginal value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

from ..embeddings import MODEL_NAME, EmbeddingRegistry
from .base import Reranker, RerankResult

__all__ = ["LOCAL_RERANKER", "LocalReranker", "mmr_order"]

#: Name of the local reranker.
LOCAL_RERANKER: Final = "local"


def mmr_order(
    relevance: np.ndarray, similarity: np.ndarray, top_n: int, lam: float
) -> list[RerankResult]:
    """Greedy maximal marginal relevance: ``top_n`` results, ties to the lower index."""
    n = int(relevance.shape[0])
    chosen: list[RerankResult] = []
    remaining = np.ones(n, dtype=bool)
    closest = np.full(n, -np.inf)
    while len(chosen) < min(top_n, n):
        penalty = np.where(np.isfinite(closest), closest, 0.0)
        value = lam * relevance - (1.0 - lam) * penalty
        value = np.where(remaining, value, -np.inf)
        best = int(np.argmax(value))  # first maximum: lowest index on ties
        chosen.append(RerankResult(index=best, score=float(value[best])))
        remaining[best] = False
        closest = np.maximum(closest, similarity[best])
    return chosen


class LocalReranker(Reranker):
    """Cosine re-scoring with the local embedding model, optional MMR."""

    def __init__(self, embeddings: EmbeddingRegistry, model: str = MODEL_NAME) -> None:
        self._embeddings = embeddings
        self._model = model

    supports_mmr = True

    @property
    def name(self) -> str:
        return LOCAL_RERANKER

    async def _rank(
        self, query: str, documents: Sequence[str], top_n: int, mmr_lambda: float | None
    ) -> list[RerankResult]:
        """The ``top_n`` documents most similar to ``query``, best first."""
        embedder = self._embeddings.get(self._model)
        vectors = np.asarray(await embedder.embed([query, *documents]), dtype=np.float32)
        q, docs = vectors[0], vectors[1:]
        relevance = (docs @ q).astype(np.float64)
        if mmr_lambda is None:
            order = sorted(range(len(documents)), key=lambda i: (-relevance[i], i))[:top_n]
            return [RerankResult(index=i, score=float(relevance[i])) for i in order]
        similarity = (docs @ docs.T).astype(np.float64)
        return mmr_order(relevance, similarity, top_n, mmr_lambda)
