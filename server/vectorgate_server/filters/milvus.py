"""Compile portable filters (see :mod:`.common`) to Milvus boolean expressions.

The same expression must select the same documents on the Milvus server
(two-valued logic, strictly typed JSON comparisons) and on Milvus Lite 3.x (a
pure-Python engine with Kleene three-valued logic, where a missing JSON key is
*unknown* and Python's ``True == 1`` holds). Three rules make that so:

* **Typed storage.** A vectorgate collection keeps metadata in four JSON
  fields, one per portable type (:data:`METADATA_FIELDS`): strings, numbers,
  bools and lists of strings. A condition only ever looks into the field of
  its value's type, so a bool can never compare equal to ``1``, a range never
  meets a string, and a condition on a key holding another type sees a
  missing key.
* **Two-valued atoms.** Every comparison on a JSON key is guarded,
  ``(exists F["k"]) and (F["k"] == v)``: FALSE (never unknown) when the key is
  missing, on both engines. ``json_contains`` is already FALSE for a missing
  key. So ``not (...)`` is exactly the portable negation and NE/NIN are
  compiled as ``not (EQ)`` / ``not (IN)``: true for documents without the key.
* **Escaped literals.** Strings are double-quoted with ``\\``, ``"``, newline,
  carriage return and tab escaped (the escapes both engines understand; every
  other character is literal), keys are string literals inside ``F["..."]``,
  and numbers are rendered by ``repr``. Nothing from a request reaches the
  expression unescaped.

IN on a JSON key is an OR of equalities (Milvus Lite accepts ``in`` only on
schema fields). A condition that cannot apply (an unknown field, or a schema
field of another type) is the constant FALSE (TRUE for NE/NIN); constants are
folded away, and an all-TRUE filter compiles to ``""`` (no filter) while an
all-FALSE one compiles to ``<primary key> in []``.

Collections that vectorgate did not create are compiled against their schema
(:class:`FilterSchema`): typed scalar fields compare natively (strictly typed
on both engines), ``ARRAY`` fields support CONTAINS, and with the dynamic
field enabled other keys are read from ``$meta["key"]`` -- there the engines'
own typing applies (Milvus Lite cannot tell ``true`` from ``1`` in a dynamic
key; the typed layout above exists for that reason).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..domain import RANGE_OPS, And, Condition, Filter, Not, Op, Or, Scalar
from .common import (
    ID_FIELD,
    INT64_MAX,
    INT64_MIN,
    NEGATIVE_OPS,
    FieldType,
    operands,
    positive_op,
    scalar_type,
    validate_filter,
)

__all__ = [
    "BOOL_FIELD",
    "LIST_FIELD",
    "METADATA_FIELDS",
    "NUMBER_FIELD",
    "STRING_FIELD",
    "VECTORGATE_SCHEMA",
    "FilterSchema",
    "and_expressions",
    "canonical_int_id",
    "check_native_expression",
    "compile_filter",
    "literal",
    "match_nothing",
    "string_literal",
]

#: JSON fields of a vectorgate collection holding metadata, one per value type.
STRING_FIELD = "metadata_str"
NUMBER_FIELD = "metadata_num"
BOOL_FIELD = "metadata_bool"
LIST_FIELD = "metadata_list"
METADATA_FIELDS: Mapping[FieldType, str] = {
    FieldType.STRING: STRING_FIELD,
    FieldType.NUMBER: NUMBER_FIELD,
    FieldType.BOOL: BOOL_FIELD,
    FieldType.STRING_LIST: LIST_FIELD,
}

_RANGE = {Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPE_RE = re.compile(r'[\\"\n\r\t]')
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CANONICAL_INT_RE = re.compile(r"-?(0|[1-9][0-9]*)")


@dataclass(frozen=True, slots=True)
class FilterSchema:
    """How portable field names map onto one collection's Milvus fields.

    The default (:data:`VECTORGATE_SCHEMA`) is the layout of collections
    vectorgate creates. For other collections the adapter builds one from the
    collection's schema.
    """

    #: Name of the primary-key field (the portable ``id``).
    id_field: str = "id"
    #: True when the primary key is INT64 (ids are then decimal strings).
    id_is_int: bool = False
    #: JSON fields of the typed vectorgate layout, by value type; None for other collections.
    typed_json: Mapping[FieldType, str] | None = field(default_factory=lambda: METADATA_FIELDS)
    #: Scalar schema fields usable as metadata: name -> (type, nullable).
    fields: Mapping[str, tuple[FieldType, bool]] = field(default_factory=dict)
    #: Whether other keys live in the dynamic field (``$meta``).
    dynamic: bool = False
    #: Names that are never metadata (primary key, vector and text fields).
    excluded: frozenset[str] = frozenset()


#: The layout of collections created by vectorgate.
VECTORGATE_SCHEMA = FilterSchema()


@dataclass(frozen=True, slots=True)
class _Access:
    """An expression reading one key, and the guard that is true exactly when it is present."""

    expr: str
    guard: str | None
    json: bool


def string_literal(value: str) -> str:
    """A double-quoted Milvus string literal denoting exactly ``value``."""
    return '"' + _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], value) + '"'


def literal(value: Scalar) -> str:
    """A Milvus literal for a (validated) scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value == INT64_MIN:
            # "-9223372036854775808" overflows the server's parser (unary minus
            # of 2**63); -2**63 is exact as a double.
            return repr(float(value))
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return repr(value + 0.0)  # folds -0.0 into 0.0
    return string_literal(value)


def canonical_int_id(value: str) -> int | None:
    """The INT64 primary key a string id denotes (``str(pk)`` round-trips), else None."""
    if not _CANONICAL_INT_RE.fullmatch(value):
        return None
    number = int(value)
    if not INT64_MIN <= number <= INT64_MAX or value == "-0":
        return None
    return number


def match_nothing(schema: FilterSchema) -> str:
    """An expression no document satisfies."""
    return f"{_identifier(schema.id_field)} in []"


def and_expressions(*expressions: str) -> str:
    """AND of the non-empty expressions, each parenthesised (``""`` when none)."""
    present = [e for e in expressions if e]
    if len(present) <= 1:
        return present[0] if present else ""
    return " and ".join(f"({e})" for e in present)


def compile_filter(
    f: Filter, path: str = "filter", *, schema: FilterSchema = VECTORGATE_SCHEMA
) -> str:
    """The Milvus boolean expression selecting the documents ``f`` matches.

    ``""`` means "every document". ``path`` names the filter in the request
    for :class:`~vectorgate_server.errors.InvalidFilter` errors.
    """
    validate_filter(f, path)
    result = _compile(f, schema)
    if result is True:
        return ""
    if result is False:
        return match_nothing(schema)
    return result


def check_native_expression(expression: str) -> str | None:
    """Why ``expression`` cannot safely be parenthesised and ANDed with others, or None.

    A native filter is spliced into ``(native) and (compiled)``; it must not be
    able to close that parenthesis early, so string literals must terminate
    and brackets must balance (outside literals).
    """
    if not expression.strip():
        return "the expression is empty"
    closing = {")": "(", "]": "["}
    stack: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(expression):
        ch = expression[i]
        if quote is not None:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "([":
            stack.append(ch)
        elif ch in closing and (not stack or stack.pop() != closing[ch]):
            return f"unbalanced {ch!r} at offset {i}"
        i += 1
    if quote is not None:
        return "unterminated string literal"
    if stack:
        return f"unclosed {stack[-1]!r}"
    return None


# --------------------------------------------------------------------------- compiler

_Compiled = str | bool


def _compile(f: Filter, schema: FilterSchema) -> _Compiled:
    if isinstance(f, Condition):
        return _condition(f, schema)
    if isinstance(f, And):
        return _connective(f.filters, schema, "and", absorbing=False)
    if isinstance(f, Or):
        return _connective(f.filters, schema, "or", absorbing=True)
    if isinstance(f, Not):
        inner = _compile(f.filter, schema)
        if isinstance(inner, bool):
            return not inner
        return f"not ({inner})"
    raise TypeError(f"not a filter: {f!r}")


def _connective(
    children: Sequence[Filter], schema: FilterSchema, joiner: str, *, absorbing: bool
) -> _Compiled:
    """``and`` (``absorbing`` False) or ``or`` (True) of the children, folding constants:
    a child equal to ``absorbing`` decides the whole, one equal to its opposite drops out,
    and no children left is the opposite (an empty ``and`` is true, an empty ``or`` false)."""
    parts: list[str] = []
    for child in children:
        value = _compile(child, schema)
        if isinstance(value, bool):
            if value is absorbing:
                return absorbing
            continue
        parts.append(value)
    if not parts:
        return not absorbing
    if len(parts) == 1:
        return parts[0]
    return f" {joiner} ".join(f"({p})" for p in parts)


def _negate(value: _Compiled) -> _Compiled:
    if isinstance(value, bool):
        return not value
    return f"not ({value})"


def _condition(c: Condition, schema: FilterSchema) -> _Compiled:
    op = positive_op(c.op)
    positive = _id_condition(c, op, schema) if c.field == ID_FIELD else _metadata(c, op, schema)
    return _negate(positive) if c.op in NEGATIVE_OPS else positive


def _id_condition(c: Condition, op: Op, schema: FilterSchema) -> _Compiled:
    field_name = _identifier(schema.id_field)
    rendered: list[str] = []
    for value in operands(c):
        assert isinstance(value, str)  # validated: ids are strings
        if schema.id_is_int:
            number = canonical_int_id(value)
            if number is None:
                continue  # no INT64 key has this string form
            rendered.append(str(number))
        else:
            rendered.append(string_literal(value))
    if not rendered:
        return False
    if op is Op.EQ or len(rendered) == 1:
        return f"{field_name} == {rendered[0]}"
    return f"{field_name} in [{', '.join(rendered)}]"


def _metadata(c: Condition, op: Op, schema: FilterSchema) -> _Compiled:
    if op is Op.CONTAINS:
        wanted = FieldType.STRING_LIST
    elif op in RANGE_OPS:
        wanted = FieldType.NUMBER
    else:
        first = operands(c)[0]
        kind = scalar_type(first)
        assert kind is not None  # validated
        wanted = kind
    access = _resolve(c.field, wanted, schema)
    if access is None:
        return False
    if op is Op.CONTAINS:
        assert isinstance(c.value, str)
        function = "json_contains" if access.json else "array_contains"
        expr = f"{function}({access.expr}, {string_literal(c.value)})"
    elif op in RANGE_OPS:
        assert not isinstance(c.value, tuple | list)
        expr = f"{access.expr} {_RANGE[op]} {literal(c.value)}"
    elif op is Op.EQ:
        assert not isinstance(c.value, tuple | list)
        expr = f"{access.expr} == {literal(c.value)}"
    else:  # IN
        values = operands(c)
        if len(values) == 1:
            expr = f"{access.expr} == {literal(values[0])}"
        elif access.json:
            # Milvus Lite accepts ``in`` on schema fields only.
            expr = " or ".join(f"({access.expr} == {literal(v)})" for v in values)
        else:
            expr = f"{access.expr} in [{', '.join(literal(v) for v in values)}]"
    if access.guard is None or (op is Op.CONTAINS and access.json):
        # json_contains is already FALSE (never unknown) for a missing key.
        return expr
    return f"({access.guard}) and ({expr})"


def _resolve(key: str, wanted: FieldType, schema: FilterSchema) -> _Access | None:
    if schema.typed_json is not None:
        path = f"{schema.typed_json[wanted]}[{string_literal(key)}]"
        return _Access(path, f"exists {path}", json=True)
    if key in schema.excluded:
        return None
    known = schema.fields.get(key)
    if known is not None:
        kind, nullable = known
        if kind is not wanted:
            return None
        name = _identifier(key)
        return _Access(name, f"{name} is not null" if nullable else None, json=False)
    if schema.dynamic:
        path = f"$meta[{string_literal(key)}]"
        return _Access(path, f"exists {path}", json=True)
    return None


def _identifier(name: str) -> str:
    if not _IDENT_RE.fullmatch(name):
        raise ValueError(f"{name!r} is not a Milvus field name")
    return name
