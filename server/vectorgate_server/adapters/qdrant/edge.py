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
(see :mod:`vectorgate_server.adapters.qdrant`): the unnamed dense vector, the
``vg_text_bm25`` sparse vector with the IDF modifier (store option
``keyword_search``), uuid5 point ids and the ``{"id", <text_field>, "metadata",
"_vectorgate"}`` payload, written and read by the same code (:mod:`.points`);
filters are compiled by :func:`vectorgate_server.filters.qdrant.compile_filter`
and the ``qdrant_client`` model it returns is translated one to one into
qdrant-edge's mirror types (:func:`.edge_store.edge_filter`), so both Qdrant
modes match exactly the same documents. The spec a server keeps in the
collection metadata is kept in ``vectorgate.json`` (same keys, plus ``fields``:
the type of each metadata key), written atomically (temp file, fsync, rename).

Behaviour
---------
* Engine calls block (they run in Rust), so they run on a bounded thread pool of
  the store (:data:`.edge_store._MAX_WORKERS` threads), never on the event loop. Writes
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
  server mode (:class:`.adapter.QdrantAdapter`): HNSW (``m``, ``ef_construct``)
  or FLAT (no graph, exact search); ``hnsw_ef``, ``exact``, ``indexed_only``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import qdrant_edge as qe
from qdrant_client import models

from ...domain import CollectionInfo, CollectionSpec, Document, DocumentBatch, Filter
from ...errors import AlreadyExists, Unavailable, VectorgateError
from ...filters.qdrant import compile_filter, point_id
from ..configs import QdrantConfig
from ..sparse_text import SparseText
from .edge_store import (
    LOCK_FILE,
    SPEC_FILE,
    _acquire,
    _Collection,
    _engine,
    _EngineError,
    _release,
    _Storage,
    _write_spec,
    edge_config,
    edge_filter,
    edge_params,
    edge_point,
)
from .layout import _Layout, already_exists, new_collection, not_found, with_count
from .points import Prepare, Source, column_parts, point_parts
from .store import PointQuery, QdrantStore

__all__ = ["LOCK_FILE", "SPEC_FILE", "QdrantEdgeAdapter", "edge_filter"]

T = TypeVar("T")


class QdrantEdgeAdapter(QdrantStore):
    """One embedded Qdrant store: a directory of Edge Shards (or ``":memory:"``)."""

    def __init__(self, store: str, *, path: str, keyword_search: bool = True) -> None:
        super().__init__(store, keyword_search=keyword_search)
        self._path = path
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
        if not _release(storage):
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(storage.executor, storage.close)
        finally:
            storage.executor.shutdown(wait=True)

    # ------------------------------------------------------------------ collections

    async def create_collection(self, spec: CollectionSpec) -> CollectionInfo:
        stored, hnsw = new_collection(
            spec, keyword_search=self._keyword_search, encoder=self._encoder
        )
        config = edge_config(spec, hnsw, keyword_search=self._keyword_search)
        storage = self._require()
        try:
            await self._run(storage.create, spec, stored, config)
        except AlreadyExists:
            raise already_exists(self.store, spec.name) from None
        collection = await self._collection(spec.name)
        return with_count(collection.info, 0)

    async def describe_collection(self, name: str) -> CollectionInfo:
        collection = await self._collection(name)
        count = await self._run(_engine, collection.shard.count, qe.CountRequest(exact=True))
        return with_count(collection.info, int(count))

    async def list_collections(self) -> list[str]:
        storage = self._require()
        return await self._run(storage.names)

    async def drop_collection(self, name: str) -> None:
        storage = self._require()
        if not await self._run(storage.drop, name):
            raise not_found(self.store, name)

    # ------------------------------------------------------------------ documents

    async def upsert(self, name: str, documents: Sequence[Document]) -> None:
        """Insert or replace by id; returns once the engine has applied the write.

        The whole batch is validated first (nothing of a rejected batch is written).
        Each metadata key keeps the type it was first written with (``fields`` in
        ``vectorgate.json``, updated before the points are written). A call brings at
        most ``max_write_batch`` documents (:func:`..base.upsert` splits): one update.
        """
        collection = await self._collection(name)
        await self._run(self._write, collection, point_parts, documents, name=name)

    async def upsert_columns(self, name: str, batch: DocumentBatch) -> None:
        """:meth:`upsert` of a columnar batch, its points built from the columns (no
        per-row documents); a type conflict names ``columns.metadata[c]...``."""
        collection = await self._collection(name)
        await self._run(self._write, collection, column_parts, batch, name=name)

    def _write(self, collection: _Collection, prepare: Prepare[Source], source: Source) -> None:
        """Build the points of ``source`` (a metadata key keeps one type), record the
        new metadata key types, write the points: all on the pool."""
        with collection.lock:
            layout = collection.layout
            points, new_fields = prepare(source, layout, collection.name)
            if new_fields:
                fields = {**layout.fields, **new_fields}
                spec = replace(collection.spec, fields=fields)
                _write_spec(collection.directory, spec)
                collection.spec = spec
                collection.layout = layout = replace(layout, fields=fields)
        batch = [edge_point(p, layout) for p in points]
        _engine(collection.shard.update, qe.UpdateOperation.upsert_points(batch))

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

    # ------------------------------------------------------------------ transport

    async def _layout(self, name: str) -> _Layout:
        return (await self._collection(name)).layout

    async def _count(self, name: str, filter: models.Filter | None) -> int:
        collection = await self._collection(name)
        native = edge_filter(filter) if filter is not None else None
        request = qe.CountRequest(exact=True, filter=native)
        return int(await self._run(_engine, collection.shard.count, request, name=name))

    async def _retrieve(
        self, name: str, point_ids: list[str], include_vectors: bool
    ) -> list[qe.Record]:
        collection = await self._collection(name)
        return await self._run(
            _engine, collection.shard.retrieve, point_ids, True, include_vectors, name=name
        )

    async def _scroll(
        self, name: str, offset: str | None, limit: int, include_vectors: bool
    ) -> list[qe.Record]:
        collection = await self._collection(name)
        request = qe.ScrollRequest(
            offset=offset, limit=limit, with_payload=True, with_vector=include_vectors
        )
        page: tuple[list[qe.Record], Any] = await self._run(
            _engine, collection.shard.scroll, request, name=name
        )
        return page[0]

    async def _query(self, name: str, query: PointQuery) -> list[qe.ScoredPoint]:
        collection = await self._collection(name)
        vector: Any = query.vector
        if isinstance(vector, SparseText):
            vector = qe.SparseVector(vector.indices, vector.values)
        request = qe.QueryRequest(
            limit=query.limit,
            query=qe.Query.Nearest(vector)
            if query.using is None
            else qe.Query.Nearest(vector, using=query.using),
            filter=edge_filter(query.filter) if query.filter is not None else None,
            params=edge_params(query.params) if query.params is not None else None,
            with_payload=True,
            with_vector=query.with_vector,
        )
        return await self._run(_engine, collection.shard.query, request, name=name)

    # ------------------------------------------------------------------ internals

    def _where(self) -> str:
        return f"qdrant store {self.store!r} (embedded, qdrant-edge at {self._path})"

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
            raise not_found(self.store, name)
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
                raise not_found(self.store, name) from exc
            raise Unavailable(f"{self._where()}: {exc}") from exc
