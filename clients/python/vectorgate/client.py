"""The vectorgate clients: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio).

Both have the same methods and return plain dataclasses; every failed call
raises a :class:`vectorgate.errors.VectorgateError` subclass::

    from vectorgate import Client, F

    with Client("127.0.0.1:50051", api_key="vg-...") as client:
        client.create_collection("films", dimension=384)
        client.upsert("films", [{"id": "1", "text": "Alien", "metadata": {"year": 1979}}])
        hits = client.search("films", text="space horror", filter=F("year") < 1990)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping, Sequence
from itertools import chain, islice
from types import TracebackType
from typing import Any, Self, TypeAlias

import grpc
import grpc.aio

from vectorgate._convert import (
    BatchBuilder,
    DocumentLike,
    VectorLike,
    aiter_batches,
    collection_from_proto,
    dict_to_struct,
    document_from_proto,
    explanation_from_proto,
    hit_from_proto,
    index_from_proto,
    iter_batches,
    metric_to_proto,
    pack_vector,
)
from vectorgate._filters import FilterLike, to_filter_proto
from vectorgate._types import CollectionInfo, Document, Explanation, Hit, VirtualIndex
from vectorgate.errors import AlreadyExistsError, from_rpc_error
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

__all__ = ["AsyncClient", "Client"]

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


def _search_request(
    collection: str,
    text: str | None,
    vector: VectorLike | None,
    top_k: int,
    filter: FilterLike | None,
    output_fields: Sequence[str] | None,
    native_params: Mapping[str, Any] | None,
    score_threshold: float,
    store: str | None,
    explain: bool,
) -> search_pb2.SearchRequest:
    if (text is None) == (vector is None):
        raise ValueError("give exactly one of text= or vector=")
    request = search_pb2.SearchRequest(
        collection=collection,
        store=store or "",
        top_k=top_k,
        score_threshold=score_threshold,
        explain=explain,
    )
    if text is not None:
        request.text = text
    elif vector is not None:
        pack_vector(vector, request.vector)
    if filter is not None:
        request.filter.CopyFrom(to_filter_proto(filter))
    if output_fields is not None:
        request.output_fields.extend(_str_list(output_fields, "output_fields"))
    if native_params:
        request.native_params.CopyFrom(dict_to_struct(native_params, "native_params"))
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
) -> key_pb2.GenerateKeyRequest:
    request = key_pb2.GenerateKeyRequest(models=list(models), key_alias=alias, duration=duration)
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


# -- the blocking client -------------------------------------------------------------------


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

    def create_collection(
        self,
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
    ) -> CollectionInfo:
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
            exist_ok: when the collection exists with the metric (and dimension, when
                given) asked for, return it instead of raising, so a script that
                creates its collection can run again.

        Raises:
            AlreadyExistsError: the store has a collection of that name (with
                ``exist_ok``: one with another metric or dimension).
        """
        request = _create_collection_request(
            name, store, dimension, metric, text_field, embedding_model, index_type, index_params
        )
        try:
            response: collection_pb2.CreateCollectionResponse = self._call(
                self._collections.CreateCollection, request
            )
        except AlreadyExistsError:
            if not exist_ok:
                raise
            existing = self.get_collection(name, store=store)
            _check_existing(existing, request)
            return existing
        return collection_from_proto(response.collection)

    def get_collection(self, name: str, *, store: str | None = None) -> CollectionInfo:
        """Describes a collection, with its current document count.

        Raises:
            NotFoundError: no such collection (or store).
        """
        request = collection_pb2.GetCollectionRequest(name=name, store=store or "")
        response: collection_pb2.GetCollectionResponse = self._call(
            self._collections.GetCollection, request
        )
        return collection_from_proto(response.collection)

    def list_collections(
        self, *, store: str | None = None, page_size: int = 0
    ) -> list[CollectionInfo]:
        """Returns every collection of a store, in name order.

        All pages are fetched, ``page_size`` (0: the server's default) per
        call. ``document_count`` is not filled in.
        """
        result: list[CollectionInfo] = []
        token = ""
        while True:
            request = collection_pb2.ListCollectionsRequest(
                store=store or "", page_size=page_size, page_token=token
            )
            response: collection_pb2.ListCollectionsResponse = self._call(
                self._collections.ListCollections, request
            )
            result.extend(collection_from_proto(c) for c in response.collections)
            token = response.next_page_token
            if not token:
                return result

    def delete_collection(self, name: str, *, store: str | None = None) -> None:
        """Drops a collection and all its documents.

        Raises:
            NotFoundError: no such collection (or store).
        """
        request = collection_pb2.DeleteCollectionRequest(name=name, store=store or "")
        self._call(self._collections.DeleteCollection, request)

    # documents

    def upsert(
        self,
        collection: str,
        documents: Iterable[DocumentLike],
        *,
        store: str | None = None,
        batch_size: int = 500,
    ) -> int:
        """Inserts or replaces documents by id; returns how many were written.

        Each document is a :class:`Document` or a dict ``{"id": str, "text": str,
        "vector": list[float] | numpy array, "metadata": dict}`` where only
        ``id`` is required; a document without a vector has its text embedded
        by the server. Vectors are sent packed as little-endian float32.

        The documents are sent ``batch_size`` per call, one call after another;
        each batch is atomic and idempotent, the whole is not: if a call fails,
        the batches before it stay written. Nothing is sent for no documents.
        """
        total = 0
        for request in iter_batches(documents, _upsert_builder(collection, store, batch_size)):
            response: upsert_pb2.UpsertDocumentsResponse = self._call(
                self._upsert.UpsertDocuments, request
            )
            total += response.upserted_count
        return total

    def bulk_upsert(
        self,
        collection: str,
        documents: Iterable[DocumentLike],
        *,
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
        sent for no documents.
        """
        requests = iter_batches(documents, _bulk_builder(collection, store, batch_size))
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

    def get(
        self,
        collection: str,
        ids: Iterable[str],
        *,
        store: str | None = None,
        include_vectors: bool = False,
    ) -> list[Document]:
        """Returns the documents with the given ids, in that order; missing ids are omitted.

        ``vector`` is filled in only with ``include_vectors=True``.
        """
        id_list = _str_list(ids)
        if not id_list:
            return []
        request = upsert_pb2.GetDocumentsRequest(
            collection=collection, store=store or "", ids=id_list, include_vectors=include_vectors
        )
        response: upsert_pb2.GetDocumentsResponse = self._call(self._upsert.GetDocuments, request)
        return [document_from_proto(doc) for doc in response.documents]

    def delete(
        self,
        collection: str,
        *,
        ids: Iterable[str] | None = None,
        filter: FilterLike | None = None,
        store: str | None = None,
    ) -> None:
        """Deletes the documents with the given ids and/or matching the filter.

        At least one of ``ids`` and ``filter`` is required; with both, documents
        matching either are deleted. Ids that do not exist are ignored.
        """
        self._call(self._upsert.DeleteDocuments, _delete_request(collection, ids, filter, store))

    # search

    def search(
        self,
        collection: str,
        *,
        text: str | None = None,
        vector: VectorLike | None = None,
        top_k: int = 10,
        filter: FilterLike | None = None,
        output_fields: Sequence[str] | None = None,
        native_params: Mapping[str, Any] | None = None,
        score_threshold: float = 0.0,
        store: str | None = None,
    ) -> list[Hit]:
        """Returns the ``top_k`` documents nearest the query, best first.

        Args:
            collection: the collection, or the name of a virtual index.
            text: query text, embedded with the collection's model.
            vector: query vector (a list of floats or a numpy array). Give
                exactly one of ``text`` and ``vector``.
            top_k: number of hits, 1 up to the server's maximum.
            filter: only documents matching it are considered: ``F("year") >= 2000``
                or the dict form (see :class:`vectorgate.F`).
            output_fields: what to return of each hit: ``"text"``, ``"vector"``,
                ``"metadata"`` or ``"metadata.KEY"``; ``None`` for text and all metadata.
            native_params: backend search parameters, e.g. ``{"ef": 128}``.
            score_threshold: hits with a lower normalised score are dropped.
            store: the store; ``None`` for the default (or the virtual index's).
        """
        request = _search_request(
            collection,
            text,
            vector,
            top_k,
            filter,
            output_fields,
            native_params,
            score_threshold,
            store,
            explain=False,
        )
        response: search_pb2.SearchResponse = self._call(self._search.Search, request)
        return [hit_from_proto(hit) for hit in response.hits]

    def explain(
        self,
        collection: str,
        *,
        text: str | None = None,
        vector: VectorLike | None = None,
        top_k: int = 10,
        filter: FilterLike | None = None,
        output_fields: Sequence[str] | None = None,
        native_params: Mapping[str, Any] | None = None,
        score_threshold: float = 0.0,
        store: str | None = None,
    ) -> Explanation:
        """Returns what :meth:`search` with these arguments would send to the backend.

        The search is not run: the result carries the backend name, the compiled
        native filter and the native search parameters.
        """
        request = _search_request(
            collection,
            text,
            vector,
            top_k,
            filter,
            output_fields,
            native_params,
            score_threshold,
            store,
            explain=True,
        )
        response: search_pb2.SearchResponse = self._call(self._search.Search, request)
        return explanation_from_proto(response.explanation)

    # virtual indexes

    def create_index(
        self,
        index_name: str,
        *,
        collection: str,
        store: str,
        policy_filter: FilterLike | None = None,
        description: str = "",
    ) -> VirtualIndex:
        """Creates a virtual index: a name for ``collection`` of ``store``.

        ``policy_filter`` is ANDed into every read and write through the index;
        callers of the index cannot override it.

        Raises:
            AlreadyExistsError: the name is taken.
        """
        request = _create_index_request(index_name, collection, store, policy_filter, description)
        response: index_pb2.CreateIndexResponse = self._call(self._indexes.CreateIndex, request)
        return index_from_proto(response.index)

    def get_index(self, index_name: str) -> VirtualIndex:
        """Describes a virtual index.

        Raises:
            NotFoundError: no such index.
        """
        request = index_pb2.GetIndexRequest(index_name=index_name)
        response: index_pb2.GetIndexResponse = self._call(self._indexes.GetIndex, request)
        return index_from_proto(response.index)

    def list_indexes(self, *, page_size: int = 0) -> list[VirtualIndex]:
        """Returns every virtual index in name order, fetching all pages."""
        result: list[VirtualIndex] = []
        token = ""
        while True:
            request = index_pb2.ListIndexesRequest(page_size=page_size, page_token=token)
            response: index_pb2.ListIndexesResponse = self._call(self._indexes.ListIndexes, request)
            result.extend(index_from_proto(index) for index in response.indexes)
            token = response.next_page_token
            if not token:
                return result

    def delete_index(self, index_name: str) -> None:
        """Deletes a virtual index; the real collection is left untouched.

        Raises:
            NotFoundError: no such index.
        """
        self._call(self._indexes.DeleteIndex, index_pb2.DeleteIndexRequest(index_name=index_name))

    def generate_key(
        self,
        *,
        indexes: Mapping[str, Sequence[str]] | None = None,
        models: Sequence[str] = (),
        alias: str = "",
        duration: str = "",
        metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Creates a virtual key (needs the master key or a key with at least these rights).

        ``indexes`` maps virtual index names to permissions (``["read", "write"]``).
        Returns ``{"key": "sk-...", "info": {...}}``; the key is shown only this once.
        """
        request = _key_request(indexes, models, alias, duration, metadata)
        return _key_dict(self._call(self._keys.GenerateKey, request))

    def key_info(self, key: str = "") -> dict[str, Any]:
        """Describes a key (empty: the caller's own key). The secret is never returned."""
        response = self._call(self._keys.GetKey, key_pb2.GetKeyRequest(key=key))
        return _key_dict(response.info)

    def list_keys(self) -> list[dict[str, Any]]:
        """The keys the caller manages (all of them for the master key)."""
        response = self._call(self._keys.ListKeys, key_pb2.ListKeysRequest())
        return [_key_dict(info) for info in response.keys]

    def delete_keys(self, keys: Sequence[str]) -> list[str]:
        """Deletes keys (by key or by the token that identifies them); returns those deleted."""
        response = self._call(self._keys.DeleteKey, key_pb2.DeleteKeyRequest(keys=list(keys)))
        return list(response.deleted_keys)


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

    async def create_collection(
        self,
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
    ) -> CollectionInfo:
        """Creates a collection; see :meth:`Client.create_collection`."""
        request = _create_collection_request(
            name, store, dimension, metric, text_field, embedding_model, index_type, index_params
        )
        try:
            response: collection_pb2.CreateCollectionResponse = await self._call(
                self._collections.CreateCollection, request
            )
        except AlreadyExistsError:
            if not exist_ok:
                raise
            existing = await self.get_collection(name, store=store)
            _check_existing(existing, request)
            return existing
        return collection_from_proto(response.collection)

    async def get_collection(self, name: str, *, store: str | None = None) -> CollectionInfo:
        """Describes a collection; see :meth:`Client.get_collection`."""
        request = collection_pb2.GetCollectionRequest(name=name, store=store or "")
        response: collection_pb2.GetCollectionResponse = await self._call(
            self._collections.GetCollection, request
        )
        return collection_from_proto(response.collection)

    async def list_collections(
        self, *, store: str | None = None, page_size: int = 0
    ) -> list[CollectionInfo]:
        """Returns every collection of a store in name order, fetching all pages."""
        result: list[CollectionInfo] = []
        token = ""
        while True:
            request = collection_pb2.ListCollectionsRequest(
                store=store or "", page_size=page_size, page_token=token
            )
            response: collection_pb2.ListCollectionsResponse = await self._call(
                self._collections.ListCollections, request
            )
            result.extend(collection_from_proto(c) for c in response.collections)
            token = response.next_page_token
            if not token:
                return result

    async def delete_collection(self, name: str, *, store: str | None = None) -> None:
        """Drops a collection; see :meth:`Client.delete_collection`."""
        request = collection_pb2.DeleteCollectionRequest(name=name, store=store or "")
        await self._call(self._collections.DeleteCollection, request)

    # documents

    async def upsert(
        self,
        collection: str,
        documents: Iterable[DocumentLike],
        *,
        store: str | None = None,
        batch_size: int = 500,
    ) -> int:
        """Inserts or replaces documents in batches; see :meth:`Client.upsert`."""
        total = 0
        for request in iter_batches(documents, _upsert_builder(collection, store, batch_size)):
            response: upsert_pb2.UpsertDocumentsResponse = await self._call(
                self._upsert.UpsertDocuments, request
            )
            total += response.upserted_count
        return total

    async def bulk_upsert(
        self,
        collection: str,
        documents: Iterable[DocumentLike] | AsyncIterable[DocumentLike],
        *,
        store: str | None = None,
        batch_size: int = 500,
    ) -> int:
        """Streams documents in one call; see :meth:`Client.bulk_upsert`.

        ``documents`` may also be an async iterable. When the server ends the
        call early while a batch is in flight, grpc.aio can, rarely, report
        ``INTERNAL: Internal error from Core`` instead of the server's status
        (grpc/grpc#36066); the blocking client is not affected.
        """
        requests = aiter_batches(documents, _bulk_builder(collection, store, batch_size))
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

    async def get(
        self,
        collection: str,
        ids: Iterable[str],
        *,
        store: str | None = None,
        include_vectors: bool = False,
    ) -> list[Document]:
        """Returns the documents with the given ids; see :meth:`Client.get`."""
        id_list = _str_list(ids)
        if not id_list:
            return []
        request = upsert_pb2.GetDocumentsRequest(
            collection=collection, store=store or "", ids=id_list, include_vectors=include_vectors
        )
        response: upsert_pb2.GetDocumentsResponse = await self._call(
            self._upsert.GetDocuments, request
        )
        return [document_from_proto(doc) for doc in response.documents]

    async def delete(
        self,
        collection: str,
        *,
        ids: Iterable[str] | None = None,
        filter: FilterLike | None = None,
        store: str | None = None,
    ) -> None:
        """Deletes documents by ids and/or filter; see :meth:`Client.delete`."""
        request = _delete_request(collection, ids, filter, store)
        await self._call(self._upsert.DeleteDocuments, request)

    # search

    async def search(
        self,
        collection: str,
        *,
        text: str | None = None,
        vector: VectorLike | None = None,
        top_k: int = 10,
        filter: FilterLike | None = None,
        output_fields: Sequence[str] | None = None,
        native_params: Mapping[str, Any] | None = None,
        score_threshold: float = 0.0,
        store: str | None = None,
    ) -> list[Hit]:
        """Returns the ``top_k`` nearest documents; see :meth:`Client.search`."""
        request = _search_request(
            collection,
            text,
            vector,
            top_k,
            filter,
            output_fields,
            native_params,
            score_threshold,
            store,
            explain=False,
        )
        response: search_pb2.SearchResponse = await self._call(self._search.Search, request)
        return [hit_from_proto(hit) for hit in response.hits]

    async def explain(
        self,
        collection: str,
        *,
        text: str | None = None,
        vector: VectorLike | None = None,
        top_k: int = 10,
        filter: FilterLike | None = None,
        output_fields: Sequence[str] | None = None,
        native_params: Mapping[str, Any] | None = None,
        score_threshold: float = 0.0,
        store: str | None = None,
    ) -> Explanation:
        """Returns what a search would send to the backend; see :meth:`Client.explain`."""
        request = _search_request(
            collection,
            text,
            vector,
            top_k,
            filter,
            output_fields,
            native_params,
            score_threshold,
            store,
            explain=True,
        )
        response: search_pb2.SearchResponse = await self._call(self._search.Search, request)
        return explanation_from_proto(response.explanation)

    # virtual indexes

    async def create_index(
        self,
        index_name: str,
        *,
        collection: str,
        store: str,
        policy_filter: FilterLike | None = None,
        description: str = "",
    ) -> VirtualIndex:
        """Creates a virtual index; see :meth:`Client.create_index`."""
        request = _create_index_request(index_name, collection, store, policy_filter, description)
        response: index_pb2.CreateIndexResponse = await self._call(
            self._indexes.CreateIndex, request
        )
        return index_from_proto(response.index)

    async def get_index(self, index_name: str) -> VirtualIndex:
        """Describes a virtual index; see :meth:`Client.get_index`."""
        request = index_pb2.GetIndexRequest(index_name=index_name)
        response: index_pb2.GetIndexResponse = await self._call(self._indexes.GetIndex, request)
        return index_from_proto(response.index)

    async def list_indexes(self, *, page_size: int = 0) -> list[VirtualIndex]:
        """Returns every virtual index in name order, fetching all pages."""
        result: list[VirtualIndex] = []
        token = ""
        while True:
            request = index_pb2.ListIndexesRequest(page_size=page_size, page_token=token)
            response: index_pb2.ListIndexesResponse = await self._call(
                self._indexes.ListIndexes, request
            )
            result.extend(index_from_proto(index) for index in response.indexes)
            token = response.next_page_token
            if not token:
                return result

    async def delete_index(self, index_name: str) -> None:
        """Deletes a virtual index; see :meth:`Client.delete_index`."""
        request = index_pb2.DeleteIndexRequest(index_name=index_name)
        await self._call(self._indexes.DeleteIndex, request)

    async def generate_key(
        self,
        *,
        indexes: Mapping[str, Sequence[str]] | None = None,
        models: Sequence[str] = (),
        alias: str = "",
        duration: str = "",
        metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Creates a virtual key; see :meth:`Client.generate_key`."""
        request = _key_request(indexes, models, alias, duration, metadata)
        return _key_dict(await self._call(self._keys.GenerateKey, request))

    async def key_info(self, key: str = "") -> dict[str, Any]:
        """Describes a key; see :meth:`Client.key_info`."""
        response = await self._call(self._keys.GetKey, key_pb2.GetKeyRequest(key=key))
        return _key_dict(response.info)

    async def list_keys(self) -> list[dict[str, Any]]:
        """The keys the caller manages; see :meth:`Client.list_keys`."""
        response = await self._call(self._keys.ListKeys, key_pb2.ListKeysRequest())
        return [_key_dict(info) for info in response.keys]

    async def delete_keys(self, keys: Sequence[str]) -> list[str]:
        """Deletes keys; see :meth:`Client.delete_keys`."""
        request = key_pb2.DeleteKeyRequest(keys=list(keys))
        return list((await self._call(self._keys.DeleteKey, request)).deleted_keys)


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
