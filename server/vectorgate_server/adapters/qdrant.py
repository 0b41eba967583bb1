"""Qdrant adapter (``qdrant_client.AsyncQdrantClient``) for Qdrant servers (``url``).

A ``path:`` store does not come here: it runs Qdrant's own engine in-process
(:mod:`.qdrant_edge`). qdrant-client's local mode (``path=`` / ``":memory:"``
given to this class directly) is kept only as the stand-in server that runs
this adapter's code in the tests, since no Qdrant server can be started there;
it is a pure-Python reimplementation, not Qdrant, and no configuration reaches it.

Storage layout
--------------
* A vectorgate collection is a Qdrant collection with one unnamed dense vector
  of the collection's dimension and distance ``Cosine``, ``Euclid`` or ``Dot``,
  and (store option ``keyword_search``, on by default) a named sparse vector
  ``vg_text_bm25`` with ``Modifier.IDF`` holding the BM25 term weights of the
  document text (:mod:`~vectorgate_server.adapters.sparse_text`). The dense
  vector stays unnamed either way, so collections created without the sparse
  vector (before the option existed, or with it off) keep working unchanged.
* Qdrant point ids are unsigned integers or UUIDs only, so each document id is
  mapped to ``uuid5(POINT_ID_NAMESPACE, id)`` (:func:`~vectorgate_server.filters.qdrant.point_id`).
  The payload keeps the original id, the text and the metadata apart::

      {"id": "<document id>", "<text_field>": "<text>", "metadata": {...},
       "_vectorgate": {"lists": [<list-valued metadata keys>], "norm": <|v|>}}

  Metadata is nested, so no metadata key can collide with a reserved key; the
  bookkeeping object lets the filter compiler tell list-valued fields apart
  (see :mod:`vectorgate_server.filters.qdrant`). Qdrant stores cosine vectors
  unit-normalised; ``norm`` (cosine collections only) restores the vector as
  it was given when vectors are returned.
* The collection spec (dimension, metric, text field, embedding model, index
  spec, create time) is stored in Qdrant's collection ``metadata`` (Qdrant
  1.16+; qdrant-client 1.20 supports it on servers and in local mode, where it
  is saved in the storage's ``meta.json``) under the key ``vectorgate``. A
  collection without it is described from its vector configuration. A server
  that drops the metadata (before 1.16) makes ``create_collection`` fail with
  ``Unsupported`` rather than lose the spec. The spec's ``keyword`` entry names
  the sparse vector and the text encoder (model, version, ``k1``, ``b``,
  ``avg_len``) its documents are written with; only a collection with that
  entry and the sparse vector it names has keyword search.
* Each metadata key keeps the type it was first written with (string, number,
  bool, list of strings); the types are recorded as collection metadata entries
  ``vectorgate:field:<key>`` and a batch with a conflicting value is rejected
  whole with ``InvalidArgument`` naming ``documents[i].metadata.<key>``.

Behaviour
---------
* Every write passes ``wait=True``: it returns once applied, so ``get``,
  ``count`` and ``search`` see it (read-your-writes).
* Filters are compiled to ``models.Filter`` and applied by Qdrant during the
  search (never after it). ``count`` is exact.
* Index types: ``HNSW`` (params ``m``, ``ef_construct``) or ``FLAT``, which
  creates no graph (``m=0``) and searches with ``SearchParams(exact=True)``.
* Native search params: ``hnsw_ef`` (int > 0), ``exact`` and ``indexed_only`` (bools).
* Keyword search (:meth:`QdrantAdapter.keyword_search`): ``query_points`` on
  the sparse vector with the query's distinct terms (weight 1); Qdrant
  multiplies by each term's IDF over the collection, so the score is the BM25
  score (positive, higher is better; ``raw_score`` is the same value). The
  filter is applied by Qdrant during the search. Upserts write the sparse
  vector of each document's text whenever the collection has one, whatever
  the store option says; a collection without it (or a foreign one) answers
  keyword search with ``Unsupported``. With ``keyword_search: false`` the store
  declares no keyword capability (KEYWORD / HYBRID requests naming it are
  ``UNIMPLEMENTED`` up front) and new collections get no sparse vector.
* Connection failures and timeouts (30 s per call unless ``timeout_s``) raise
  ``Unavailable`` naming the store and its URL without credentials.
* Scores: Qdrant returns the canonical value of every supported distance
  (cosine similarity, Euclidean distance, dot product), so ``score`` is
  ``normalise_score(metric, raw_score)``.
* Local mode (``path`` or ``":memory:"``) runs qdrant-client's in-process
  engine, whose "async" API computes synchronously; its calls therefore run on
  one private thread with its own event loop, never on the caller's loop.
  qdrant-client locks a storage directory to one client, so adapters of this
  process on the same directory share one client (reference-counted); another
  process holding it makes ``start`` raise ``Unavailable``. Local mode commits
  every point to SQLite on its own: large batches are slow (about 3 ms a point).
  Local mode always searches exhaustively, so search params are not sent to it
  (the client would warn that they have no effect); ``explain`` still reports them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import math
import os
import threading
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, cast

import grpc
import httpx
import numpy as np
import portalocker
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.common.client_exceptions import QdrantException
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ..config import QdrantConfig
from ..domain import (
    CollectionInfo,
    CollectionSpec,
    Document,
    Explanation,
    Filter,
    FloatArray,
    Hit,
    IndexSpec,
    KeywordQuery,
    Metadata,
    MetadataValue,
    Metric,
    Op,
    OutputFields,
    SearchQuery,
    as_float32,
    normalise_score,
)
from ..errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    Unavailable,
    Unsupported,
    VectorgateError,
)
from ..filters.common import INT64_MAX, INT64_MIN, FieldType
from ..filters.qdrant import (
    ID_PAYLOAD_KEY,
    INTERNAL_PAYLOAD_KEY,
    LISTS_KEY,
    METADATA_PAYLOAD_KEY,
    NORM_KEY,
    RESERVED_PAYLOAD_KEYS,
    compile_filter,
    point_id,
)
from ..retry import backend_error, http_code
from .base import Capabilities, url_without_credentials
from .sparse_text import Bm25Encoder, EncoderSpecError, SparseText
from .spec import StoredSpec, decode_spec, encode_spec, new_field_types

__all__ = [
    "FIELD_METADATA_PREFIX",
    "SPARSE_VECTOR_NAME",
    "SPEC_METADATA_KEY",
    "QdrantAdapter",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

BACKEND = "qdrant"
#: Key of the vectorgate spec in the Qdrant collection metadata.
SPEC_METADATA_KEY = "vectorgate"
#: Collection metadata key prefix recording the type of each metadata key (one entry per
#: key: Qdrant merges metadata updates key by key, so adapters adding keys concurrently
#: do not overwrite each other).
FIELD_METADATA_PREFIX = "vectorgate:field:"
#: Name of the sparse (BM25, IDF) text vector of collections created with keyword search.
SPARSE_VECTOR_NAME = "vg_text_bm25"
#: Key of the keyword-search entry in the stored spec.
_KEYWORD_SPEC_KEY = "keyword"

_DISTANCES: Mapping[Metric, models.Distance] = {
    Metric.COSINE: models.Distance.COSINE,
    Metric.L2: models.Distance.EUCLID,
    Metric.IP: models.Distance.DOT,
}
_METRICS: Mapping[models.Distance, Metric] = {v: k for k, v in _DISTANCES.items()}

_HNSW = "HNSW"
_FLAT = "FLAT"
#: Accepted HNSW build parameters and their minimum values.
_HNSW_PARAMS: Mapping[str, int] = {"m": 0, "ef_construct": 4}
_NATIVE_PARAMS = frozenset({"hnsw_ef", "exact", "indexed_only"})
_MAX_WRITE_BATCH = 512
_MAX_READ_BATCH = 1024
#: Batches larger than this are validated and encoded (BM25 of each text) in a worker
#: thread rather than on the event loop (about 0.3 ms per 150-word text).
_THREAD_DOCUMENTS = 32
_DEFAULT_TIMEOUT_S = 30.0

_NOT_FOUND_GRPC = frozenset({grpc.StatusCode.NOT_FOUND})


@dataclass(frozen=True, slots=True)
class _Keyword:
    """The sparse text vector of a collection with keyword search."""

    vector_name: str
    encoder: Bm25Encoder


@dataclass(frozen=True, slots=True)
class _Layout:
    """What the adapter needs to know about a collection to read and write it."""

    dimension: int
    metric: Metric
    text_field: str
    #: Name of the dense vector; None for the unnamed vector vectorgate creates.
    vector_name: str | None
    index: IndexSpec
    #: Type of every metadata key written so far (from the collection metadata).
    fields: Mapping[str, FieldType]
    #: The sparse text vector; None when the collection has no keyword search.
    keyword: _Keyword | None = None
    #: Why ``keyword`` is None (for the ``Unsupported`` message).
    keyword_missing: str = "it has no sparse text vector"


class _LoopThread:
    """A private event loop on its own thread, for the synchronous local-mode engine."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the private loop."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the private loop and wait for it from the caller's loop."""
        return await asyncio.wrap_future(self.submit(coro))

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()


@dataclass(slots=True)
class _LocalStore:
    """One opened local-mode storage, shared by the adapters of this process that use it."""

    #: The storage's real path (or ``":memory:"``, never shared).
    key: str
    thread: _LoopThread
    opening: concurrent.futures.Future[AsyncQdrantClient]
    refs: int = 1


#: Local storages open in this process, by real path. qdrant-client locks a storage
#: directory to one client, so adapters on the same directory share that client.
_LOCAL_STORES: dict[str, _LocalStore] = {}
_LOCAL_STORES_LOCK = threading.Lock()


def _local_key(path: str) -> str:
    return path if path == ":memory:" else os.path.realpath(path)


async def _open_local(path: str, key: str, store: str) -> tuple[_LocalStore, AsyncQdrantClient]:
    """The shared client of a local storage (opened on first use) and its store entry.

    ``key`` is :func:`_local_key` of ``path``.
    """
    memory = path == ":memory:"

    async def open_client() -> AsyncQdrantClient:
        if memory:
            return AsyncQdrantClient(location=":memory:")
        _check_not_locked(path)
        return AsyncQdrantClient(path=path)

    with _LOCAL_STORES_LOCK:
        entry = None if memory else _LOCAL_STORES.get(key)
        if entry is not None:
            entry.refs += 1
        else:
            thread = _LoopThread(f"qdrant-local-{store}")
            opening = thread.submit(open_client())
            entry = _LocalStore(key=key, thread=thread, opening=opening)
            if not memory:
                _LOCAL_STORES[key] = entry
    try:
        client = await asyncio.wrap_future(entry.opening)
    except BaseException:
        await _release_local(entry)
        raise
    return entry, client


async def _release_local(entry: _LocalStore) -> None:
    """Drop one reference to a local storage; the last one closes it."""
    with _LOCAL_STORES_LOCK:
        entry.refs -= 1
        if entry.refs > 0:
            return
        if _LOCAL_STORES.get(entry.key) is entry:
            del _LOCAL_STORES[entry.key]
    try:
        if entry.opening.done() and entry.opening.exception() is None:
            await entry.thread.run(entry.opening.result().close())
    finally:
        entry.thread.stop()


class QdrantAdapter:
    """One Qdrant server store (``url``); ``path`` (qdrant-client local mode) is for tests."""

    backend = BACKEND
    capabilities = Capabilities(
        metrics=frozenset(Metric),
        filter_ops=frozenset(Op),
        filter_boolean=True,
        delete_by_filter=True,
        index_types=frozenset({_HNSW, _FLAT}),
        max_write_batch=_MAX_WRITE_BATCH,
        native_params=_NATIVE_PARAMS,
        keyword_search=True,
        # Payload ints are stored as i64 and `match` compares them exactly, but a `range`
        # condition's bounds are f64 (models.Range; qdrant/rust-client issue 59).
        exact_int_ranges=False,
    )

    def __init__(
        self,
        store: str,
        *,
        url: str | None = None,
        path: str | None = None,
        api_key: str | None = None,
        prefer_grpc: bool = True,
        timeout_s: float | None = None,
        keyword_search: bool = True,
    ) -> None:
        if (url is None) == (path is None):
            raise ValueError("set exactly one of 'url' (server) or 'path' (local mode)")
        self.store = store
        self._url = url
        self._path = path
        self._local_key = _local_key(path) if path is not None else ""
        self._api_key = api_key
        self._prefer_grpc = prefer_grpc
        self._keyword_search = keyword_search
        if not keyword_search:
            self.capabilities = replace(QdrantAdapter.capabilities, keyword_search=False)
        self._encoder = Bm25Encoder()
        # qdrant-client would default to 5 s per call; collection creation on a cluster and
        # large waited writes can take longer.
        self._timeout = max(1, math.ceil(_DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s))
        self._client: AsyncQdrantClient | None = None
        self._local: _LocalStore | None = None
        self._layouts: dict[str, _Layout] = {}
        #: Serialises the metadata type checks (and schema updates) of upserts per collection.
        self._schema_locks: dict[str, asyncio.Lock] = {}

    @classmethod
    def from_config(cls, config: QdrantConfig) -> QdrantAdapter:
        """The adapter of a configured Qdrant store (not yet started)."""
        return cls(
            config.name,
            url=config.url if not config.path else None,
            path=config.path or None,
            api_key=config.api_key.get_secret_value() if config.api_key is not None else None,
            prefer_grpc=config.prefer_grpc,
            timeout_s=config.timeout_s,
            keyword_search=config.keyword_search,
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def is_local(self) -> bool:
        """Whether this store runs qdrant-client's local mode."""
        return self._path is not None

    @property
    def location(self) -> str:
        """Where the store is, for messages: the URL without credentials, or the local path."""
        if self._path is not None:
            return self._path
        assert self._url is not None
        return url_without_credentials(self._url)

    async def start(self) -> None:
        """Open the local storage, or set up the server connection (connections are lazy)."""
        if self._client is not None:
            return
        if self._path is not None:
            try:
                self._local, self._client = await _open_local(
                    self._path, self._local_key, self.store
                )
            except Exception as exc:
                raise Unavailable(f"{self._where()}: cannot open the local storage: {exc}") from exc
        else:
            self._client = AsyncQdrantClient(
                url=self._url,
                api_key=self._api_key,
                prefer_grpc=self._prefer_grpc,
                timeout=self._timeout,
                # vectorgate checks what it needs (collection metadata) itself, and the
                # client's check would warn from a background thread.
                check_compatibility=False,
            )

    async def close(self) -> None:
        """Close the client (and the local-mode thread). Idempotent."""
        client, self._client = self._client, None
        local, self._local = self._local, None
        self._layouts.clear()
        if local is not None:
            await _release_local(local)
        elif client is not None:
            await client.close()

    # ------------------------------------------------------------------ collections

    async def create_collection(self, spec: CollectionSpec) -> CollectionInfo:
        """Create the collection and store the spec in its metadata."""
        check_text_field(spec)
        index, hnsw = _index_config(spec.index)
        create_time = datetime.now(UTC)
        extra: dict[str, Any] = {}
        sparse: dict[str, models.SparseVectorParams] | None = None
        if self._keyword_search:
            extra[_KEYWORD_SPEC_KEY] = {
                "sparse_vector": SPARSE_VECTOR_NAME,
                **self._encoder.spec(),
            }
            sparse = {SPARSE_VECTOR_NAME: models.SparseVectorParams(modifier=models.Modifier.IDF)}
        client = self._require_client()
        if await self._call(client.collection_exists(spec.name), spec.name):
            raise AlreadyExists(f"collection {spec.name!r} already exists in store {self.store!r}")
        await self._call(
            client.create_collection(
                spec.name,
                vectors_config=models.VectorParams(
                    size=spec.dimension, distance=_DISTANCES[spec.metric]
                ),
                sparse_vectors_config=sparse,
                hnsw_config=hnsw,
                metadata={
                    SPEC_METADATA_KEY: encode_spec(
                        StoredSpec.of(spec, index=index, create_time=create_time, extra=extra)
                    )
                },
            ),
            spec.name,
            creating=True,
        )
        self._layouts.pop(spec.name, None)
        described = await self._call(client.get_collection(spec.name), spec.name)
        metadata = described.config.metadata or {}
        if not isinstance(metadata.get(SPEC_METADATA_KEY), dict):
            # Servers before 1.16 drop collection metadata: the spec would be lost.
            await self._call(client.delete_collection(spec.name), spec.name)
            raise Unsupported(
                backend=BACKEND,
                operation="collection metadata",
                detail=f"{self._where()} did not keep the collection metadata that stores "
                "the collection spec (Qdrant 1.16 or newer is required)",
            )
        info, layout = _describe(spec.name, described)
        self._layouts[spec.name] = layout
        return _with_count(info, 0)

    async def describe_collection(self, name: str) -> CollectionInfo:
        """The stored spec (or the vector configuration) and an exact document count."""
        client = self._require_client()
        described = await self._call(client.get_collection(name), name)
        info, layout = _describe(name, described)
        self._layouts[name] = layout
        count = await self._call(client.count(name, exact=True), name)
        return _with_count(info, count.count)

    async def list_collections(self) -> list[str]:
        client = self._require_client()
        response = await self._call(client.get_collections(), None)
        return sorted(c.name for c in response.collections)

    async def drop_collection(self, name: str) -> None:
        client = self._require_client()
        self._layouts.pop(name, None)
        if not await self._call(client.collection_exists(name), name):
            raise self._not_found(name)
        if not await self._call(client.delete_collection(name), name):
            raise self._not_found(name)

    # ------------------------------------------------------------------ documents

    async def count(self, name: str, filter: Filter | None = None) -> int:
        client = self._require_client()
        native = compile_filter(filter) if filter is not None else None
        result = await self._call(client.count(name, count_filter=native, exact=True), name)
        return int(result.count)

    async def upsert(self, name: str, documents: Sequence[Document]) -> None:
        """Insert or replace by id; returns once Qdrant has applied the write (``wait=True``).

        The whole batch is validated first (nothing of a rejected batch is written).
        Each metadata key keeps the type it was first written with; the types live
        in the collection metadata (``vectorgate:field:<key>``).
        """
        client = self._require_client()
        lock = self._schema_locks.setdefault(name, asyncio.Lock())
        async with lock:
            layout = await self._layout(name)
            points: list[PointParts] | None = None
            new_fields: dict[str, FieldType] = {}
            with contextlib.suppress(InvalidArgument):
                points, new_fields = await point_parts_off_loop(documents, layout, name)
            if points is None or new_fields:
                # Another adapter may have typed these keys since the layout was cached.
                cached = layout
                layout = await self._layout(name, refresh=True)
                if points is None or layout.fields != cached.fields:
                    points, new_fields = await point_parts_off_loop(documents, layout, name)
            if new_fields:
                await self._call(
                    client.update_collection(
                        name,
                        metadata={
                            FIELD_METADATA_PREFIX + key: kind.value
                            for key, kind in new_fields.items()
                        },
                    ),
                    name,
                )
                self._layouts[name] = replace(layout, fields={**layout.fields, **new_fields})
        for start in range(0, len(points), _MAX_WRITE_BATCH):
            batch = [_point_struct(p, layout) for p in points[start : start + _MAX_WRITE_BATCH]]
            await self._call(client.upsert(name, points=batch, wait=True), name)

    async def get(self, name: str, ids: Sequence[str], include_vectors: bool) -> list[Document]:
        """Documents with these ids in the order given; missing ids are omitted."""
        layout = await self._layout(name)
        client = self._require_client()
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Document] = {}
        for start in range(0, len(wanted), _MAX_READ_BATCH):
            chunk = wanted[start : start + _MAX_READ_BATCH]
            records = await self._call(
                client.retrieve(
                    name,
                    ids=[point_id(i) for i in chunk],
                    with_payload=True,
                    with_vectors=include_vectors,
                ),
                name,
            )
            for record in records:
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
        client = self._require_client()
        if limit <= 0:
            return []
        offset = None if after is None else point_id(after)
        records, _next = await self._call(
            client.scroll(
                name,
                limit=limit + (offset is not None),
                offset=offset,
                with_payload=True,
                with_vectors=include_vectors,
            ),
            name,
        )
        if offset is not None and records and str(records[0].id) == offset:
            records = records[1:]
        return [_document(record, layout, include_vectors) for record in records[:limit]]

    async def delete(
        self, name: str, ids: Sequence[str] | None = None, filter: Filter | None = None
    ) -> None:
        """Delete the documents whose id is in ``ids`` and those matching ``filter``."""
        client = self._require_client()
        selectors: list[models.PointIdsList | models.FilterSelector] = []
        if ids:
            selectors.append(models.PointIdsList(points=[point_id(i) for i in dict.fromkeys(ids)]))
        if filter is not None:
            selectors.append(models.FilterSelector(filter=compile_filter(filter)))
        if not selectors:
            await self._layout(name)
            return
        for selector in selectors:
            await self._call(client.delete(name, points_selector=selector, wait=True), name)

    # ------------------------------------------------------------------ search

    async def search(self, name: str, query: SearchQuery) -> list[Hit]:
        layout = await self._layout(name)
        native_filter = compile_filter(query.filter) if query.filter is not None else None
        params = _search_params(layout, query.native_params)
        client = self._require_client()
        response = await self._call(
            client.query_points(
                name,
                query=query.vector.tolist(),
                using=layout.vector_name,
                query_filter=native_filter,
                # Local mode always searches exhaustively and warns about search params.
                search_params=None if self.is_local else params,
                limit=query.top_k,
                with_payload=True,
                with_vectors=query.output.vector,
            ),
            name,
        )
        return [
            _hit(point, layout, query.output, store=self.store, collection=name)
            for point in response.points
        ]

    async def keyword_search(self, name: str, query: KeywordQuery) -> list[Hit]:
        """BM25 search on the sparse text vector, the filter applied during the search.

        The query's distinct terms are sent with weight 1 and Qdrant weights each
        by its IDF, so the scores are BM25 scores. A query without terms (only
        stopwords or punctuation) matches nothing.
        """
        require_keyword_store(self.store, self.capabilities.keyword_search)
        layout = await self._layout(name)
        keyword = require_keyword_layout(self.store, name, layout, query.top_k)
        native_filter = compile_filter(query.filter) if query.filter is not None else None
        sparse = keyword.encoder.query(query.text)
        if sparse is None:
            return []
        client = self._require_client()
        response = await self._call(
            client.query_points(
                name,
                query=models.SparseVector(indices=sparse.indices, values=sparse.values),
                using=keyword.vector_name,
                query_filter=native_filter,
                limit=query.top_k,
                with_payload=True,
                with_vectors=query.output.vector,
            ),
            name,
        )
        return [
            _hit(point, layout, query.output, store=self.store, collection=name, keyword=True)
            for point in response.points
        ]

    async def explain(self, name: str, query: SearchQuery) -> Explanation:
        layout = await self._layout(name)
        native_filter = (
            json.dumps(
                compile_filter(query.filter).model_dump(mode="json", exclude_none=True),
                sort_keys=True,
            )
            if query.filter is not None
            else ""
        )
        params = _search_params(layout, query.native_params)
        native: dict[str, Any] = {
            "limit": query.top_k,
            **params.model_dump(mode="json", exclude_unset=True),
        }
        if layout.vector_name is not None:
            native["using"] = layout.vector_name
        return Explanation(backend=BACKEND, native_filter=native_filter, native_params=native)

    # ------------------------------------------------------------------ internals

    def _where(self) -> str:
        mode = "local mode" if self.is_local else "server"
        return f"qdrant store {self.store!r} ({mode} at {self.location})"

    def _not_found(self, name: str) -> NotFound:
        return NotFound(f"collection {name!r} does not exist in store {self.store!r}")

    def _require_client(self) -> AsyncQdrantClient:
        if self._client is None:
            raise Unavailable(f"{self._where()} is not started (or was closed)")
        return self._client

    async def _layout(self, name: str, *, refresh: bool = False) -> _Layout:
        layout = None if refresh else self._layouts.get(name)
        if layout is None:
            client = self._require_client()
            described = await self._call(client.get_collection(name), name)
            _, layout = _describe(name, described)
            self._layouts[name] = layout
        return layout

    async def _call(
        self, coro: Coroutine[Any, Any, T], collection: str | None, *, creating: bool = False
    ) -> T:
        """Run one client call (on the local-mode thread if any) and translate its errors."""
        try:
            if self._local is not None:
                return await self._local.thread.run(coro)
            return await coro
        except VectorgateError:
            raise
        except Exception as exc:
            error = self._translate(exc, collection, creating=creating)
            if isinstance(error, NotFound) and collection is not None:
                self._layouts.pop(collection, None)
            raise error from exc

    def _translate(self, exc: Exception, collection: str | None, *, creating: bool) -> Exception:
        where = self._where()
        if isinstance(exc, UnexpectedResponse):
            status = exc.status_code or 0
            detail = _response_detail(exc)
            if status == 404 and collection is not None:
                return self._not_found(collection)
            if status == 409 or (creating and "already exists" in detail.lower()):
                return AlreadyExists(
                    f"collection {collection!r} already exists in store {self.store!r}"
                )
            if status in (400, 422):
                return InvalidArgument(f"{where} rejected the request: {detail}")
            error = backend_error(
                http_code(status),
                store=self.store,
                backend=BACKEND,
                where=where,
                cause=f"HTTP {status}: {detail}",
            )
            return (
                error
                if error is not None
                else Unavailable(f"{where} answered HTTP {status}: {detail}")
            )
        if isinstance(exc, grpc.aio.AioRpcError):
            code = exc.code()
            detail = exc.details() or ""
            if code in _NOT_FOUND_GRPC and collection is not None:
                return self._not_found(collection)
            if code is grpc.StatusCode.ALREADY_EXISTS or (
                creating and "already exists" in detail.lower()
            ):
                return AlreadyExists(
                    f"collection {collection!r} already exists in store {self.store!r}"
                )
            if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
                return InvalidArgument(f"{where} rejected the request: {detail}")
            error = backend_error(
                code,
                store=self.store,
                backend=BACKEND,
                where=where,
                cause=f"{code.name} {detail}".rstrip(),
            )
            return error if error is not None else exc
        if isinstance(exc, ResponseHandlingException | httpx.HTTPError | QdrantException):
            source = exc.source if isinstance(exc, ResponseHandlingException) else exc
            return Unavailable(f"{where} is unavailable: {type(source).__name__}")
        if isinstance(exc, TimeoutError | ConnectionError):
            return Unavailable(f"{where} is unavailable: {type(exc).__name__}")
        if self.is_local and isinstance(exc, ValueError) and collection is not None:
            message = str(exc)
            if "not found" in message:
                return self._not_found(collection)
            if creating and "already exists" in message:
                return AlreadyExists(
                    f"collection {collection!r} already exists in store {self.store!r}"
                )
        if self.is_local and isinstance(exc, RuntimeError) and "closed" in str(exc):
            return Unavailable(f"{where} is closed")
        return exc


# --------------------------------------------------------------------------- helpers


def _check_not_locked(path: str) -> None:
    """Fail early when another client holds the local storage.

    qdrant-client raises too, but leaks the lock file handle when it does; taking
    and releasing the same (non-blocking) lock first keeps that path clean.
    """
    lock_path = os.path.join(path, ".lock")
    if not os.path.exists(lock_path):
        return
    with open(lock_path, "r+") as handle:
        try:
            portalocker.lock(
                handle, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING
            )
        except portalocker.exceptions.LockException:
            raise RuntimeError(
                f"the local storage {path} is already open in another Qdrant client"
            ) from None
        portalocker.unlock(handle)


def _response_detail(exc: UnexpectedResponse) -> str:
    try:
        body = exc.structured()
    except ValueError:
        return exc.reason_phrase
    status = body.get("status") if isinstance(body, dict) else None
    if isinstance(status, dict) and isinstance(status.get("error"), str):
        return str(status["error"])
    return exc.reason_phrase


def _int_param(value: Any, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"{field}: must be an integer", field=field)
    if isinstance(value, float) and not value.is_integer():
        raise InvalidArgument(f"{field}: must be an integer", field=field)
    result = int(value)
    if result < minimum:
        raise InvalidArgument(f"{field}: must be at least {minimum}", field=field)
    return result


def _index_config(index: IndexSpec) -> tuple[IndexSpec, models.HnswConfigDiff | None]:
    """The normalised index spec and the HNSW config to create the collection with."""
    kind = index.type.strip().upper()
    params = dict(index.params)
    if kind not in ("", _HNSW, _FLAT):
        raise InvalidArgument(
            f"collection.index.type: unknown Qdrant index type {index.type!r} "
            f"(accepted: {_HNSW}, {_FLAT})",
            field="collection.index.type",
        )
    if kind == _FLAT:
        if params:
            key = sorted(params)[0]
            raise InvalidArgument(
                f"collection.index.params.{key}: FLAT takes no parameters",
                field=f"collection.index.params.{key}",
            )
        # No graph at all: every search is exhaustive.
        return IndexSpec(type=_FLAT), models.HnswConfigDiff(m=0)
    checked: dict[str, int] = {}
    for key, value in params.items():
        field = f"collection.index.params.{key}"
        if key not in _HNSW_PARAMS:
            raise InvalidArgument(
                f"{field}: not a Qdrant HNSW parameter (accepted: {', '.join(_HNSW_PARAMS)})",
                field=field,
            )
        checked[key] = _int_param(value, field, _HNSW_PARAMS[key])
    hnsw = (
        models.HnswConfigDiff(m=checked.get("m"), ef_construct=checked.get("ef_construct"))
        if checked
        else None
    )
    return IndexSpec(type=kind, params=checked), hnsw


def _search_params(layout: _Layout, native: Mapping[str, Any]) -> models.SearchParams:
    values: dict[str, Any] = {}
    if layout.index.type == _FLAT:
        values["exact"] = True
    for key, value in native.items():
        field = f"native_params.{key}"
        if key == "hnsw_ef":
            values[key] = _int_param(value, field, 1)
        elif key in ("exact", "indexed_only"):
            if not isinstance(value, bool):
                raise InvalidArgument(f"{field}: must be a bool", field=field)
            values[key] = value
        else:
            raise InvalidArgument(
                f"{field}: not a Qdrant search parameter "
                f"(accepted: {', '.join(sorted(_NATIVE_PARAMS))})",
                field=field,
            )
    return models.SearchParams(**values)


def _vector_params(
    name: str, vectors: models.VectorsConfig | None
) -> tuple[str | None, models.VectorParams]:
    if isinstance(vectors, models.VectorParams):
        return None, vectors
    if isinstance(vectors, Mapping) and len(vectors) == 1:
        ((vector_name, params),) = vectors.items()
        return vector_name, params
    count = len(vectors) if isinstance(vectors, Mapping) else 0
    raise Unsupported(
        backend=BACKEND,
        operation="collections without exactly one dense vector",
        detail=f"collection {name!r} has {count} named dense vectors",
    )


def _describe(name: str, described: models.CollectionInfo) -> tuple[CollectionInfo, _Layout]:
    config = described.config
    vector_name, params = _vector_params(name, config.params.vectors)
    metric = _METRICS.get(params.distance)
    if metric is None:
        raise Unsupported(
            backend=BACKEND,
            operation=f"distance {params.distance.value}",
            detail=f"collection {name!r}",
        )
    raw = (config.metadata or {}).get(SPEC_METADATA_KEY)
    stored = decode_spec(raw)
    if stored is None:
        hnsw = params.hnsw_config or config.hnsw_config
        stored = StoredSpec(
            dimension=params.size,
            metric=metric,
            index=IndexSpec(
                type=_HNSW,
                params={"m": hnsw.m, "ef_construct": hnsw.ef_construct}
                if hnsw is not None and hnsw.m is not None and hnsw.ef_construct is not None
                else {},
            ),
        )
    info = stored.info(name, dimension=params.size, metric=metric)
    text_field = stored.text_field
    index = stored.index
    fields: dict[str, FieldType] = {}
    for meta_key, meta_value in (config.metadata or {}).items():
        if meta_key.startswith(FIELD_METADATA_PREFIX) and isinstance(meta_value, str):
            with contextlib.suppress(ValueError):
                fields[meta_key[len(FIELD_METADATA_PREFIX) :]] = FieldType(meta_value)
    keyword, keyword_missing = _keyword_layout(raw, config.params.sparse_vectors)
    layout = _Layout(
        dimension=params.size,
        metric=metric,
        text_field=text_field,
        vector_name=vector_name,
        index=index,
        fields=fields,
        keyword=keyword,
        keyword_missing=keyword_missing,
    )
    return info, layout


def _keyword_layout(
    stored: Any, sparse_vectors: Mapping[str, models.SparseVectorParams] | None
) -> tuple[_Keyword | None, str]:
    """The collection's sparse text vector from its stored spec, or why it has none."""
    if not isinstance(stored, dict):
        return None, "it was not created by vectorgate"
    entry = stored.get(_KEYWORD_SPEC_KEY)
    if entry is None:
        return None, "it was created without keyword search"
    if not isinstance(entry, dict) or not isinstance(entry.get("sparse_vector"), str):
        return None, "its stored keyword spec is malformed"
    vector_name = str(entry["sparse_vector"])
    params = (sparse_vectors or {}).get(vector_name)
    if params is None:
        return None, f"its sparse vector {vector_name!r} is missing"
    if params.modifier != models.Modifier.IDF:
        return None, f"its sparse vector {vector_name!r} has no IDF modifier"
    try:
        encoder = Bm25Encoder.from_spec(entry)
    except EncoderSpecError as exc:
        return None, f"it was written with {exc}"
    return _Keyword(vector_name=vector_name, encoder=encoder), ""


def check_text_field(spec: CollectionSpec) -> None:
    """The text field must not be a key of the payload layout (Qdrant and Qdrant Edge)."""
    if spec.text_field in RESERVED_PAYLOAD_KEYS:
        raise InvalidArgument(
            f"collection.text_field: {spec.text_field!r} is reserved by the Qdrant "
            f"payload layout (reserved: {', '.join(sorted(RESERVED_PAYLOAD_KEYS))})",
            field="collection.text_field",
        )


def _with_count(info: CollectionInfo, count: int) -> CollectionInfo:
    return CollectionInfo(
        name=info.name,
        dimension=info.dimension,
        metric=info.metric,
        text_field=info.text_field,
        embedding_model=info.embedding_model,
        index=info.index,
        document_count=count,
        create_time=info.create_time,
    )


@dataclass(frozen=True, slots=True)
class PointParts:
    """One document as a Qdrant point, independent of the client library that sends it."""

    id: str
    #: The dense vector (as given; Qdrant normalises cosine vectors itself).
    values: list[float]
    #: The BM25 term weights of the text (collections with keyword search and a text).
    sparse: SparseText | None
    payload: dict[str, Any]


def point_parts(
    documents: Sequence[Document], layout: _Layout, collection: str
) -> tuple[list[PointParts], dict[str, FieldType]]:
    """The points to write (the last of repeated ids) and the metadata keys the batch adds.

    The documents come validated from the application layer; a metadata key
    keeps one type per collection (:func:`~.spec.new_field_types`).
    """
    new_fields = new_field_types(collection, documents, layout.fields)
    latest: dict[str, PointParts] = {}
    for doc in documents:
        point = _point_parts(doc, layout)
        # The last occurrence of a repeated id wins, as with separate upserts.
        latest.pop(doc.id, None)
        latest[doc.id] = point
    return list(latest.values()), new_fields


async def point_parts_off_loop(
    documents: Sequence[Document], layout: _Layout, collection: str
) -> tuple[list[PointParts], dict[str, FieldType]]:
    """:func:`point_parts`, in a worker thread for large batches."""
    if len(documents) > _THREAD_DOCUMENTS:
        return await asyncio.to_thread(point_parts, documents, layout, collection)
    return point_parts(documents, layout, collection)


def _points(
    documents: Sequence[Document], layout: _Layout, collection: str
) -> tuple[list[models.PointStruct], dict[str, FieldType]]:
    """:func:`point_parts` as ``qdrant_client`` points."""
    parts, new_fields = point_parts(documents, layout, collection)
    return [_point_struct(p, layout) for p in parts], new_fields


def _point_struct(parts: PointParts, layout: _Layout) -> models.PointStruct:
    """The ``qdrant_client`` point of :class:`PointParts`."""
    point_vector: models.VectorStruct
    if parts.sparse is not None:
        assert layout.keyword is not None
        # "" is the unnamed dense vector's name when named vectors are given alongside.
        point_vector = {
            layout.vector_name or "": parts.values,
            layout.keyword.vector_name: models.SparseVector(
                indices=parts.sparse.indices, values=parts.sparse.values
            ),
        }
    elif layout.vector_name is None:
        point_vector = parts.values
    else:
        point_vector = {layout.vector_name: parts.values}
    return models.PointStruct(id=parts.id, vector=point_vector, payload=parts.payload)


def _point_parts(doc: Document, layout: _Layout) -> PointParts:
    """The point of a (validated) document."""
    vector = as_float32(cast(FloatArray, doc.vector))
    metadata: dict[str, Any] = {}
    lists: list[str] = []
    for key, value in doc.metadata.items():
        if isinstance(value, list):
            metadata[key] = list(value)
            lists.append(key)
        elif (
            isinstance(value, int)
            and not isinstance(value, bool)
            and not INT64_MIN <= value <= INT64_MAX
        ):
            # Integral doubles beyond 64 bits (e.g. 1e20) stay numbers Qdrant can store.
            metadata[key] = float(value)
        else:
            metadata[key] = value
    internal: dict[str, Any] = {LISTS_KEY: lists}
    if layout.metric is Metric.COSINE:
        internal[NORM_KEY] = float(np.linalg.norm(vector.astype(np.float64)))
    payload = {
        ID_PAYLOAD_KEY: doc.id,
        layout.text_field: doc.text,
        METADATA_PAYLOAD_KEY: metadata,
        INTERNAL_PAYLOAD_KEY: internal,
    }
    sparse = layout.keyword.encoder.document(doc.text) if layout.keyword is not None else None
    return PointParts(id=point_id(doc.id), values=vector.tolist(), sparse=sparse, payload=payload)


def _metadata(payload: Mapping[str, Any]) -> Metadata:
    raw = payload.get(METADATA_PAYLOAD_KEY)
    if not isinstance(raw, dict):
        return {}
    out: Metadata = {}
    for key, value in raw.items():
        converted = _metadata_value(value)
        if converted is not None:
            out[str(key)] = converted
    return out


def _metadata_value(value: Any) -> MetadataValue | None:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    # Not a vectorgate metadata value (a foreign payload): not returned.
    return None


def _vector(raw: object, payload: Mapping[str, Any], layout: _Layout) -> FloatArray | None:
    if raw is None:
        return None
    values: Any = raw
    if isinstance(raw, dict):
        values = raw.get(layout.vector_name or "")
    if not isinstance(values, list) or not all(isinstance(v, float | int) for v in values):
        return None
    vector = np.asarray(values, dtype=np.float64)
    if layout.metric is Metric.COSINE:
        internal = payload.get(INTERNAL_PAYLOAD_KEY)
        norm = internal.get(NORM_KEY) if isinstance(internal, dict) else None
        if isinstance(norm, int | float) and not isinstance(norm, bool):
            # Rescale to the stored norm rather than multiply by it: Qdrant returns
            # cosine vectors unit-length, except qdrant-client's local mode after a
            # reopen, which loads the persisted vectors without normalising them.
            current = float(np.linalg.norm(vector))
            if current > 0.0:
                vector = vector * (float(norm) / current)
    return as_float32(vector.astype(np.float32))


def _document_id(payload: Mapping[str, Any], fallback: object) -> str:
    value = payload.get(ID_PAYLOAD_KEY)
    return value if isinstance(value, str) else str(fallback)


def _text(payload: Mapping[str, Any], layout: _Layout) -> str:
    value = payload.get(layout.text_field)
    return value if isinstance(value, str) else ""


class StoredPoint(Protocol):
    """A point as read back: ``qdrant_client.models.Record`` or ``qdrant_edge.Record``."""

    @property
    def id(self) -> Any: ...
    @property
    def payload(self) -> Any: ...
    @property
    def vector(self) -> Any: ...


class FoundPoint(StoredPoint, Protocol):
    """A scored point: ``qdrant_client.models.ScoredPoint`` or ``qdrant_edge.ScoredPoint``."""

    @property
    def score(self) -> float: ...


def _document(record: StoredPoint, layout: _Layout, include_vectors: bool) -> Document:
    payload = record.payload or {}
    return Document(
        id=_document_id(payload, record.id),
        text=_text(payload, layout),
        vector=_vector(record.vector, payload, layout) if include_vectors else None,
        metadata=_metadata(payload),
    )


def _hit(
    point: FoundPoint,
    layout: _Layout,
    output: OutputFields,
    *,
    store: str,
    collection: str,
    keyword: bool = False,
) -> Hit:
    payload = point.payload or {}
    raw = float(point.score)
    # Qdrant reports cosine similarity, Euclidean distance (not squared) and the dot
    # product as they are: the raw score is already the canonical value. A keyword
    # hit's score is its BM25 score.
    return Hit(
        id=_document_id(payload, point.id),
        score=raw if keyword else normalise_score(layout.metric, raw),
        raw_score=raw,
        text=_text(payload, layout) if output.text else "",
        metadata=output.project(_metadata(payload)),
        vector=_vector(point.vector, payload, layout) if output.vector else None,
        store=store,
        collection=collection,
    )


def require_keyword_store(store: str, enabled: bool) -> None:
    """Keyword search needs the store's ``keyword_search`` option (server and embedded)."""
    if not enabled:
        raise Unsupported(
            backend=BACKEND,
            operation="keyword search",
            detail=f"store {store!r} is configured with keyword_search: false",
        )


def require_keyword_layout(store: str, name: str, layout: _Layout, top_k: int) -> _Keyword:
    """The collection's keyword index, or ``Unsupported`` saying why it has none."""
    if layout.keyword is None:
        raise Unsupported(
            backend=BACKEND,
            operation="keyword search",
            detail=f"collection {name!r} in store {store!r} has no keyword index "
            f"({layout.keyword_missing}); collections vectorgate creates while the "
            "store has keyword_search: true (the default) get one: recreate the "
            "collection (e.g. `vectorgate copy` it to a new one)",
        )
    if top_k < 1:
        raise InvalidArgument("top_k: must be at least 1", field="top_k")
    return layout.keyword
