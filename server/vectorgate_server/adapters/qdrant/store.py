"""What both Qdrant adapters do the same way, over a few transport calls each implements.

Counting, reading by id, scanning, dense and keyword search and ``explain``
are one pipeline for a server (:class:`.adapter.QdrantAdapter`, qdrant-client)
and the embedded engine (:class:`.edge.QdrantEdgeAdapter`, qdrant-edge): the
filter is compiled by :func:`vectorgate_server.filters.qdrant.compile_filter`,
the search params by :func:`.query.search_params`, points are decoded by
:mod:`.points`; a subclass only sends the request (:meth:`QdrantStore._layout`,
``_count``, ``_retrieve``, ``_scroll``, ``_query``).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

from qdrant_client import models

from ...domain import Document, Explanation, Filter, Hit, KeywordQuery, SearchQuery
from ...filters.qdrant import compile_filter, point_id
from ..sparse_text import Bm25Encoder, SparseText
from .layout import (
    _MAX_READ_BATCH,
    BACKEND,
    CAPABILITIES,
    _Layout,
    require_keyword_layout,
    require_keyword_store,
    store_capabilities,
)
from .points import FoundPoint, StoredPoint, _document, hits
from .query import explanation, search_params


@dataclass(frozen=True, slots=True)
class PointQuery:
    """One nearest-points request, as either transport sends it."""

    #: A dense query vector, or the sparse (BM25 term) vector of a keyword query.
    vector: list[float] | SparseText
    #: The named vector searched; None for the unnamed dense vector.
    using: str | None
    filter: models.Filter | None
    #: None for keyword queries (Qdrant's sparse search takes no HNSW params).
    params: models.SearchParams | None
    limit: int
    with_vector: bool


class QdrantStore(abc.ABC):
    """One Qdrant store (server or embedded); see the module docstring."""

    backend = BACKEND
    capabilities = CAPABILITIES

    def __init__(self, store: str, *, keyword_search: bool) -> None:
        self.store = store
        self._keyword_search = keyword_search
        self.capabilities = store_capabilities(keyword_search)
        self._encoder = Bm25Encoder()

    # ------------------------------------------------------------------ transport

    @abc.abstractmethod
    async def _layout(self, name: str) -> _Layout:
        """The collection's layout; ``NotFound`` if it does not exist."""

    @abc.abstractmethod
    async def _count(self, name: str, filter: models.Filter | None) -> int:
        """The exact number of points (matching ``filter``)."""

    @abc.abstractmethod
    async def _retrieve(
        self, name: str, point_ids: list[str], include_vectors: bool
    ) -> Sequence[StoredPoint]:
        """The points with these ids that exist, with their payload."""

    @abc.abstractmethod
    async def _scroll(
        self, name: str, offset: str | None, limit: int, include_vectors: bool
    ) -> Sequence[StoredPoint]:
        """Up to ``limit`` points in point-id order from ``offset`` (inclusive)."""

    @abc.abstractmethod
    async def _query(self, name: str, query: PointQuery) -> Sequence[FoundPoint]:
        """The ``query.limit`` nearest points, best first, with their payload."""

    # ------------------------------------------------------------------ documents

    async def count(self, name: str, filter: Filter | None = None) -> int:
        return await self._count(name, compile_filter(filter) if filter is not None else None)

    async def get(self, name: str, ids: Sequence[str], include_vectors: bool) -> list[Document]:
        """Documents with these ids in the order given; missing ids are omitted."""
        layout = await self._layout(name)
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Document] = {}
        for start in range(0, len(wanted), _MAX_READ_BATCH):
            chunk = [point_id(i) for i in wanted[start : start + _MAX_READ_BATCH]]
            for record in await self._retrieve(name, chunk, include_vectors):
                doc = _document(record, layout, include_vectors)
                found[doc.id] = doc
        return [found[i] for i in wanted if i in found]

    async def scan(
        self, name: str, *, after: str | None, limit: int, include_vectors: bool
    ) -> list[Document]:
        """The next ``limit`` documents in scan order after document ``after``.

        Qdrant scrolls in point-id order and cannot order by a string payload
        value, so the scan order is ascending *point id* (``uuid5`` of the
        document id), not document id. The cursor is still the last document id:
        its point id is the scroll ``offset`` (an inclusive lower bound that
        need not exist any more), and the cursor point itself is skipped.
        """
        layout = await self._layout(name)
        if limit <= 0:
            return []
        offset = None if after is None else point_id(after)
        records = await self._scroll(name, offset, limit + (offset is not None), include_vectors)
        if offset is not None and records and str(records[0].id) == offset:
            records = records[1:]
        return [_document(record, layout, include_vectors) for record in records[:limit]]

    # ------------------------------------------------------------------ search

    async def search(self, name: str, query: SearchQuery) -> list[Hit]:
        layout = await self._layout(name)
        native_filter = compile_filter(query.filter) if query.filter is not None else None
        request = PointQuery(
            vector=query.vector.tolist(),
            using=layout.vector_name,
            filter=native_filter,
            params=search_params(layout, query.native_params),
            limit=query.top_k,
            with_vector=query.output.vector,
        )
        points = await self._query(name, request)
        return hits(points, layout, query.output, store=self.store, collection=name)

    async def keyword_search(self, name: str, query: KeywordQuery) -> list[Hit]:
        """BM25 search on the sparse text vector, the filter applied during the search.

        The query's distinct terms are sent with weight 1 and Qdrant weights each
        by its IDF, so the scores are BM25 scores. A query without terms (only
        stopwords or punctuation) matches nothing.
        """
        require_keyword_store(self.store, self.capabilities.keyword_search)
        layout = await self._layout(name)
        keyword = require_keyword_layout(self.store, name, layout)
        native_filter = compile_filter(query.filter) if query.filter is not None else None
        sparse = keyword.encoder.query(query.text)
        if sparse is None:
            return []
        request = PointQuery(
            vector=sparse,
            using=keyword.vector_name,
            filter=native_filter,
            params=None,
            limit=query.top_k,
            with_vector=query.output.vector,
        )
        points = await self._query(name, request)
        return hits(points, layout, query.output, store=self.store, collection=name, keyword=True)

    async def explain(self, name: str, query: SearchQuery) -> Explanation:
        return explanation(await self._layout(name), query)
