"""Request bodies: writes (``_bulk``), scans and searches (k-NN, exact, keyword).

Pure functions of a :class:`~.layout.Layout` and domain values; the adapter
sends what they build.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from ...domain import (
    Filter,
    KeywordQuery,
    OutputFields,
    SearchQuery,
    as_float32,
)
from ...errors import InvalidArgument, Unsupported
from ...filters.opensearch import METADATA_FIELD, compile_filter, encode_metadata
from ..batches import WriteRow
from ..params import validate_native_params as _validate_native_params
from .layout import BACKEND, ID_FIELD, Layout

#: The default ``index.max_result_window``: the most hits one search returns.
MAX_RESULT_WINDOW: Final = 10_000
#: Largest ``scan`` page.
_MAX_SCAN_PAGE: Final = MAX_RESULT_WINDOW
#: Native search parameters: name -> kind.
NATIVE_PARAMS: Final[Mapping[str, str]] = {"ef_search": "int", "exact": "bool"}


def validate_native_params(params: Mapping[str, Any]) -> dict[str, int | bool]:
    """The native search parameters, validated, or ``InvalidArgument``."""
    return _validate_native_params(params, NATIVE_PARAMS, BACKEND)


def filter_clause(f: Filter | None) -> dict[str, Any] | None:
    """The compiled filter (``InvalidArgument`` naming ``filter``), None without one."""
    return compile_filter(f, "filter") if f is not None else None


def bulk_index(layout: Layout, rows: Iterable[WriteRow]) -> bytes:
    """The ``_bulk`` body (NDJSON) indexing ``rows`` (of documents or of a columnar
    batch: :mod:`..batches`) by id (replacing).

    Serialised here with orjson rather than by opensearch-py (``json.dumps`` per
    line, which spends most of a write's CPU on the vectors' floats); opensearch-py
    sends a ``bytes`` body as it is. The values are validated (finite floats,
    int64 integers, valid strings), so both write the same JSON values.
    """
    lines: list[bytes] = []
    for row in rows:
        lines.append(orjson.dumps({"index": {"_index": layout.index, "_id": row.id}}))
        lines.append(
            orjson.dumps(
                {
                    ID_FIELD: row.id,
                    layout.text_field: row.text,
                    layout.vector_field: row.values,
                    METADATA_FIELD: encode_metadata(row.metadata),
                }
            )
        )
    lines.append(b"")
    return b"\n".join(lines)


def scan_body(
    layout: Layout, after: str | None, limit: int, include_vectors: bool
) -> dict[str, Any]:
    """A page of documents in ``id`` order after ``after`` (``search_after`` the cursor)."""
    body: dict[str, Any] = {
        "size": min(limit, _MAX_SCAN_PAGE),
        "query": {"match_all": {}},
        "sort": [{ID_FIELD: "asc"}],
        "track_total_hits": False,
    }
    if after is not None:
        body["search_after"] = [after]
    if not include_vectors:
        body["_source"] = {"excludes": [layout.vector_field]}
    return body


def _source_includes(layout: Layout, output: OutputFields) -> dict[str, Any] | bool:
    """The ``_source`` of a search: only the fields ``output`` asks for."""
    includes: list[str] = []
    if output.text:
        includes.append(layout.text_field)
    if output.vector:
        includes.append(layout.vector_field)
    if output.metadata:
        includes.append(METADATA_FIELD)
    return {"includes": includes} if includes else False


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """What a k-NN search sends, and what ``explain`` says of it."""

    body: dict[str, Any]
    native_filter: dict[str, Any] | None
    #: The parameters ``explain`` reports.
    native: dict[str, Any]
    #: Exact k-NN (the ``knn_score`` script) rather than the approximate ``knn`` query.
    exact: bool


def search_plan(
    layout: Layout,
    query: SearchQuery,
    params: Mapping[str, int | bool],
    native_filter: dict[str, Any] | None,
    version: tuple[int, int],
) -> SearchPlan:
    """The search of ``query`` (``params`` its validated native parameters)."""
    filter_in_graph = layout.engine == "lucene" or (layout.engine == "faiss" and version >= (2, 9))
    exact = (
        bool(params.get("exact"))
        or not layout.ann
        or (native_filter is not None and not filter_in_graph)
    )
    if "ef_search" in params:
        if exact and (params.get("exact") or not layout.ann):
            raise InvalidArgument(
                "native_params.ef_search: only applies to approximate (HNSW) search",
                field="native_params.ef_search",
            )
        if version < (2, 16):
            raise Unsupported(
                backend=BACKEND,
                operation="native_params.ef_search",
                detail="query-time ef_search needs OpenSearch 2.16 or later",
            )
    q = as_float32(query.vector).tolist()
    knn_query: dict[str, Any]
    if exact:
        knn_query = {
            "script_score": {
                "query": native_filter or {"match_all": {}},
                "script": {
                    "source": "knn_score",
                    "lang": "knn",
                    "params": {
                        "field": layout.vector_field,
                        "query_value": q,
                        "space_type": layout.space_type,
                    },
                },
            }
        }
    else:
        spec: dict[str, Any] = {"vector": q, "k": query.top_k}
        if native_filter is not None:
            spec["filter"] = native_filter
        if "ef_search" in params:
            spec["method_parameters"] = {"ef_search": params["ef_search"]}
        knn_query = {"knn": {layout.vector_field: spec}}
    body: dict[str, Any] = {
        "size": query.top_k,
        "query": knn_query,
        "_source": _source_includes(layout, query.output),
    }
    native: dict[str, Any] = {
        "query": "script_score" if exact else "knn",
        "exact": exact,
        "space_type": layout.space_type,
        "size": query.top_k,
        **({"engine": layout.engine} if layout.engine else {}),
        **({} if exact else {"k": query.top_k}),
        **({"ef_search": params["ef_search"]} if "ef_search" in params and not exact else {}),
    }
    return SearchPlan(body, native_filter, native, exact)


def keyword_body(
    layout: Layout, query: KeywordQuery, native_filter: dict[str, Any] | None
) -> dict[str, Any]:
    """A ``match`` on the text field as the ``bool``'s ``must``, the filter its ``filter``."""
    bool_query: dict[str, Any] = {"must": [{"match": {layout.text_field: {"query": query.text}}}]}
    if native_filter is not None:
        bool_query["filter"] = [native_filter]
    return {
        "size": query.top_k,
        "query": {"bool": bool_query},
        "_source": _source_includes(layout, query.output),
        "track_total_hits": False,
    }
