"""The SQL of reads: vector search (pgvector distance operators, the filter in the
``WHERE`` clause, the index's scan settings), keyword search (PostgreSQL full text),
and the decoding of rows into documents and hits."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, LiteralString, cast

import numpy as np
from psycopg import sql

from ...domain import (
    Document,
    FloatArray,
    Hit,
    KeywordQuery,
    Metric,
    OutputFields,
    SearchQuery,
    as_float32,
    normalise_score,
)
from ...errors import InvalidArgument
from ...filters.pgvector import Predicate, compile_filter
from ..params import validate_native_params
from ..spec import stored_metadata
from .layout import BACKEND, IVFFLAT, METRIC_SQL, Layout

#: Native search parameters and their kinds (:func:`~..params.validate_native_params`).
_NATIVE_KINDS: Final[Mapping[str, str]] = {
    "hnsw_ef_search": "int",
    "ivfflat_probes": "int",
    "exact": "bool",
}
NATIVE_PARAMS: Final = frozenset(_NATIVE_KINDS)
#: Highest value of each integer native parameter (the lowest is 1).
_NATIVE_MAX: Final[Mapping[str, int]] = {"hnsw_ef_search": 1000, "ivfflat_probes": 32768}

Statement = tuple[sql.Composed, list[object]]


def predicate_of(query: SearchQuery | KeywordQuery) -> Predicate | None:
    return compile_filter(query.filter) if query.filter is not None else None


def _filter_clause(
    query: SearchQuery | KeywordQuery, keyword: LiteralString, params: list[object]
) -> sql.Composable:
    """The query's filter as `` <keyword> <predicate>`` (empty without one); its
    parameters are appended to ``params``."""
    predicate = predicate_of(query)
    if predicate is None:
        return sql.SQL("")
    params.extend(predicate.params)
    return sql.SQL(" " + keyword + " {}").format(predicate.sql)


def search_settings(layout: Layout, native: Mapping[str, Any]) -> dict[str, str]:
    """The ``SET LOCAL`` settings of a search: defaults for the index, then native params.

    Names and types are checked by the adapters' one :func:`~..params.validate_native_params`
    (the contract suite calls adapters directly with an unknown one); the upper bounds are
    pgvector's own.
    """
    settings: dict[str, str] = {}
    if layout.ann is not None and layout.ann.kind == IVFFLAT:
        lists = layout.ann.lists or 1
        settings["ivfflat.probes"] = str(max(1, round(math.sqrt(lists))))
        settings["ivfflat.iterative_scan"] = "relaxed_order"
    for key, value in validate_native_params(native, _NATIVE_KINDS, BACKEND).items():
        if key == "exact":
            if value:
                settings["enable_indexscan"] = "off"
            continue
        if value > _NATIVE_MAX[key]:
            field_name = f"native_params.{key}"
            raise InvalidArgument(
                f"{field_name}: must be between 1 and {_NATIVE_MAX[key]}", field=field_name
            )
        settings[key.replace("_", ".", 1)] = str(value)
    return settings


def _outputs(output: OutputFields, prefix: str = "") -> dict[str, sql.Composable]:
    """The text, metadata and vector columns of a read, or typed NULLs where not wanted."""
    return {
        "text": sql.SQL(f"{prefix}text" if output.text else "''"),
        "metadata": sql.SQL(f"{prefix}metadata" if output.metadata else "NULL::jsonb"),
        "vector": sql.SQL(f"{prefix}embedding" if output.vector else "NULL::vector"),
    }


def search_statement(layout: Layout, query: SearchQuery, *, iterative_scan: bool) -> Statement:
    """The vector search SQL and its parameters."""
    params: list[object] = [query.vector]
    where = _filter_clause(query, "WHERE", params)
    params.append(query.top_k)
    statement = sql.SQL(
        "SELECT id, {text}, {metadata}, {vector}, embedding {op} %s AS distance "
        "FROM {table}{where} ORDER BY distance LIMIT %s"
    ).format(
        **_outputs(query.output),
        op=sql.SQL(METRIC_SQL[layout.metric][1]),
        table=layout.ident,
        where=where,
    )
    if layout.ann is not None and layout.ann.kind == IVFFLAT and iterative_scan:
        # IVFFlat's iterative scan is relaxed-order only: sort what it returns.
        statement = sql.SQL("SELECT * FROM ({}) AS hits ORDER BY distance").format(statement)
    return statement, params


def keyword_statement(layout: Layout, query: KeywordQuery) -> Statement:
    """Full-text search: any of the query's lexemes, ranked by ``ts_rank_cd``."""
    params: list[object] = [layout.ts_config, query.text]
    where = _filter_clause(query, "AND", params)
    params.append(query.top_k)
    statement = sql.SQL(
        # The query's lexemes, each quoted as a tsquery operand, joined with OR.
        "WITH q AS (SELECT string_agg("
        "'''' || replace(replace(lexeme, '\\', '\\\\'), '''', '''''') || '''', ' | '"
        ")::tsquery AS query "
        "FROM unnest(tsvector_to_array(to_tsvector(%s::regconfig, %s::text))) AS lexeme) "
        "SELECT d.id, {text}, {metadata}, {vector}, ts_rank_cd(d.tsv, q.query) AS rank "
        "FROM {table} AS d, q WHERE d.tsv @@ q.query{where} "
        "ORDER BY rank DESC, d.id LIMIT %s"
    ).format(**_outputs(query.output, "d."), table=layout.ident, where=where)
    return statement, params


# --------------------------------------------------------------------------- results


def canonical(metric: Metric, raw: float) -> float:
    """The canonical value of a pgvector operator result."""
    if metric is Metric.COSINE:
        return 1.0 - raw
    if metric is Metric.IP:
        return -raw
    return raw


def vector_score(metric: Metric) -> Callable[[float], float]:
    """A search hit's ``score`` from the distance operator's value."""
    return lambda raw: normalise_score(metric, canonical(metric, raw))


def hits(
    rows: Sequence[Sequence[Any]],
    output: OutputFields,
    score: Callable[[float], float],
    *,
    store: str,
    collection: str,
) -> list[Hit]:
    """Hits of rows ``(id, text, metadata, vector, raw score)``."""
    out = []
    for row in rows:
        raw = float(row[4])
        out.append(
            Hit(
                id=str(row[0]),
                score=score(raw),
                raw_score=raw,
                text=str(row[1]) if output.text else "",
                metadata=output.project(stored_metadata(row[2])) if output.metadata else {},
                vector=_vector(row[3]) if output.vector else None,
                store=store,
                collection=collection,
            )
        )
    return out


def columns(include_vectors: bool) -> sql.Composable:
    """The columns :func:`document` reads."""
    return sql.SQL("id, text, metadata, {}").format(
        sql.SQL("embedding") if include_vectors else sql.SQL("NULL::vector")
    )


def document(row: Sequence[Any], include_vectors: bool) -> Document:
    return Document(
        id=str(row[0]),
        text=str(row[1] or ""),
        vector=_vector(row[3]) if include_vectors else None,
        metadata=stored_metadata(row[2]),
    )


def _vector(raw: object) -> FloatArray | None:
    if raw is None:
        return None
    if isinstance(raw, np.ndarray):
        return as_float32(raw)
    to_numpy = getattr(raw, "to_numpy", None)
    if to_numpy is not None:
        return as_float32(cast(FloatArray, to_numpy()))
    return None
