"""The Qdrant server adapter (``qdrant_client.AsyncQdrantClient``) over the layers below."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from qdrant_client import AsyncQdrantClient, models

from ... import domain
from ...errors import InvalidArgument, NotFound, Unavailable, Unsupported, VectorgateError
from ...filters.common import FieldType
from ...filters.qdrant import compile_filter, point_id
from ..base import url_without_credentials
from ..configs import QdrantConfig
from ..sparse_text import SparseText
from ..spec import StoredSpec, decode_spec, encode_spec
from .errors import translate
from .layout import (
    _HNSW,
    BACKEND,
    FIELD_METADATA_PREFIX,
    SPARSE_VECTOR_NAME,
    SPEC_METADATA_KEY,
    _Layout,
    already_exists,
    layout_of,
    new_collection,
    not_found,
    with_count,
)
from .local import LocalStore, local_key, open_local, release_local
from .points import PointParts, Prepare, Source, column_parts, parts_off_loop, point_parts
from .store import PointQuery, QdrantStore

T = TypeVar("T")

_DEFAULT_TIMEOUT_S = 30.0

_DISTANCES: Mapping[domain.Metric, models.Distance] = {
    domain.Metric.COSINE: models.Distance.COSINE,
    domain.Metric.L2: models.Distance.EUCLID,
    domain.Metric.IP: models.Distance.DOT,
}
_METRICS: Mapping[models.Distance, domain.Metric] = {v: k for k, v in _DISTANCES.items()}


class QdrantAdapter(QdrantStore):
    """One Qdrant server store (``url``); ``path`` (qdrant-client local mode) is for tests."""

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
        super().__init__(store, keyword_search=keyword_search)
        self._url = url
        self._path = path
        self._local_key = local_key(path) if path is not None else ""
        self._api_key = api_key
        self._prefer_grpc = prefer_grpc
        # qdrant-client would default to 5 s per call; collection creation on a cluster and
        # large waited writes can take longer.
        self._timeout = max(1, math.ceil(_DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s))
        self._client: AsyncQdrantClient | None = None
        self._local: LocalStore | None = None
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
                self._local, self._client = await open_local(
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
            await release_local(local)
        elif client is not None:
            await client.close()

    # ------------------------------------------------------------------ collections

    async def create_collection(self, spec: domain.CollectionSpec) -> domain.CollectionInfo:
        """Create the collection and store the spec in its metadata."""
        stored, hnsw = new_collection(
            spec, keyword_search=self._keyword_search, encoder=self._encoder
        )
        sparse: dict[str, models.SparseVectorParams] | None = None
        if self._keyword_search:
            sparse = {SPARSE_VECTOR_NAME: models.SparseVectorParams(modifier=models.Modifier.IDF)}
        client = self._require_client()
        if await self._call(client.collection_exists(spec.name), spec.name):
            raise already_exists(self.store, spec.name)
        await self._call(
            client.create_collection(
                spec.name,
                vectors_config=models.VectorParams(
                    size=spec.dimension, distance=_DISTANCES[spec.metric]
                ),
                sparse_vectors_config=sparse,
                hnsw_config=hnsw,
                metadata={SPEC_METADATA_KEY: encode_spec(stored)},
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
        return with_count(info, 0)

    async def describe_collection(self, name: str) -> domain.CollectionInfo:
        """The stored spec (or the vector configuration) and an exact document count."""
        client = self._require_client()
        described = await self._call(client.get_collection(name), name)
        info, layout = _describe(name, described)
        self._layouts[name] = layout
        count = await self._call(client.count(name, exact=True), name)
        return with_count(info, count.count)

    async def list_collections(self) -> list[str]:
        client = self._require_client()
        response = await self._call(client.get_collections(), None)
        return sorted(c.name for c in response.collections)

    async def drop_collection(self, name: str) -> None:
        client = self._require_client()
        self._layouts.pop(name, None)
        if not await self._call(client.collection_exists(name), name):
            raise not_found(self.store, name)
        if not await self._call(client.delete_collection(name), name):
            raise not_found(self.store, name)

    # ------------------------------------------------------------------ documents

    async def upsert(self, name: str, documents: Sequence[domain.Document]) -> None:
        """Insert or replace by id; returns once Qdrant has applied the write (``wait=True``).

        The whole batch is validated first (nothing of a rejected batch is written).
        Each metadata key keeps the type it was first written with; the types live
        in the collection metadata (``vectorgate:field:<key>``). A call brings at most
        ``max_write_batch`` documents (:func:`..base.upsert` splits), sent in one request.
        """
        await self._write(name, point_parts, documents)

    async def upsert_columns(self, name: str, batch: domain.DocumentBatch) -> None:
        """:meth:`upsert` of a columnar batch, its points built from the columns (no
        per-row documents); a type conflict names ``columns.metadata[c]...``."""
        await self._write(name, column_parts, batch)

    async def _write(self, name: str, prepare: Prepare[Source], source: Source) -> None:
        """Write the points ``prepare`` builds of ``source`` against the collection's
        layout (built again against a fresh layout when it refuses a metadata type or
        adds keys: another adapter may have typed them since the layout was cached)."""
        client = self._require_client()
        lock = self._schema_locks.setdefault(name, asyncio.Lock())
        async with lock:
            layout = await self._layout(name)
            points: list[PointParts] | None = None
            new_fields: dict[str, FieldType] = {}
            with contextlib.suppress(InvalidArgument):
                points, new_fields = await parts_off_loop(prepare, source, layout, name)
            if points is None or new_fields:
                # Another adapter may have typed these keys since the layout was cached.
                cached = layout
                layout = await self._layout(name, refresh=True)
                if points is None or layout.fields != cached.fields:
                    points, new_fields = await parts_off_loop(prepare, source, layout, name)
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
        batch = [_point_struct(p, layout) for p in points]
        await self._call(client.upsert(name, points=batch, wait=True), name)

    async def delete(
        self, name: str, ids: Sequence[str] | None = None, filter: domain.Filter | None = None
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

    # ------------------------------------------------------------------ transport

    async def _count(self, name: str, filter: models.Filter | None) -> int:
        client = self._require_client()
        result = await self._call(client.count(name, count_filter=filter, exact=True), name)
        return int(result.count)

    async def _retrieve(
        self, name: str, point_ids: list[str], include_vectors: bool
    ) -> list[models.Record]:
        client = self._require_client()
        return await self._call(
            client.retrieve(name, ids=point_ids, with_payload=True, with_vectors=include_vectors),
            name,
        )

    async def _scroll(
        self, name: str, offset: str | None, limit: int, include_vectors: bool
    ) -> list[models.Record]:
        client = self._require_client()
        records, _next = await self._call(
            client.scroll(
                name,
                limit=limit,
                offset=offset,
                with_payload=True,
                with_vectors=include_vectors,
            ),
            name,
        )
        return records

    async def _query(self, name: str, query: PointQuery) -> list[models.ScoredPoint]:
        client = self._require_client()
        response = await self._call(
            client.query_points(
                name,
                query=models.SparseVector(indices=vector.indices, values=vector.values)
                if isinstance(vector := query.vector, SparseText)
                else vector,
                using=query.using,
                query_filter=query.filter,
                # Local mode always searches exhaustively and warns about search params.
                search_params=None if self.is_local else query.params,
                limit=query.limit,
                with_payload=True,
                with_vectors=query.with_vector,
            ),
            name,
        )
        return response.points

    # ------------------------------------------------------------------ internals

    def _where(self) -> str:
        mode = "local mode" if self.is_local else "server"
        return f"qdrant store {self.store!r} ({mode} at {self.location})"

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
            error = translate(
                exc,
                collection,
                store=self.store,
                where=self._where(),
                local=self.is_local,
                creating=creating,
            )
            if isinstance(error, NotFound) and collection is not None:
                self._layouts.pop(collection, None)
            raise error from exc


# --------------------------------------------------------------------------- helpers


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


def _describe(name: str, described: models.CollectionInfo) -> tuple[domain.CollectionInfo, _Layout]:
    """The collection's info and layout from its stored spec, else its vector configuration."""
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
            index=domain.IndexSpec(
                type=_HNSW,
                params={"m": hnsw.m, "ef_construct": hnsw.ef_construct}
                if hnsw is not None and hnsw.m is not None and hnsw.ef_construct is not None
                else {},
            ),
        )
    fields: dict[str, FieldType] = {}
    for meta_key, meta_value in (config.metadata or {}).items():
        if meta_key.startswith(FIELD_METADATA_PREFIX) and isinstance(meta_value, str):
            with contextlib.suppress(ValueError):
                fields[meta_key[len(FIELD_METADATA_PREFIX) :]] = FieldType(meta_value)
    layout = layout_of(
        stored,
        raw,
        config.params.sparse_vectors,
        dimension=params.size,
        metric=metric,
        vector_name=vector_name,
        fields=fields,
    )
    return stored.info(name, dimension=params.size, metric=metric), layout


def _points(
    documents: Sequence[domain.Document], layout: _Layout, collection: str
) -> tuple[list[models.PointStruct], dict[str, FieldType]]:
    """:func:`.points.point_parts` as ``qdrant_client`` points."""
    parts, new_fields = point_parts(documents, layout, collection)
    return [_point_struct(p, layout) for p in parts], new_fields


def _point_struct(parts: PointParts, layout: _Layout) -> models.PointStruct:
    """The ``qdrant_client`` point of :class:`.points.PointParts`."""
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
