"""The Milvus adapter: documents, search and keyword search over the layers below."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeAlias

from pymilvus import MilvusClient, MilvusException

from ... import domain
from ...errors import (
    InvalidArgument,
    LimitExceeded,
    Unsupported,
)
from ...filters.common import FieldType
from ...filters.milvus import (
    METADATA_FIELDS,
    FilterSchema,
    and_expressions,
    canonical_int_id,
    compile_filter,
    match_nothing,
    string_literal,
)
from ...workers import DEFAULT_LIMIT, StoreWorkers
from ..base import Capabilities
from ..batches import WriteRow, column_rows, document_rows
from ..configs import MilvusConfig
from ..spec import new_column_types, new_field_types, value_type
from .client import (
    _DEFAULT_TIMEOUT_S,
    BACKEND,
    _message,
    _scan_page,
)
from .layout import _Layout
from .plan import (
    _MAX_WINDOW,
    NATIVE_PARAMS,
    MilvusPlanner,
    _Plan,
)
from .schema import (
    _INDEX_PARAMS,
    _LITE_INDEX_TYPES,
    _METRICS_BY_NAME,
    TEXT_MAX_LENGTH,
)

#: Any word character: a query without one has no terms for the standard analyzer.
_WORD_RE: Final = re.compile(r"\w")

_MAX_WRITE_BATCH: Final = 1000

_MAX_READ_BATCH: Final = 1000

#: Metadata keys per type-check query (three ``exists`` terms each).
_TYPE_CHECK_KEYS: Final = 100

#: A batch's type for a metadata key, with the order (the first conflict is named)
#: and the path a conflict names: the key's first value, or its column.
_FirstValue: TypeAlias = tuple[FieldType, int, str]

_TYPE_NAMES: Final[Mapping[FieldType, str]] = {
    FieldType.STRING: "string",
    FieldType.NUMBER: "number",
    FieldType.BOOL: "bool",
    FieldType.STRING_LIST: "list-of-strings",
}


class MilvusAdapter(MilvusPlanner):
    """One Milvus store (a server, Zilliz Cloud or a Milvus Lite file)."""

    backend = BACKEND

    def __init__(
        self,
        store: str,
        uri: str,
        *,
        token: str | None = None,
        db_name: str | None = None,
        timeout_s: float | None = None,
        index_type: str | None = None,
        index_params: Mapping[str, Any] | None = None,
        metric_type: str | None = None,
        text_field: str | None = None,
        native_defaults: Mapping[str, Any] | None = None,
        max_concurrency: int = DEFAULT_LIMIT,
    ) -> None:
        self.store = store
        self._uri = uri
        self._token = token or ""
        self._db_name = db_name or ""
        self._timeout = timeout_s or _DEFAULT_TIMEOUT_S
        #: The store's own bounded threads: pymilvus blocks, so never the shared pool.
        self.workers = StoreWorkers(store, max_concurrency, wait_s=self._timeout)
        self._lite_path: str | None = None
        if "://" not in uri:
            if not uri.endswith(".db"):
                raise ValueError(
                    f"store {store!r}: a Milvus Lite uri must be a file path ending in "
                    f"'.db', got {uri!r}"
                )
            self._lite_path = str(Path(uri).expanduser().resolve())
        self._index_type = (index_type or "").upper() or None
        self._index_params = dict(index_params or {})
        if self._index_type is not None:
            self._check_index(self._index_type, self._index_params, 1, "index_type")
        self._metric_default = _METRICS_BY_NAME.get((metric_type or "").upper())
        self._text_field = text_field
        self._defaults = self._validate_defaults(native_defaults or {})
        index_types = _LITE_INDEX_TYPES if self.is_lite else frozenset(_INDEX_PARAMS)
        #: ``keyword_search`` is decided by ``start`` from the engine's version.
        self.capabilities = Capabilities(
            metrics=frozenset(domain.Metric),
            delete_by_filter=True,
            index_types=index_types,
            max_write_batch=_MAX_WRITE_BATCH,
            native_params=NATIVE_PARAMS,
            keyword_search=False,
        )
        self._client: MilvusClient | None = None
        self._server_version = ""
        #: Whether the engine has BM25 functions (known once started).
        self._full_text = False
        self._layouts: dict[str, _Layout] = {}
        self._loaded: set[str] = set()
        self._lite_acquired = False

    @classmethod
    def from_config(cls, config: MilvusConfig) -> MilvusAdapter:
        """The adapter of a configured Milvus store (not yet started)."""
        token = config.auth_token
        uri = config.connection_uri
        if config.is_lite:
            uri = str(Path(uri).expanduser())
        return cls(
            config.name,
            uri,
            token=token.get_secret_value() if token is not None else None,
            db_name=config.db_name,
            timeout_s=config.timeout_s,
            index_type=config.index_type,
            index_params=config.index_params,
            metric_type=config.metric_type or (config.metric or None),
            text_field=config.text_field,
            native_defaults=config.native_defaults,
            max_concurrency=config.max_concurrency,
        )

    # ------------------------------------------------------------------ collections

    async def describe_collection(self, name: str) -> domain.CollectionInfo:
        layout = await self._layout(name)
        count = await self._count(layout, "")
        return domain.CollectionInfo(
            name=name,
            dimension=layout.dimension,
            metric=layout.metric,
            text_field=layout.text_field or "",
            embedding_model=layout.embedding_model,
            index=layout.index,
            document_count=count,
            create_time=layout.create_time,
        )

    # ------------------------------------------------------------------ documents

    async def count(self, name: str, filter: domain.Filter | None = None) -> int:
        layout = await self._layout(name)
        expr = compile_filter(filter, schema=layout.filter_schema()) if filter else ""
        return await self._count(layout, expr)

    async def _count(self, layout: _Layout, expr: str) -> int:
        client = self._require_client()
        rows = await self._read(
            layout,
            "count",
            client.query,
            layout.stored,
            filter=expr,
            output_fields=["count(*)"],
            consistency_level="Strong",
        )
        return int(rows[0]["count(*)"]) if rows else 0

    async def upsert(self, name: str, documents: Sequence[domain.Document]) -> None:
        layout = await self._layout(name)
        by_id: dict[str, dict[str, Any]] = {}
        for doc, row in zip(documents, document_rows(documents), strict=True):
            # Milvus keeps every copy of an id repeated in one batch: the last one wins here.
            by_id.pop(doc.id, None)
            by_id[doc.id] = self._row(layout, row)
        first: dict[str, _FirstValue] = {}
        if layout.vectorgate:
            # Within the batch: the one rule every adapter shares.
            first_at: dict[str, int] = {}
            for i, doc in enumerate(documents):
                for key in doc.metadata:
                    first_at.setdefault(key, i)
            first = {
                key: (kind, first_at[key], f"documents[{first_at[key]}].metadata.{key}")
                for key, kind in new_field_types(layout.name, documents, {}).items()
            }
        await self._write(layout, list(by_id.values()), first, "documents")

    async def upsert_columns(self, name: str, batch: domain.DocumentBatch) -> None:
        """:meth:`upsert` of a columnar batch: rows built from its columns (ids unique)."""
        layout = await self._layout(name)
        rows = [self._row(layout, row) for row in column_rows(batch)]
        first: dict[str, _FirstValue] = {}
        if layout.vectorgate:
            # Within the batch: the one rule every adapter shares.
            # A column of another type than the stored one is named whole, as
            # new_column_types names it against known types.
            column_of = {key: c for c, key in enumerate(batch.metadata)}
            first = {
                key: (kind, column_of[key], f"columns.metadata[{column_of[key]}]")
                for key, kind in new_column_types(layout.name, batch, {}).items()
            }
        await self._write(layout, rows, first, "columns")

    async def _write(
        self,
        layout: _Layout,
        rows: list[dict[str, Any]],
        first: Mapping[str, _FirstValue],
        field: str,
    ) -> None:
        """Upsert rows (at most _MAX_WRITE_BATCH: adapters.base splits larger writes)
        once the batch's metadata types (``first``) are checked against the stored ones;
        ``field``: what a refusal names."""
        client = self._require_client()
        if layout.vectorgate:
            await self._check_types(layout, first)
        try:
            await self._call("upsert", client.upsert, layout.stored, rows, collection=layout.name)
        except MilvusException as exc:
            # Rows of vectorgate collections are checked above; a collection of
            # another schema may still refuse a row (a required field missing...).
            if layout.vectorgate and not exc.is_input_error:
                raise
            raise InvalidArgument(
                f"{field}: milvus rejected the write to {layout.name!r}: {_message(exc)}",
                field=field,
            ) from exc

    async def _check_types(self, layout: _Layout, first: Mapping[str, _FirstValue]) -> None:
        """A metadata key keeps one type per collection: reject a batch that changes it.

        ``first``: the type of each key in the batch (checked within the batch
        already), with the order and path of its first value. One query per
        chunk of keys finds any stored value of a batch key in another type's
        field, before anything is written; the first conflict is named.
        """
        keys = list(first)
        client = self._require_client()
        for start in range(0, len(keys), _TYPE_CHECK_KEYS):
            chunk = keys[start : start + _TYPE_CHECK_KEYS]
            terms = [
                f"exists {json_field}[{string_literal(key)}]"
                for key in chunk
                for other, json_field in METADATA_FIELDS.items()
                if other is not first[key][0]
            ]
            rows = await self._read(
                layout,
                "upsert type check",
                client.query,
                layout.stored,
                filter=" or ".join(f"({t})" for t in terms),
                output_fields=list(METADATA_FIELDS.values()),
                limit=1,
                consistency_level="Strong",
            )
            conflicts: list[tuple[int, str, FieldType]] = []
            for row in rows:
                for stored_type, json_field in METADATA_FIELDS.items():
                    values = row.get(json_field)
                    if not isinstance(values, Mapping):
                        continue
                    for key in values:
                        wanted = first.get(str(key))
                        if wanted is not None and wanted[0] is not stored_type:
                            conflicts.append((wanted[1], str(key), stored_type))
            if conflicts:
                _, key, stored_type = min(conflicts)
                path = first[key][2]
                raise InvalidArgument(
                    f"{path}: collection {layout.name!r} holds {key!r} as "
                    f"{_TYPE_NAMES[stored_type]} values, not {_TYPE_NAMES[first[key][0]]}",
                    field=path,
                )

    def _row(self, layout: _Layout, source: WriteRow) -> dict[str, Any]:
        """The pymilvus row of one row of a write (:mod:`..batches`). The application
        validated it (vector, dimension, metadata types): what is checked here is this
        collection's own schema, naming ``source.path(...)``."""
        path, doc_id, text, metadata = source.path, source.id, source.text, source.metadata
        row: dict[str, Any] = {layout.anns_field: source.values}
        if layout.pk_is_int:
            pk = canonical_int_id(doc_id)
            if pk is None:
                raise InvalidArgument(
                    f"{path('id')}: collection {layout.name!r} has INT64 ids; "
                    f"{doc_id!r} is not one",
                    field=path("id"),
                )
            row[layout.pk] = pk
        else:
            row[layout.pk] = doc_id
        if layout.text_field is not None:
            if len(text.encode()) > TEXT_MAX_LENGTH:
                raise LimitExceeded(
                    f"{path('text')}: longer than {TEXT_MAX_LENGTH} bytes, the most a Milvus "
                    "VARCHAR field holds",
                    field=path("text"),
                )
            row[layout.text_field] = text
        if layout.vectorgate:
            typed: dict[str, dict[str, domain.MetadataValue]] = {
                f: {} for f in METADATA_FIELDS.values()
            }
            for key, value in metadata.items():
                typed[METADATA_FIELDS[value_type(value)]][key] = value
            row.update(typed)
            return row
        for key, value in metadata.items():
            mpath = path(f"metadata.{key}")
            if key in row or key in layout.vectors or key in layout.sparse_fields:
                raise InvalidArgument(
                    f"{mpath}: {key!r} is a reserved field of collection {layout.name!r}",
                    field=mpath,
                )
            if key not in layout.scalars and not layout.dynamic:
                raise InvalidArgument(
                    f"{mpath}: collection {layout.name!r} has no field {key!r} and no "
                    "dynamic field",
                    field=mpath,
                )
            row[key] = value
        return row

    async def get(
        self, name: str, ids: Sequence[str], include_vectors: bool
    ) -> list[domain.Document]:
        client = self._require_client()
        layout = await self._layout(name)
        wanted = list(dict.fromkeys(ids))
        output = self._default_output(layout, text=True, metadata=True, vector=include_vectors)
        found: dict[str, domain.Document] = {}
        for start in range(0, len(wanted), _MAX_READ_BATCH):
            chunk = wanted[start : start + _MAX_READ_BATCH]
            expr = compile_filter(_ids_filter(chunk), "ids", schema=layout.filter_schema())
            rows = await self._read(
                layout,
                "get",
                client.query,
                layout.stored,
                filter=expr,
                output_fields=output,
                consistency_level="Strong",
            )
            for row in rows:
                doc = self._document(layout, row, include_vectors)
                found[doc.id] = doc
        return [found[i] for i in wanted if i in found]

    async def scan(
        self, name: str, *, after: str | None, limit: int, include_vectors: bool
    ) -> list[domain.Document]:
        """The next ``limit`` documents in id order after ``after``.

        A plain ``query`` with a limit returns an arbitrary subset (segments are
        not merged in key order), so a page is read with ``query_iterator``,
        which returns primary keys in ascending order, filtered by
        ``pk > cursor``. Integer primary keys (existing collections) order
        numerically, not as strings, so they cannot be scanned by string cursor.
        """
        client = self._require_client()
        layout = await self._layout(name)
        if limit <= 0:
            return []
        if layout.pk_is_int:
            raise Unsupported(
                backend=BACKEND,
                operation="scan",
                detail=f"collection {name!r} has an integer primary key",
            )
        expr = "" if after is None else f"{layout.pk} > {string_literal(after)}"
        output = self._default_output(layout, text=True, metadata=True, vector=include_vectors)
        rows = await self._read(
            layout,
            "scan",
            _scan_page,
            client,
            layout.stored,
            expr=expr,
            output_fields=output,
            limit=limit,
        )
        docs = [self._document(layout, row, include_vectors) for row in rows]
        docs.sort(key=lambda d: d.id)
        return docs[:limit]

    async def delete(
        self, name: str, ids: Sequence[str] | None = None, filter: domain.Filter | None = None
    ) -> None:
        client = self._require_client()
        layout = await self._layout(name)
        schema = layout.filter_schema()
        parts: list[str] = []
        if ids:
            parts.append(
                compile_filter(_ids_filter(list(dict.fromkeys(ids))), "ids", schema=schema)
            )
        if filter is not None:
            parts.append(compile_filter(filter, schema=schema) or _match_all(schema))
        nothing = match_nothing(schema)
        parts = [p for p in parts if p and p != nothing]
        if not parts:
            return
        expr = parts[0] if len(parts) == 1 else " or ".join(f"({p})" for p in parts)
        await self._call("delete", client.delete, layout.stored, filter=expr, collection=name)

    # ------------------------------------------------------------------ search

    async def search(self, name: str, query: domain.SearchQuery) -> list[domain.Hit]:
        client = self._require_client()
        layout = await self._layout(name)
        plan = await self._plan(layout, query)
        try:
            results = await self._read(
                layout,
                "search",
                client.search,
                layout.stored,
                data=[domain.as_float32(query.vector).tolist()],
                **plan.kwargs(),
            )
        except MilvusException as exc:
            raise self._search_error(exc, query) from exc
        hits: list[domain.Hit] = []
        for raw in results[0] if results else []:
            hits.append(self._hit(layout, plan, query.output, raw))
        return hits[: query.top_k]

    async def keyword_search(self, name: str, query: domain.KeywordQuery) -> list[domain.Hit]:
        """BM25 full-text search of the collection's text (see *Keyword search* above).

        The filter is compiled as for ``search`` and applied inside Milvus
        before ranking. ``Unsupported`` where the engine or the collection has
        no BM25 function.
        """
        client = self._require_client()
        layout = await self._layout(name)
        if query.top_k > _MAX_WINDOW:
            raise InvalidArgument(
                f"top_k: at most {_MAX_WINDOW} for a milvus keyword search",
                field="top_k",
            )
        sparse_field = self._keyword_field(layout)
        compiled = (
            compile_filter(query.filter, schema=layout.filter_schema()) if query.filter else ""
        )
        defaults = self._defaults.values
        native_filter = defaults["filter"] if "filter" in defaults and not layout.vectorgate else ""
        expr = and_expressions(native_filter, compiled)
        if not _WORD_RE.search(query.text) or expr == match_nothing(layout.filter_schema()):
            return []
        plan = _Plan(
            anns_field=sparse_field,
            limit=query.top_k,
            offset=0,
            filter=expr,
            output_fields=self._output_fields(
                layout, query.output, layout.anns_field, layout.text_field, None
            ),
            search_params={"metric_type": "BM25", "params": {}},
            consistency_level=defaults.get("consistencyLevel", "Strong"),
            text_field=layout.text_field,
        )
        results = await self._read(
            layout,
            "keyword search",
            client.search,
            layout.stored,
            data=[query.text],
            **plan.kwargs(),
        )
        hits: list[domain.Hit] = []
        for raw in results[0] if results else []:
            distance = float(raw["distance"])
            if distance == 0.0 or not math.isfinite(distance):
                continue  # no query term in the document
            hit = self._make_hit(
                layout,
                query.output,
                raw,
                score=abs(distance),
                raw_score=distance,
                text_field=layout.text_field,
                vector_field=layout.anns_field,
            )
            hit.store = self.store
            hit.collection = name
            hits.append(hit)
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[: query.top_k]

    def _keyword_field(self, layout: _Layout) -> str:
        """The sparse BM25 field of ``layout``; ``Unsupported`` saying why there is none."""
        if layout.keyword_field is not None and self._full_text:
            return layout.keyword_field
        if not self._full_text:
            detail = (
                f"collection {layout.name!r}: Milvus {self._server_version or '(unknown)'} "
                "of this store has no full-text search (BM25 functions need Milvus 2.5 or "
                "later, or Milvus Lite)"
            )
        elif layout.vectorgate:
            detail = (
                f"collection {layout.name!r} was created without a BM25 function (before "
                "the store had full-text search); copy it into a new collection "
                "(vectorgate copy) to search it by keyword"
            )
        else:
            field_name = repr(layout.text_field) if layout.text_field else "(none found)"
            detail = (
                f"collection {layout.name!r} has no BM25 function on its text field {field_name}"
            )
        raise Unsupported(backend=BACKEND, operation="keyword search", detail=detail)

    async def explain(self, name: str, query: domain.SearchQuery) -> domain.Explanation:
        layout = await self._layout(name)
        plan = await self._plan(layout, query)
        params = {"collection_name": layout.stored, **plan.kwargs()}
        return domain.Explanation(backend=BACKEND, native_filter=plan.filter, native_params=params)

    def _hit(
        self, layout: _Layout, plan: _Plan, output: domain.OutputFields, raw: Mapping[str, Any]
    ) -> domain.Hit:
        distance = float(raw["distance"])
        metric = _METRICS_BY_NAME[plan.search_params["metric_type"]]
        canonical = math.sqrt(max(distance, 0.0)) if metric is domain.Metric.L2 else distance
        return self._make_hit(
            layout,
            output,
            raw,
            score=domain.normalise_score(metric, canonical),
            raw_score=distance,
            text_field=plan.text_field,
            vector_field=plan.anns_field,
        )

    def _make_hit(
        self,
        layout: _Layout,
        output: domain.OutputFields,
        raw: Mapping[str, Any],
        *,
        score: float,
        raw_score: float,
        text_field: str | None,
        vector_field: str,
    ) -> domain.Hit:
        entity: Mapping[str, Any] = raw.get("entity") or {}
        # pymilvus keys the hit by the primary key's name (Milvus Lite) or "id" (server).
        pk = raw.get(layout.pk)
        if pk is None:
            pk = raw.get("id", entity.get(layout.pk))
        text = ""
        if output.text and text_field:
            value = entity.get(text_field)
            text = value if isinstance(value, str) else ""
        vector: domain.FloatArray | None = None
        if output.vector and vector_field in entity:
            vector = domain.as_float32(entity[vector_field])
        metadata: domain.Metadata = {}
        if output.metadata:
            skip = {layout.pk, vector_field}
            if text_field:
                skip.add(text_field)
            metadata = output.project(self._metadata(layout, entity, skip))
        return domain.Hit(
            id=str(pk),
            score=score,
            raw_score=raw_score,
            text=text,
            metadata=metadata,
            vector=vector,
        )

    def _metadata(
        self, layout: _Layout, entity: Mapping[str, Any], skip: Iterable[str]
    ) -> domain.Metadata:
        if layout.vectorgate:
            merged: domain.Metadata = {}
            for json_field in METADATA_FIELDS.values():
                values = entity.get(json_field)
                if isinstance(values, Mapping):
                    for key, value in values.items():
                        merged.setdefault(str(key), _metadata_value(value))
            return merged
        skipped = set(skip) | set(layout.vectors)
        out: domain.Metadata = {}
        for key, value in entity.items():
            if key in skipped or value is None:
                continue
            if key == "$meta" and isinstance(value, Mapping):
                for dkey, dvalue in value.items():
                    if dvalue is not None and dkey not in skipped:
                        out.setdefault(str(dkey), _metadata_value(dvalue))
                continue
            out[str(key)] = _metadata_value(value)
        return out

    def _document(
        self, layout: _Layout, row: Mapping[str, Any], include_vectors: bool
    ) -> domain.Document:
        text = ""
        if layout.text_field:
            value = row.get(layout.text_field)
            text = value if isinstance(value, str) else ""
        vector: domain.FloatArray | None = None
        if include_vectors and layout.anns_field in row:
            vector = domain.as_float32(row[layout.anns_field])
        skip = {layout.pk, layout.anns_field}
        if layout.text_field:
            skip.add(layout.text_field)
        return domain.Document(
            id=str(row[layout.pk]),
            text=text,
            vector=vector,
            metadata=self._metadata(layout, row, skip),
        )


def _ids_filter(ids: Sequence[str]) -> domain.Filter:
    from ...domain import Condition, Op

    return Condition("id", Op.IN, tuple(ids))


def _match_all(schema: FilterSchema) -> str:
    return f"not ({match_nothing(schema)})"


def _metadata_value(value: Any) -> domain.MetadataValue:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return json.dumps(value, sort_keys=True, default=str)
