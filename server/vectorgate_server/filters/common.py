"""Backend-neutral filter semantics and the helpers every filter compiler shares.

Portable semantics
==================

Every backend compiles a :data:`~vectorgate_server.domain.Filter` tree so that
it selects exactly the documents this section describes;
``vectorgate.testing.reference`` is the executable form of it and the contract
suite checks every adapter against it.

Field types
    A metadata field holds one of four types: string, number (``int`` and
    ``float`` are one type, compared numerically: ``5`` equals ``5.0``), bool,
    or list of strings. ``bool`` is never a number. The field ``id`` addresses
    the document id, a string that every document has.

Value checks (the filter is *invalid*, :class:`~vectorgate_server.errors.InvalidFilter`)
    * ``EQ``/``NE`` take one scalar (string, number or bool).
    * ``GT``/``GTE``/``LT``/``LTE`` take one number.
    * ``IN``/``NIN`` take a non-empty list of scalars all of one type.
    * ``CONTAINS`` takes one string.
    * Numbers are finite; integers fit in 64 bits.
    * ``id`` accepts ``EQ``/``NE``/``IN``/``NIN`` with string values only.
    * ``And``/``Or`` hold at least one filter.
    * Field names are ``id`` or match :data:`~vectorgate_server.domain.METADATA_KEY_RE`.

Matching (for a valid filter)
    A condition *applies* to a document when the document has the field and
    the field's type fits the operator and value:

    =====================  ==========================================
    operator               applies when the field is
    =====================  ==========================================
    EQ, NE, IN, NIN        the scalar type of the value(s)
    GT, GTE, LT, LTE       a number
    CONTAINS               a list of strings
    =====================  ==========================================

    ``EQ``, ``IN``, ranges and ``CONTAINS`` are true only when the condition
    applies and the comparison holds (``CONTAINS``: the list has an element
    equal to the value). ``NE`` is exactly ``NOT EQ`` and ``NIN`` exactly
    ``NOT IN``: so they are *true* for documents that lack the field or hold
    another type. Scalar operators never look inside lists: ``EQ "a"`` on a
    list-of-strings field is not matched (use ``CONTAINS``).

    Logic is two-valued. ``And`` is true when all its filters are true, ``Or``
    when any is, ``Not(f)`` exactly when ``f`` is not true. No "unknown"
    (SQL ``NULL``) state ever reaches the result: a backend with three-valued
    logic must map it away (e.g. ``(expr) IS NOT TRUE``).

    Strings compare by exact code points (case-sensitive, no collation).
    Reserved names other than ``id`` (``text``, ``vector``, ...) are not
    metadata keys: a condition on them addresses a field no document has.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator

from ..domain import (
    LIST_OPS,
    METADATA_KEY_RE,
    RANGE_OPS,
    And,
    Condition,
    Filter,
    Not,
    Op,
    Or,
    Scalar,
)
from ..errors import InvalidFilter

__all__ = [
    "ID_FIELD",
    "ID_OPS",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_FILTER_DEPTH",
    "NEGATIVE_OPS",
    "FieldType",
    "applies",
    "conditions",
    "distinct_operands",
    "fields",
    "metadata_type",
    "operands",
    "positive_op",
    "scalar_type",
    "validate_filter",
]

#: The condition field that addresses the document id.
ID_FIELD = "id"
#: Operators allowed on ``id``.
ID_OPS = frozenset({Op.EQ, Op.NE, Op.IN, Op.NIN})
#: Operators that are the negation of another: true when the field is missing.
NEGATIVE_OPS = frozenset({Op.NE, Op.NIN})
#: Deepest nesting a filter tree may have.
MAX_FILTER_DEPTH = 64
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class FieldType(enum.Enum):
    """Type of a metadata field (and of a filter value)."""

    STRING = "string"
    NUMBER = "number"
    BOOL = "bool"
    STRING_LIST = "string_list"


def scalar_type(value: object) -> FieldType | None:
    """The field type of a scalar value, or None when it is not a scalar."""
    if isinstance(value, bool):
        return FieldType.BOOL
    if isinstance(value, int | float):
        return FieldType.NUMBER
    if isinstance(value, str):
        return FieldType.STRING
    return None


def metadata_type(value: object) -> FieldType | None:
    """The field type of a metadata value, or None when it is not a valid one."""
    if isinstance(value, list):
        return FieldType.STRING_LIST if all(isinstance(v, str) for v in value) else None
    return scalar_type(value)


def positive_op(op: Op) -> Op:
    """The operator a negative operator negates (``NE`` -> ``EQ``, ``NIN`` -> ``IN``)."""
    if op is Op.NE:
        return Op.EQ
    if op is Op.NIN:
        return Op.IN
    return op


def operands(c: Condition) -> tuple[Scalar, ...]:
    """The condition's value as a tuple: its list for ``IN``/``NIN``, else the one scalar."""
    value = c.value
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def distinct_operands(c: Condition) -> tuple[Scalar, ...]:
    """:func:`operands` without duplicates, the first occurrence kept (numbers compare
    numerically; the values are all of one type, but True stays apart from 1 all the same)."""
    seen: list[Scalar] = []
    for item in operands(c):
        if not any(isinstance(item, bool) == isinstance(s, bool) and item == s for s in seen):
            seen.append(item)
    return tuple(seen)


def applies(condition: Condition, field_type: FieldType | None) -> bool:
    """Whether ``condition`` applies to a field of ``field_type`` (None: absent field).

    The condition must be valid (:func:`validate_filter`).
    """
    if field_type is None:
        return False
    op = condition.op
    if op is Op.CONTAINS:
        return field_type is FieldType.STRING_LIST
    if op in RANGE_OPS:
        return field_type is FieldType.NUMBER
    value = condition.value
    first = value[0] if isinstance(value, tuple | list) else value
    return scalar_type(first) is field_type


def conditions(f: Filter) -> Iterator[Condition]:
    """Every condition in the tree, depth first."""
    stack: list[Filter] = [f]
    while stack:
        node = stack.pop()
        if isinstance(node, Condition):
            yield node
        elif isinstance(node, And | Or):
            stack.extend(reversed(node.filters))
        else:
            stack.append(node.filter)


def fields(f: Filter) -> set[str]:
    """Names of the fields the filter refers to."""
    return {c.field for c in conditions(f)}


# --------------------------------------------------------------------------- validation


def validate_filter(f: Filter, path: str = "filter") -> None:
    """Raise :class:`InvalidFilter` naming the request field when ``f`` is not valid.

    ``path`` is the request field holding the filter; children are named as in
    the protobuf request (``filter.all_of.filters[1].condition.value``).
    """
    _validate(f, path, 0)


def _validate(f: Filter, path: str, depth: int) -> None:
    if depth > MAX_FILTER_DEPTH:
        raise InvalidFilter(f"{path}: filter nested deeper than {MAX_FILTER_DEPTH}", field=path)
    if isinstance(f, Condition):
        _validate_condition(f, f"{path}.condition")
    elif isinstance(f, And | Or):
        kind = "all_of" if isinstance(f, And) else "any_of"
        lpath = f"{path}.{kind}.filters"
        if not f.filters:
            raise InvalidFilter(f"{lpath}: at least one filter is required", field=lpath)
        for i, child in enumerate(f.filters):
            _validate(child, f"{lpath}[{i}]", depth + 1)
    elif isinstance(f, Not):
        _validate(f.filter, f"{path}.negate", depth + 1)
    else:
        raise InvalidFilter(f"{path}: not a filter: {type(f).__name__}", field=path)


def _validate_condition(c: Condition, path: str) -> None:
    fpath, vpath = f"{path}.field", f"{path}.value"
    if not isinstance(c.field, str) or not (
        c.field == ID_FIELD or METADATA_KEY_RE.fullmatch(c.field)
    ):
        raise InvalidFilter(f"{fpath}: {c.field!r} is not a valid metadata key", field=fpath)
    if not isinstance(c.op, Op):
        raise InvalidFilter(f"{path}.op: not an operator: {c.op!r}", field=f"{path}.op")
    if c.field == ID_FIELD and c.op not in ID_OPS:
        raise InvalidFilter(f"{path}.op: id supports EQ, NE, IN, NIN", field=f"{path}.op")
    value = c.value
    if c.op in LIST_OPS:
        if not isinstance(value, tuple | list):
            raise InvalidFilter(f"{vpath}: {c.op.name} needs a list value", field=vpath)
        lpath = f"{vpath}.list_value"
        if not value:
            raise InvalidFilter(f"{lpath}: the list is empty", field=lpath)
        kinds: set[FieldType] = set()
        for i, item in enumerate(value):
            kinds.add(_validate_scalar(item, f"{lpath}.values[{i}]"))
        if len(kinds) > 1:
            names = sorted(k.value for k in kinds)
            raise InvalidFilter(
                f"{lpath}: values must all be of one type (got {', '.join(names)})", field=lpath
            )
        kind = kinds.pop()
    else:
        if isinstance(value, tuple | list):
            raise InvalidFilter(
                f"{vpath}: a list value is only allowed with IN and NIN", field=vpath
            )
        kind = _validate_scalar(value, vpath)
        if c.op in RANGE_OPS and kind is not FieldType.NUMBER:
            raise InvalidFilter(f"{vpath}: {c.op.name} compares numbers only", field=vpath)
        if c.op is Op.CONTAINS and kind is not FieldType.STRING:
            raise InvalidFilter(f"{vpath}: CONTAINS takes a string value", field=vpath)
    if c.field == ID_FIELD and kind is not FieldType.STRING:
        raise InvalidFilter(f"{vpath}: ids are strings", field=vpath)


def _validate_scalar(value: object, path: str) -> FieldType:
    kind = scalar_type(value)
    if kind is None:
        raise InvalidFilter(
            f"{path}: filter values are strings, numbers or bools, not {type(value).__name__}",
            field=path,
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidFilter(f"{path}: numbers must be finite", field=path)
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not INT64_MIN <= value <= INT64_MAX
    ):
        raise InvalidFilter(f"{path}: integers must fit in 64 bits", field=path)
    return kind
