"""The reranker interface and the registry resolving reranker names."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import FailedPrecondition, InvalidArgument

__all__ = ["RerankResult", "Reranker", "RerankerRegistry", "SupportsAsyncClose"]


@dataclass(frozen=True, slots=True)
class RerankResult:
    """One reranked document: its index in the input and its relevance (higher is better)."""

    index: int
    score: float


class Reranker(ABC):
    """Orders documents by relevance to a query.

    :meth:`rerank` checks a request once for every reranker (no documents or
    ``top_n < 1``: nothing; ``top_n`` capped at the documents given;
    ``mmr_lambda`` only where :attr:`supports_mmr`); implementations rank in
    :meth:`_rank`.
    """

    #: Whether :meth:`rerank` accepts ``mmr_lambda`` (diversifies the order).
    supports_mmr: bool = False

    @property
    @abstractmethod
    def name(self) -> str:
        """The name requests use (``rerank.model``)."""

    @property
    def description(self) -> str:
        """What the reranker is, for messages."""
        return f"reranker {self.name!r}"

    async def rerank(
        self,
        query: str,
        documents: Sequence[str],
        top_n: int,
        *,
        mmr_lambda: float | None = None,
    ) -> list[RerankResult]:
        """The ``top_n`` most relevant documents, best first (indexes into ``documents``)."""
        if mmr_lambda is not None and not self.supports_mmr:
            raise InvalidArgument(
                f"rerank.mmr_lambda: only the local reranker diversifies; {self.description} "
                "does not",
                field="rerank.mmr_lambda",
            )
        if not documents or top_n < 1:
            return []
        return await self._rank(query, documents, min(top_n, len(documents)), mmr_lambda)

    @abstractmethod
    async def _rank(
        self, query: str, documents: Sequence[str], top_n: int, mmr_lambda: float | None
    ) -> list[RerankResult]:
        """The ``top_n`` (1 to ``len(documents)``) best of a non-empty ``documents``."""


@runtime_checkable
class SupportsAsyncClose(Protocol):
    """A reranker holding connections."""

    async def aclose(self) -> None: ...


class RerankerRegistry:
    """Rerankers by name."""

    def __init__(self, rerankers: Iterable[Reranker] = ()) -> None:
        self._by_name: dict[str, Reranker] = {}
        for reranker in rerankers:
            self.register(reranker)

    def register(self, reranker: Reranker) -> None:
        """Add ``reranker``; ``ValueError`` if its name is taken."""
        if reranker.name in self._by_name:
            raise ValueError(f"reranker {reranker.name!r} is already registered")
        self._by_name[reranker.name] = reranker

    def get(self, name: str, *, field: str = "rerank.model") -> Reranker:
        """The reranker called ``name``; ``FailedPrecondition`` naming the known ones."""
        reranker = self._by_name.get(name)
        if reranker is None:
            known = ", ".join(["local", *sorted(self._by_name)])
            raise FailedPrecondition(
                f"{field}: reranker {name!r} is not configured (configured: {known}); add a "
                "model_list entry with model_info.mode 'rerank'",
                field=field,
            )
        return reranker

    def names(self) -> tuple[str, ...]:
        """Registered names, sorted."""
        return tuple(sorted(self._by_name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._by_name

    async def aclose(self) -> None:
        """Close the running loop's connections of every reranker."""
        for reranker in self._by_name.values():
            if isinstance(reranker, SupportsAsyncClose):
                await reranker.aclose()
