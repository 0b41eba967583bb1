"""A drop-in LangChain vector store backed by a vectorgate gateway.

::

    from vectorgate.langchain import VectorgateVectorStore

    store = VectorgateVectorStore("docs", target="127.0.0.1:50051", api_key="sk-...")
    store.add_texts(["Lava cools into basalt."], metadatas=[{"year": 2024}])
    docs = store.similarity_search("volcanic rock", k=4, filter={"year": {"$gte": 2000}})

Without ``embedding`` the gateway embeds the texts and queries with the
collection's pinned model (a collection created here gets the server's default
model). With a LangChain ``Embeddings`` object the store sends vectors and the
collection is vectors-only (``embedding_model: "none"``), created on the first
write with the embedding's dimension.

Metadata keys the gateway reserves for document fields (``id``, ``text``,
``vector``, ...) are stored as ``lc__<key>`` and read back under their own
name. Filters are LangChain's dict filters (``{"year": {"$gte": 2000}}``,
``$eq $ne $gt $gte $lt $lte $in $nin $and $or $not``, plain equality), mapped
to the gateway's portable filter (:func:`langchain_filter`); vectorgate's own
filters (``F(...)`` or the JSON form) pass through.

Needs the ``langchain`` extra (``langchain-core``); importing :mod:`vectorgate`
never imports LangChain.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from vectorgate._filters import FilterExpr
from vectorgate._types import Document as VGDocument
from vectorgate._types import Hit
from vectorgate.client import DEFAULT_TARGET, AsyncClient, Client, SearchOptions
from vectorgate.errors import AlreadyExistsError, NotFoundError

__all__ = ["VectorgateVectorStore", "langchain_filter"]

_OPS = {
    "$eq": "eq",
    "$ne": "ne",
    "$gt": "gt",
    "$gte": "gte",
    "$lt": "lt",
    "$lte": "lte",
    "$in": "in",
    "$nin": "nin",
}


#: Metadata keys the gateway reserves (document fields), stored as ``lc__<key>``.
_RESERVED = frozenset({"id", "vector", "text", "_distance", "_score", "_rowid"})
_ESCAPE = "lc__"


def _key_out(key: str) -> str:
    return _ESCAPE + key if key in _RESERVED or key.startswith(_ESCAPE) else key


def _key_in(key: str) -> str:
    return key[len(_ESCAPE) :] if key.startswith(_ESCAPE) else key


def _metadata_out(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {_key_out(str(k)): v for k, v in metadata.items()}


def _metadata_in(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {_key_in(k): v for k, v in metadata.items()}


def langchain_filter(value: Mapping[str, Any] | FilterExpr) -> Mapping[str, Any] | FilterExpr:
    """The vectorgate filter (JSON dict form) for a LangChain dict filter.

    ``{"a": 1, "b": {"$gt": 2}}`` is ``a == 1 AND b > 2``; ``$and``/``$or`` take
    lists, ``$not`` a filter. vectorgate filters (``F(...)``, or dicts with
    ``field``/``op``/``value``, ``and``, ``or``, ``not``) are returned as they are.
    Unknown operators raise ``ValueError`` naming them.
    """
    if isinstance(value, FilterExpr):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"filter: expected a dict, got {type(value).__name__}")
    keys = set(value)
    if keys in ({"and"}, {"or"}, {"not"}, {"field", "op", "value"}):
        return value  # already vectorgate's form
    parts: list[Mapping[str, Any]] = []
    for key, item in value.items():
        if key in ("$and", "$or"):
            if not isinstance(item, list | tuple) or not item:
                raise ValueError(f"filter: {key} takes a non-empty list of filters")
            parts.append({key[1:]: [langchain_filter(sub) for sub in item]})
        elif key == "$not":
            parts.append({"not": langchain_filter(item)})
        elif key.startswith("$"):
            raise ValueError(f"filter: unsupported operator {key!r}")
        elif isinstance(item, Mapping):
            if not item:
                raise ValueError(f"filter: field {key!r} has an empty condition")
            for op, operand in item.items():
                if op not in _OPS:
                    raise ValueError(
                        f"filter: unsupported operator {op!r} on field {key!r} "
                        f"(supported: {', '.join(_OPS)})"
                    )
                parts.append({"field": _key_out(key), "op": _OPS[op], "value": operand})
        else:
            parts.append({"field": _key_out(key), "op": "eq", "value": item})
    if not parts:
        raise ValueError("filter: empty")
    return parts[0] if len(parts) == 1 else {"and": parts}


def _to_lc(hit: Hit | VGDocument) -> LCDocument:
    return LCDocument(page_content=hit.text, metadata=_metadata_in(hit.metadata), id=hit.id)


def _cosine_relevance(score: float) -> float:
    return (score + 1.0) / 2.0


class VectorgateVectorStore(VectorStore):
    """A LangChain ``VectorStore`` over one collection of a vectorgate gateway.

    Args:
        collection: the collection (or virtual index) name; created on first
            write when missing (``create=True``).
        embedding: a LangChain ``Embeddings`` for a vectors-only collection;
            ``None`` (default) lets the gateway embed texts and queries.
        target, api_key, timeout: where and how to connect (ignored for a
            client passed as ``client`` / ``async_client``).
        store: the configured store; ``None`` for the default.
        client, async_client: clients to reuse (created from ``target`` if not given).
    """

    def __init__(
        self,
        collection: str,
        *,
        embedding: Embeddings | None = None,
        target: str = DEFAULT_TARGET,
        api_key: str | None = None,
        timeout: float | None = 30.0,
        store: str | None = None,
        client: Client | None = None,
        async_client: AsyncClient | None = None,
        create: bool = True,
    ) -> None:
        self.collection = collection
        self.store = store
        self._embedding = embedding
        self._target, self._api_key, self._timeout = target, api_key, timeout
        self._client = client
        self._async_client = async_client
        self._create = create
        self._ready = False

    # -- plumbing ------------------------------------------------------------------------

    @property
    def embeddings(self) -> Embeddings | None:
        return self._embedding

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self._target, api_key=self._api_key, timeout=self._timeout)
        return self._client

    @property
    def async_client(self) -> AsyncClient:
        if self._async_client is None:
            self._async_client = AsyncClient(
                self._target, api_key=self._api_key, timeout=self._timeout
            )
        return self._async_client

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        return _cosine_relevance

    def _create_args(self, dimension: int) -> dict[str, Any]:
        if self._embedding is None:
            return {"store": self.store}
        return {"store": self.store, "dimension": dimension, "embedding_model": "none"}

    def _ensure(self, dimension: int) -> None:
        if self._ready or not self._create:
            return
        with contextlib.suppress(AlreadyExistsError):
            self.client.create_collection(self.collection, **self._create_args(dimension))
        self._ready = True

    async def _aensure(self, dimension: int) -> None:
        if self._ready or not self._create:
            return
        with contextlib.suppress(AlreadyExistsError):
            await self.async_client.create_collection(
                self.collection, **self._create_args(dimension)
            )
        self._ready = True

    @staticmethod
    def _documents(
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]] | None,
        ids: Sequence[str | None] | None,
        vectors: Sequence[Sequence[float]] | None,
    ) -> tuple[list[dict[str, Any]], list[str]]:
        if metadatas is not None and len(metadatas) != len(texts):
            raise ValueError(f"{len(metadatas)} metadatas for {len(texts)} texts")
        if ids is not None and len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
        out_ids = [
            (ids[i] if ids is not None and ids[i] else None) or str(uuid.uuid4())
            for i in range(len(texts))
        ]
        docs: list[dict[str, Any]] = []
        for i, text in enumerate(texts):
            doc: dict[str, Any] = {"id": out_ids[i], "text": text}
            if metadatas is not None and metadatas[i]:
                doc["metadata"] = _metadata_out(metadatas[i])
            if vectors is not None:
                doc["vector"] = list(vectors[i])
            docs.append(doc)
        return docs, out_ids

    def _options(
        self, k: int, filter: Any, *, text: str | None = None, vector: Any = None
    ) -> SearchOptions:
        options: SearchOptions = {"top_k": k, "store": self.store}
        if filter:
            options["filter"] = langchain_filter(filter)
        if vector is not None:
            options["vector"] = vector
        elif self._embedding is not None:
            assert text is not None
            options["vector"] = self._embedding.embed_query(text)
        else:
            options["text"] = text
        return options

    async def _aoptions(
        self, k: int, filter: Any, *, text: str | None = None, vector: Any = None
    ) -> SearchOptions:
        if vector is None and self._embedding is not None:
            assert text is not None
            vector = await self._embedding.aembed_query(text)
        return self._options(k, filter, text=text, vector=vector)

    # -- writes --------------------------------------------------------------------------

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[Any, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Stores the texts (embedded by the gateway or by ``embedding``); returns their ids."""
        texts = list(texts)
        if not texts:
            return []
        vectors = self._embedding.embed_documents(texts) if self._embedding else None
        docs, out_ids = self._documents(texts, metadatas, ids, vectors)
        self._ensure(len(vectors[0]) if vectors else 0)
        self.client.upsert(self.collection, docs, store=self.store)
        return out_ids

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[Any, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Stores the texts; see :meth:`add_texts`."""
        texts = list(texts)
        if not texts:
            return []
        vectors = await self._embedding.aembed_documents(texts) if self._embedding else None
        docs, out_ids = self._documents(texts, metadatas, ids, vectors)
        await self._aensure(len(vectors[0]) if vectors else 0)
        await self.async_client.upsert(self.collection, docs, store=self.store)
        return out_ids

    def add_documents(self, documents: list[LCDocument], **kwargs: Any) -> list[str]:
        """Stores LangChain documents (their ``id`` kept when set); returns their ids."""
        ids = kwargs.pop("ids", None) or [doc.id for doc in documents]
        return self.add_texts(
            [d.page_content for d in documents],
            [d.metadata for d in documents],
            ids=ids,
            **kwargs,
        )

    async def aadd_documents(self, documents: list[LCDocument], **kwargs: Any) -> list[str]:
        """Stores LangChain documents; see :meth:`add_documents`."""
        ids = kwargs.pop("ids", None) or [doc.id for doc in documents]
        return await self.aadd_texts(
            [d.page_content for d in documents],
            [d.metadata for d in documents],
            ids=ids,
            **kwargs,
        )

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Deletes by ids (missing ids are ignored), or by ``filter=`` (a LangChain filter)."""
        flt = kwargs.get("filter")
        if not ids and not flt:
            return None
        with contextlib.suppress(NotFoundError):  # nothing stored yet
            self.client.delete(
                self.collection,
                ids=ids or None,
                filter=langchain_filter(flt) if flt else None,
                store=self.store,
            )
        return True

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Deletes by ids or ``filter=``; see :meth:`delete`."""
        flt = kwargs.get("filter")
        if not ids and not flt:
            return None
        with contextlib.suppress(NotFoundError):
            await self.async_client.delete(
                self.collection,
                ids=ids or None,
                filter=langchain_filter(flt) if flt else None,
                store=self.store,
            )
        return True

    # -- reads ---------------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[LCDocument]:
        """The documents with these ids that exist, in the order of ``ids``."""
        if not ids:
            return []
        try:
            found = self.client.get(self.collection, list(ids), store=self.store)
        except NotFoundError:
            return []
        return [_to_lc(doc) for doc in found]

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[LCDocument]:
        """The documents with these ids that exist; see :meth:`get_by_ids`."""
        if not ids:
            return []
        try:
            found = await self.async_client.get(self.collection, list(ids), store=self.store)
        except NotFoundError:
            return []
        return [_to_lc(doc) for doc in found]

    def _search(self, options: SearchOptions) -> list[tuple[LCDocument, float]]:
        try:
            hits = self.client.search(self.collection, **options)
        except NotFoundError:
            return []
        return [(_to_lc(hit), hit.score) for hit in hits]

    async def _asearch(self, options: SearchOptions) -> list[tuple[LCDocument, float]]:
        try:
            hits = await self.async_client.search(self.collection, **options)
        except NotFoundError:
            return []
        return [(_to_lc(hit), hit.score) for hit in hits]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[tuple[LCDocument, float]]:
        """The ``k`` best documents with their normalised scores (higher is better)."""
        return self._search(self._options(k, filter, text=query))

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[tuple[LCDocument, float]]:
        """See :meth:`similarity_search_with_score`."""
        return await self._asearch(await self._aoptions(k, filter, text=query))

    def similarity_search(
        self, query: str, k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[LCDocument]:
        """The ``k`` documents most similar to ``query``."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter)]

    async def asimilarity_search(
        self, query: str, k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[LCDocument]:
        """See :meth:`similarity_search`."""
        return [doc for doc, _ in await self.asimilarity_search_with_score(query, k, filter)]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[LCDocument]:
        """The ``k`` documents nearest a query vector."""
        return [doc for doc, _ in self._search(self._options(k, filter, vector=embedding))]

    async def asimilarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[LCDocument]:
        """See :meth:`similarity_search_by_vector`."""
        options = self._options(k, filter, vector=embedding)
        return [doc for doc, _ in await self._asearch(options)]

    def _mmr_options(
        self, k: int, fetch_k: int, lambda_mult: float, filter: Any, options: SearchOptions
    ) -> SearchOptions:
        if "text" in options:
            # The gateway diversifies itself: local reranker with maximal marginal relevance.
            return {
                **options,
                "top_k": k,
                "rerank": True,
                "rerank_model": "local",
                "rerank_top_n": k,
                "rerank_candidates": max(fetch_k, k),
                "mmr_lambda": lambda_mult,
            }
        return {
            **options,
            "top_k": max(fetch_k, k),
            "output_fields": ["text", "metadata", "vector"],
        }

    def _mmr_select(
        self, hits: list[Hit], query: Any, k: int, lambda_mult: float
    ) -> list[LCDocument]:
        if not hits:
            return []
        chosen = maximal_marginal_relevance(
            np.asarray(query, dtype=np.float32),
            [h.vector or [] for h in hits],
            lambda_mult=lambda_mult,
            k=k,
        )
        return [_to_lc(hits[i]) for i in chosen]

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Any = None,
        **kwargs: Any,
    ) -> list[LCDocument]:
        """``k`` documents chosen for relevance and diversity among the ``fetch_k`` best."""
        options = self._mmr_options(
            k, fetch_k, lambda_mult, filter, self._options(k, filter, text=query)
        )
        try:
            hits = self.client.search(self.collection, **options)
        except NotFoundError:
            return []
        if "text" in options:
            return [_to_lc(h) for h in hits]
        return self._mmr_select(list(hits), options["vector"], k, lambda_mult)

    async def amax_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Any = None,
        **kwargs: Any,
    ) -> list[LCDocument]:
        """See :meth:`max_marginal_relevance_search`."""
        base = await self._aoptions(k, filter, text=query)
        options = self._mmr_options(k, fetch_k, lambda_mult, filter, base)
        try:
            hits = await self.async_client.search(self.collection, **options)
        except NotFoundError:
            return []
        if "text" in options:
            return [_to_lc(h) for h in hits]
        return self._mmr_select(list(hits), options["vector"], k, lambda_mult)

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Any = None,
        **kwargs: Any,
    ) -> list[LCDocument]:
        """MMR around a query vector (computed here over the fetched vectors)."""
        options = self._options(k, filter, vector=embedding)
        options = {
            **options,
            "top_k": max(fetch_k, k),
            "output_fields": ["text", "metadata", "vector"],
        }
        try:
            hits = self.client.search(self.collection, **options)
        except NotFoundError:
            return []
        return self._mmr_select(list(hits), embedding, k, lambda_mult)

    # -- construction --------------------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | None = None,
        metadatas: list[dict[Any, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        collection: str = "langchain",
        **kwargs: Any,
    ) -> VectorgateVectorStore:
        """A store on ``collection`` holding ``texts`` (other arguments as the constructor)."""
        store = cls(collection, embedding=embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    async def afrom_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | None = None,
        metadatas: list[dict[Any, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        collection: str = "langchain",
        **kwargs: Any,
    ) -> VectorgateVectorStore:
        """See :meth:`from_texts`."""
        store = cls(collection, embedding=embedding, **kwargs)
        await store.aadd_texts(texts, metadatas, ids=ids)
        return store
