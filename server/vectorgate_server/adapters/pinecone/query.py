"""Pinecone queries: the arguments a search sends, and its matches as hits."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from pinecone import ScoredVector

from ...domain import Hit, SearchQuery, normalise_score
from ...errors import InvalidArgument
from .layout import _Handle, canonical_score

#: Native search parameters (``SearchQuery.native_params``).
NATIVE_PARAMS = frozenset({"scan_factor", "max_candidates"})
#: https://www.pinecone.io/docs/limits/: top_k is at most 1,000 when values or metadata
#: are included (10,000 otherwise).
MAX_TOP_K_WITH_DATA = 1000


def native_args(params: Mapping[str, Any], top_k: int) -> dict[str, Any]:
    """The query arguments of the native parameters, checked.

    The application refuses keys outside :data:`NATIVE_PARAMS` first; the adapter
    refuses them too, as the contract suite (``vectorgate.testing``) requires of an
    adapter called directly."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        field = f"native_params.{key}"
        if key == "scan_factor":
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise InvalidArgument(f"{field}: a positive number", field=field)
            out[key] = float(value)
        elif key == "max_candidates":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or value < top_k:
                raise InvalidArgument(
                    f"{field}: an integer of at least top_k ({top_k})", field=field
                )
            out[key] = value
        else:
            raise InvalidArgument(
                f"{field}: not a Pinecone query parameter (accepted: "
                f"{', '.join(sorted(NATIVE_PARAMS))})",
                field=field,
            )
    return out


def query_args(
    query: SearchQuery, namespace: str, native_filter: dict[str, Any] | None
) -> dict[str, Any]:
    """The arguments of ``AsyncIndex.query`` for ``query`` (all but the vector)."""
    args: dict[str, Any] = {
        "top_k": query.top_k,
        "namespace": namespace,
        "include_values": query.output.vector,
        "include_metadata": query.output.text or query.output.metadata,
    }
    if (args["include_values"] or args["include_metadata"]) and (query.top_k > MAX_TOP_K_WITH_DATA):
        raise InvalidArgument(
            f"top_k: Pinecone returns at most {MAX_TOP_K_WITH_DATA} results with metadata "
            "or vectors",
            field="top_k",
        )
    args.update(native_args(query.native_params, query.top_k))
    if native_filter is not None:
        args["filter"] = native_filter
    return args


def hits(
    handle: _Handle, matches: Iterable[ScoredVector], query: SearchQuery, store: str
) -> list[Hit]:
    """Pinecone's matches as hits: canonical scores, the output ``query`` asks for."""
    out: list[Hit] = []
    for match in matches:
        values = match.values if query.output.vector else None
        doc = handle.document(match.id, match.metadata, values)
        raw = float(match.score)
        out.append(
            Hit(
                id=doc.id,
                score=normalise_score(handle.metric, canonical_score(handle.metric, raw)),
                raw_score=raw,
                text=doc.text if query.output.text else "",
                metadata=query.output.project(doc.metadata),
                vector=doc.vector,
                store=store,
                collection=handle.collection,
            )
        )
    return out
