"""Search requests of both Qdrant modes: the native parameters and ``explain``.

Filters are compiled by :func:`vectorgate_server.filters.qdrant.compile_filter`
(the embedded mode translates the result one to one, :func:`.edge_store.edge_filter`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from qdrant_client import models

from ...domain import Explanation, SearchQuery
from ...filters.qdrant import compile_filter
from ..params import validate_native_params
from .layout import _FLAT, BACKEND, NATIVE_PARAMS, _Layout


def search_params(layout: _Layout, native: Mapping[str, Any]) -> models.SearchParams:
    """The search params of a query: a FLAT collection searches exactly unless told otherwise."""
    values: dict[str, Any] = {"exact": True} if layout.index.type == _FLAT else {}
    values.update(validate_native_params(native, NATIVE_PARAMS, BACKEND))
    return models.SearchParams(**values)


def explanation(layout: _Layout, query: SearchQuery) -> Explanation:
    """The native filter (JSON of the ``qdrant_client`` model) and params ``search`` sends."""
    native_filter = (
        json.dumps(
            compile_filter(query.filter).model_dump(mode="json", exclude_none=True),
            sort_keys=True,
        )
        if query.filter is not None
        else ""
    )
    params = search_params(layout, query.native_params)
    native: dict[str, Any] = {
        "limit": query.top_k,
        **params.model_dump(mode="json", exclude_unset=True),
    }
    if layout.vector_name is not None:
        native["using"] = layout.vector_name
    return Explanation(backend=BACKEND, native_filter=native_filter, native_params=native)
