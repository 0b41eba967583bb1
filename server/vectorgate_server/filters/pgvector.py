"""Compile portable filters (see :mod:`.common`) to parameterised PostgreSQL predicates.

Table layout (written by :mod:`vectorgate_server.adapters.pgvector`)::

    id text COLLATE "C" PRIMARY KEY, embedding vector(d), text text,
    metadata jsonb NOT NULL  -- {"<key>": <string | number | bool | [string, ...]>}

The predicate is a :class:`psycopg.sql.Composed` with ``%s`` placeholders and
the values in :attr:`Predicate.params`: values are never written into the SQL
text, and metadata keys travel as parameters too (``metadata -> %s::text``).
Each operator compiles to the JSONB construct whose semantics are exactly the
portable ones, and which the metadata column's ``jsonb_path_ops`` GIN index
serves where an index can help:

* ``EQ`` (string, number, bool) is containment, ``metadata @> {"k": v}``.
  JSONB containment is typed: a string never contains a number or a bool,
  numbers compare numerically (``12`` matches ``12.0``), and below the top
  level an array does not contain a scalar, so ``{"k": ["a"]}`` does not
  match ``{"k": "a"}``: scalar operators never look inside lists. GIN-indexed.
* ``IN`` is the ``OR`` of those containments (each GIN-indexed, a BitmapOr);
  more than :data:`MAX_OR_VALUES` values compile to one
  ``metadata @> ANY(%s::jsonb[])`` instead, which keeps the plan small.
* ``CONTAINS`` is ``metadata @> {"k": [v]}``: true only for a list holding
  ``v`` (a plain string field is not an array). GIN-indexed.
* ``GT``/``GTE``/``LT``/``LTE`` compare JSONB numbers (numerically, exact for
  integers of any size) after checking ``jsonb_typeof(...) = 'number'``, which
  keeps strings and bools out (JSONB orders them against numbers by type);
  ``IS TRUE`` turns the ``NULL`` of a missing key into false. No index: a
  range over arbitrary keys has no generic expression index.
* ``id`` conditions use the primary key: ``id = %s`` / ``id = ANY(%s)``.
* PostgreSQL strings cannot hold NUL (U+0000), so no stored id or value
  contains one (the adapter rejects such writes): a string value with NUL
  matches nothing, and compiles to ``false`` (dropped from an ``IN`` list).
* ``NE``/``NIN``/``NOT`` are ``NOT (...)`` of the positive predicate. Every
  predicate above is two-valued (never ``NULL``: the metadata column is
  ``NOT NULL``), so the negation holds exactly when the condition does not,
  missing keys included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from psycopg import sql

from ..domain import RANGE_OPS, And, Condition, Filter, Not, Op, Or
from .common import ID_FIELD, NEGATIVE_OPS, distinct_operands, positive_op, validate_filter

__all__ = ["MAX_OR_VALUES", "Predicate", "compile_filter", "json_param"]

#: ``IN`` lists up to this long compile to an OR of GIN-indexed containments.
MAX_OR_VALUES = 32

_FALSE = sql.SQL("false")
_RANGE_SQL = {
    Op.GT: sql.SQL(">"),
    Op.GTE: sql.SQL(">="),
    Op.LT: sql.SQL("<"),
    Op.LTE: sql.SQL("<="),
}


@dataclass(frozen=True, slots=True)
class Predicate:
    """A SQL boolean expression with ``%s`` placeholders and their values, in order."""

    sql: sql.Composable
    params: tuple[object, ...]

    def render(self) -> str:
        """The predicate as text with the placeholders, then its parameters (for explain)."""
        text = self.sql.as_string(None)
        return f"{text} -- params: {json.dumps(list(self.params), ensure_ascii=False)}"


def json_param(value: object) -> str:
    """A JSON document as the text parameter of a ``%s::jsonb`` placeholder."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def compile_filter(
    f: Filter,
    *,
    id_column: str = "id",
    metadata_column: str = "metadata",
    path: str = "filter",
) -> Predicate:
    """The predicate selecting exactly the rows whose document ``f`` matches.

    ``path`` names the filter in the request, for :class:`InvalidFilter` errors.
    """
    validate_filter(f, path)
    compiler = _Compiler(sql.Identifier(id_column), sql.Identifier(metadata_column))
    expression = compiler.compile(f)
    return Predicate(expression, tuple(compiler.params))


class _Compiler:
    def __init__(self, id_column: sql.Identifier, metadata_column: sql.Identifier) -> None:
        self.id = id_column
        self.metadata = metadata_column
        self.params: list[object] = []

    def compile(self, f: Filter) -> sql.Composable:
        if isinstance(f, Condition):
            positive = self._id(f) if f.field == ID_FIELD else self._field(f)
            if f.op in NEGATIVE_OPS:
                return sql.SQL("NOT ({})").format(positive)
            return positive
        if isinstance(f, And | Or):
            parts = [self.compile(child) for child in f.filters]
            if len(parts) == 1:
                return parts[0]
            joiner = sql.SQL(" AND ") if isinstance(f, And) else sql.SQL(" OR ")
            return sql.SQL("({})").format(joiner.join(parts))
        if isinstance(f, Not):
            return sql.SQL("NOT ({})").format(self.compile(f.filter))
        raise TypeError(f"not a filter: {f!r}")

    def _param(self, value: object, cast: str) -> sql.Composable:
        self.params.append(value)
        return sql.SQL("%s::" + cast)

    def _id(self, c: Condition) -> sql.Composable:
        values = [str(v) for v in distinct_operands(c) if not _has_nul(v)]
        if not values:
            return _FALSE
        if len(values) == 1:
            return sql.SQL("{} = {}").format(self.id, self._param(values[0], "text"))
        return sql.SQL("{} = ANY({})").format(self.id, self._param(values, "text[]"))

    def _contains(self, document: object) -> sql.Composable:
        return sql.SQL("{} @> {}").format(self.metadata, self._param(json_param(document), "jsonb"))

    def _field(self, c: Condition) -> sql.Composable:
        op = positive_op(c.op)
        key = c.field
        if op is Op.CONTAINS:
            return _FALSE if _has_nul(c.value) else self._contains({key: [c.value]})
        if op in RANGE_OPS:
            first = sql.SQL("jsonb_typeof({} -> {}) = 'number'").format(
                self.metadata, self._param(key, "text")
            )
            compare = sql.SQL("({} -> {}) {} {}").format(
                self.metadata,
                self._param(key, "text"),
                _RANGE_SQL[op],
                self._param(json_param(c.value), "jsonb"),
            )
            return sql.SQL("({} AND {}) IS TRUE").format(first, compare)
        values = [v for v in distinct_operands(c) if not _has_nul(v)]
        if not values:
            return _FALSE
        if len(values) == 1:
            return self._contains({key: values[0]})
        if len(values) > MAX_OR_VALUES:
            documents = [json_param({key: v}) for v in values]
            return sql.SQL("{} @> ANY({})").format(self.metadata, self._param(documents, "jsonb[]"))
        return sql.SQL("({})").format(
            sql.SQL(" OR ").join(self._contains({key: v}) for v in values)
        )


def _has_nul(value: object) -> bool:
    return isinstance(value, str) and "\x00" in value
