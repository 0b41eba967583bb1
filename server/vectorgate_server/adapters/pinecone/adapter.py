"""The Pinecone adapter: collections, documents and search over the connection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from pinecone.models.indexes.index import IndexModel

from ... import domain
from ...errors import InvalidArgument
from ...filters.common import FieldType
from ...filters.pinecone import KEYS_KEY, stored_names, stored_type
from ..base import Capabilities
from ..batches import column_rows, document_rows
from ..configs import PineconeConfig
from ..spec import StoredSpec, new_column_types, new_field_types
from .client import PineconeConnection, _max_lsn, _Pending
from .layout import (
    BACKEND,
    DEFAULT_NAMESPACE,
    DENSE_FIELD,
    FETCH_PAGE,
    INDEX_PARAMS,
    INDEX_TYPES,
    LIST_PAGE_SIZE,
    MAX_DELETE_IDS,
    MAX_UPSERT_VECTORS,
    METRIC_TO_PINECONE,
    _Handle,
    _ScanPosition,
    collection_of,
    encode_id,
    index_name_for,
    record,
    request_batches,
    spec_from_tags,
    spec_tags,
)
from .query import NATIVE_PARAMS, hits, query_args

#: Scan positions remembered per adapter (one per copy in progress is the norm).
_MAX_SCAN_POSITIONS = 64


class PineconeAdapter(PineconeConnection):
    """One Pinecone project (store): indexes are collections."""

    backend = BACKEND
    capabilities = Capabilities(
        metrics=frozenset(domain.Metric),
        filter_boolean=True,
        delete_by_filter=True,
        index_types=INDEX_TYPES,
        max_write_batch=MAX_UPSERT_VECTORS,
        native_params=NATIVE_PARAMS,
        # "Number (integer or floating point, gets converted to a 64 bit floating point)":
        # Pinecone's metadata documentation (Filter by metadata, supported metadata types).
        metadata_numbers="double",
        # "Dense vectors must contain at least one non-zero value" (Pinecone's limits, any
        # metric); the application refuses it first. Nothing is said of query vectors.
        zero_vector_refused=frozenset(domain.Metric),
    )

    @classmethod
    def from_config(cls, config: PineconeConfig) -> PineconeAdapter:
        """The adapter for a configured store (not yet started).

        The control-plane host comes from ``PINECONE_CONTROLLER_HOST`` when
        set (the SDK's own variable), else Pinecone's public API. For new
        collections, ``region`` falls back to ``environment``, then to
        ``us-east-1``; ``cloud`` to ``aws``.
        """
        return cls(
            config.name,
            api_key=config.api_key.get_secret_value(),
            cloud=config.cloud or "aws",
            region=config.region or config.environment or "us-east-1",
            namespace=config.namespace or "",
            index_name=config.index_name,
            index_host=config.host,
            timeout_s=config.timeout_s or 30.0,
        )

    # ------------------------------------------------------------------ collections

    def _deployment(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "deployment_type": "managed",
            "cloud": str(params.get("cloud", self._cloud)),
            "region": str(params.get("region", self._region)),
        }

    @staticmethod
    def _check_index_spec(index: domain.IndexSpec) -> None:
        if index.type and index.type.upper() not in INDEX_TYPES:
            raise InvalidArgument(
                f"collection.index.type: Pinecone indexes are serverless; accepted types: "
                f"{', '.join(sorted(INDEX_TYPES))} (got {index.type!r})",
                field="collection.index.type",
            )
        for key, value in index.params.items():
            field = f"collection.index.params.{key}"
            if key not in INDEX_PARAMS:
                raise InvalidArgument(
                    f"{field}: not a Pinecone index parameter (accepted: "
                    f"{', '.join(sorted(INDEX_PARAMS))})",
                    field=field,
                )
            if not isinstance(value, str) or not value:
                raise InvalidArgument(f"{field}: must be a non-empty string", field=field)
            if key == "deletion_protection" and value not in ("enabled", "disabled"):
                raise InvalidArgument(f"{field}: 'enabled' or 'disabled'", field=field)

    async def create_collection(self, spec: domain.CollectionSpec) -> domain.CollectionInfo:
        """Create a serverless index with the spec in its tags; wait until it is ready."""
        self._check_index_spec(spec.index)
        name = index_name_for(spec.name)
        created = datetime.now(UTC).replace(microsecond=0)
        stored = StoredSpec.of(spec, create_time=created, name=spec.name)
        tags = spec_tags(stored, "collection")
        params = spec.index.params
        schema = {
            "fields": {
                DENSE_FIELD: {
                    "type": "dense_vector",
                    "dimension": spec.dimension,
                    "metric": METRIC_TO_PINECONE[spec.metric],
                }
            }
        }
        await self._control(
            lambda: self._client.indexes.create(
                name=name,
                schema=schema,
                deployment=self._deployment(params),
                deletion_protection=params.get("deletion_protection"),
                tags=tags,
                timeout=-1,
            ),
            collection=spec.name,
            field="collection",
            action="create the index",
        )
        model = await self._wait_ready(spec.name, name)
        await self._forget(spec.name)
        return self._info(spec.name, model, count=0)

    def _info(self, collection: str, model: IndexModel, count: int | None) -> domain.CollectionInfo:
        dimension, metric = self._vector_field(collection, model)
        spec = spec_from_tags(model.tags, collection)
        if spec is None:
            return domain.CollectionInfo(
                name=collection,
                dimension=dimension,
                metric=metric,
                text_field="text",
                index=domain.IndexSpec(type="SERVERLESS"),
                document_count=count,
            )
        return spec.info(collection, dimension=dimension, metric=metric, document_count=count)

    async def describe_collection(self, name: str) -> domain.CollectionInfo:
        """The spec from tags, dimension/metric from the schema, count from index stats."""
        index = index_name_for(name)
        model = await self._wait_ready(name, index)
        handle = await self._handle(name, model)
        return self._info(name, model, count=await self._count_all(handle))

    async def list_collections(self) -> list[str]:
        """Collections: indexes with a vectorgate spec, plus plain-named foreign indexes."""

        async def names() -> list[str]:
            out: list[str] = []
            async for model in self._client.indexes.list():
                name = collection_of(model)
                if name is not None:
                    out.append(name)
            return sorted(out)

        return await self._control(names, action="list indexes")

    async def drop_collection(self, name: str) -> None:
        """Delete the index and wait until it is gone."""
        index = index_name_for(name)
        await self._forget(name)
        await self._control(
            lambda: self._client.indexes.delete(index, timeout=-1),
            collection=name,
            action="delete the index",
        )

        async def gone() -> bool:
            return not await self._exists(index)

        late = f"index {index!r} still exists {self._ready_timeout_s:g}s after deletion"
        await self._poll(gone, collection=name, late=late, index=True)

    # ------------------------------------------------------------------ counting

    async def _count_all(self, handle: _Handle) -> int:
        stats = await self._data(
            handle, lambda c: c.describe_index_stats(), action="describe index stats"
        )
        keys = (self._namespace,) if self._namespace else (DEFAULT_NAMESPACE, "")
        for key in keys:
            summary = stats.namespaces.get(key)
            if summary is not None:
                return int(summary.vector_count)
        return 0

    async def count(self, name: str, filter: domain.Filter | None = None) -> int:
        """Index stats without a filter; with one, pages of ``fetch_by_metadata``."""
        handle = await self._handle(name)
        if filter is None:
            return await self._count_all(handle)
        native = self._compile(handle, filter)
        return len(await self._ids_matching(handle, native))

    async def _ids_matching(self, handle: _Handle, native: dict[str, Any]) -> list[str]:
        ids: list[str] = []
        token: str | None = None
        while True:
            page = await self._data(
                handle,
                lambda c, t=token: c.fetch_by_metadata(  # type: ignore[misc]
                    filter=native,
                    namespace=self._namespace,
                    limit=FETCH_PAGE,
                    pagination_token=t,
                ),
                field="filter",
                action="fetch by metadata",
            )
            ids.extend(page.vectors)
            token = page.pagination.next if page.pagination is not None else None
            if not token:
                return ids

    # ------------------------------------------------------------------ writes

    async def _key_type(self, handle: _Handle, key: str) -> FieldType | None:
        """The type ``key`` has in the collection (None: no document has it)."""
        known = handle.key_types.get(key)
        if known is not None:
            return known
        page = await self._data(
            handle,
            lambda c: c.fetch_by_metadata(
                filter={KEYS_KEY: {"$in": stored_names(key)}},
                namespace=self._namespace,
                limit=1,
            ),
            action="look up metadata types",
        )
        for vector in page.vectors.values():
            for stored in vector.metadata or {}:
                found = stored_type(stored)
                if found is not None and found[0] == key:
                    handle.key_types[key] = found[1]
                    return found[1]
        return None

    async def _established(self, handle: _Handle, keys: Iterable[str]) -> dict[str, FieldType]:
        """The types the collection already has for ``keys`` (a key keeps one type per
        collection, as in every other backend), looked up with ``fetch_by_metadata`` on
        the presence list (then cached)."""
        established: dict[str, FieldType] = {}
        for key in dict.fromkeys(keys):
            kind = await self._key_type(handle, key)
            if kind is not None:
                established[key] = kind
        return established

    async def upsert(self, name: str, documents: Sequence[domain.Document]) -> None:
        """One upsert request (more only past Pinecone's 2 MB); returns once visible.

        Within one call, a later document with the same id replaces an earlier one.
        """
        handle = await self._handle(name)
        built = [record(handle, row) for row in document_rows(documents)]
        types: dict[str, FieldType] = {}
        if handle.typed:
            # A key new to the collection takes the type of its first occurrence.
            types = await self._established(handle, (k for doc in documents for k in doc.metadata))
            types.update(new_field_types(handle.collection, documents, types))
        await self._write(handle, built, types, "documents")

    async def upsert_columns(self, name: str, batch: domain.DocumentBatch) -> None:
        """:meth:`upsert` of a columnar batch, its records read from the columns."""
        handle = await self._handle(name)
        built = [record(handle, row) for row in column_rows(batch)]
        types: dict[str, FieldType] = {}
        if handle.typed:
            present = (
                k for k, values in batch.metadata.items() if any(v is not None for v in values)
            )
            types = await self._established(handle, present)
            types.update(new_column_types(handle.collection, batch, types))
        await self._write(handle, built, types, "columns")

    async def _write(
        self,
        handle: _Handle,
        built: list[dict[str, Any]],
        types: Mapping[str, FieldType],
        field: str,
    ) -> None:
        """Upsert records (the last of each id) in requests within Pinecone's limits,
        then wait until they are visible; ``types``: the batch's metadata key types,
        ``field``: what a refusal names."""
        last = {rec["id"]: rec for rec in built}
        records = list(last.values())
        lsn: int | None = None
        for batch in request_batches(records):
            response = await self._data(
                handle,
                lambda c, b=batch: c.upsert(  # type: ignore[misc]
                    vectors=b, namespace=self._namespace, show_progress=False
                ),
                field=field,
                action="upsert",
            )
            lsn = _max_lsn(lsn, response.response_info)
        handle.key_types.update(types)
        await self._await_visible(handle, lsn, _Pending([r["id"] for r in records], []))

    async def delete(
        self, name: str, ids: Sequence[str] | None = None, filter: domain.Filter | None = None
    ) -> None:
        """Delete by ids (batches of 1,000) and/or by filter; returns once visible."""
        handle = await self._handle(name)
        native = self._compile(handle, filter) if filter is not None else None
        pids = [p for p in dict.fromkeys(handle.pid(i) for i in ids or ()) if p]
        lsn: int | None = None
        for start in range(0, len(pids), MAX_DELETE_IDS):
            chunk = pids[start : start + MAX_DELETE_IDS]
            lsn = _max_lsn(lsn, await self._delete_call(handle, {"ids": chunk}, "ids"))
        if native is not None:
            lsn = _max_lsn(lsn, await self._delete_call(handle, {"filter": native}, "filter"))
        await self._await_visible(handle, lsn, _Pending([], pids, native))

    # ------------------------------------------------------------------ reads

    async def get(
        self, name: str, ids: Sequence[str], include_vectors: bool
    ) -> list[domain.Document]:
        """Fetch in URL-sized chunks; documents in the order of ``ids`` (each id once)."""
        handle = await self._handle(name)
        pids = [p for p in dict.fromkeys(handle.pid(i) for i in ids) if p is not None]
        return await self._documents(handle, pids, include_vectors)

    async def _documents(
        self, handle: _Handle, pids: Sequence[str], include_vectors: bool
    ) -> list[domain.Document]:
        """The documents stored under these Pinecone ids, in their order (absent ones left
        out)."""
        found = await self._fetch(handle, pids, field="ids", action="fetch")
        return [
            handle.document(pid, vector.metadata, vector.values if include_vectors else None)
            for pid in pids
            if (vector := found.get(pid)) is not None
        ]

    async def scan(
        self, name: str, *, after: str | None, limit: int, include_vectors: bool
    ) -> list[domain.Document]:
        """The next ``limit`` documents in Pinecone id order after document ``after``.

        ``list`` pages ids (at most 100 a call) in ascending order of the stored
        Pinecone id (the percent-encoded document id), which is the scan order;
        its pagination token is opaque, so it cannot start after a given id.
        Where the previous page of this adapter ended, the listing continues from
        the remembered token; any other cursor (a resume) lists from the start
        and skips ids up to the cursor's Pinecone id. The page is then fetched.
        """
        handle = await self._handle(name)
        if limit <= 0:
            return []
        cursor = None if after is None else (encode_id(after) if handle.typed else after)
        position = self._scan_positions.pop((name, cursor), None) if cursor is not None else None
        if position is None:
            position = _ScanPosition(buffer=[], token=None, exhausted=False, skip_to=cursor)
        pids: list[str] = []
        while len(pids) < limit:
            if position.buffer:
                take = limit - len(pids)
                pids.extend(position.buffer[:take])
                position.buffer = position.buffer[take:]
                continue
            if position.exhausted:
                break
            token = position.token
            response = await self._data(
                handle,
                lambda c, t=token: c.list_paginated(  # type: ignore[misc]
                    limit=LIST_PAGE_SIZE, pagination_token=t, namespace=self._namespace
                ),
                action="list",
            )
            ids = [str(item.id) for item in response.vectors]
            skip_to = position.skip_to
            if skip_to is not None:
                ids = [i for i in ids if i > skip_to]
            position.buffer = ids
            nxt = response.pagination.next if response.pagination is not None else None
            position.token = nxt or None
            position.exhausted = position.token is None
        if not pids:
            return []
        if len(self._scan_positions) >= _MAX_SCAN_POSITIONS:
            self._scan_positions.pop(next(iter(self._scan_positions)))
        self._scan_positions[(name, pids[-1])] = position
        return await self._documents(handle, pids, include_vectors)

    # ------------------------------------------------------------------ search

    def _query_args(self, handle: _Handle, query: domain.SearchQuery) -> dict[str, Any]:
        native = self._compile(handle, query.filter) if query.filter is not None else None
        return query_args(query, self._namespace, native)

    async def search(self, name: str, query: domain.SearchQuery) -> list[domain.Hit]:
        """One Pinecone query with the filter pushed down; scores made canonical."""
        handle = await self._handle(name)
        args = self._query_args(handle, query)
        vector = domain.as_float32(query.vector).tolist()
        field = (
            "native_params"
            if query.native_params
            else ("filter" if query.filter is not None else "vector")
        )
        response = await self._data(
            handle, lambda c: c.query(vector=vector, **args), field=field, action="query"
        )
        return hits(handle, response.matches, query, self.store)

    async def explain(self, name: str, query: domain.SearchQuery) -> domain.Explanation:
        """The filter JSON and query parameters :meth:`search` would send."""
        handle = await self._handle(name)
        args = self._query_args(handle, query)
        args["metric"] = METRIC_TO_PINECONE[handle.metric]
        native = args.pop("filter", None)
        text = orjson.dumps(native).decode() if native is not None else ""
        return domain.Explanation(backend=BACKEND, native_filter=text, native_params=args)
