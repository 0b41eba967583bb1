"""A drop-in LlamaIndex vector store backed by a vectorgate gateway.

::

    from llama_index.core import StorageContext, VectorStoreIndex
    from vectorgate.llama_index import VectorgateVectorStore

    store = VectorgateVectorStore("docs", target="127.0.0.1:50051")
    context = StorageContext.from_defaults(vector_store=store)
    index = VectorStoreIndex.from_documents(docs, storage_context=context)

Nodes are stored with their embedding (LlamaIndex computes it), their text and
their metadata; the node itself (relationships, ``ref_doc_id``) travels in
LlamaIndex's usual ``_node_content`` metadata. The collection is created on
the first ``add``, vectors-only, with the embedding's dimension; nodes
without an embedding are embedded by the gateway instead (the collection then
pins the server's model).

``query`` maps ``MetadataFilters`` (``==, !=, >, >=, <, <=, in, nin,
contains, any, all``; ``and``/``or``/``not``) to the gateway's portable filter;
``text_match``, ``text_match_insensitive`` and ``is_empty`` raise
``ValueError``. Modes: ``DEFAULT`` (dense), ``HYBRID`` (the gateway's dense +
BM25 keyword fusion; ``alpha`` weighs dense against keyword), ``TEXT_SEARCH``
/ ``SPARSE`` (keyword), ``MMR`` (maximal marginal relevance over the fetched
vectors, ``mmr_threshold`` its lambda); others raise ``ValueError``.

Needs the ``llama-index`` extra (``llama-index-core``); importing
:mod:`vectorgate` never imports LlamaIndex.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.indices.query.embedding_utils import get_top_k_mmr_embeddings
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

from vectorgate._types import Document as VGDocument
from vectorgate._types import Hit
from vectorgate.client import DEFAULT_TARGET, AsyncClient, Client, SearchOptions
from vectorgate.errors import AlreadyExistsError, NotFoundError

__all__ = ["VectorgateVectorStore", "llama_index_filter"]

_SIMPLE_OPS = {
    FilterOperator.EQ: "eq",
    FilterOperator.NE: "ne",
    FilterOperator.GT: "gt",
    FilterOperator.GTE: "gte",
    FilterOperator.LT: "lt",
    FilterOperator.LTE: "lte",
    FilterOperator.IN: "in",
    FilterOperator.NIN: "nin",
    FilterOperator.CONTAINS: "contains",
}
#: Metadata keys the gateway reserves for document fields, stored as ``li__<key>``.
_RESERVED = frozenset({"id", "vector", "text", "_distance", "_score", "_rowid"})
_ESCAPE = "li__"
_REF_DOC_KEY = "ref_doc_id"


def _key_out(key: str) -> str:
    return _ESCAPE + key if key in _RESERVED or key.startswith(_ESCAPE) else key


def _key_in(key: str) -> str:
    return key[len(_ESCAPE) :] if key.startswith(_ESCAPE) else key


def _condition(f: MetadataFilter) -> dict[str, Any]:
    field = _key_out(f.key)
    op = f.operator
    if op in _SIMPLE_OPS:
        value: Any = f.value
        if op in (FilterOperator.IN, FilterOperator.NIN) and not isinstance(value, list):
            value = [value]
        return {"field": field, "op": _SIMPLE_OPS[op], "value": value}
    if op in (FilterOperator.ANY, FilterOperator.ALL):
        values = f.value if isinstance(f.value, list) else [f.value]
        if not values:
            raise ValueError(f"filter {f.key!r}: {op.value} needs at least one value")
        parts = [{"field": field, "op": "contains", "value": v} for v in values]
        return {"or" if op is FilterOperator.ANY else "and": parts}
    supported = ", ".join(o.value for o in (*_SIMPLE_OPS, FilterOperator.ANY, FilterOperator.ALL))
    raise ValueError(
        f"filter {f.key!r}: operator {op.value!r} is not supported by vectorgate "
        f"(supported: {supported})"
    )


def llama_index_filter(filters: MetadataFilters) -> dict[str, Any]:
    """The vectorgate filter (JSON dict form) for LlamaIndex ``MetadataFilters``."""
    parts = [
        llama_index_filter(f) if isinstance(f, MetadataFilters) else _condition(f)
        for f in filters.filters
    ]
    if not parts:
        raise ValueError("filters: empty")
    condition = filters.condition or FilterCondition.AND
    if condition is FilterCondition.NOT:
        inner = parts[0] if len(parts) == 1 else {"and": parts}
        return {"not": inner}
    if len(parts) == 1:
        return parts[0]
    return {"and" if condition is FilterCondition.AND else "or": parts}


def _node(hit: Hit | VGDocument) -> BaseNode:
    metadata = {_key_in(k): v for k, v in hit.metadata.items()}
    try:
        node = metadata_dict_to_node(metadata, text=hit.text)
    except (ValueError, KeyError, TypeError):
        from llama_index.core.schema import TextNode

        node = TextNode(text=hit.text, id_=hit.id, metadata=metadata)
    node.id_ = hit.id
    return node


class VectorgateVectorStore(BasePydanticVectorStore):
    """A LlamaIndex vector store over one collection of a vectorgate gateway."""

    stores_text: bool = True
    flat_metadata: bool = False
    collection: str
    store: str | None = None
    target: str = DEFAULT_TARGET
    api_key: str | None = None
    timeout: float | None = 30.0

    _client: Client | None = PrivateAttr(default=None)
    _async_client: AsyncClient | None = PrivateAttr(default=None)
    _ready: bool = PrivateAttr(default=False)

    def __init__(
        self,
        collection: str,
        *,
        store: str | None = None,
        target: str = DEFAULT_TARGET,
        api_key: str | None = None,
        timeout: float | None = 30.0,
        client: Client | None = None,
        async_client: AsyncClient | None = None,
    ) -> None:
        super().__init__(  # type: ignore[call-arg]  # pydantic fields of this class
            collection=collection, store=store, target=target, api_key=api_key, timeout=timeout
        )
        self._client = client
        self._async_client = async_client

    @classmethod
    def class_name(cls) -> str:
        return "VectorgateVectorStore"

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.target, api_key=self.api_key, timeout=self.timeout)
        return self._client

    @property
    def async_client(self) -> AsyncClient:
        if self._async_client is None:
            self._async_client = AsyncClient(
                self.target, api_key=self.api_key, timeout=self.timeout
            )
        return self._async_client

    # -- writes --------------------------------------------------------------------------

    def _documents(self, nodes: Sequence[BaseNode]) -> tuple[list[dict[str, Any]], int]:
        docs: list[dict[str, Any]] = []
        dimension = 0
        for node in nodes:
            # Lists of strings are metadata values too; the gateway refuses nested objects.
            metadata = node_to_metadata_dict(node, remove_text=True, flat_metadata=False)
            doc: dict[str, Any] = {
                "id": node.node_id,
                "text": node.get_content(),
                "metadata": {_key_out(k): v for k, v in metadata.items() if v is not None},
            }
            if node.embedding is not None:
                doc["vector"] = list(node.embedding)
                dimension = len(node.embedding)
            docs.append(doc)
        return docs, dimension

    def _create_args(self, dimension: int) -> dict[str, Any]:
        if dimension:
            return {"store": self.store, "dimension": dimension, "embedding_model": "none"}
        return {"store": self.store}

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Stores the nodes (upsert by node id); returns their ids."""
        if not nodes:
            return []
        docs, dimension = self._documents(nodes)
        if not self._ready:
            with contextlib.suppress(AlreadyExistsError):
                self.client.create_collection(self.collection, **self._create_args(dimension))
            self._ready = True
        self.client.upsert(self.collection, docs, store=self.store)
        return [d["id"] for d in docs]

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Stores the nodes; see :meth:`add`."""
        if not nodes:
            return []
        docs, dimension = self._documents(nodes)
        if not self._ready:
            with contextlib.suppress(AlreadyExistsError):
                await self.async_client.create_collection(
                    self.collection, **self._create_args(dimension)
                )
            self._ready = True
        await self.async_client.upsert(self.collection, docs, store=self.store)
        return [d["id"] for d in docs]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Deletes every node of the source document ``ref_doc_id``."""
        flt = {"field": _REF_DOC_KEY, "op": "eq", "value": ref_doc_id}
        with contextlib.suppress(NotFoundError):
            self.client.delete(self.collection, filter=flt, store=self.store)

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Deletes every node of ``ref_doc_id``; see :meth:`delete`."""
        flt = {"field": _REF_DOC_KEY, "op": "eq", "value": ref_doc_id}
        with contextlib.suppress(NotFoundError):
            await self.async_client.delete(self.collection, filter=flt, store=self.store)

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Deletes nodes by id and/or filter (documents matching either)."""
        if not node_ids and filters is None:
            return
        with contextlib.suppress(NotFoundError):
            self.client.delete(
                self.collection,
                ids=node_ids or None,
                filter=llama_index_filter(filters) if filters is not None else None,
                store=self.store,
            )

    def get_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """The nodes with these ids (``filters`` further restricts them)."""
        if filters is not None:
            raise ValueError("get_nodes: vectorgate gets nodes by node_ids only")
        if not node_ids:
            return []
        try:
            return [_node(d) for d in self.client.get(self.collection, node_ids, store=self.store)]
        except NotFoundError:
            return []

    def clear(self) -> None:
        """Drops the collection and everything in it."""
        with contextlib.suppress(NotFoundError):
            self.client.delete_collection(self.collection, store=self.store)
        self._ready = False

    # -- queries -------------------------------------------------------------------------

    def _options(self, query: VectorStoreQuery) -> SearchOptions:
        k = query.similarity_top_k
        options: SearchOptions = {"top_k": k, "store": self.store}
        parts: list[Any] = []
        if query.filters is not None:
            parts.append(llama_index_filter(query.filters))
        if query.node_ids:
            parts.append({"field": "id", "op": "in", "value": list(query.node_ids)})
        if query.doc_ids:
            parts.append({"field": _REF_DOC_KEY, "op": "in", "value": list(query.doc_ids)})
        if parts:
            options["filter"] = parts[0] if len(parts) == 1 else {"and": parts}
        mode = query.mode
        if mode in (VectorStoreQueryMode.HYBRID, VectorStoreQueryMode.SEMANTIC_HYBRID):
            if not query.query_str:
                raise ValueError("hybrid query: query_str is required")
            options["text"] = query.query_str
            options["mode"] = "hybrid"
            options["top_k"] = query.hybrid_top_k or k
            if query.alpha is not None:
                options["dense_weight"] = query.alpha
                options["keyword_weight"] = 1.0 - query.alpha
        elif mode in (VectorStoreQueryMode.TEXT_SEARCH, VectorStoreQueryMode.SPARSE):
            if not query.query_str:
                raise ValueError(f"{mode.value} query: query_str is required")
            options["text"] = query.query_str
            options["mode"] = "keyword"
            options["top_k"] = query.sparse_top_k or k
        elif mode in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR):
            if query.query_embedding is not None:
                options["vector"] = query.query_embedding
            elif query.query_str:
                options["text"] = query.query_str
            else:
                raise ValueError("query: query_embedding or query_str is required")
            if mode is VectorStoreQueryMode.MMR:
                options["top_k"] = max(k * 4, 20)
                options["output_fields"] = ["text", "metadata", "vector"]
        else:
            raise ValueError(f"query mode {mode.value!r} is not supported by vectorgate")
        return options

    @staticmethod
    def _result(query: VectorStoreQuery, hits: list[Hit]) -> VectorStoreQueryResult:
        if query.mode is VectorStoreQueryMode.MMR and hits and query.query_embedding is not None:
            similarities, ids = get_top_k_mmr_embeddings(
                list(query.query_embedding),
                [h.vector or [] for h in hits],
                similarity_top_k=query.similarity_top_k,
                embedding_ids=list(range(len(hits))),
                mmr_threshold=query.mmr_threshold,
            )
            chosen = [hits[i] for i in ids]
            return VectorStoreQueryResult(
                nodes=[_node(h) for h in chosen],
                similarities=list(similarities),
                ids=[h.id for h in chosen],
            )
        return VectorStoreQueryResult(
            nodes=[_node(h) for h in hits],
            similarities=[h.score for h in hits],
            ids=[h.id for h in hits],
        )

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The best nodes for a query (mode, filters, node/doc ids as in the query)."""
        options = self._options(query)
        try:
            hits = list(self.client.search(self.collection, **options))
        except NotFoundError:
            hits = []
        return self._result(query, hits)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """See :meth:`query`."""
        options = self._options(query)
        try:
            hits = list(await self.async_client.search(self.collection, **options))
        except NotFoundError:
            hits = []
        return self._result(query, hits)
