"""The OpenSearch adapter: one store's client, its layout cache and the operations.

What it sends is built by :mod:`.plan` and :mod:`.schema`, what comes back is
read by :mod:`.results`, and failures are mapped by :mod:`.errors`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from opensearchpy import AsyncOpenSearch
from opensearchpy import exceptions as os_exc

from ... import domain
from ...errors import (
    BackendUnavailable,
    FailedPrecondition,
    InvalidArgument,
    Unavailable,
)
from ..base import Capabilities
from ..batches import WriteRow, column_rows, document_rows
from ..reads import in_request_order
from ..spec import StoredSpec, new_column_types, new_field_types
from .client import client_auth, parse_version
from .errors import ErrorMap
from .layout import (
    BACKEND,
    DEFAULT_ENGINE,
    ENGINES,
    INDEX_TYPES,
    METRIC_OF_SPACE,
    Layout,
    decode_index_name,
)
from .plan import (
    MAX_RESULT_WINDOW,
    NATIVE_PARAMS,
    SearchPlan,
    bulk_index,
    filter_clause,
    keyword_body,
    scan_body,
    search_plan,
    validate_native_params,
)
from .results import document, hits, vector_score
from .schema import (
    create_body,
    index_name,
    is_vector_index,
    parse_layout,
    text_field_of,
    validate_index_spec,
)

if TYPE_CHECKING:
    from ..configs import OpenSearchConfig

#: Seconds a cached index layout is trusted before the mapping is read again.
_LAYOUT_TTL_S: Final = 30.0
#: Ids per ``_mget`` request.
_MGET_BATCH: Final = 1000


class OpenSearchAdapter:
    """An OpenSearch cluster (k-NN plugin) as a store."""

    backend = BACKEND

    def __init__(
        self,
        store: str,
        hosts: Sequence[str],
        *,
        http_auth: Any = None,
        connection_class: Any = None,
        verify_certs: bool = True,
        engine: str | None = None,
        space_type: str | None = None,
        timeout_s: float | None = None,
        index_prefix: str = "",
        max_write_batch: int = 500,
        max_retries: int = 0,
    ) -> None:
        """An adapter (not started) on the cluster at ``hosts``.

        ``http_auth`` is a ``(user, password)`` tuple or a request signer
        (``AWSV4SignerAsyncAuth``, which needs ``connection_class``
        ``AsyncHttpConnection``); ``engine`` the default k-NN engine of new
        collections (lucene); ``space_type`` the metric assumed for indexes
        whose mapping names none; ``index_prefix`` namespaces the indexes
        (only indexes with the prefix are collections).
        """
        if engine is not None and engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}")
        if space_type is not None and space_type not in METRIC_OF_SPACE:
            raise ValueError(
                f"space_type {space_type!r} has no vectorgate metric "
                f"(supported: {', '.join(sorted(METRIC_OF_SPACE))})"
            )
        if index_prefix and (
            index_prefix != index_prefix.lower() or index_prefix[0] in "_-+" or "~" in index_prefix
        ):
            raise ValueError("index_prefix must be lower case and not start with _, - or +")
        if max_write_batch < 1:
            raise ValueError("max_write_batch must be positive")
        self.store = store
        self.hosts = list(hosts)
        self.engine = engine or DEFAULT_ENGINE
        self.default_space_type = space_type
        self.index_prefix = index_prefix
        self.timeout_s = timeout_s or 30.0
        self._http_auth = http_auth
        self._connection_class = connection_class
        self._verify_certs = verify_certs
        self._max_retries = max_retries
        self.capabilities = Capabilities(
            metrics=frozenset(domain.Metric),
            filter_ops=frozenset(domain.Op),
            filter_boolean=True,
            delete_by_filter=True,
            index_types=INDEX_TYPES,
            max_write_batch=max_write_batch,
            native_params=frozenset(NATIVE_PARAMS),
            keyword_search=True,
            # cosinesimil refuses the zero vector (see the package docstring): the application
            # refuses it first, naming the field.
            zero_vector_refused=frozenset({domain.Metric.COSINE}),
            zero_vector_refused_in_queries=True,
        )
        self._client: AsyncOpenSearch | None = None
        self._layouts: dict[str, Layout] = {}
        self._errors = ErrorMap(store, self.hosts, self._layouts)
        self._version: tuple[int, int] | None = None

    @classmethod
    def from_config(cls, config: OpenSearchConfig) -> OpenSearchAdapter:
        """The adapter of a configured OpenSearch store."""
        if config.space_type is not None and config.space_type not in METRIC_OF_SPACE:
            raise BackendUnavailable(
                f"store {config.name!r}: space_type {config.space_type!r} has no vectorgate "
                f"metric (use one of {', '.join(sorted(METRIC_OF_SPACE))})"
            )
        http_auth, connection_class = client_auth(config)
        return cls(
            config.name,
            config.hosts,
            http_auth=http_auth,
            connection_class=connection_class,
            verify_certs=config.verify_certs,
            engine=config.engine,
            space_type=config.space_type,
            timeout_s=config.timeout_s,
        )

    def __repr__(self) -> str:
        return f"OpenSearchAdapter(store={self.store!r}, hosts={len(self.hosts)})"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Create the client (connections are opened on first use)."""
        kwargs: dict[str, Any] = {
            "hosts": self.hosts,
            "verify_certs": self._verify_certs,
            "timeout": self.timeout_s,
            # The gateway's one retry policy (retry.py) retries reads within the caller's
            # deadline: opensearch-py's own retries (to the next node) stay off unless
            # asked for, so they never stack on it.
            "max_retries": self._max_retries,
            "retry_on_timeout": False,
        }
        if self._http_auth is not None:
            kwargs["http_auth"] = self._http_auth
        if self._connection_class is not None:
            kwargs["connection_class"] = self._connection_class
        self._client = AsyncOpenSearch(**kwargs)

    async def close(self) -> None:
        """Close the client's connections. Idempotent."""
        client, self._client = self._client, None
        self._layouts.clear()
        if client is not None:
            await client.close()

    @property
    def client(self) -> AsyncOpenSearch:
        """The client; ``Unavailable`` when the adapter is not started."""
        if self._client is None:
            raise Unavailable(
                f"store {self.store!r} ({BACKEND}) is not open", metadata={"store": self.store}
            )
        return self._client

    async def _cluster_version(self) -> tuple[int, int]:
        if self._version is None:
            async with self._errors.translated("reading the cluster version"):
                info = await self.client.info()
            self._version = parse_version(str((info.get("version") or {}).get("number", "")))
        return self._version

    async def _layout(self, name: str, *, fresh: bool = False) -> Layout:
        cached = self._layouts.get(name)
        if cached is not None and not fresh and time.monotonic() - cached.loaded_at < _LAYOUT_TTL_S:
            return cached
        index = index_name(name, self.index_prefix)
        async with self._errors.translated("reading the index mapping", name):
            response = await self.client.indices.get(index=index, flat_settings=True)
        entry = response.get(index)
        if not isinstance(entry, Mapping):
            raise self._errors.not_found(name)
        layout = parse_layout(self.store, name, index, entry, self.default_space_type)
        self._layouts[name] = layout
        return layout

    # ------------------------------------------------------------------ collections

    async def create_collection(self, spec: domain.CollectionSpec) -> domain.CollectionInfo:
        """Create the index with its mapping and spec; ``AlreadyExists`` if present."""
        text_field = text_field_of(spec)
        stored = StoredSpec.of(
            replace(spec, text_field=text_field),
            index=validate_index_spec(spec.index, self.engine),
            create_time=datetime.now(UTC).replace(microsecond=0),
        )
        index = index_name(spec.name, self.index_prefix)
        async with self._errors.translated("creating the index", spec.name):
            try:
                await self.client.indices.create(index=index, body=create_body(spec, stored))
            except os_exc.TransportError as exc:
                if not isinstance(exc, os_exc.ConnectionError):
                    self._errors.creation_error(spec.name, exc)
                raise
        self._layouts.pop(spec.name, None)
        return stored.info(spec.name, document_count=0)

    async def describe_collection(self, name: str) -> domain.CollectionInfo:
        """The stored spec and document count (a foreign index: read from its mapping)."""
        layout = await self._layout(name, fresh=True)
        count = await self._count(name, layout, None)
        stored = layout.stored
        return stored.info(
            name,
            dimension=stored.dimension or layout.dimension,
            metric=layout.metric,
            document_count=count,
            create_time=stored.create_time or layout.creation_date,
        )

    async def list_collections(self) -> list[str]:
        """Indexes with a ``knn_vector`` field whose names map back to collection names."""
        async with self._errors.translated("listing indexes"):
            response = await self.client.indices.get_mapping()
        names: list[str] = []
        for index, entry in response.items():
            name = decode_index_name(str(index), self.index_prefix)
            if name is not None and is_vector_index(entry):
                names.append(name)
        return sorted(names)

    async def drop_collection(self, name: str) -> None:
        """Delete the index."""
        index = index_name(name, self.index_prefix)
        self._layouts.pop(name, None)
        async with self._errors.translated("deleting the index", name):
            await self.client.indices.delete(index=index)

    # ------------------------------------------------------------------ documents

    async def _count(self, name: str, layout: Layout, query: dict[str, Any] | None) -> int:
        body = {"query": query or {"match_all": {}}}
        async with self._errors.translated("counting documents", name):
            response = await self.client.count(index=layout.index, body=body)
        return int(response["count"])

    async def count(self, name: str, filter: domain.Filter | None = None) -> int:
        """Documents, optionally matching a filter."""
        query = filter_clause(filter)  # compiled (and so checked) before any network call
        return await self._count(name, await self._layout(name), query)

    async def upsert(self, name: str, documents: Sequence[domain.Document]) -> None:
        """Index the documents by id (replacing); returns once they are searchable.

        The mapping is read first (OpenSearch would auto-create a missing index
        on the first write, and the mapping has the current metadata key
        types): the whole batch is checked before anything is written.
        """
        layout = await self._layout(name, fresh=True)
        if documents:
            new_field_types(name, documents, layout.types)
            await self._index(name, layout, list(document_rows(documents)))

    async def upsert_columns(self, name: str, batch: domain.DocumentBatch) -> None:
        """:meth:`upsert` of a columnar batch: the ``_bulk`` sources read from its
        columns (one ``tolist`` of the vector block), no per-row documents; a
        rejected row is named by its position in the columns (``columns.ids[i]``)."""
        layout = await self._layout(name, fresh=True)
        if len(batch):
            new_column_types(name, batch, layout.types)
            await self._index(name, layout, list(column_rows(batch)))

    async def _index(self, name: str, layout: Layout, rows: Sequence[WriteRow]) -> None:
        """Index ``rows`` (not empty: opensearch-py refuses an empty ``_bulk`` body) in
        one ``_bulk`` call: writes come split to max_write_batch rows
        (adapters.base.upsert / upsert_columns). A rejected item is named by its row's
        path."""
        async with self._errors.translated("writing documents", name):
            response = await self.client.bulk(body=bulk_index(layout, rows), refresh="wait_for")
        self._errors.check_bulk(name, layout, response, lambda i, part: rows[i].path(part))

    async def get(
        self, name: str, ids: Sequence[str], include_vectors: bool
    ) -> list[domain.Document]:
        """Documents by id in request order (each id once); missing ids omitted."""
        layout = await self._layout(name)
        params: dict[str, Any] = {}
        if not include_vectors:
            params["_source_excludes"] = layout.vector_field

        async def fetch(chunk: Sequence[str]) -> list[domain.Document]:
            async with self._errors.translated("reading documents", name):
                response = await self.client.mget(
                    index=layout.index, body={"ids": list(chunk)}, params=params
                )
            entries = response.get("docs") or ()
            for entry in entries:
                self._errors.check_mget(name, entry)
            return [document(layout, e, include_vectors) for e in entries if e.get("found")]

        return await in_request_order(ids, _MGET_BATCH, fetch)

    async def scan(
        self, name: str, *, after: str | None, limit: int, include_vectors: bool
    ) -> list[domain.Document]:
        """The next ``limit`` (at most 10,000) documents in id order after ``after``.

        Sorted on the ``id`` keyword field (UTF-8 byte order, i.e. code point
        order; sorting on ``_id`` needs fielddata) with ``search_after`` the cursor.
        """
        layout = await self._layout(name)
        if limit <= 0:
            return []
        body = scan_body(layout, after, limit, include_vectors)
        async with self._errors.translated("scanning documents", name):
            response = await self.client.search(index=layout.index, body=body)
        found = (response.get("hits") or {}).get("hits") or ()
        return [document(layout, hit, include_vectors) for hit in found]

    async def delete(
        self, name: str, ids: Sequence[str] | None = None, filter: domain.Filter | None = None
    ) -> None:
        """Delete documents whose id is in ``ids`` or that match ``filter``."""
        unique = list(dict.fromkeys(ids or ()))
        query = filter_clause(filter)
        layout = await self._layout(name)
        if query is not None:
            if unique:
                query = {
                    "bool": {
                        "should": [{"ids": {"values": unique}}, query],
                        "minimum_should_match": 1,
                    }
                }
            async with self._errors.translated("deleting documents", name):
                await self.client.delete_by_query(
                    index=layout.index, body={"query": query}, refresh=True, conflicts="proceed"
                )
            return
        # Deletes by id are not split by the application (only writes are): one
        # ``_bulk`` per max_write_batch ids.
        size = self.capabilities.max_write_batch
        for start in range(0, len(unique), size):
            chunk = unique[start : start + size]
            body = [{"delete": {"_index": layout.index, "_id": doc_id}} for doc_id in chunk]
            async with self._errors.translated("deleting documents", name):
                response = await self.client.bulk(body=body, refresh="wait_for")
            self._errors.check_bulk(name, layout, response, lambda i, _: f"ids[{i}]")

    # ------------------------------------------------------------------ search

    async def _plan(
        self, name: str, query: domain.SearchQuery
    ) -> tuple[Layout, SearchPlan, tuple[int, int]]:
        """(layout, plan, cluster version) of a search."""
        params = validate_native_params(query.native_params)
        native_filter = filter_clause(query.filter)
        layout = await self._layout(name)
        version = await self._cluster_version()
        return layout, search_plan(layout, query, params, native_filter, version), version

    async def search(self, name: str, query: domain.SearchQuery) -> list[domain.Hit]:
        """k-NN search with the filter applied inside OpenSearch before ranking."""
        layout, plan, version = await self._plan(name, query)
        async with self._errors.translated("searching", name):
            response = await self.client.search(index=layout.index, body=plan.body)
        score = vector_score(layout, exact=plan.exact, version=version)
        return hits(
            response, layout, query.output, query.top_k, score, store=self.store, collection=name
        )

    async def keyword_search(self, name: str, query: domain.KeywordQuery) -> list[domain.Hit]:
        """BM25 full-text search on the text field, the filter applied before ranking."""
        native_filter = filter_clause(query.filter)
        if query.top_k > MAX_RESULT_WINDOW:
            raise InvalidArgument(
                f"top_k: OpenSearch returns at most {MAX_RESULT_WINDOW} hits per search",
                field="top_k",
            )
        if not query.text.strip():
            raise InvalidArgument("text: keyword search needs query text", field="text")
        layout = await self._layout(name)
        if layout.text_type != "text":
            mapped = (
                f"is mapped as {layout.text_type!r}"
                if layout.text_type is not None
                else "is not in its mapping"
            )
            raise FailedPrecondition(
                f"keyword search needs a full-text field: field {layout.text_field!r} of index "
                f"{layout.index!r} in store {self.store!r} {mapped}, not as 'text'",
                metadata={"collection": name, "store": self.store, "field": layout.text_field},
            )
        body = keyword_body(layout, query, native_filter)
        async with self._errors.translated("keyword searching", name, keyword=True):
            response = await self.client.search(index=layout.index, body=body)
        return hits(
            response, layout, query.output, query.top_k, float, store=self.store, collection=name
        )

    async def explain(self, name: str, query: domain.SearchQuery) -> domain.Explanation:
        """The compiled filter (JSON) and the parameters ``search`` would use."""
        _, plan, _ = await self._plan(name, query)
        native_filter = plan.native_filter
        text = json.dumps(native_filter, sort_keys=True) if native_filter is not None else ""
        return domain.Explanation(backend=BACKEND, native_filter=text, native_params=plan.native)
