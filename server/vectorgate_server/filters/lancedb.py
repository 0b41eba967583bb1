"""Compile portable filters (see :mod:`.common`) to LanceDB SQL ``WHERE`` clauses.

LanceDB evaluates the clause with DataFusion. The translation keeps the
portable two-valued semantics over SQL's three-valued logic with one
invariant: *every compiled sub-expression is TRUE exactly when the portable
filter is true* (it may be FALSE or NULL otherwise). ``AND`` and ``OR``
preserve that invariant, and negation is compiled as ``(expr) IS NOT TRUE``,
which is TRUE exactly when ``expr`` is FALSE or NULL. So a NULL column (a
document without the key) never matches ``EQ`` but always matches ``NE``, and
``NOT`` never leaks NULL.

A condition that cannot apply (the key is unknown to the table, or the
column has another type) compiles to the constant ``FALSE`` (``TRUE`` for
``NE``/``NIN``), so the query never references a column that does not exist.

Values are always rendered as escaped literals and identifiers are always
quoted; nothing from the request is spliced into the SQL unescaped.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from ..domain import RANGE_OPS, And, Condition, Filter, Not, Op, Or, Scalar
from .common import (
    ID_FIELD,
    NEGATIVE_OPS,
    FieldType,
    applies,
    operands,
    positive_op,
    validate_filter,
)

__all__ = [
    "INT_COLUMN_SUFFIX",
    "column_name",
    "compile_filter",
    "int_column_name",
    "metadata_key",
    "quote_identifier",
    "sql_literal",
]

_RANGE_SQL = {Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}


def column_name(key: str) -> str:
    """The table column that stores metadata key ``key``.

    Lance forbids ``.`` in top-level column names and reserves names starting
    with ``_`` (``_rowid``, ``_rowaddr``, ...). Metadata keys may use both, so
    ``.`` becomes ``:`` and a leading ``_`` gets a ``:`` prefix. ``:`` cannot
    occur in a metadata key, so the mapping is reversible (:func:`metadata_key`).
    """
    column = key.replace(".", ":")
    return ":" + column if column.startswith("_") else column


#: From this magnitude on a float64 no longer holds every integer.
_EXACT_DOUBLE_INT = 2**53
#: Suffix of the int64 companion column of a number key (``#`` never occurs in a key).
INT_COLUMN_SUFFIX = "#int64"


def int_column_name(column: str) -> str:
    """The int64 companion of a number column: the exact value of rows that stored an int."""
    return column + INT_COLUMN_SUFFIX


def metadata_key(column: str) -> str:
    """The metadata key stored in ``column`` (inverse of :func:`column_name`)."""
    if column.startswith(":"):
        column = column[1:]
    return column.replace(":", ".")


def quote_identifier(name: str) -> str:
    """A column name quoted for LanceDB SQL."""
    if "`" in name:
        # Column names come from validated metadata keys or the fixed columns.
        raise ValueError(f"column name {name!r} cannot be quoted")
    return f"`{name}`"


def sql_literal(value: Scalar) -> str:
    """An escaped SQL literal for a (validated) scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value == -(2**63):
            # The parser reads "-9223372036854775808" as minus an out-of-range literal.
            return "(-9223372036854775807 - 1)"
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return "'" + value.replace("'", "''") + "'"


def compile_filter(
    f: Filter,
    schema_types: Mapping[str, FieldType],
    *,
    path: str = "filter",
    columns: Mapping[str, str] | None = None,
    integer_keys: Collection[str] = (),
    int_columns: Mapping[str, str] | None = None,
) -> str:
    """The SQL ``WHERE`` clause selecting the documents ``f`` matches.

    ``schema_types`` maps the table's metadata keys to their types; ``columns``
    maps keys to column names where they differ from :func:`column_name`;
    ``integer_keys`` are number keys stored in integer columns (tables not
    created by vectorgate): they are compared as ``CAST(column AS DOUBLE)``,
    because DataFusion will not coerce a float literal to an integer column.
    ``int_columns`` maps number keys to their int64 companion column (the
    exact value of rows that stored an int, null for a float): a condition on
    such a key compares the companion where it is set and the float64 column
    elsewhere, so integers beyond 2**53 compare exactly. Only conditions with an
    integer of magnitude 2**53 or more need it: smaller bounds compare exactly on
    the float64 column (a rounded stored value beyond 2**53 stays beyond them).
    ``path`` names the filter in the request, for :class:`InvalidFilter` errors.
    """
    validate_filter(f, path)
    return _Compiler(schema_types, columns or {}, integer_keys, int_columns or {}).compile(f)


class _Compiler:
    def __init__(
        self,
        types: Mapping[str, FieldType],
        columns: Mapping[str, str],
        integer_keys: Collection[str],
        int_columns: Mapping[str, str],
    ) -> None:
        self.types = types
        self.columns = columns
        self.integer_keys = integer_keys
        self.int_columns = int_columns

    def compile(self, f: Filter) -> str:
        if isinstance(f, Condition):
            return self.condition(f)
        if isinstance(f, And | Or):
            joiner = " AND " if isinstance(f, And) else " OR "
            return joiner.join(f"({self.compile(child)})" for child in f.filters)
        if isinstance(f, Not):
            return f"({self.compile(f.filter)}) IS NOT TRUE"
        raise TypeError(f"not a filter: {f!r}")

    def condition(self, c: Condition) -> str:
        if c.field == ID_FIELD:
            return _condition(c, quote_identifier(ID_FIELD))
        ftype = self.types.get(c.field)
        if not applies(c, ftype):
            return "TRUE" if c.op in NEGATIVE_OPS else "FALSE"
        column = quote_identifier(self.columns.get(c.field) or column_name(c.field))
        if ftype is FieldType.NUMBER and c.field in self.integer_keys:
            column = f"CAST({column} AS DOUBLE)"
        companion = self.int_columns.get(c.field) if ftype is FieldType.NUMBER else None
        values = operands(c)
        if companion is not None and any(
            isinstance(v, int) and not isinstance(v, bool) and abs(v) >= _EXACT_DOUBLE_INT
            for v in values
        ):
            # Exact on rows that stored an int, float64 on the others. Both branches are
            # positive conditions; the negation (NE, NIN) wraps the whole.
            exact = quote_identifier(companion)
            if any(isinstance(v, float) for v in values):
                # DataFusion does not compare an integer column with a float literal.
                exact_expr = f"CAST({exact} AS DOUBLE)"
            else:
                exact_expr = exact
            positive = Condition(c.field, positive_op(c.op), c.value)
            expr = (
                f"(({exact} IS NOT NULL AND {_condition(positive, exact_expr)}) OR "
                f"({exact} IS NULL AND {_condition(positive, column)}))"
            )
            return f"({expr}) IS NOT TRUE" if c.op in NEGATIVE_OPS else expr
        return _condition(c, column)


def _condition(c: Condition, column: str) -> str:
    """SQL for a condition that applies, on a quoted column expression."""
    negative = c.op in NEGATIVE_OPS
    op = positive_op(c.op)
    value = c.value
    if op is Op.IN:
        assert isinstance(value, tuple | list)
        expr = f"{column} IN ({', '.join(sql_literal(v) for v in value)})"
    else:
        assert not isinstance(value, tuple | list)
        if op is Op.EQ:
            expr = f"{column} = {sql_literal(value)}"
        elif op in RANGE_OPS:
            expr = f"{column} {_RANGE_SQL[op]} {sql_literal(value)}"
        else:
            expr = f"array_has({column}, {sql_literal(value)})"
    return f"({expr}) IS NOT TRUE" if negative else expr
