"""The vectorgate clients: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio).

Both have the same methods and return plain dataclasses; every failed call
raises a :class:`vectorgate.errors.VectorgateError` subclass::

    from vectorgate import Client, F

    with Client("127.0.0.1:50051", api_key="vg-...") as client:
        client.create_collection("films", dimension=384)
        client.upsert("films", [{"id": "1", "text": "Alien", "metadata": {"year": 1979}}])
        hits = client.search("films", text="space horror", filter=F("year") < 1990)

Every unary call is written once, as an operation (``_op_*``): a generator that
builds the request, yields the RPC, receives the response and returns the
result. ``_sync`` and ``_async`` make the blocking and the coroutine method of
the same signature from it. Only ``bulk_upsert`` (client streaming, whose
transports differ) is written per client.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from itertools import chain, islice
from types import TracebackType
from typing import (
    Any,
    Concatenate,
    ParamSpec,
    Self,
    TypeAlias,
    TypedDict,
    TypeVar,
    Unpack,
    cast,
)

import grpc
import grpc.aio

from vectorgate import _columns
from vectorgate._convert import (
    BatchBuilder,
    DocumentLike,
    VectorLike,
    aiter_batches,
    collection_from_proto,
    dict_to_struct,
    document_from_proto,
    explanation_from_proto,
    index_from_proto,
    iter_batches,
    metric_to_proto,
    pack_vector,
    retrieve_from_proto,
    search_results_from_proto,
)
from vectorgate._filters import FilterLike, to_filter_proto
from vectorgate._types import (
    CollectionInfo,
    Document,
    Explanation,
    RetrieveResult,
    SearchResults,
    SearchTarget,
    VirtualIndex,
)
from vectorgate.errors import AlreadyExistsError, VectorgateError, from_rpc_error
from vectorgate.v1 import collection_admin_service_pb2 as collection_pb2
from vectorgate.v1 import collection_admin_service_pb2_grpc as collection_grpc
from vectorgate.v1 import index_admin_service_pb2 as index_pb2
from vectorgate.v1 import index_admin_service_pb2_grpc as index_grpc
from vectorgate.v1 import key_service_pb2 as key_pb2
from vectorgate.v1 import key_service_pb2_grpc as key_grpc
from vectorgate.v1 import search_service_pb2 as search_pb2
from vectorgate.v1 import search_service_pb2_grpc as search_grpc
from vectorgate.v1 import upsert_service_pb2 as upsert_pb2
from vectorgate.v1 import upsert_service_pb2_grpc as upsert_grpc

__all__ = ["AsyncClient", "Client", "SearchOptions"]

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024

_Metadata: TypeAlias = tuple[tuple[str, str], ...]


# -- requests shared by both clients -------------------------------------------------------


def _channel_options(max_message_bytes: int) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]


def _auth_metadata(api_key: str | None) -> _Metadata:
    return (("authorization", f"Bearer {api_key}"),) if api_key else ()


def _check_existing(
    existing: CollectionInfo, request: collection_pb2.CreateCollectionRequest
) -> None:
    """``exist_ok``: the existing collection must have the metric and dimension asked for."""
    wanted = collection_from_proto(request.collection)
    conflicts = []
    if wanted.metric and existing.metric != wanted.metric:
        conflicts.append(f"metric {existing.metric} (asked: {wanted.metric})")
    if request.collection.dimension and existing.dimension != wanted.dimension:
        conflicts.append(f"dimension {existing.dimension} (asked: {wanted.dimension})")
    if wanted.embedding_model and existing.embedding_model != wanted.embedding_model:
        conflicts.append(
            f"embedding model {existing.embedding_model} (asked: {wanted.embedding_model})"
        )
    if conflicts:
        raise AlreadyExistsError(
            grpc.StatusCode.ALREADY_EXISTS,
            f"collection {existing.name!r} already exists in store {existing.store!r} with "
            + " and ".join(conflicts),
            reason="COLLECTION_ALREADY_EXISTS",
            metadata={"collection": existing.name, "store": existing.store},
        )


def _create_collection_request(
    name: str,
    store: str | None,
    dimension: int,
    metric: str,
    text_field: str,
    embedding_model: str,
    index_type: str,
    index_params: Mapping[str, Any] | None,
) -> collection_pb2.CreateCollectionRequest:
    request = collection_pb2.CreateCollectionRequest()
    collection = request.collection
    collection.name = name
    collection.store = store or ""
    collection.dimension = dimension
    collection.metric = metric_to_proto(metric)
    collection.text_field = text_field
    collection.embedding_model = embedding_model
    collection.index.type = index_type
    if index_params:
        collection.index.params.CopyFrom(dict_to_struct(index_params, "index_params"))
    return request


def _str_list(values: Iterable[str], name: str = "ids") -> list[str]:
    if isinstance(values, str | bytes):
        raise TypeError(f"{name} must be a list of str, not a single {type(values).__name__}")
    result = list(values)
    for i, value in enumerate(result):
        if not isinstance(value, str):
            raise TypeError(f"{name}[{i}]: expected a str, got {type(value).__name__}")
    return result


def _delete_request(
    collection: str,
    ids: Iterable[str] | None,
    filter: FilterLike | None,
    store: str | None,
) -> upsert_pb2.DeleteDocumentsRequest:
    if ids is None and filter is None:
        raise ValueError("delete needs ids, a filter, or both")
    request = upsert_pb2.DeleteDocumentsRequest(collection=collection, store=store or "")
    if ids is not None:
        request.ids.extend(_str_list(ids))
    if filter is not None:
        request.filter.CopyFrom(to_filter_proto(filter))
    return request


class SearchOptions(TypedDict, total=False):
    """The keyword arguments of :meth:`Client.search` (and ``explain``, ``retrieve``).

    Attributes:
        text: query text, embedded with each collection's model.
        vector: query vector (a list of floats or a numpy array). Give exactly
            one of ``text`` and ``vector``.
        top_k: number of hits, 1 up to the server's maximum; unset: 10 (the
            group's ``top_k`` with ``rag_group``).
        filter: only documents matching it are considered: ``F("year") >= 2000``
            or the dict form (see :class:`vectorgate.F`).
        output_fields: what to return of each hit: ``"text"``, ``"vector"``,
            ``"metadata"`` or ``"metadata.KEY"``; ``None`` for text and all metadata.
        native_params: backend search parameters, e.g. ``{"ef": 128}``.
        score_threshold: hits with a lower normalised score are dropped; ``None``
            for no threshold (``0.0`` drops the hits scoring below 0).
        store: the store; ``None`` for the default (or the virtual index's).
        targets: several collections searched together and fused: each a
            :class:`SearchTarget`, a ``{"collection", "store", "weight"}`` dict or a
            ``(store, collection)`` pair. ``collection`` and ``store`` stay empty then.
        rag_group: a configured retrieval group (``"default"``, ``"router"``).
        mode: ``"dense"`` (default), ``"keyword"`` or ``"hybrid"``.
        fusion: ``"rrf"`` (default) or ``"weighted"``.
        rrf_k: the RRF constant; 0 for the configured one.
        candidates: hits fetched from each ranked list before fusion; 0 for ``top_k``.
        dense_weight: weight of the dense results in hybrid mode (unset: 1).
        keyword_weight: weight of the keyword results in hybrid mode (unset: 1).
        rerank: rerank the fused candidates (``None``: the group's setting).
        rerank_model: ``"local"`` or a rerank model of the configuration.
        rerank_top_n: hits returned after reranking; 0 for ``top_k``.
        rerank_candidates: fused candidates handed to the reranker; 0 for the default.
        mmr_lambda: maximal marginal relevance in [0, 1] (local reranker).
    """

    text: str | None
    vector: VectorLike | None
    top_k: int | None
    filter: FilterLike | None
    output_fields: Sequence[str] | None
    native_params: Mapping[str, Any] | None
    score_threshold: float | None
    store: str | None
    targets: Sequence[SearchTarget | Mapping[str, Any] | tuple[str, str]] | None
    rag_group: str | None
    mode: str | None
    fusion: str | None
    rrf_k: int
    candidates: int
    dense_weight: float | None
    keyword_weight: float | None
    rerank: bool | None
    rerank_model: str
    rerank_top_n: int
    rerank_candidates: int
    mmr_lambda: float | None


_SEARCH_OPTIONS = frozenset(SearchOptions.__annotations__)
_MODES = {
    "dense": search_pb2.SEARCH_MODE_DENSE,
    "keyword": search_pb2.SEARCH_MODE_KEYWORD,
    "hybrid": search_pb2.SEARCH_MODE_HYBRID,
}
_FUSIONS = {"rrf": search_pb2.FUSION_METHOD_RRF, "weighted": search_pb2.FUSION_METHOD_WEIGHTED}


def _choice(table: Mapping[str, int], value: str, name: str) -> Any:
    try:
        return table[value.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"{name} must be one of {', '.join(table)}, got {value!r}") from None


def _fill_target(pb: search_pb2.SearchTarget, target: Any, path: str) -> None:
    collection: Any
    store: Any
    weight: Any
    if isinstance(target, SearchTarget):
        collection, store, weight = target.collection, target.store, target.weight
    elif isinstance(target, Mapping):
        unknown = set(target) - {"collection", "store", "weight"}
        if unknown or "collection" not in target:
            raise ValueError(f"{path}: a target is {{'collection', 'store', 'weight'}}")
        collection, store, weight = target["collection"], target.get("store"), target.get("weight")
    elif isinstance(target, tuple) and len(target) == 2:
        (store, collection), weight = target, None
    else:
        raise TypeError(f"{path}: expected a SearchTarget, a dict or a (store, collection) pair")
    pb.collection = collection
    pb.store = store or ""
    if weight is not None:
        pb.weight = weight


def _search_request(
    collection: str, options: SearchOptions, *, explain: bool = False
) -> search_pb2.SearchRequest:
    unknown = set(options) - _SEARCH_OPTIONS
    if unknown:
        raise TypeError(f"unknown search option(s): {', '.join(sorted(unknown))}")
    text, vector = options.get("text"), options.get("vector")
    if (text is None) == (vector is None):
        raise ValueError("give exactly one of text= or vector=")
    rag_group = options.get("rag_group") or ""
    top_k = options.get("top_k")
    request = search_pb2.SearchRequest(
        collection=collection,
        store=options.get("store") or "",
        top_k=(0 if rag_group else 10) if top_k is None else top_k,
        explain=explain,
        rag_group=rag_group,
    )
    score_threshold = options.get("score_threshold")
    if score_threshold is not None:
        request.score_threshold = score_threshold
    if text is not None:
        request.text = text
    elif vector is not None:
        pack_vector(vector, request.vector)
    filter = options.get("filter")
    if filter is not None:
        request.filter.CopyFrom(to_filter_proto(filter))
    output_fields = options.get("output_fields")
    if output_fields is not None:
        request.output_fields.extend(_str_list(output_fields, "output_fields"))
    native_params = options.get("native_params")
    if native_params:
        request.native_params.CopyFrom(dict_to_struct(native_params, "native_params"))
    targets = options.get("targets")
    if targets is not None:
        if isinstance(targets, str | bytes | Mapping):
            raise TypeError("targets must be a list of targets")
        for i, target in enumerate(targets):
            _fill_target(request.targets.add(), target, f"targets[{i}]")
    mode = options.get("mode")
    if mode is not None:
        request.mode = _choice(_MODES, mode, "mode")
    fusion = options.get("fusion")
    if fusion is not None:
        request.fusion.method = _choice(_FUSIONS, fusion, "fusion")
    if options.get("rrf_k"):
        request.fusion.rrf_k = options["rrf_k"]
    if options.get("candidates"):
        request.fusion.candidates = options["candidates"]
    for name in ("dense_weight", "keyword_weight"):
        weight = options.get(name)
        if weight is not None:
            setattr(request.hybrid, name, weight)
    rerank = options.get("rerank")
    rerank_fields = {
        "model": options.get("rerank_model") or "",
        "top_n": options.get("rerank_top_n") or 0,
        "candidates": options.get("rerank_candidates") or 0,
    }
    mmr_lambda = options.get("mmr_lambda")
    if rerank is not None or any(rerank_fields.values()) or mmr_lambda is not None:
        request.rerank.SetInParent()
        if rerank is not None:
            request.rerank.enabled = rerank
        for name, value in rerank_fields.items():
            if value:
                setattr(request.rerank, name, value)
        if mmr_lambda is not None:
            request.rerank.mmr_lambda = mmr_lambda
    return request


def _retrieve_request(
    collection: str, max_tokens: int, options: SearchOptions
) -> search_pb2.RetrieveRequest:
    request = search_pb2.RetrieveRequest(max_tokens=max_tokens)
    request.search.CopyFrom(_search_request(collection, options))
    return request


def _update_key_request(
    key: str,
    indexes: Mapping[str, Sequence[str]] | None,
    models: Sequence[str] | None,
    alias: str,
    duration: str,
    metadata: Mapping[str, Any] | None,
) -> key_pb2.UpdateKeyRequest:
    request = key_pb2.UpdateKeyRequest(key=key, key_alias=alias, duration=duration)
    if indexes is not None:
        request.update_indexes = True
        for name, permissions in indexes.items():
            request.allowed_vector_store_indexes.add(
                index_name=name, index_permissions=list(permissions)
            )
    if models is not None:
        request.models.extend(models)
    if metadata:
        request.metadata.update(dict(metadata))
    return request


def _create_index_request(
    index_name: str,
    collection: str,
    store: str,
    policy_filter: FilterLike | None,
    description: str,
) -> index_pb2.CreateIndexRequest:
    request = index_pb2.CreateIndexRequest(
        index_name=index_name,
        litellm_params=index_pb2.IndexTarget(
            vector_store_index=collection, vector_store_name=store
        ),
        description=description,
    )
    if policy_filter is not None:
        request.policy_filter.CopyFrom(to_filter_proto(policy_filter))
    return request


def _upsert_builder(
    collection: str, store: str | None, batch_size: int
) -> BatchBuilder[upsert_pb2.UpsertDocumentsRequest]:
    return BatchBuilder(
        lambda: upsert_pb2.UpsertDocumentsRequest(collection=collection, store=store or ""),
        batch_size,
    )


def _bulk_builder(
    collection: str, store: str | None, batch_size: int
) -> BatchBuilder[upsert_pb2.BulkUpsertDocumentsRequest]:
    return BatchBuilder(
        lambda: upsert_pb2.BulkUpsertDocumentsRequest(collection=collection, store=store or ""),
        batch_size,
    )


def _stubs(channel: grpc.Channel | grpc.aio.Channel) -> tuple[Any, Any, Any, Any]:
    """The four service stubs on ``channel`` (the generated stub classes are untyped)."""
    return (
        collection_grpc.CollectionAdminServiceStub(channel),  # type: ignore[no-untyped-call]
        upsert_grpc.UpsertServiceStub(channel),  # type: ignore[no-untyped-call]
        search_grpc.SearchServiceStub(channel),  # type: ignore[no-untyped-call]
        index_grpc.IndexAdminServiceStub(channel),  # type: ignore[no-untyped-call]
    )


def _key_request(
    indexes: Mapping[str, Sequence[str]] | None,
    models: Sequence[str],
    alias: str,
    duration: str,
    metadata: Mapping[str, Any] | None,
    key: str = "",
) -> key_pb2.GenerateKeyRequest:
    request = key_pb2.GenerateKeyRequest(
        models=list(models), key_alias=alias, duration=duration, key=key
    )
    for name, permissions in (indexes or {}).items():
        request.allowed_vector_store_indexes.add(
            index_name=name, index_permissions=list(permissions)
        )
    if metadata:
        request.metadata.update(dict(metadata))
    return request


def _key_dict(message: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(message, preserving_proto_field_name=True)


# -- the operations: one source for both clients ------------------------------------------
#
# Each operation is a generator: it builds the request(s), yields each RPC to make
# (``_rpc("stub.Method", request)``), receives the response, and returns the result.
# ``_sync`` and ``_async`` turn one into a blocking or a coroutine method of the same
# signature, so Client and AsyncClient cannot drift apart.

_R = TypeVar("_R")
_BatchRequest = TypeVar(
    "_BatchRequest", upsert_pb2.UpsertDocumentsRequest, upsert_pb2.BulkUpsertDocumentsRequest
)
_P = ParamSpec("_P")


@dataclass(frozen=True, slots=True)
class _Rpc:
    stub: str
    method: str
    request: Any


_Op: TypeAlias = Generator[_Rpc, Any, _R]


def _rpc(path: str, request: Any) -> _Rpc:
    stub, method = path.split(".")
    return _Rpc("_" + stub, method, request)


def _sync(op: Callable[_P, _Op[_R]]) -> Callable[Concatenate[Client, _P], _R]:
    """A blocking method running ``op`` (its signature and docstring kept)."""

    @functools.wraps(op)
    def method(self: Client, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        steps = op(*args, **kwargs)
        try:
            rpc = next(steps)
            while True:
                stub = getattr(self, rpc.stub)
                try:
                    response = self._call(getattr(stub, rpc.method), rpc.request)
                except VectorgateError as exc:
                    rpc = steps.throw(exc)  # the operation may handle it (e.g. exist_ok)
                else:
                    rpc = steps.send(response)
        except StopIteration as done:
            return cast(_R, done.value)

    return method


def _async(op: Callable[_P, _Op[_R]]) -> Callable[Concatenate[AsyncClient, _P], Awaitable[_R]]:
    """A coroutine method running ``op`` (its signature and docstring kept)."""

    @functools.wraps(op)
    async def method(self: AsyncClient, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        steps = op(*args, **kwargs)
        try:
            rpc = next(steps)
            while True:
                stub = getattr(self, rpc.stub)
                try:
                    response = await self._call(getattr(stub, rpc.method), rpc.request)
                except VectorgateError as exc:
                    rpc = steps.throw(exc)  # the operation may handle it (e.g. exist_ok)
                else:
                    rpc = steps.send(response)
        except StopIteration as done:
            return cast(_R, done.value)

    return method


def _op_create_collection(
    name: str,
    *,
    store: str | None = None,
    dimension: int = 0,
    metric: str = "cosine",
    text_field: str = "text",
    embedding_model: str = "",
    index_type: str = "",
    index_params: Mapping[str, Any] | None = None,
    exist_ok: bool = False,
) -> _Op[CollectionInfo]:
    """Creates a collection and returns it with every default filled in.

    Args:
        name: 1-128 letters, digits, ``_`` and ``-``, starting with a letter or ``_``.
        store: the configured store; ``None`` for the default store.
        dimension: vector dimension; 0 means the embedding model's dimension.
        metric: ``"cosine"``, ``"l2"`` or ``"ip"`` (inner product).
        text_field: name of the field holding the document text.
        embedding_model: model that embeds texts; ``""`` for the server's
            default, ``"none"`` for a vectors-only collection.
        index_type: ``"FLAT"``, ``"IVF_FLAT"``, ``"HNSW"``, ...; ``""`` for the
            store's default.
        index_params: backend-specific build parameters, e.g. ``{"M": 16}``.
        exist_ok: when the collection exists with the metric (and dimension and
            embedding model, when given) asked for, return it instead of raising, so
            a script that creates its collection can run again.

    Raises:
        AlreadyExistsError: the store has a collection of that name (with
            ``exist_ok``: one with another metric, dimension or embedding model).
    """
    request = _create_collection_request(
        name, store, dimension, metric, text_field, embedding_model, index_type, index_params
    )
    try:
        response: collection_pb2.CreateCollectionResponse = yield _rpc(
            "collections.CreateCollection", request
        )
    except AlreadyExistsError:
        if not exist_ok:
            raise
        got: collection_pb2.GetCollectionResponse = yield _rpc(
            "collections.GetCollection",
            collection_pb2.GetCollectionRequest(name=name, store=store or ""),
        )
        existing = collection_from_proto(got.collection)
        _check_existing(existing, request)
        return existing
    return collection_from_proto(response.collection)


def _op_get_collection(name: str, *, store: str | None = None) -> _Op[CollectionInfo]:
    """Describes a collection, with its current document count.

    Raises:
        NotFoundError: no such collection (or store).
    """
    request = collection_pb2.GetCollectionRequest(name=name, store=store or "")
    response: collection_pb2.GetCollectionResponse = yield _rpc(
        "collections.GetCollection", request
    )
    return collection_from_proto(response.collection)


def _op_list_collections(
    *, store: str | None = None, page_size: int = 0
) -> _Op[list[CollectionInfo]]:
    """Returns every collection of a store, in name order.

    All pages are fetched, ``page_size`` (0: the server's default) per
    call. Each has its current ``document_count``.
    """
    result: list[CollectionInfo] = []
    token = ""
    while True:
        request = collection_pb2.ListCollectionsRequest(
            store=store or "", page_size=page_size, page_token=token
        )
        response: collection_pb2.ListCollectionsResponse = yield _rpc(
            "collections.ListCollections", request
        )
        result.extend(collection_from_proto(c) for c in response.collections)
        token = response.next_page_token
        if not token:
            return result


def _op_delete_collection(name: str, *, store: str | None = None) -> _Op[None]:
    """Drops a collection and all its documents.

    Raises:
        NotFoundError: no such collection (or store).
    """
    request = collection_pb2.DeleteCollectionRequest(name=name, store=store or "")
    (yield _rpc("collections.DeleteCollection", request))


def _columnar(
    documents: Any,
    ids: Any,
    vectors: Any,
    texts: Any,
    metadata: Mapping[str, Any] | None,
) -> _columns.Columns | None:
    """The columns of a columnar call, or None for documents given one by one."""
    if vectors is not None:
        if documents is not None:
            raise TypeError("give documents or ids/vectors/texts/metadata columns, not both")
        if ids is None:
            raise TypeError("ids is required with vectors")
        return _columns.from_arrays(ids, vectors, texts, metadata)
    if ids is not None or texts is not None or metadata is not None:
        raise TypeError(
            "ids/texts/metadata columns need vectors (an (n, dimension) array); "
            "to have the server embed texts, pass documents"
        )
    if _columns.is_arrow(documents):
        return _columns.from_arrow(documents)
    if documents is None:
        raise TypeError("give documents, a pyarrow table, or ids and vectors")
    return None


def _column_requests(
    columns: _columns.Columns, new_request: Callable[[], _BatchRequest], batch_size: int
) -> Iterator[_BatchRequest]:
    for start, stop in columns.chunks(batch_size):
        request = new_request()
        columns.fill(request.columns, start, stop)
        yield request


def _op_upsert(
    collection: str,
    documents: Iterable[DocumentLike] | Any = None,
    *,
    ids: Sequence[str] | Any = None,
    vectors: Any = None,
    texts: Sequence[str] | Any = None,
    metadata: Mapping[str, Any] | None = None,
    store: str | None = None,
    batch_size: int = 500,
) -> _Op[int]:
    """Inserts or replaces documents by id; returns how many were written.

    Each document is a :class:`Document` or a dict ``{"id": str, "text": str,
    "vector": list[float] | numpy array, "metadata": dict}`` where only
    ``id`` is required; a document without a vector has its text embedded
    by the server. Vectors are sent packed as little-endian float32.

    Columnar input is sent as columns (one packed block of vectors per
    request, no message per document), the fast way to load vectors:

    * ``ids=[...], vectors=<(n, d) numpy array>``, optionally ``texts=[...]``
      and ``metadata={"key": [one value per row, None where absent]}``;
    * or ``documents`` a pyarrow ``Table`` / ``RecordBatch`` with columns
      ``id``, ``vector`` (list of floats), optionally ``text``, and metadata
      as a ``metadata`` struct column and/or one column per key.

    Columnar documents carry their vectors (texts are stored, not embedded).
    The documents are sent ``batch_size`` per call, one call after another;
    each batch is atomic and idempotent, the whole is not: if a call fails,
    the batches before it stay written. Nothing is sent for no documents.
    """
    columns = _columnar(documents, ids, vectors, texts, metadata)
    requests: Iterator[upsert_pb2.UpsertDocumentsRequest]
    if columns is not None:
        requests = _column_requests(
            columns,
            lambda: upsert_pb2.UpsertDocumentsRequest(collection=collection, store=store or ""),
            batch_size,
        )
    else:
        requests = iter_batches(documents, _upsert_builder(collection, store, batch_size))
    total = 0
    for request in requests:
        response: upsert_pb2.UpsertDocumentsResponse = yield _rpc("upsert.UpsertDocuments", request)
        total += response.upserted_count
    return total


def _bulk_requests(
    collection: str,
    store: str | None,
    batch_size: int,
    documents: Any,
    ids: Any,
    vectors: Any,
    texts: Any,
    metadata: Mapping[str, Any] | None,
) -> Iterator[upsert_pb2.BulkUpsertDocumentsRequest] | None:
    """The stream's messages for columnar input; None for documents one by one."""
    columns = _columnar(documents, ids, vectors, texts, metadata)
    if columns is None:
        return None
    return _column_requests(
        columns,
        lambda: upsert_pb2.BulkUpsertDocumentsRequest(collection=collection, store=store or ""),
        batch_size,
    )


def _op_get(
    collection: str,
    ids: Iterable[str],
    *,
    store: str | None = None,
    include_vectors: bool = False,
) -> _Op[list[Document]]:
    """Returns the documents with the given ids, in that order; missing ids are omitted.

    ``vector`` is filled in only with ``include_vectors=True``.
    """
    id_list = _str_list(ids)
    if not id_list:
        return []
    request = upsert_pb2.GetDocumentsRequest(
        collection=collection, store=store or "", ids=id_list, include_vectors=include_vectors
    )
    response: upsert_pb2.GetDocumentsResponse = yield _rpc("upsert.GetDocuments", request)
    return [document_from_proto(doc) for doc in response.documents]


def _op_list_documents(
    collection: str,
    *,
    store: str | None = None,
    page_size: int = 0,
    page_token: str = "",
    include_vectors: bool = False,
) -> _Op[tuple[list[Document], str]]:
    """One page of a collection's documents in the store's scan order.

    Returns ``(documents, next_page_token)``; pass the token back for the next
    page, an empty one means the last page. Through a virtual index only the
    documents inside its policy filter are listed. ``page_size`` 0 means 100.
    """
    request = upsert_pb2.ListDocumentsRequest(
        collection=collection,
        store=store or "",
        page_size=page_size,
        page_token=page_token,
        include_vectors=include_vectors,
    )
    response: upsert_pb2.ListDocumentsResponse = yield _rpc("upsert.ListDocuments", request)
    return [document_from_proto(doc) for doc in response.documents], response.next_page_token


def _op_delete(
    collection: str,
    *,
    ids: Iterable[str] | None = None,
    filter: FilterLike | None = None,
    store: str | None = None,
) -> _Op[None]:
    """Deletes the documents with the given ids and/or matching the filter.

    At least one of ``ids`` and ``filter`` is required; with both, documents
    matching either are deleted. Ids that do not exist are ignored.
    """
    (yield _rpc("upsert.DeleteDocuments", _delete_request(collection, ids, filter, store)))


def _op_search(collection: str = "", **options: Unpack[SearchOptions]) -> _Op[SearchResults]:
    """Returns the best hits for a query, best first, with the failures of a fused search.

    ``collection`` is a collection or virtual index name; leave it empty with
    ``targets`` (several collections fused) or with ``rag_group``. The options
    are those of :class:`SearchOptions`: ``text`` or ``vector``, ``top_k``,
    ``filter``, ``output_fields``, ``native_params``, ``score_threshold``,
    ``store``, ``targets``, ``rag_group``, ``mode``, ``fusion``, ``rrf_k``,
    ``candidates``, ``dense_weight``, ``keyword_weight``, ``rerank``,
    ``rerank_model``, ``rerank_top_n``, ``rerank_candidates``, ``mmr_lambda``.

    The result is a list of :class:`Hit` (each with its ``sources`` in a fused
    search) whose ``failures`` lists the targets that did not answer.
    """
    request = _search_request(collection, options)
    response: search_pb2.SearchResponse = yield _rpc("search.Search", request)
    return search_results_from_proto(response)


def _op_explain(collection: str, **options: Unpack[SearchOptions]) -> _Op[Explanation]:
    """Returns what :meth:`search` with these arguments would send to the backend.

    The search is not run: the result carries the backend name, the compiled
    native filter and the native search parameters.
    """
    request = _search_request(collection, options, explain=True)
    response: search_pb2.SearchResponse = yield _rpc("search.Search", request)
    return explanation_from_proto(response.explanation)


def _op_retrieve(
    collection: str = "", *, max_tokens: int = 0, **options: Unpack[SearchOptions]
) -> _Op[RetrieveResult]:
    """Context for a prompt: the search's best passages packed into ``max_tokens``
    (0: 1024), as ``[n] text`` blocks with citations. Takes the options of
    :meth:`search` (query ``text``; ``targets``, ``rag_group``, ``rerank``, ...).
    """
    request = _retrieve_request(collection, max_tokens, options)
    response: search_pb2.RetrieveResponse = yield _rpc("search.Retrieve", request)
    return retrieve_from_proto(response)


def _op_create_index(
    index_name: str,
    *,
    collection: str,
    store: str,
    policy_filter: FilterLike | None = None,
    description: str = "",
) -> _Op[VirtualIndex]:
    """Creates a virtual index: a name for ``collection`` of ``store``.

    ``policy_filter`` is ANDed into every read and write through the index;
    callers of the index cannot override it.

    Raises:
        AlreadyExistsError: the name is taken.
    """
    request = _create_index_request(index_name, collection, store, policy_filter, description)
    response: index_pb2.CreateIndexResponse = yield _rpc("indexes.CreateIndex", request)
    return index_from_proto(response.index)


def _op_get_index(index_name: str) -> _Op[VirtualIndex]:
    """Describes a virtual index.

    Raises:
        NotFoundError: no such index.
    """
    request = index_pb2.GetIndexRequest(index_name=index_name)
    response: index_pb2.GetIndexResponse = yield _rpc("indexes.GetIndex", request)
    return index_from_proto(response.index)


def _op_list_stores() -> _Op[list[dict[str, Any]]]:
    """The configured stores in name order: ``name``, ``backend``, ``is_default``,
    ``keyword_search`` (master key only)."""
    response = yield _rpc("collections.ListStores", collection_pb2.ListStoresRequest())
    return [_key_dict(store) for store in response.stores]


def _op_list_indexes(*, page_size: int = 0) -> _Op[list[VirtualIndex]]:
    """Returns every virtual index in name order, fetching all pages."""
    result: list[VirtualIndex] = []
    token = ""
    while True:
        request = index_pb2.ListIndexesRequest(page_size=page_size, page_token=token)
        response: index_pb2.ListIndexesResponse = yield _rpc("indexes.ListIndexes", request)
        result.extend(index_from_proto(index) for index in response.indexes)
        token = response.next_page_token
        if not token:
            return result


def _op_delete_index(index_name: str) -> _Op[None]:
    """Deletes a virtual index; the real collection is left untouched.

    Raises:
        NotFoundError: no such index.
    """
    (yield _rpc("indexes.DeleteIndex", index_pb2.DeleteIndexRequest(index_name=index_name)))


def _op_generate_key(
    *,
    indexes: Mapping[str, Sequence[str]] | None = None,
    models: Sequence[str] = (),
    alias: str = "",
    duration: str = "",
    metadata: Mapping[str, Any] | None = None,
    key: str = "",
) -> _Op[dict[str, Any]]:
    """Creates a virtual key (needs the master key or a key with at least these rights).

    ``indexes`` maps virtual index names to permissions (``["read", "write"]``).
    ``key`` chooses the key's value instead of a random one (master key only;
    ``sk-`` and 16 to 256 printable ASCII characters), e.g. to keep a key
    migrated from LiteLLM; an existing one raises ``AlreadyExistsError``.
    Returns ``{"key": "sk-...", "info": {...}}``; the key is shown only this once.
    """
    request = _key_request(indexes, models, alias, duration, metadata, key)
    return _key_dict((yield _rpc("keys.GenerateKey", request)))


def _op_key_info(key: str = "") -> _Op[dict[str, Any]]:
    """Describes a key (empty: the caller's own key). The secret is never returned."""
    response = yield _rpc("keys.GetKey", key_pb2.GetKeyRequest(key=key))
    return _key_dict(response.info)


def _op_list_keys() -> _Op[list[dict[str, Any]]]:
    """The keys the caller manages (all of them for the master key)."""
    response = yield _rpc("keys.ListKeys", key_pb2.ListKeysRequest())
    return [_key_dict(info) for info in response.keys]


def _op_update_key(
    key: str,
    *,
    indexes: Mapping[str, Sequence[str]] | None = None,
    models: Sequence[str] | None = None,
    alias: str = "",
    duration: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> _Op[dict[str, Any]]:
    """Changes a key (by key or token): ``indexes`` replaces its grants when given,
    ``models`` are added, ``alias`` / ``duration`` / ``metadata`` are set when given.
    Returns the key's info."""
    request = _update_key_request(key, indexes, models, alias, duration, metadata)
    return _key_dict((yield _rpc("keys.UpdateKey", request)).info)


def _op_delete_keys(keys: Sequence[str]) -> _Op[list[str]]:
    """Deletes keys (by key or by the token that identifies them); returns those deleted."""
    response = yield _rpc("keys.DeleteKey", key_pb2.DeleteKeyRequest(keys=list(keys)))
    return list(response.deleted_keys)


class Client:
    """A blocking vectorgate client over one gRPC channel.

    Args:
        target: ``host:port`` of the gateway.
        api_key: sent as ``authorization: Bearer <key>`` on every call.
        timeout: deadline of each call in seconds (for ``bulk_upsert``, of the
            whole stream); ``None`` for no deadline.
        credentials: TLS credentials (``grpc.ssl_channel_credentials()``); a
            plaintext channel when ``None``.
        max_message_bytes: largest message sent or received.

    Use as a context manager, or call :meth:`close`. Thread-safe.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        api_key: str | None = None,
        timeout: float | None = 30.0,
        credentials: grpc.ChannelCredentials | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        options = _channel_options(max_message_bytes)
        if credentials is None:
            self._channel = grpc.insecure_channel(target, options)
        else:
            self._channel = grpc.secure_channel(target, credentials, options)
        self._metadata = _auth_metadata(api_key)
        self._timeout = timeout
        self._collections, self._upsert, self._search, self._indexes = _stubs(self._channel)
        self._keys: Any = key_grpc.KeyServiceStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err

    # collections

    create_collection = _sync(_op_create_collection)
    get_collection = _sync(_op_get_collection)
    list_collections = _sync(_op_list_collections)
    list_stores = _sync(_op_list_stores)
    delete_collection = _sync(_op_delete_collection)

    # documents

    upsert = _sync(_op_upsert)

    def bulk_upsert(
        self,
        collection: str,
        documents: Iterable[DocumentLike] | Any = None,
        *,
        ids: Sequence[str] | Any = None,
        vectors: Any = None,
        texts: Sequence[str] | Any = None,
        metadata: Mapping[str, Any] | None = None,
        store: str | None = None,
        batch_size: int = 500,
    ) -> int:
        """Streams documents to the server in one client-streaming call; returns the count.

        For large loads: ``documents`` may be any iterable (a generator reading
        a file, say) and is consumed lazily, ``batch_size`` documents per
        message. Documents are as for :meth:`upsert`. If a document cannot be
        converted, the call is cancelled rather than completed, and the
        ``ValueError``/``TypeError`` is raised; batches the server has already
        written may stay written (upserts are idempotent, so loading again is
        safe). The client's ``timeout`` bounds the whole stream. Nothing is
        sent for no documents. Columnar input (numpy arrays or a pyarrow
        table, as for :meth:`upsert`) travels as columns, ``batch_size`` rows
        per message.
        """
        columnar = _bulk_requests(
            collection, store, batch_size, documents, ids, vectors, texts, metadata
        )
        requests = (
            columnar
            if columnar is not None
            else iter_batches(documents, _bulk_builder(collection, store, batch_size))
        )
        head = list(islice(requests, 1))  # converted here, so early mistakes raise here
        if not head:
            return 0
        failures: list[Exception] = []
        started = threading.Event()
        calls: list[grpc.Future[upsert_pb2.BulkUpsertDocumentsResponse]] = []

        def stream() -> Iterator[upsert_pb2.BulkUpsertDocumentsRequest]:
            # Runs on a gRPC thread. A conversion error cancels the call: ending
            # the stream instead would tell the server the load is complete.
            try:
                yield from chain(head, requests)
            except Exception as exc:
                failures.append(exc)
                started.wait()
                if calls:
                    calls[0].cancel()

        try:
            future = self._upsert.BulkUpsertDocuments.future(
                stream(), timeout=self._timeout, metadata=self._metadata
            )
            calls.append(future)
        finally:
            started.set()
        try:
            response: upsert_pb2.BulkUpsertDocumentsResponse = future.result()
        except grpc.RpcError as err:
            if failures:
                raise failures[0] from None
            raise from_rpc_error(err) from err
        except grpc.FutureCancelledError:
            if failures:
                raise failures[0] from None
            raise
        except BaseException:
            future.cancel()
            raise
        return response.upserted_count

    get = _sync(_op_get)
    list_documents = _sync(_op_list_documents)
    delete = _sync(_op_delete)

    # search

    search = _sync(_op_search)
    explain = _sync(_op_explain)
    retrieve = _sync(_op_retrieve)

    # virtual indexes

    create_index = _sync(_op_create_index)
    get_index = _sync(_op_get_index)
    list_indexes = _sync(_op_list_indexes)
    delete_index = _sync(_op_delete_index)
    generate_key = _sync(_op_generate_key)
    key_info = _sync(_op_key_info)
    list_keys = _sync(_op_list_keys)
    update_key = _sync(_op_update_key)
    delete_keys = _sync(_op_delete_keys)


# -- the asyncio client --------------------------------------------------------------------


class AsyncClient:
    """An asyncio vectorgate client over one ``grpc.aio`` channel.

    Same arguments and methods as :class:`Client`, as coroutines; create it
    inside a running event loop and use ``async with`` or ``await close()``.
    ``bulk_upsert`` also takes an async iterable.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        api_key: str | None = None,
        timeout: float | None = 30.0,
        credentials: grpc.ChannelCredentials | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        options = _channel_options(max_message_bytes)
        if credentials is None:
            self._channel = grpc.aio.insecure_channel(target, options)
        else:
            self._channel = grpc.aio.secure_channel(target, credentials, options)
        self._metadata = _auth_metadata(api_key)
        self._timeout = timeout
        self._collections, self._upsert, self._search, self._indexes = _stubs(self._channel)
        self._keys: Any = key_grpc.KeyServiceStub(self._channel)  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        await self._channel.close(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _call(self, method: Any, request: Any) -> Any:
        try:
            return await method(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from err

    # collections

    create_collection = _async(_op_create_collection)
    get_collection = _async(_op_get_collection)
    list_collections = _async(_op_list_collections)
    list_stores = _async(_op_list_stores)
    delete_collection = _async(_op_delete_collection)

    # documents

    upsert = _async(_op_upsert)

    async def bulk_upsert(
        self,
        collection: str,
        documents: Iterable[DocumentLike] | AsyncIterable[DocumentLike] | Any = None,
        *,
        ids: Sequence[str] | Any = None,
        vectors: Any = None,
        texts: Sequence[str] | Any = None,
        metadata: Mapping[str, Any] | None = None,
        store: str | None = None,
        batch_size: int = 500,
    ) -> int:
        """Streams documents in one call; see :meth:`Client.bulk_upsert`.

        ``documents`` may also be an async iterable. When the server ends the
        call early while a batch is in flight, grpc.aio can, rarely, report
        ``INTERNAL: Internal error from Core`` instead of the server's status
        (grpc/grpc#36066); the blocking client is not affected.
        """
        columnar = _bulk_requests(
            collection, store, batch_size, documents, ids, vectors, texts, metadata
        )
        requests = (
            _aiter(columnar)
            if columnar is not None
            else aiter_batches(documents, _bulk_builder(collection, store, batch_size))
        )
        first = await anext(requests, None)
        if first is None:
            return 0
        call = self._upsert.BulkUpsertDocuments(timeout=self._timeout, metadata=self._metadata)
        try:
            await _write_all(call, first, requests)
            response: upsert_pb2.BulkUpsertDocumentsResponse = await call
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from err
        except BaseException:
            # A conversion error (or a cancellation) cancels the call: ending the
            # stream instead would tell the server the load is complete.
            call.cancel()
            raise
        return response.upserted_count

    get = _async(_op_get)
    list_documents = _async(_op_list_documents)
    delete = _async(_op_delete)

    # search

    search = _async(_op_search)
    explain = _async(_op_explain)
    retrieve = _async(_op_retrieve)

    # virtual indexes

    create_index = _async(_op_create_index)
    get_index = _async(_op_get_index)
    list_indexes = _async(_op_list_indexes)
    delete_index = _async(_op_delete_index)
    generate_key = _async(_op_generate_key)
    key_info = _async(_op_key_info)
    list_keys = _async(_op_list_keys)
    update_key = _async(_op_update_key)
    delete_keys = _async(_op_delete_keys)


async def _aiter(
    requests: Iterator[upsert_pb2.BulkUpsertDocumentsRequest],
) -> AsyncIterator[upsert_pb2.BulkUpsertDocumentsRequest]:
    for request in requests:
        yield request


async def _write_all(
    call: Any,
    first: upsert_pb2.BulkUpsertDocumentsRequest,
    rest: AsyncIterator[upsert_pb2.BulkUpsertDocumentsRequest],
) -> None:
    """Writes every request then half-closes; stops early if the call has ended.

    When the server ends the call early (rejecting the first batch, say), a
    write fails with ``InvalidStateError``, or with a placeholder
    ``INTERNAL: Internal error from Core`` status if it raced the server's
    status (grpc/grpc#36066). Either way the caller then awaits the call, whose
    outcome carries the server's own status once it has been received.
    """
    try:
        await call.write(first)
        async for request in rest:
            await call.write(request)
    except (asyncio.InvalidStateError, grpc.aio.AioRpcError):
        return
    await call.done_writing()
