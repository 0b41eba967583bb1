"""The application layer: stores, embedders and virtual indexes wired together.

Both transports (the gRPC servicers and the HTTP shim) call this and nothing
else. It works on domain types; validation that needs a collection (its
dimension, its pinned model) and the server's limits happens here.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from vectorgate._values import MAX_EXACT_DOUBLE_INT

from . import policy, retry
from .adapters.base import Adapter, unsupported_ops
from .adapters.base import upsert as adapter_upsert
from .adapters.base import upsert_columns as adapter_upsert_columns
from .adapters.params import not_a_search_parameter
from .domain import (
    NAME_RE,
    RANGE_OPS,
    CollectionInfo,
    CollectionSpec,
    Document,
    DocumentBatch,
    Explanation,
    Filter,
    FloatArray,
    Hit,
    IndexSpec,
    Metadata,
    Metric,
    SearchQuery,
    and_filters,
)
from .embeddings import EmbeddingRegistry, UnknownModelError
from .errors import (
    DimensionMismatch,
    EmbeddingFailed,
    FailedPrecondition,
    InvalidArgument,
    InvalidFilter,
    InvalidVector,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    Unsupported,
)
from .filters.common import conditions
from .storage import Database, IndexRegistry, VirtualIndex
from .store_health import StoreHealth

if TYPE_CHECKING:
    from .retrieval import Retrieval

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Scans per ListDocuments page at most (a policy filter may hide whole scans).
LIST_SCAN_ROUNDS = 8

#: ``embedding_model`` value of a collection that is given vectors only.
NO_EMBEDDING = "none"
#: Longest document id accepted, in UTF-8 bytes.
MAX_ID_BYTES = 512


@dataclass(frozen=True, slots=True)
class Limits:
    """Request limits enforced before any backend call."""

    max_top_k: int = 1000
    max_batch_documents: int = 1000
    max_text_bytes: int = 1 << 20
    #: Metadata of one document: keys and values (see :func:`_metadata_bytes`).
    max_metadata_bytes: int = 64 * 1024
    max_dimension: int = 8192
    max_page_size: int = 1000
    default_page_size: int = 100


@dataclass(frozen=True, slots=True)
class StoreDefaults:
    """What a store's configuration sets for the requests that leave it unset."""

    #: Metric of new collections whose request names none (``metric``).
    metric: Metric | None = None
    #: Native search parameters merged under each query's own (``native_defaults``),
    #: for backends whose adapter does not apply them itself.
    native_params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved (store, collection), possibly through a virtual index."""

    adapter: Adapter
    collection: str
    #: Policy filter of the virtual index, ANDed into every read.
    policy: Filter | None = None
    #: The name the caller used, when it was a virtual index.
    virtual_name: str | None = None

    @property
    def store(self) -> str:
        return self.adapter.store


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing."""

    items: list[Any]
    next_page_token: str = ""


@dataclass(slots=True)
class _CachedCollection:
    info: CollectionInfo
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def validate_name(name: str, field: str, what: str = "collection") -> None:
    """Collection / index names: ``NAME_RE``."""
    if not name:
        raise InvalidArgument(
            f"{field}: {what} name is required", field=field, reason="MISSING_FIELD"
        )
    if not NAME_RE.fullmatch(name):
        raise InvalidArgument(
            f"{field}: invalid {what} name {name!r}: use 1-128 letters, digits, '_' or '-', "
            "starting with a letter or '_'",
            field=field,
        )


_NO_DEFAULTS = StoreDefaults()


def check_dimension(
    info: CollectionInfo, vector: FloatArray | int, field: str, collection: str
) -> None:
    """``DimensionMismatch`` naming ``field`` unless ``vector`` (a vector, or a model's
    dimension) has the dimension of the collection ``info`` describes."""
    actual = vector if isinstance(vector, int) else int(vector.shape[0])
    if actual != info.dimension:
        raise DimensionMismatch(
            field=field, expected=info.dimension, actual=actual, collection=collection
        )


def refuses_zero_vectors(info: CollectionInfo, adapter: Adapter, *, write: bool) -> bool:
    """Whether the backend refuses an all-zero vector here (``zero_vector_refused``)."""
    caps = adapter.capabilities
    return info.metric in caps.zero_vector_refused and (
        write or caps.zero_vector_refused_in_queries
    )


def check_vector(
    info: CollectionInfo,
    vector: FloatArray,
    field: str,
    collection: str,
    adapter: Adapter,
    *,
    write: bool = False,
) -> None:
    """:func:`check_dimension`, and ``InvalidVector`` for an all-zero vector where the
    backend refuses one (:func:`refuses_zero_vectors`)."""
    check_dimension(info, vector, field, collection)
    if refuses_zero_vectors(info, adapter, write=write) and not np.any(vector):
        raise InvalidVector(
            f"{field}: backend {adapter.backend!r} refuses the zero vector in a "
            f"{info.metric.name} collection",
            field=field,
        )


class Gateway:
    """Everything a request handler needs."""

    def __init__(
        self,
        *,
        stores: dict[str, Adapter],
        default_store: str,
        embeddings: EmbeddingRegistry,
        indexes: IndexRegistry,
        limits: Limits | None = None,
        database: Database | None = None,
        retrieval: Retrieval | None = None,
        store_embedding_models: Mapping[str, str] | None = None,
        store_defaults: Mapping[str, StoreDefaults] | None = None,
    ) -> None:
        if default_store not in stores:
            raise ValueError(f"default store {default_store!r} is not configured")
        self.stores = stores
        self.default_store = default_store
        self.embeddings = embeddings
        self.indexes = indexes
        self.limits = limits or Limits()
        self.database = database
        #: Embedding model a store's config names, used for collections that pin none
        #: (collections vectorgate did not create, e.g. LiteLLM's Milvus collections).
        self.store_embedding_models = dict(store_embedding_models or {})
        #: Per-store defaults from the configuration (metric, native search parameters).
        self.store_defaults = dict(store_defaults or {})
        #: Fused search settings (RAG groups, rerankers); None means built-in defaults.
        self.retrieval = retrieval
        #: Which stores answer; a store that does not is reported, not fatal.
        self.store_health = StoreHealth(stores)
        self._collections: dict[tuple[str, str], _CachedCollection] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open and probe every store (see :mod:`.store_health`), load the virtual indexes."""
        await self.store_health.open_all()
        await self.indexes.load()
        if self.database is not None:
            self.database.versions.start()  # hear other replicas' changes (PostgreSQL)

    async def close(self) -> None:
        """Close every store."""
        await self.store_health.close()
        for adapter in self.stores.values():
            try:
                await adapter.close()
            except Exception:
                log.exception("closing store %s failed", adapter.store)
        if self.retrieval is not None:
            try:
                embedders = [self.embeddings.get(name) for name in self.embeddings.names()]
                await self.retrieval.aclose(embedders)
            except Exception:
                log.exception("closing the retrieval connections failed")
        if self.database is not None:
            self.database.close()

    # ------------------------------------------------------------------ resolution

    def adapter(self, store: str, field: str = "store") -> Adapter:
        """The adapter of a configured store; empty means the default store."""
        name = store or self.default_store
        adapter = self.stores.get(name)
        if adapter is None:
            raise NotFound(
                f"{field}: store {name!r} is not configured (configured: "
                f"{', '.join(sorted(self.stores))})",
                field=field,
                reason="STORE_NOT_FOUND",
            )
        return adapter

    def resolve(
        self, store: str, collection: str, *, field: str = "collection", store_field: str = "store"
    ) -> Target:
        """Where a request goes. With no store, a virtual index name wins over the default store."""
        validate_name(collection, field)
        if not store:
            index = self.indexes.lookup(collection)
            if index is not None:
                return Target(
                    self.adapter(index.store, store_field),
                    index.collection,
                    policy=index.policy_filter,
                    virtual_name=index.index_name,
                )
        return Target(self.adapter(store, store_field), collection)

    async def collection(self, target: Target) -> CollectionInfo:
        """The collection's description (dimension, metric, model), cached."""
        key = (target.store, target.collection)
        cached = self._collections.get(key)
        if cached is not None:
            return cached.info
        info = await target.adapter.describe_collection(target.collection)
        if not info.embedding_model and target.store in self.store_embedding_models:
            info = replace(info, embedding_model=self.store_embedding_models[target.store])
        self._collections[key] = _CachedCollection(replace(info, document_count=None))
        return info

    def forget(self, target: Target) -> None:
        """Drop the cached description (after a drop, or a NotFound from the backend)."""
        self._collections.pop((target.store, target.collection), None)

    async def _call(self, target: Target, coro: Any) -> Any:
        try:
            return await coro
        except NotFound:
            self.forget(target)
            raise

    async def _read(self, target: Target, call: Callable[[], Awaitable[_T]]) -> _T:
        """A backend *read*, retried by the gateway's one retry policy (:mod:`.retry`).

        Reads only: a write that failed with UNAVAILABLE may still have been
        applied, so writes are never retried here. Retries stop before the
        caller's deadline (the last UNAVAILABLE is reported as is).
        """
        return await retry.call(lambda: self._call(target, call()))

    # ------------------------------------------------------------------ collections

    async def create_collection(
        self,
        *,
        store: str,
        name: str,
        dimension: int,
        metric: Metric | None,
        text_field: str,
        embedding_model: str,
        index: IndexSpec,
    ) -> tuple[Target, CollectionInfo]:
        """Create a collection, filling defaults and pinning its embedding model."""
        target = self.resolve(store, name, field="collection.name", store_field="collection.store")
        if dimension < 0 or dimension > self.limits.max_dimension:
            raise InvalidArgument(
                f"collection.dimension: must be between 1 and {self.limits.max_dimension}",
                field="collection.dimension",
            )
        if embedding_model == NO_EMBEDDING:
            if dimension == 0:
                raise InvalidArgument(
                    "collection.dimension: required when embedding_model is 'none'",
                    field="collection.dimension",
                    reason="MISSING_FIELD",
                )
            model = NO_EMBEDDING
        else:
            try:
                embedder = self.embeddings.get(embedding_model or None)
                model = self.embeddings.canonical_name(embedding_model or None)
            except UnknownModelError as exc:
                raise InvalidArgument(
                    f"collection.embedding_model: {exc}", field="collection.embedding_model"
                ) from exc
            if dimension == 0:
                dimension = embedder.dimension
            elif dimension != embedder.dimension:
                raise InvalidArgument(
                    f"collection.dimension: {dimension} does not match embedding model "
                    f"{model!r}, which produces {embedder.dimension}-dimensional vectors "
                    "(set embedding_model to 'none' for a vectors-only collection)",
                    field="collection.dimension",
                    metadata={"expected": str(embedder.dimension), "actual": str(dimension)},
                )
        resolved_metric = metric or self._defaults(target).metric or Metric.COSINE
        if resolved_metric not in target.adapter.capabilities.metrics:
            raise Unsupported(
                backend=target.adapter.backend, operation=f"metric {resolved_metric.name}"
            )
        if text_field and not NAME_RE.fullmatch(text_field):
            raise InvalidArgument(
                f"collection.text_field: invalid field name {text_field!r}",
                field="collection.text_field",
            )
        spec = CollectionSpec(
            name=target.collection,
            dimension=dimension,
            metric=resolved_metric,
            text_field=text_field or "text",
            embedding_model=model,
            index=index,
        )
        info = await target.adapter.create_collection(spec)
        self.forget(target)
        return target, info

    async def describe_collection(self, store: str, name: str) -> tuple[Target, CollectionInfo]:
        """Describe with the current document count."""
        target = self.resolve(store, name, field="name")
        info = await self._read(
            target, lambda: target.adapter.describe_collection(target.collection)
        )
        assert isinstance(info, CollectionInfo)
        if target.policy is not None:
            count = await self._read(
                target, lambda: target.adapter.count(target.collection, target.policy)
            )
            info = replace(info, document_count=count)
        return target, info

    async def list_collections(
        self, store: str, page_size: int, page_token: str
    ) -> tuple[Adapter, Page]:
        """Collection names of a store, a page at a time (AIP-158)."""
        adapter = self.adapter(store)
        size = self._page_size(page_size)
        after = self._decode_token(page_token, scope=f"collections:{adapter.store}")
        names = [n for n in await adapter.list_collections() if n > after]
        page = names[:size]
        token = ""
        if len(names) > size:
            token = self._encode_token(page[-1], scope=f"collections:{adapter.store}")
        limit = asyncio.Semaphore(_LIST_COUNT_CONCURRENCY)

        async def described(name: str) -> CollectionInfo | None:
            target = Target(adapter, name)
            async with limit:
                try:
                    info = await self.collection(target)
                    count = await self._read(target, lambda: adapter.count(name))
                except NotFound:
                    self.forget(target)
                    return None  # dropped between the listing and the description
            return replace(info, document_count=count)

        found = await asyncio.gather(*(described(name) for name in page))
        return adapter, Page([info for info in found if info is not None], token)

    async def drop_collection(self, store: str, name: str) -> None:
        """Drop a collection."""
        target = self.resolve(store, name, field="name")
        self.forget(target)
        await target.adapter.drop_collection(target.collection)

    # ------------------------------------------------------------------ documents

    def check_batch(self, count: int, field: str = "documents") -> None:
        """Batch size limit, checked before decoding a request's documents."""
        if count == 0:
            raise InvalidArgument(
                f"{field}: at least one is required", field=field, reason="MISSING_FIELD"
            )
        if count > self.limits.max_batch_documents:
            raise LimitExceeded(
                f"{field}: {count} exceeds the limit of {self.limits.max_batch_documents} "
                "per request (use BulkUpsertDocuments or smaller batches)",
                field=field,
            )

    def _defaults(self, target: Target) -> StoreDefaults:
        return self.store_defaults.get(target.store) or _NO_DEFAULTS

    def check_id(self, doc_id: str, field: str) -> None:
        """Document ids: non-empty, at most ``MAX_ID_BYTES`` UTF-8 bytes."""
        if not doc_id:
            raise InvalidArgument(
                f"{field}: document id is required", field=field, reason="MISSING_FIELD"
            )
        if len(doc_id.encode()) > MAX_ID_BYTES:
            raise InvalidArgument(f"{field}: longer than {MAX_ID_BYTES} bytes", field=field)

    async def upsert(
        self, target: Target, documents: Sequence[Document], *, field: str = "documents"
    ) -> int:
        """Embed documents given as text, check dimensions, and write them."""
        info = await self._call(target, self.collection(target))
        if target.policy is not None:
            await self._check_policy_write(target, documents, field)
        seen: dict[str, int] = {}
        to_embed: list[int] = []
        doubles_only = target.adapter.capabilities.metadata_numbers == "double"
        no_nul = not target.adapter.capabilities.nul_in_strings
        for i, doc in enumerate(documents):
            self.check_id(doc.id, f"{field}[{i}].id")
            if doc.id in seen:
                raise InvalidArgument(
                    f"{field}[{i}].id: duplicate id {doc.id!r} (also at {field}[{seen[doc.id]}])",
                    field=f"{field}[{i}].id",
                )
            seen[doc.id] = i
            if doubles_only:
                _check_double_metadata(doc.metadata, f"{field}[{i}].metadata", target)
            if no_nul:
                _check_no_nul(doc, f"{field}[{i}]", target)
            if doc.metadata:
                self._check_metadata_size(
                    sum(_metadata_bytes(k, v) for k, v in doc.metadata.items()),
                    f"{field}[{i}].metadata",
                )
            if len(doc.text.encode()) > self.limits.max_text_bytes:
                raise LimitExceeded(
                    f"{field}[{i}].text: longer than {self.limits.max_text_bytes} bytes",
                    field=f"{field}[{i}].text",
                )
            if doc.vector is None:
                if not doc.text:
                    raise InvalidArgument(
                        f"{field}[{i}]: a document needs text or a vector",
                        field=f"{field}[{i}].text",
                        reason="MISSING_FIELD",
                    )
                to_embed.append(i)
            else:
                check_vector(
                    info,
                    doc.vector,
                    f"{field}[{i}].vector",
                    target.virtual_name or target.collection,
                    target.adapter,
                    write=True,
                )
        if to_embed:
            vectors = await self.embed(
                info, [documents[i].text for i in to_embed], field=f"{field}[{to_embed[0]}].text"
            )
            for row, i in enumerate(to_embed):
                documents[i].vector = vectors[row]
        await self._call(target, adapter_upsert(target.adapter, target.collection, documents))
        return len(documents)

    async def upsert_columns(
        self, target: Target, batch: DocumentBatch, *, field: str = "columns"
    ) -> int:
        """Validate a columnar batch once (ids, dimension, limits) and write it as columns.

        The structure (lengths, vector block, finite floats, value types) was
        checked when decoding (:func:`~vectorgate_server.convert.columns_from_pb`).
        A columnar batch carries its vectors, so nothing is embedded.
        """
        info = await self._call(target, self.collection(target))
        seen: dict[str, int] = {}
        for i, doc_id in enumerate(batch.ids):
            path = f"{field}.ids[{i}]"
            self.check_id(doc_id, path)
            first = seen.setdefault(doc_id, i)
            if first != i:
                raise InvalidArgument(
                    f"{path}: duplicate id {doc_id!r} (also at {field}.ids[{first}])", field=path
                )
        if batch.dimension != info.dimension:
            raise DimensionMismatch(
                field=f"{field}.dimension",
                expected=info.dimension,
                actual=batch.dimension,
                collection=target.virtual_name or target.collection,
            )
        if refuses_zero_vectors(info, target.adapter, write=True) and len(batch):
            zero = np.flatnonzero(~batch.vectors.any(axis=1))
            if len(zero):
                row = int(zero[0])
                raise InvalidVector(
                    f"{field}.vectors: row {row} (id {batch.ids[row]!r}) is a zero vector; "
                    f"backend {target.adapter.backend!r} refuses it in a {info.metric.name} "
                    "collection",
                    field=f"{field}.vectors",
                )
        if batch.texts is not None:
            limit = self.limits.max_text_bytes
            for i, text in enumerate(batch.texts):
                if len(text) * 4 > limit and len(text.encode()) > limit:
                    raise LimitExceeded(
                        f"{field}.texts[{i}]: longer than {limit} bytes",
                        field=f"{field}.texts[{i}]",
                    )
        if batch.metadata:
            sizes = np.zeros(len(batch), dtype=np.int64)
            doubles_only = target.adapter.capabilities.metadata_numbers == "double"
            for c, (key, column) in enumerate(batch.metadata.items()):
                sizes += np.fromiter(
                    (0 if v is None else _metadata_bytes(key, v) for v in column),
                    dtype=np.int64,
                    count=len(column),
                )
                if doubles_only:
                    for i, value in enumerate(column):
                        if _inexact_in_double(value):
                            raise _rounded_in_double(
                                value, f"{field}.metadata[{c}].values[{i}]", target
                            )
            if len(sizes) and int(sizes.max()) > self.limits.max_metadata_bytes:
                row = int(np.argmax(sizes))
                self._check_metadata_size(
                    int(sizes[row]), f"{field}.metadata", f" (row {row}, id {batch.ids[row]!r})"
                )
        if not target.adapter.capabilities.nul_in_strings:
            _check_no_nul_columns(batch, field, target)
        if target.policy is not None:
            await self._check_policy_write(target, batch.documents(), field)
        await self._call(target, adapter_upsert_columns(target.adapter, target.collection, batch))
        return len(batch)

    def _check_metadata_size(self, size: int, field: str, where: str = "") -> None:
        """``limits.max_metadata_bytes`` per document (sizes by :func:`_metadata_bytes`)."""
        if size > self.limits.max_metadata_bytes:
            raise LimitExceeded(
                f"{field}{where}: {size} bytes of metadata exceeds the limit of "
                f"{self.limits.max_metadata_bytes} per document (limits.max_metadata_bytes)",
                field=field,
            )

    async def embed(self, info: CollectionInfo, texts: list[str], *, field: str) -> FloatArray:
        """Embed with the collection's pinned model."""
        if info.embedding_model == NO_EMBEDDING:
            raise FailedPrecondition(
                f"{field}: collection {info.name!r} is vectors-only (embedding_model 'none'); "
                "send vectors",
                field=field,
            )
        try:
            embedder = self.embeddings.get(info.embedding_model or None)
        except UnknownModelError as exc:
            raise EmbeddingFailed(
                f"{field}: collection {info.name!r} is pinned to embedding model "
                f"{info.embedding_model!r}, which this server does not serve ({exc})",
                field=field,
            ) from exc
        check_dimension(info, embedder.dimension, field, info.name)
        vectors = await embedder.embed(texts)
        return np.asarray(vectors, dtype=np.float32)

    async def get(
        self, target: Target, ids: Sequence[str], include_vectors: bool
    ) -> list[Document]:
        """Documents by id, in request order."""
        for i, doc_id in enumerate(ids):
            self.check_id(doc_id, f"ids[{i}]")
        docs: list[Document] = await self._read(
            target, lambda: target.adapter.get(target.collection, ids, include_vectors)
        )
        if target.policy is not None:
            docs = policy.visible(target.policy, docs)
        return docs

    async def list_documents(
        self, target: Target, page_size: int, page_token: str, include_vectors: bool
    ) -> Page:
        """A page of documents in the adapter's scan order; through a virtual index,
        only those inside its policy.

        The token is the last id scanned (not the last returned), so a policy that
        hides a long run of documents costs at most :data:`LIST_SCAN_ROUNDS` scans
        per page and yields a short page rather than an unbounded one.
        """
        size = self._page_size(page_size)
        scope = f"documents:{target.store}/{target.collection}"
        after: str | None = self._decode_token(page_token, scope=scope) or None
        found: list[Document] = []
        for _ in range(LIST_SCAN_ROUNDS):
            batch: list[Document] = await self._read(
                target,
                functools.partial(
                    target.adapter.scan,
                    target.collection,
                    after=after,
                    limit=size - len(found),
                    include_vectors=include_vectors,
                ),
            )
            if not batch:
                return Page(found, "")
            after = batch[-1].id
            found.extend(batch if target.policy is None else policy.visible(target.policy, batch))
            if len(found) >= size:
                break
        return Page(found, self._encode_token(after or "", scope=scope))

    async def _check_policy_write(
        self, target: Target, documents: Sequence[Document], field: str
    ) -> None:
        """Through a policy index, new documents and the ones they replace must be inside it."""
        assert target.policy is not None
        name = target.virtual_name or target.collection
        policy.check_documents(target.policy, documents, name, field)
        ids = [doc.id for doc in documents if doc.id]
        existing: list[Document] = await self._call(
            target, target.adapter.get(target.collection, ids, False)
        )
        outside = [
            doc.id for doc in existing if not policy.matches(target.policy, doc.id, doc.metadata)
        ]
        if outside:
            raise PermissionDenied(
                f"{field}: id {outside[0]!r} belongs to a document outside the policy of "
                f"index {name!r}",
                field=field,
            )

    async def delete(self, target: Target, ids: Sequence[str], filter: Filter | None) -> None:
        """Delete by ids and/or filter. Through a virtual index, only inside its policy."""
        if not ids and filter is None:
            raise InvalidArgument(
                "ids: give ids, a filter, or both", field="ids", reason="MISSING_FIELD"
            )
        for i, doc_id in enumerate(ids):
            self.check_id(doc_id, f"ids[{i}]")
        if filter is not None and not target.adapter.capabilities.delete_by_filter:
            raise Unsupported(backend=target.adapter.backend, operation="delete by filter")
        if filter is not None:
            self.check_filter(target, filter)
        if target.policy is not None:
            # Restrict both parts to the policy: delete (ids OR filter) AND policy.
            if ids:
                from .domain import Condition, Op, Or

                by_ids: Filter = Condition("id", Op.IN, tuple(ids))
                scope = by_ids if filter is None else Or((by_ids, filter))
            else:
                assert filter is not None
                scope = filter
            await self._call(
                target,
                target.adapter.delete(target.collection, None, and_filters(scope, target.policy)),
            )
            return
        await self._call(target, target.adapter.delete(target.collection, ids or None, filter))

    # ------------------------------------------------------------------ search

    def check_top_k(self, top_k: int) -> None:
        """``top_k`` between 1 and the server's maximum."""
        if top_k < 1 or top_k > self.limits.max_top_k:
            raise InvalidArgument(
                f"top_k: must be between 1 and {self.limits.max_top_k} (got {top_k})",
                field="top_k",
            )

    def check_filter(self, target: Target, filter: Filter) -> None:
        """Operators the backend cannot express are UNIMPLEMENTED, before any call."""
        missing = unsupported_ops(filter, target.adapter.capabilities)
        if missing:
            raise Unsupported(
                backend=target.adapter.backend,
                operation=f"filter operator {missing[0]}",
                detail="rewrite the filter without it or use another store",
            )
        caps = target.adapter.capabilities
        if caps.metadata_numbers == "double" or not caps.exact_int_ranges:
            for condition in conditions(filter):
                value = condition.value
                values = value if isinstance(value, tuple) else (value,)
                for item in values:
                    if caps.metadata_numbers == "double" and _inexact_in_double(item):
                        raise InvalidFilter(
                            f"filter: the value {item} for field {condition.field!r} is beyond "
                            f"2^53; backend {target.adapter.backend!r} stores numbers as 64-bit "
                            "floats and cannot compare it exactly",
                            field="filter",
                        )
                    if (
                        not caps.exact_int_ranges
                        and condition.op in RANGE_OPS
                        and isinstance(item, int | float)
                        and not isinstance(item, bool)
                        and abs(item) >= MAX_EXACT_DOUBLE_INT
                    ):
                        raise InvalidFilter(
                            f"filter: the {condition.op.name} bound {item} for field "
                            f"{condition.field!r} is 2^53 or more in magnitude; backend "
                            f"{target.adapter.backend!r} compares ranges as 64-bit floats, "
                            "which cannot tell such integers apart (EQ and IN are exact)",
                            field="filter",
                        )

    async def query_vector(
        self, target: Target, text: str | None, vector: FloatArray | None
    ) -> tuple[CollectionInfo, FloatArray]:
        """The query vector: embedded text with the pinned model, or a checked vector."""
        info: CollectionInfo = await self._call(target, self.collection(target))
        if vector is not None:
            collection = target.virtual_name or target.collection
            check_vector(info, vector, "vector", collection, target.adapter)
            return info, vector
        if not text:
            raise InvalidArgument(
                "text: give query text or a query vector", field="text", reason="MISSING_FIELD"
            )
        if len(text.encode()) > self.limits.max_text_bytes:
            raise LimitExceeded(
                f"text: longer than {self.limits.max_text_bytes} bytes", field="text"
            )
        return info, (await self.embed(info, [text], field="text"))[0]

    async def search(
        self,
        target: Target,
        query: SearchQuery,
        *,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        """Search one collection."""
        query = self._scoped(target, query)
        hits: list[Hit] = await self._read(
            target, lambda: target.adapter.search(target.collection, query)
        )
        name = target.virtual_name or target.collection
        out = []
        for hit in hits:
            if score_threshold is not None and hit.score < score_threshold:
                continue
            hit.store = target.store
            hit.collection = name
            out.append(hit)
        return out

    async def explain(self, target: Target, query: SearchQuery) -> Explanation:
        """What the backend would run."""
        query = self._scoped(target, query)
        result: Explanation = await self._call(
            target, target.adapter.explain(target.collection, query)
        )
        return result

    def _scoped(self, target: Target, query: SearchQuery) -> SearchQuery:
        self.check_top_k(query.top_k)
        if query.filter is not None:
            self.check_filter(target, query.filter)
        defaults = self._defaults(target).native_params
        if defaults:
            query = replace(query, native_params={**defaults, **query.native_params})
        allowed = target.adapter.capabilities.native_params
        for key in query.native_params:
            if key not in allowed:
                where = f"native_params.{key}"
                message = not_a_search_parameter(where, target.adapter.backend, allowed)
                raise InvalidArgument(message, field=where)
        if target.policy is not None:
            query = replace(query, filter=and_filters(query.filter, target.policy))
        return query

    # ------------------------------------------------------------------ virtual indexes

    async def create_index(self, index: VirtualIndex) -> VirtualIndex:
        """Create a virtual index onto a configured store's collection."""
        validate_name(index.index_name, "index_name", "index")
        self.adapter(index.store, "litellm_params.vector_store_name")
        validate_name(index.collection, "litellm_params.vector_store_index")
        return await self.indexes.create(index)

    def list_indexes(self, page_size: int, page_token: str) -> Page:
        """Virtual indexes, a page at a time."""
        size = self._page_size(page_size)
        after = self._decode_token(page_token, scope="indexes")
        items = [i for i in self.indexes.list() if i.index_name > after]
        page = items[:size]
        token = (
            self._encode_token(page[-1].index_name, scope="indexes") if len(items) > size else ""
        )
        return Page(page, token)

    # ------------------------------------------------------------------ pagination

    def _page_size(self, page_size: int) -> int:
        if page_size < 0 or page_size > self.limits.max_page_size:
            raise InvalidArgument(
                f"page_size: must be between 0 and {self.limits.max_page_size}", field="page_size"
            )
        return page_size or self.limits.default_page_size

    @staticmethod
    def _encode_token(after: str, *, scope: str) -> str:
        raw = json.dumps({"a": after, "s": scope}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_token(token: str, *, scope: str) -> str:
        if not token:
            return ""
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            after, token_scope = data["a"], data["s"]
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise InvalidArgument(
                "page_token: not a token this server issued", field="page_token"
            ) from exc
        if token_scope != scope or not isinstance(after, str):
            raise InvalidArgument(
                "page_token: issued for a different listing (store or request changed)",
                field="page_token",
            )
        return after


#: Collections of one ListCollections page described and counted at once.
_LIST_COUNT_CONCURRENCY = 8


def _inexact_in_double(value: object) -> bool:
    """An int that a 64-bit float does not hold exactly (beyond 2**53)."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not -MAX_EXACT_DOUBLE_INT <= value <= MAX_EXACT_DOUBLE_INT
    )


def _metadata_bytes(key: str, value: object) -> int:
    """The size a metadata entry counts against ``limits.max_metadata_bytes``:
    key and string bytes as UTF-8, 8 per number, 1 per bool."""
    size = len(key)
    if isinstance(value, str):
        return size + len(value.encode())
    if isinstance(value, list):
        return size + sum(len(s.encode()) for s in value)
    return size + (1 if isinstance(value, bool) else 8)


def _check_double_metadata(metadata: Metadata, field: str, target: Target) -> None:
    """Refuses integers a doubles-only backend would round (validated once, here)."""
    for key, value in metadata.items():
        if _inexact_in_double(value):
            raise _rounded_in_double(value, f"{field}.{key}", target)


def _rounded_in_double(value: object, path: str, target: Target) -> InvalidArgument:
    return InvalidArgument(
        f"{path}: {value} is beyond 2^53; backend {target.adapter.backend!r} (store "
        f"{target.store!r}) stores numbers as 64-bit floats and would round it. "
        "Store it as a string, or use a store with exact integers",
        field=path,
    )


def _check_no_nul(doc: Document, field: str, target: Target) -> None:
    """Refuses U+0000 in the strings of a document for backends that cannot store it."""
    strings: list[tuple[str, str]] = [(f"{field}.id", doc.id), (f"{field}.text", doc.text)]
    for key, value in doc.metadata.items():
        strings.extend(_metadata_strings(f"{field}.metadata.{key}", value))
    _refuse_nul(strings, target)


def _check_no_nul_columns(batch: DocumentBatch, field: str, target: Target) -> None:
    """The same for a columnar batch."""
    strings = [(f"{field}.ids[{i}]", v) for i, v in enumerate(batch.ids)]
    if batch.texts is not None:
        strings.extend((f"{field}.texts[{i}]", t) for i, t in enumerate(batch.texts))
    for c, column in enumerate(batch.metadata.values()):
        for i, value in enumerate(column):
            strings.extend(_metadata_strings(f"{field}.metadata[{c}].values[{i}]", value))
    _refuse_nul(strings, target)


def _metadata_strings(path: str, value: object) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, list):
        return [(f"{path}[{j}]", item) for j, item in enumerate(value) if isinstance(item, str)]
    return []


def _refuse_nul(strings: list[tuple[str, str]], target: Target) -> None:
    for path, text in strings:
        if "\x00" in text:
            raise InvalidArgument(
                f"{path}: backend {target.adapter.backend!r} (store {target.store!r}) cannot "
                "store the NUL character (U+0000)",
                field=path,
            )
