"""Thin servicers: convert the request, call the application, convert back.

Each method takes a request message (or, for client streaming, an async
iterator of them) and a :class:`CallContext`, and returns the response
message. They know nothing of gRPC or HTTP: both transports call them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine, Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from vectorgate.v1 import (
    collection_admin_service_pb2 as cpb,
)
from vectorgate.v1 import (
    index_admin_service_pb2 as ipb,
)
from vectorgate.v1 import (
    search_service_pb2 as spb,
)
from vectorgate.v1 import (
    types_pb2,
)
from vectorgate.v1 import (
    upsert_service_pb2 as upb,
)

from .. import convert
from ..app import Gateway, Target, validate_name
from ..domain import Document, DocumentBatch, IndexSpec, SearchQuery
from ..errors import InvalidArgument
from ..fusion import Contribution, FusionMethod, Retriever
from ..multisearch import Failure, FusedSearchRequest, MultiSearcher, Outcome, TargetRequest
from ..rag_context import DEFAULT_MAX_TOKENS, assemble
from ..retrieval import DEFAULT_GROUP, ROUTER_GROUP, Retrieval
from ..storage import VirtualIndex
from .registry import CallContext, Permission, requires


def _no_documents_with_columns(documents: int, field: str) -> None:
    if documents:
        raise InvalidArgument(f"{field}: set documents or columns, not both", field=field)


def _documents(pbs: Iterable[types_pb2.Document], field: str = "documents") -> list[Document]:
    docs: list[Document] = []
    pb_list = list(pbs)
    vectors = convert.decode_document_vectors(pb_list, field)
    for i, (pb, vector) in enumerate(zip(pb_list, vectors, strict=True)):
        path = f"{field}[{i}]"
        docs.append(
            Document(
                id=pb.id,
                text=pb.text,
                vector=vector,
                metadata=convert.document_metadata(pb, path),
            )
        )
    return docs


class _GatewayService:
    """A servicer of the gateway's RPCs: each method converts, calls ``self.gw``, converts back."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway


class CollectionAdminService(_GatewayService):
    """``vectorgate.v1.CollectionAdminService``."""

    @requires(Permission.ADMIN, per_index=True)
    async def CreateCollection(
        self, request: cpb.CreateCollectionRequest, ctx: CallContext
    ) -> cpb.CreateCollectionResponse:
        """Create a collection."""
        if not request.HasField("collection"):
            raise InvalidArgument(
                "collection: required", field="collection", reason="MISSING_FIELD"
            )
        c = request.collection
        metric = convert.METRIC_FROM_PB.get(c.metric)
        if metric is None and c.metric != types_pb2.DISTANCE_METRIC_UNSPECIFIED:
            raise InvalidArgument(
                f"collection.metric: unknown value {c.metric}", field="collection.metric"
            )
        index = IndexSpec(type=c.index.type.upper(), params=convert.struct_to_dict(c.index.params))
        target, info = await self.gw.create_collection(
            store=c.store,
            name=c.name,
            dimension=c.dimension,
            metric=metric,
            text_field=c.text_field,
            embedding_model=c.embedding_model,
            index=index,
        )
        response = cpb.CreateCollectionResponse()
        convert.collection_to_pb(
            info, store=target.store, backend=target.adapter.backend, out=response.collection
        )
        if target.virtual_name:
            response.collection.name = target.virtual_name
        response.collection.document_count = 0
        return response

    @requires(Permission.READ)
    async def GetCollection(
        self, request: cpb.GetCollectionRequest, ctx: CallContext
    ) -> cpb.GetCollectionResponse:
        """Describe a collection with its document count."""
        target, info = await self.gw.describe_collection(request.store, request.name)
        response = cpb.GetCollectionResponse()
        convert.collection_to_pb(
            info, store=target.store, backend=target.adapter.backend, out=response.collection
        )
        if target.virtual_name:
            response.collection.name = target.virtual_name
        return response

    @requires(Permission.READ)
    async def ListCollections(
        self, request: cpb.ListCollectionsRequest, ctx: CallContext
    ) -> cpb.ListCollectionsResponse:
        """List collections of a store."""
        adapter, page = await self.gw.list_collections(
            request.store, request.page_size, request.page_token
        )
        response = cpb.ListCollectionsResponse(next_page_token=page.next_page_token)
        for info in page.items:
            convert.collection_to_pb(
                info, store=adapter.store, backend=adapter.backend, out=response.collections.add()
            )
        return response

    @requires(Permission.ADMIN)
    async def ListStores(
        self, request: cpb.ListStoresRequest, ctx: CallContext
    ) -> cpb.ListStoresResponse:
        """The configured stores."""
        response = cpb.ListStoresResponse()
        for name in sorted(self.gw.stores):
            adapter = self.gw.stores[name]
            response.stores.add(
                name=name,
                backend=adapter.backend,
                is_default=name == self.gw.default_store,
                keyword_search=adapter.capabilities.keyword_search,
            )
        return response

    @requires(Permission.ADMIN, per_index=True)
    async def DeleteCollection(
        self, request: cpb.DeleteCollectionRequest, ctx: CallContext
    ) -> cpb.DeleteCollectionResponse:
        """Drop a collection."""
        await self.gw.drop_collection(request.store, request.name)
        return cpb.DeleteCollectionResponse()


class UpsertService(_GatewayService):
    """``vectorgate.v1.UpsertService``."""

    @requires(Permission.WRITE)
    async def UpsertDocuments(
        self, request: upb.UpsertDocumentsRequest, ctx: CallContext
    ) -> upb.UpsertDocumentsResponse:
        """Upsert one batch."""
        target = self.gw.resolve(request.store, request.collection)
        if request.HasField("columns"):
            _no_documents_with_columns(len(request.documents), "documents")
            batch = self._columns(request.columns, "columns")
            count = await self.gw.upsert_columns(target, batch)
        else:
            self.gw.check_batch(len(request.documents))
            count = await self.gw.upsert(target, _documents(request.documents))
        return upb.UpsertDocumentsResponse(upserted_count=count)

    def _columns(self, pb: types_pb2.DocumentColumns, field: str) -> DocumentBatch:
        self.gw.check_batch(len(pb.ids), f"{field}.ids")
        return convert.columns_from_pb(pb, field)

    @requires(Permission.WRITE)
    async def BulkUpsertDocuments(
        self, requests: AsyncIterator[upb.BulkUpsertDocumentsRequest], ctx: CallContext
    ) -> upb.BulkUpsertDocumentsResponse:
        """Upsert a stream of batches, written one after another in stream order.

        The next batch is read and decoded while the previous one is being
        written (the backends write off the event loop), so decoding overlaps
        writing; a batch's write starts only after the previous write
        succeeded. If a later batch is bad, the write in flight still
        completes before the error is returned, as if each batch had been
        written before the next was read.
        """
        target: Target | None = None
        first: tuple[str, str] = ("", "")
        total = 0
        batches = 0
        writing: asyncio.Task[int] | None = None
        try:
            async for request in requests:
                batch_path = f"requests[{batches}]"
                if target is None:
                    first = (request.store, request.collection)
                    target = self.gw.resolve(
                        request.store,
                        request.collection,
                        field=f"{batch_path}.collection",
                        store_field=f"{batch_path}.store",
                    )
                elif (request.collection and request.collection != first[1]) or (
                    request.store and request.store != first[0]
                ):
                    raise InvalidArgument(
                        f"{batch_path}.collection: store and collection must not change within a "
                        f"stream (first message named {first[0] or '<default>'}/{first[1]})",
                        field=f"{batch_path}.collection",
                    )
                batches += 1
                write: Coroutine[Any, Any, int]
                if request.HasField("columns"):
                    _no_documents_with_columns(len(request.documents), f"{batch_path}.documents")
                    columns_path = f"{batch_path}.columns"
                    batch = self._columns(request.columns, columns_path)
                    write = self.gw.upsert_columns(target, batch, field=columns_path)
                elif request.documents:
                    self.gw.check_batch(len(request.documents), f"{batch_path}.documents")
                    docs = _documents(request.documents, f"{batch_path}.documents")
                    write = self.gw.upsert(target, docs, field=f"{batch_path}.documents")
                else:
                    continue
                if writing is not None:
                    previous, writing = writing, None
                    try:
                        total += await previous
                    except BaseException:
                        write.close()
                        raise
                writing = asyncio.create_task(write)
            if writing is not None:
                last, writing = writing, None
                total += await last
        except asyncio.CancelledError:
            if writing is not None:
                writing.cancel()
            raise
        except BaseException:
            if writing is not None:
                # A later batch failed while this write was in flight: let it finish
                # (it was read and accepted); its own error would be secondary.
                with contextlib.suppress(Exception):
                    await writing
            raise
        if target is None:
            raise InvalidArgument(
                "requests: the stream carried no message", field="requests", reason="MISSING_FIELD"
            )
        return upb.BulkUpsertDocumentsResponse(upserted_count=total, batch_count=batches)

    @requires(Permission.READ)
    async def GetDocuments(
        self, request: upb.GetDocumentsRequest, ctx: CallContext
    ) -> upb.GetDocumentsResponse:
        """Documents by id."""
        target = self.gw.resolve(request.store, request.collection)
        self.gw.check_batch(len(request.ids), "ids")
        docs = await self.gw.get(target, list(request.ids), request.include_vectors)
        response = upb.GetDocumentsResponse()
        for doc in docs:
            convert.document_to_pb(doc, response.documents.add())
        return response

    @requires(Permission.READ)
    async def ListDocuments(
        self, request: upb.ListDocumentsRequest, ctx: CallContext
    ) -> upb.ListDocumentsResponse:
        """Documents a page at a time, in scan order."""
        target = self.gw.resolve(request.store, request.collection)
        page = await self.gw.list_documents(
            target, request.page_size, request.page_token, request.include_vectors
        )
        response = upb.ListDocumentsResponse(next_page_token=page.next_page_token)
        for doc in page.items:
            convert.document_to_pb(doc, response.documents.add())
        return response

    @requires(Permission.WRITE)
    async def DeleteDocuments(
        self, request: upb.DeleteDocumentsRequest, ctx: CallContext
    ) -> upb.DeleteDocumentsResponse:
        """Delete by ids and/or filter."""
        target = self.gw.resolve(request.store, request.collection)
        if len(request.ids) > self.gw.limits.max_batch_documents:
            self.gw.check_batch(len(request.ids), "ids")
        flt = convert.filter_from_pb(request.filter) if request.HasField("filter") else None
        await self.gw.delete(target, list(request.ids), flt)
        return upb.DeleteDocumentsResponse()


_MODES: dict[int, frozenset[Retriever]] = {
    spb.SEARCH_MODE_UNSPECIFIED: frozenset({Retriever.DENSE}),
    spb.SEARCH_MODE_DENSE: frozenset({Retriever.DENSE}),
    spb.SEARCH_MODE_KEYWORD: frozenset({Retriever.KEYWORD}),
    spb.SEARCH_MODE_HYBRID: frozenset({Retriever.DENSE, Retriever.KEYWORD}),
}
_METHODS: dict[int, FusionMethod] = {
    spb.FUSION_METHOD_UNSPECIFIED: FusionMethod.RRF,
    spb.FUSION_METHOD_RRF: FusionMethod.RRF,
    spb.FUSION_METHOD_WEIGHTED: FusionMethod.WEIGHTED,
}
_RETRIEVERS: dict[str, int] = {
    Retriever.DENSE.value: types_pb2.RETRIEVER_DENSE,
    Retriever.KEYWORD.value: types_pb2.RETRIEVER_KEYWORD,
}


def _is_fused(request: spb.SearchRequest) -> bool:
    """Whether a Search takes the fused path (several targets, keyword/hybrid, reranking)."""
    rerank = request.HasField("rerank") and (
        request.rerank.enabled or not request.rerank.HasField("enabled")
    )
    return bool(
        request.targets
        or request.rag_group
        or request.mode in (spb.SEARCH_MODE_KEYWORD, spb.SEARCH_MODE_HYBRID)
        or rerank
    )


def _fused_request(request: spb.SearchRequest, path: str = "") -> FusedSearchRequest:
    """Decode a SearchRequest for :class:`MultiSearcher`; ``path`` prefixes field names."""
    which = request.WhichOneof("query")
    vector = convert.decode_vector(request.vector, f"{path}vector") if which == "vector" else None
    retrievers = _MODES.get(request.mode)
    if retrievers is None:
        raise InvalidArgument(f"{path}mode: unknown value {request.mode}", field=f"{path}mode")
    method = _METHODS.get(request.fusion.method)
    if method is None:
        raise InvalidArgument(
            f"{path}fusion.method: unknown value {request.fusion.method}",
            field=f"{path}fusion.method",
        )
    rerank: bool | None = None
    if request.HasField("rerank"):
        rerank = request.rerank.enabled if request.rerank.HasField("enabled") else True
    hybrid = request.hybrid
    return FusedSearchRequest(
        collection=request.collection,
        store=request.store,
        targets=tuple(
            TargetRequest(
                store=t.store,
                collection=t.collection,
                weight=t.weight if t.HasField("weight") else None,
            )
            for t in request.targets
        ),
        rag_group=request.rag_group,
        text=request.text if which == "text" else None,
        vector=vector,
        top_k=request.top_k,
        filter=(
            convert.filter_from_pb(request.filter, f"{path}filter")
            if request.HasField("filter")
            else None
        ),
        output=convert.output_fields(request.output_fields, f"{path}output_fields"),
        native_params=convert.struct_to_dict(request.native_params),
        score_threshold=(request.score_threshold if request.HasField("score_threshold") else None),
        retrievers=retrievers,
        dense_weight=hybrid.dense_weight if hybrid.HasField("dense_weight") else None,
        keyword_weight=hybrid.keyword_weight if hybrid.HasField("keyword_weight") else None,
        method=method,
        rrf_k=request.fusion.rrf_k,
        candidates=request.fusion.candidates,
        rerank=rerank,
        rerank_model=request.rerank.model,
        top_n=request.rerank.top_n,
        rerank_candidates=request.rerank.candidates,
        mmr_lambda=request.rerank.mmr_lambda if request.rerank.HasField("mmr_lambda") else None,
    )


def _sources_to_pb(sources: Iterable[Contribution], out: Any) -> None:
    add = out.add
    for source in sources:
        add(
            store=source.list.store,
            collection=source.list.collection,
            retriever=_RETRIEVERS.get(source.list.retriever, types_pb2.RETRIEVER_UNSPECIFIED),
            rank=source.rank,
            score=source.score,
            raw_score=source.raw_score,
            contribution=source.contribution,
        )


def _failures_to_pb(failures: Iterable[Failure], out: Any) -> None:
    add = out.add
    for failure in failures:
        add(
            store=failure.store,
            collection=failure.collection,
            stage=failure.stage,
            code=failure.code,
            reason=failure.reason,
            message=failure.message,
        )


def _fused_response(outcome: Outcome) -> spb.SearchResponse:
    response = spb.SearchResponse()
    for item in outcome.hits:
        pb = response.hits.add()
        convert.hit_to_pb(item.hit, pb)
        _sources_to_pb(item.sources, pb.sources)
    _failures_to_pb(outcome.failures, response.failures)
    return response


class SearchService(_GatewayService):
    """``vectorgate.v1.SearchService``."""

    def __init__(self, gateway: Gateway) -> None:
        super().__init__(gateway)
        self.retrieval = gateway.retrieval or Retrieval()
        self.multi = MultiSearcher(gateway, self.retrieval)

    @requires(Permission.READ)
    async def Search(self, request: spb.SearchRequest, ctx: CallContext) -> spb.SearchResponse:
        """Search one collection, or several fused (see multisearch)."""
        if _is_fused(request):
            if request.explain:
                raise InvalidArgument(
                    "explain: only single-collection dense searches can be explained",
                    field="explain",
                )
            plan = self.multi.plan(_fused_request(request))
            return _fused_response(await self.multi.run(plan, ctx))
        target = self.gw.resolve(request.store, request.collection)
        self.gw.check_top_k(request.top_k)
        which = request.WhichOneof("query")
        if which is None:
            raise InvalidArgument("query: set text or vector", field="text", reason="MISSING_FIELD")
        vector = convert.decode_vector(request.vector, "vector") if which == "vector" else None
        flt = convert.filter_from_pb(request.filter) if request.HasField("filter") else None
        output = convert.output_fields(request.output_fields)
        native = convert.struct_to_dict(request.native_params)
        if request.score_threshold != request.score_threshold:  # NaN
            raise InvalidArgument("score_threshold: must be a number", field="score_threshold")
        if request.explain:
            # Embedding is skipped: the explanation depends on the filter and params only.
            info = await self.gw.collection(target)
            placeholder = np.zeros(info.dimension, dtype=np.float32)
            query = SearchQuery(
                vector=placeholder,
                top_k=request.top_k,
                filter=flt,
                output=output,
                native_params=native,
            )
            explanation = await self.gw.explain(target, query)
            response = spb.SearchResponse()
            response.explanation.backend = explanation.backend
            response.explanation.native_filter = explanation.native_filter
            convert.dict_to_struct(explanation.native_params, response.explanation.native_params)
            return response
        _, qvec = await self.gw.query_vector(
            target, request.text if which == "text" else None, vector
        )
        query = SearchQuery(
            vector=qvec, top_k=request.top_k, filter=flt, output=output, native_params=native
        )
        hits = await self.gw.search(
            target,
            query,
            score_threshold=(
                request.score_threshold if request.HasField("score_threshold") else None
            ),
        )
        response = spb.SearchResponse()
        for hit in hits:
            convert.hit_to_pb(hit, response.hits.add())
        return response

    @requires(Permission.READ)
    async def Retrieve(
        self, request: spb.RetrieveRequest, ctx: CallContext
    ) -> spb.RetrieveResponse:
        """Search (fused and reranked as asked), then pack the best passages into a token
        budget with citations."""
        if not request.HasField("search"):
            raise InvalidArgument("search: required", field="search", reason="MISSING_FIELD")
        if request.max_tokens < 0:
            raise InvalidArgument("max_tokens: must be >= 0", field="max_tokens")
        if request.search.explain:
            raise InvalidArgument("search.explain: not with Retrieve", field="search.explain")
        fused = _fused_request(request.search, "search.")
        fused = replace(fused, output=replace(fused.output, text=True), need_text=True)
        if not (fused.collection or fused.targets or fused.rag_group):
            group = ROUTER_GROUP if self.retrieval.rag_enabled else DEFAULT_GROUP
            fused = replace(fused, rag_group=group)
        outcome = await self.multi.run(self.multi.plan(fused), ctx)
        hits = [item.hit for item in outcome.hits]
        sources = {id(item.hit): item.sources for item in outcome.hits}
        packed = await asyncio.to_thread(
            assemble, hits, request.max_tokens or DEFAULT_MAX_TOKENS, self.retrieval.tokens
        )
        response = spb.RetrieveResponse(
            context=packed.context,
            token_count=packed.token_count,
            omitted_count=packed.omitted,
        )
        for passage in packed.passages:
            pb = response.passages.add(
                citation=passage.citation,
                id=passage.hit.id,
                store=passage.hit.store,
                collection=passage.hit.collection,
                text=passage.text,
                score=passage.hit.score,
                token_count=passage.token_count,
                truncated=passage.truncated,
            )
            if passage.hit.metadata:
                convert.metadata_to_pb(passage.hit.metadata, pb.metadata, pb.typed_metadata)
            _sources_to_pb(sources.get(id(passage.hit), ()), pb.sources)
        _failures_to_pb(outcome.failures, response.failures)
        return response


def _index_to_pb(index: VirtualIndex, out: ipb.VirtualIndex) -> None:
    out.index_name = index.index_name
    out.litellm_params.vector_store_index = index.collection
    out.litellm_params.vector_store_name = index.store
    out.description = index.description
    if index.policy_filter is not None:
        out.policy_filter.CopyFrom(convert.filter_to_pb(index.policy_filter))
    if index.create_time is not None:
        out.create_time.FromDatetime(index.create_time)


class IndexAdminService(_GatewayService):
    """``vectorgate.v1.IndexAdminService``."""

    @requires(Permission.ADMIN)
    async def CreateIndex(
        self, request: ipb.CreateIndexRequest, ctx: CallContext
    ) -> ipb.CreateIndexResponse:
        """Create a virtual index."""
        policy = (
            convert.filter_from_pb(request.policy_filter, "policy_filter")
            if request.HasField("policy_filter")
            else None
        )
        params = request.litellm_params
        if not params.vector_store_name:
            raise InvalidArgument(
                "litellm_params.vector_store_name: required",
                field="litellm_params.vector_store_name",
                reason="MISSING_FIELD",
            )
        validate_name(params.vector_store_index, "litellm_params.vector_store_index")
        created = await self.gw.create_index(
            VirtualIndex(
                index_name=request.index_name,
                store=params.vector_store_name,
                collection=params.vector_store_index,
                policy_filter=policy,
                description=request.description,
            )
        )
        response = ipb.CreateIndexResponse()
        _index_to_pb(created, response.index)
        return response

    @requires(Permission.ADMIN)
    async def GetIndex(
        self, request: ipb.GetIndexRequest, ctx: CallContext
    ) -> ipb.GetIndexResponse:
        """Describe a virtual index."""
        validate_name(request.index_name, "index_name", "index")
        response = ipb.GetIndexResponse()
        _index_to_pb(self.gw.indexes.get(request.index_name), response.index)
        return response

    @requires(Permission.ADMIN)
    async def ListIndexes(
        self, request: ipb.ListIndexesRequest, ctx: CallContext
    ) -> ipb.ListIndexesResponse:
        """List virtual indexes."""
        page = self.gw.list_indexes(request.page_size, request.page_token)
        response = ipb.ListIndexesResponse(next_page_token=page.next_page_token)
        for index in page.items:
            _index_to_pb(index, response.indexes.add())
        return response

    @requires(Permission.ADMIN)
    async def DeleteIndex(
        self, request: ipb.DeleteIndexRequest, ctx: CallContext
    ) -> ipb.DeleteIndexResponse:
        """Delete a virtual index."""
        validate_name(request.index_name, "index_name", "index")
        await self.gw.indexes.delete(request.index_name)
        return ipb.DeleteIndexResponse()


def implementations(gateway: Gateway) -> dict[str, object]:
    """Service short name -> implementation, for :func:`registry.build_rpcs`."""
    return {
        "CollectionAdminService": CollectionAdminService(gateway),
        "UpsertService": UpsertService(gateway),
        "SearchService": SearchService(gateway),
        "IndexAdminService": IndexAdminService(gateway),
    }
