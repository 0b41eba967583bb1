"""Embedded Qdrant (a ``path:`` store): Qdrant's own engine in-process, via qdrant-edge.

``qdrant-edge-py`` ships the engine of the Qdrant server (Rust: segments, HNSW,
payload filtering, sparse vectors with IDF) as a library. One *Edge Shard* is
one directory holding one collection's points, so a store is a directory of
collections::

    <path>/
      .vectorgate.lock            # held while a process has the store open
      <collection>/
        vectorgate.json           # the collection spec (and the metadata key types)
        shard/                    # the Edge Shard (edge_config.json, segments/, wal/)

Everything a collection stores is laid out as in a Qdrant server collection
(see :mod:`.qdrant`): the unnamed dense vector, the ``vg_text_bm25`` sparse
vector with the IDF modifier (store option ``keyword_search``), uuid5 point ids
and the ``{"id", <text_field>, "metadata", "_vectorgate"}`` payload; filters are
compiled by :func:`vectorgate_server.filters.qdrant.compile_filter` and the
``qdrant_client`` model it returns is translated one to one into qdrant-edge's
mirror types (:func:`edge_filter`), so both Qdrant modes match exactly the same
documents. The spec a server keeps in the collection metadata is kept in
``vectorgate.json`` (same keys, plus ``fields``: the type of each metadata key),
written atomically (temp file, fsync, rename).

Behaviour
---------
* Engine calls block (they run in Rust), so they run on a bounded thread pool of
  the store (:data:`_MAX_WORKERS` threads), never on the event loop. Writes
  return once the engine has applied them (read-your-writes) and are in the
  shard's write-ahead log; ``close`` flushes every shard.
* No segment optimisation runs in the serving process, so segments stay plain
  and every search is exact (as a Qdrant server searches segments below its
  indexing threshold); the HNSW parameters are stored and passed to the shard
  for when it is optimised. Why: the library has no background optimiser
  (``optimize()`` is a blocking call), and qdrant-edge-py 0.9 holds the GIL for
  the whole of every engine call: ``optimize()`` building the graph of 10,000
  384-d vectors held it for 41 s here, freezing every request of the gateway.
* One process opens a store directory at a time (the engine locks each shard's
  WAL; vectorgate locks the directory first, so a second process gets a clear
  ``Unavailable``). Adapters of one process on the same directory share the open
  shards (reference-counted), as two stores naming one path would.
* ``path: ":memory:"`` is a temporary directory removed when the store closes.
* Index types, native search params, scores and keyword search are those of the
  server mode (:class:`~.qdrant.QdrantAdapter`): HNSW (``m``, ``ef_construct``)
  or FLAT (no graph, exact search); ``hnsw_ef``, ``exact``, ``indexed_only``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import portalocker
import qdrant_edge as qe
from qdrant_client import models

from ..config import QdrantConfig
from ..domain import (
    NAME_RE,
    CollectionInfo,
    CollectionSpec,
    Document,
    Explanation,
    Filter,
    Hit,
    KeywordQuery,
    Metric,
    SearchQuery,
)
from ..errors import (
    AlreadyExists,
    NotFound,
    Unavailable,
    VectorgateError,
)
from ..filters.qdrant import compile_filter, point_id
from .qdrant import (
    _KEYWORD_SPEC_KEY,
    _MAX_READ_BATCH,
    _MAX_WRITE_BATCH,
    SPARSE_VECTOR_NAME,
    PointParts,
    QdrantAdapter,
    _document,
    _hit,
    _index_config,
    _keyword_layout,
    _Layout,
    _search_params,
    check_text_field,
    point_parts,
    require_keyword_layout,
    require_keyword_store,
)
from .sparse_text import Bm25Encoder
from .spec import StoredSpec, decode_spec, spec_json

__all__ = ["QdrantEdgeAdapter", "edge_filter", "from_config"]

T = TypeVar("T")

BACKEND = "qdrant"
SPEC_FILE = "vectorgate.json"
SHARD_DIR = "shard"
LOCK_FILE = ".vectorgate.lock"
#: Threads running engine calls, per store directory.
_MAX_WORKERS = max(1, min(4, os.cpu_count() or 1))

_DISTANCES: Mapping[Metric, qe.Distance] = {
    Metric.COSINE: qe.Distance.Cosine,
    Metric.L2: qe.Distance.Euclid,
    Metric.IP: qe.Distance.Dot,
}
#: Qdrant's full-scan threshold (KB of vectors) below which a segment is searched exactly.
_FULL_SCAN_THRESHOLD_KB = 10_000
_DEFAULT_HNSW = {"m": 16, "ef_construct": 100}


# --------------------------------------------------------------------------- filters


def edge_filter(native: models.Filter) -> qe.Filter:
    """qdrant-edge's mirror of a ``qdrant_client`` filter (as :func:`compile_filter` builds).

    The translation is one to one: the semantics (and the gaps the compiler closes)
    live in :mod:`vectorgate_server.filters.qdrant` only.
    """
    return qe.Filter(
        must=_edge_conditions(native.must),
        should=_edge_conditions(native.should),
        must_not=_edge_conditions(native.must_not),
    )


def _edge_conditions(
    conditions: list[models.Condition] | models.Condition | None,
) -> list[Any] | None:
    if conditions is None:
        return None
    items = conditions if isinstance(conditions, list) else [conditions]
    return [_edge_condition(c) for c in items]


def _edge_condition(condition: models.Condition) -> Any:
    if isinstance(condition, models.Filter):
        return edge_filter(condition)
    if isinstance(condition, models.HasIdCondition):
        return qe.HasIdCondition({str(i) for i in condition.has_id})
    if isinstance(condition, models.FieldCondition):
        match = condition.match
        if isinstance(match, models.MatchValue):
            value: Any = match.value
            if isinstance(value, bool):
                # qdrant-edge-py 0.9 converts a Python bool in MatchValue to the integer
                # 0/1 (its union tries int first), which matches no stored bool; a numpy
                # bool is not an int and arrives as the bool it is.
                value = np.bool_(value)
            return qe.FieldCondition(key=condition.key, match=qe.MatchValue(value))
        if isinstance(match, models.MatchAny):
            return qe.FieldCondition(key=condition.key, match=qe.MatchAny(match.any))
        rng = condition.range
        if match is None and isinstance(rng, models.Range):
            return qe.FieldCondition(
                key=condition.key,
                range=qe.RangeFloat(gte=rng.gte, gt=rng.gt, lte=rng.lte, lt=rng.lt),
            )
    # compile_filter builds nothing else; a new construct there must be added here.
    raise TypeError(f"no qdrant-edge translation for {condition!r}")


def _edge_params(params: models.SearchParams) -> qe.SearchParams:
    return qe.SearchParams(
        hnsw_ef=params.hnsw_ef,
        exact=bool(params.exact),
        indexed_only=bool(params.indexed_only),
    )


def _edge_point(parts: PointParts, layout: _Layout) -> qe.Point:
    vector: Any = parts.values
    if parts.sparse is not None:
        assert layout.keyword is not None
        vector = {
            "": parts.values,
            layout.keyword.vector_name: qe.SparseVector(parts.sparse.indices, parts.sparse.values),
        }
    return qe.Point(parts.id, vector, parts.payload)


# --------------------------------------------------------------------------- storage


class _EngineError(Exception):
    """The engine failed (its Python binding raises plain ``Exception``)."""


@dataclass(eq=False)
class _Collection:
    """One open shard with its spec; shared by the adapters of one store directory."""

    name: str
    directory: Path
    shard: qe.EdgeShard
    spec: StoredSpec
    layout: _Layout
    info: CollectionInfo
    #: Serialises spec updates (metadata key types) of concurrent writers.
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Storage:
    """One store directory opened by this process: its lock, thread pool and open shards."""

    def __init__(self, key: str, root: Path, *, temporary: bool) -> None:
        self.key = key
        self.root = root
        self.temporary = temporary
        self.refs = 1
        self.lock = threading.RLock()
        self.collections: dict[str, _Collection] = {}
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=_MAX_WORKERS, thread_name_prefix="qdrant-edge"
        )
        self._lock_handle: Any = None

    # -- lifecycle (run on the pool)

    def open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.root / LOCK_FILE, "a+")  # noqa: SIM115 (held until close)
        try:
            portalocker.lock(
                handle, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING
            )
        except portalocker.exceptions.LockException:
            handle.close()
            raise _EngineError(
                f"the directory {self.root} is open in another process (it holds "
                f"{self.root / LOCK_FILE})"
            ) from None
        self._lock_handle = handle

    def close(self) -> None:
        with self.lock:
            collections = list(self.collections.values())
            self.collections.clear()
        for collection in collections:
            _close_collection(collection)
        if self._lock_handle is not None:
            with contextlib.suppress(Exception):
                portalocker.unlock(self._lock_handle)
            self._lock_handle.close()
            self._lock_handle = None
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- collections (run on the pool)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.root.iterdir()
            if NAME_RE.fullmatch(entry.name) and (entry / SPEC_FILE).is_file()
        )

    def collection(self, name: str) -> _Collection | None:
        """The open collection ``name``, loading its shard on first use; None if absent."""
        with self.lock:
            found = self.collections.get(name)
            if found is not None:
                return found
            directory = self.root / name
            if not NAME_RE.fullmatch(name) or not (directory / SPEC_FILE).is_file():
                return None
            spec = _read_spec(directory)
            shard = _engine(qe.EdgeShard.load, str(directory / SHARD_DIR))
            try:
                info, layout = _describe(name, spec, directory / SHARD_DIR)
            except BaseException:
                shard.close()
                raise
            found = _Collection(name, directory, shard, spec, layout, info)
            self.collections[name] = found
            return found

    def create(self, spec: CollectionSpec, stored: StoredSpec, config: qe.EdgeConfig) -> None:
        with self.lock:
            target = self.root / spec.name
            if target.exists():
                raise AlreadyExists(f"collection {spec.name!r} already exists")
            staging = self.root / f".creating-{spec.name}-{uuid.uuid4().hex[:8]}"
            try:
                staging.mkdir(parents=True)
                shard = _engine(qe.EdgeShard.create, str(staging / SHARD_DIR), config)
                _engine(shard.close)
                _write_spec(staging, stored)
                # The collection appears whole or not at all.
                staging.rename(target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    def drop(self, name: str) -> bool:
        with self.lock:
            collection = self.collections.pop(name, None)
            directory = self.root / name
            if collection is None and not (directory / SPEC_FILE).is_file():
                return False
            if collection is not None:
                _close_collection(collection)
            trash = self.root / f".dropped-{name}-{uuid.uuid4().hex[:8]}"
            directory.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        return True


def _acquire(path: str) -> _Storage:
    """The open storage of ``path`` (shared in this process), opening it on first use."""
    memory = path == ":memory:"
    key = "" if memory else os.path.realpath(path)
    with _STORAGES_LOCK:
        storage = None if memory else _STORAGES.get(key)
        if storage is not None:
            storage.refs += 1
            return storage
        root = Path(tempfile.mkdtemp(prefix="vectorgate-qdrant-")) if memory else Path(key)
        storage = _Storage(key, root, temporary=memory)
        try:
            storage.open()
        except BaseException:
            storage.executor.shutdown(wait=False)
            if memory:
                shutil.rmtree(root, ignore_errors=True)
            raise
        if not memory:
            _STORAGES[key] = storage
        return storage


def _close_collection(collection: _Collection) -> None:
    with contextlib.suppress(Exception):
        collection.shard.flush()
    with contextlib.suppress(Exception):
        collection.shard.close()


#: Store directories open in this process, by real path.
_STORAGES: dict[str, _Storage] = {}
_STORAGES_LOCK = threading.Lock()


def _engine(call: Callable[..., T], *args: Any) -> T:
    """Call the engine; its errors (plain ``Exception``) become :class:`_EngineError`."""
    try:
        return call(*args)
    except VectorgateError:
        raise
    except Exception as exc:
        if type(exc) is Exception:
            raise _EngineError(str(exc)) from exc
        raise


def _read_spec(directory: Path) -> StoredSpec:
    try:
        raw = (directory / SPEC_FILE).read_text(encoding="utf-8")
    except OSError as exc:
        raise _EngineError(f"cannot read {directory / SPEC_FILE}: {exc}") from exc
    spec = decode_spec(raw)
    if spec is None or spec.dimension is None or spec.metric is None:
        raise _EngineError(f"{directory / SPEC_FILE} is not a vectorgate collection spec")
    return spec


def _write_spec(directory: Path, spec: StoredSpec) -> None:
    """Replace ``vectorgate.json`` atomically (and durably)."""
    tmp = directory / f".{SPEC_FILE}.{uuid.uuid4().hex[:8]}"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(spec_json(spec))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, directory / SPEC_FILE)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _describe(name: str, stored: StoredSpec, shard_dir: Path) -> tuple[CollectionInfo, _Layout]:
    """The collection's info and layout from its spec and the shard's own configuration."""
    try:
        config = json.loads((shard_dir / "edge_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    assert stored.dimension is not None and stored.metric is not None  # _read_spec
    sparse: dict[str, models.SparseVectorParams] = {}
    for vector_name, params in (config.get("sparse_vectors") or {}).items():
        modifier = params.get("modifier") if isinstance(params, dict) else None
        sparse[vector_name] = models.SparseVectorParams(
            modifier=models.Modifier.IDF if modifier == "idf" else None
        )
    keyword, keyword_missing = _keyword_layout(dict(stored.extra), sparse)
    layout = _Layout(
        dimension=stored.dimension,
        metric=stored.metric,
        text_field=stored.text_field,
        vector_name=None,
        index=stored.index,
        fields=dict(stored.fields),
        keyword=keyword,
        keyword_missing=keyword_missing,
    )
    return stored.info(name), layout


# --------------------------------------------------------------------------- adapter


class QdrantEdgeAdapter:
    """One embedded Qdrant store: a directory of Edge Shards (or ``":memory:"``)."""

    backend = BACKEND
    capabilities = QdrantAdapter.capabilities

    def __init__(self, store: str, *, path: str, keyword_search: bool = True) -> None:
        self.store = store
        self._path = path
        self._keyword_search = keyword_search
        if not keyword_search:
            self.capabilities = replace(QdrantAdapter.capabilities, keyword_search=False)
        self._encoder = Bm25Encoder()
        self._storage: _Storage | None = None

    @classmethod
    def from_config(cls, config: QdrantConfig) -> QdrantEdgeAdapter:
        """The adapter of a configured ``path:`` Qdrant store (not yet started)."""
        if not config.path:
            raise ValueError("the embedded Qdrant mode needs 'path'")
        return cls(config.name, path=config.path, keyword_search=config.keyword_search)

    @property
    def location(self) -> str:
        return self._path

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open (or share) the store directory; take its lock."""
        if self._storage is not None:
            return
        try:
            self._storage = await asyncio.to_thread(_acquire, self._path)
        except _EngineError as exc:
            raise Unavailable(f"{self._where()}: cannot open the store: {exc}") from exc

    async def close(self) -> None:
        """Release the store; the last adapter on it flushes and closes its shards."""
        storage, self._storage = self._storage, None
        if storage is None:
            return
        with _STORAGES_LOCK:
            storage.refs -= 1
            if storage.refs > 0:
                return
            if _STORAGES.get(storage.key) is storage:
                del _STORAGES[storage.key]
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(storage.executor, storage.close)
        finally:
            storage.executor.shutdown(wait=True)

    # ------------------------------------------------------------------ collections

    async def create_collection(self, spec: CollectionSpec) -> CollectionInfo:
        check_text_field(spec)
        index, hnsw = _index_config(spec.index)
        extra: dict[str, Any] = {}
        sparse: dict[str, qe.EdgeSparseVectorParams] | None = None
        if self._keyword_search:
            extra[_KEYWORD_SPEC_KEY] = {
                "sparse_vector": SPARSE_VECTOR_NAME,
                **self._encoder.spec(),
            }
            sparse = {SPARSE_VECTOR_NAME: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)}
        hnsw_config = None
        if hnsw is not None:
            hnsw_config = qe.HnswIndexConfig(
                m=hnsw.m if hnsw.m is not None else _DEFAULT_HNSW["m"],
                ef_construct=(
                    hnsw.ef_construct
                    if hnsw.ef_construct is not None
                    else _DEFAULT_HNSW["ef_construct"]
                ),
                full_scan_threshold=_FULL_SCAN_THRESHOLD_KB,
            )
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=spec.dimension, distance=_DISTANCES[spec.metric]),
            sparse_vectors=sparse,
            hnsw_config=hnsw_config,
        )
        storage = self._require()
        try:
            stored = StoredSpec.of(spec, index=index, create_time=datetime.now(UTC), extra=extra)
            await self._run(storage.create, spec, stored, config)
        except AlreadyExists:
            raise AlreadyExists(
                f"collection {spec.name!r} already exists in store {self.store!r}"
            ) from None
        collection = await self._collection(spec.name)
        return _with_count(collection.info, 0)

    async def describe_collection(self, name: str) -> CollectionInfo:
        collection = await self._collection(name)
        count = await self._run(_engine, collection.shard.count, qe.CountRequest(exact=True))
        return _with_count(collection.info, int(count))

    async def list_collections(self) -> list[str]:
        storage = self._require()
        return await self._run(storage.names)

    async def drop_collection(self, name: str) -> None:
        storage = self._require()
        if not await self._run(storage.drop, name):
            raise self._not_found(name)

    # ------------------------------------------------------------------ documents

    async def count(self, name: str, filter: Filter | None = None) -> int:
        native = edge_filter(compile_filter(filter)) if filter is not None else None
        collection = await self._collection(name)
        request = qe.CountRequest(exact=True, filter=native)
        return int(await self._run(_engine, collection.shard.count, request, name=name))

    async def upsert(self, name: str, documents: Sequence[Document]) -> None:
        """Insert or replace by id; returns once the engine has applied the write.

        The whole batch is validated first (nothing of a rejected batch is written).
        Each metadata key keeps the type it was first written with (``fields`` in
        ``vectorgate.json``, updated before the points are written).
        """
        collection = await self._collection(name)
        await self._run(self._write, collection, documents, name=name)

    def _write(self, collection: _Collection, documents: Sequence[Document]) -> None:
        """Validate, record new metadata key types, write the points (on the pool)."""
        with collection.lock:
            layout = collection.layout
            points, new_fields = point_parts(documents, layout, collection.name)
            if new_fields:
                fields = {**layout.fields, **new_fields}
                spec = replace(collection.spec, fields=fields)
                _write_spec(collection.directory, spec)
                collection.spec = spec
                collection.layout = layout = replace(layout, fields=fields)
        for start in range(0, len(points), _MAX_WRITE_BATCH):
            batch = [_edge_point(p, layout) for p in points[start : start + _MAX_WRITE_BATCH]]
            _engine(collection.shard.update, qe.UpdateOperation.upsert_points(batch))

    async def get(self, name: str, ids: Sequence[str], include_vectors: bool) -> list[Document]:
        collection = await self._collection(name)
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Document] = {}
        for start in range(0, len(wanted), _MAX_READ_BATCH):
            chunk = [point_id(i) for i in wanted[start : start + _MAX_READ_BATCH]]
            records = await self._run(
                _engine, collection.shard.retrieve, chunk, True, include_vectors, name=name
            )
            for record in records:
                doc = _document(record, collection.layout, include_vectors)
                found[doc.id] = doc
        return [found[i] for i in wanted if i in found]

    async def scan(
        self, name: str, *, after: str | None, limit: int, include_vectors: bool
    ) -> list[Document]:
        """The next ``limit`` documents in ascending point-id order after document ``after``.

        As in the server mode (:meth:`.qdrant.QdrantAdapter.scan`): the cursor's point
        id is the scroll offset (inclusive, need not exist) and is skipped.
        """
        collection = await self._collection(name)
        if limit <= 0:
            return []
        offset = None if after is None else point_id(after)
        request = qe.ScrollRequest(
            offset=offset,
            limit=limit + (offset is not None),
            with_payload=True,
            with_vector=include_vectors,
        )
        records, _next = await self._run(_engine, collection.shard.scroll, request, name=name)
        if offset is not None and records and str(records[0].id) == offset:
            records = records[1:]
        return [_document(r, collection.layout, include_vectors) for r in records[:limit]]

    async def delete(
        self, name: str, ids: Sequence[str] | None = None, filter: Filter | None = None
    ) -> None:
        operations: list[qe.UpdateOperation] = []
        if ids:
            operations.append(
                qe.UpdateOperation.delete_points([point_id(i) for i in dict.fromkeys(ids)])
            )
        if filter is not None:
            operations.append(
                qe.UpdateOperation.delete_points_by_filter(edge_filter(compile_filter(filter)))
            )
        collection = await self._collection(name)

        def apply() -> None:
            for operation in operations:
                _engine(collection.shard.update, operation)

        await self._run(apply, name=name)

    # ------------------------------------------------------------------ search

    async def search(self, name: str, query: SearchQuery) -> list[Hit]:
        collection = await self._collection(name)
        layout = collection.layout
        native = edge_filter(compile_filter(query.filter)) if query.filter is not None else None
        params = _edge_params(_search_params(layout, query.native_params))
        request = qe.QueryRequest(
            limit=query.top_k,
            query=qe.Query.Nearest(query.vector.tolist()),
            filter=native,
            params=params,
            with_payload=True,
            with_vector=query.output.vector,
        )
        points = await self._run(_engine, collection.shard.query, request, name=name)
        return [
            _hit(point, layout, query.output, store=self.store, collection=name) for point in points
        ]

    async def keyword_search(self, name: str, query: KeywordQuery) -> list[Hit]:
        """BM25 on the sparse text vector (IDF applied by the engine), filtered during it."""
        require_keyword_store(self.store, self.capabilities.keyword_search)
        collection = await self._collection(name)
        layout = collection.layout
        keyword = require_keyword_layout(self.store, name, layout, query.top_k)
        native = edge_filter(compile_filter(query.filter)) if query.filter is not None else None
        sparse = keyword.encoder.query(query.text)
        if sparse is None:
            return []
        request = qe.QueryRequest(
            limit=query.top_k,
            query=qe.Query.Nearest(
                qe.SparseVector(sparse.indices, sparse.values), using=keyword.vector_name
            ),
            filter=native,
            with_payload=True,
            with_vector=query.output.vector,
        )
        points = await self._run(_engine, collection.shard.query, request, name=name)
        return [
            _hit(point, layout, query.output, store=self.store, collection=name, keyword=True)
            for point in points
        ]

    async def explain(self, name: str, query: SearchQuery) -> Explanation:
        collection = await self._collection(name)
        native_filter = (
            json.dumps(
                compile_filter(query.filter).model_dump(mode="json", exclude_none=True),
                sort_keys=True,
            )
            if query.filter is not None
            else ""
        )
        params = _search_params(collection.layout, query.native_params)
        native: dict[str, Any] = {
            "limit": query.top_k,
            **params.model_dump(mode="json", exclude_unset=True),
        }
        return Explanation(backend=BACKEND, native_filter=native_filter, native_params=native)

    # ------------------------------------------------------------------ internals

    def _where(self) -> str:
        return f"qdrant store {self.store!r} (embedded, qdrant-edge at {self._path})"

    def _not_found(self, name: str) -> NotFound:
        return NotFound(f"collection {name!r} does not exist in store {self.store!r}")

    def _require(self) -> _Storage:
        if self._storage is None:
            raise Unavailable(f"{self._where()} is not started (or was closed)")
        return self._storage

    async def _collection(self, name: str) -> _Collection:
        storage = self._require()
        # Open already: no trip to the pool (a dict read is atomic).
        collection = storage.collections.get(name)
        if collection is not None:
            return collection
        collection = await self._run(storage.collection, name)
        if collection is None:
            raise self._not_found(name)
        return collection

    async def _run(self, call: Callable[..., T], *args: Any, name: str | None = None) -> T:
        """Run ``call`` on the store's thread pool; translate engine errors."""
        storage = self._require()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(storage.executor, lambda: call(*args))
        except VectorgateError:
            raise
        except RuntimeError as exc:
            if "after shutdown" in str(exc):
                raise Unavailable(f"{self._where()} is closed") from exc
            raise
        except _EngineError as exc:
            if name is not None and name not in await loop.run_in_executor(
                storage.executor, storage.names
            ):
                # Dropped while the call ran: its shard was closed under it.
                raise self._not_found(name) from exc
            raise Unavailable(f"{self._where()}: {exc}") from exc


def _with_count(info: CollectionInfo, count: int) -> CollectionInfo:
    return replace(info, document_count=count)


def from_config(config: QdrantConfig) -> QdrantEdgeAdapter:
    """The adapter of a configured ``path:`` Qdrant store (not yet started)."""
    return QdrantEdgeAdapter.from_config(config)
