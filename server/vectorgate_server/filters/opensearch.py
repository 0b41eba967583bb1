"""Compile portable filters (see :mod:`.common`) to OpenSearch ``bool`` queries.

Typed metadata layout
=====================

OpenSearch coerces query values to the field's type: a ``term`` query for the
number ``1`` on a ``keyword`` field matches the string ``"1"``, ``"5"`` matches
the number 5 on a numeric field, ``"true"`` the boolean true. The portable
semantics say a condition whose value has another type than the field matches
nothing. So the adapter stores metadata in a *typed layout* (written by
:func:`encode_metadata`, read back by :func:`decode_metadata`): each value goes
under an object named after its type, and the index mapping (dynamic templates
on those paths) gives every leaf the matching field type::

    "metadata": {
        "str":  {"domain": "biology"},          # keyword
        "num":  {"year": 1950, "level": 1.5},   # double
        "bool": {"reviewed": true},             # boolean
        "strs": {"tags": ["a", "b"]}            # keyword, one value per element
    }

Integers of magnitude 2**53 and more are written a second time under
``int`` (mapped ``long``), the exact companion of ``num`` (a ``double``,
which rounds them; smaller integers it holds exactly): a
number condition whose values are all integers, one of them of magnitude
2**53 or more, matches ``int`` where a document has it and ``num`` where it
does not (a float, or a document
written before the companion existed), so integers compare exactly on all of
int64 while ints and floats still compare as one numeric type. (Bounds below
2**53 compare exactly on ``num`` alone: a rounded stored value beyond 2**53
stays beyond them.) ``_source``
is returned verbatim, so reading needs no companion: an int stays an int and
``3.0`` stays a float.

(The adapter still keeps one type per key and collection, as every backend
does.) A condition then addresses exactly the field of the type it applies to: ``EQ
"5"`` looks at ``metadata.str.k`` and can never match the number ``5`` (which
lives in ``metadata.num.k``), ``EQ 5`` matches ``5`` and ``5.0`` alike (both
are the double 5.0), scalar operators never look inside lists (lists live in
``metadata.strs``) and ``CONTAINS`` only looks inside them. A document that
lacks the key, or holds another type, simply has no value in that field, so
``term``/``terms``/``range`` do not match it, and the negative operators
(``NE``/``NIN``/``NOT``) are ``bool.must_not``, which OpenSearch evaluates
two-valued: they match exactly the documents the positive query does not.

Metadata keys may contain ``.``, which OpenSearch reads as an object path (and
``a`` next to ``a.b`` would then clash), so field names carry ``.`` as ``~``
(:func:`field_name`); ``~`` cannot occur in a metadata key, so the mapping is
reversible. The document id is the OpenSearch ``_id`` and is addressed with an
``ids`` query.

Values travel as JSON values of ``term``/``terms``/``range`` queries, never
spliced into text, so nothing in a value can change the query's structure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..domain import RANGE_OPS, And, Condition, Filter, Metadata, MetadataValue, Not, Op, Or
from ..errors import Unsupported
from .common import ID_FIELD, NEGATIVE_OPS, FieldType, metadata_type, positive_op, validate_filter

__all__ = [
    "BACKEND",
    "GROUPS",
    "METADATA_FIELD",
    "compile_filter",
    "decode_metadata",
    "encode_metadata",
    "field_name",
    "field_path",
    "metadata_key",
]

BACKEND = "opensearch"
#: The top-level object holding the typed metadata.
METADATA_FIELD = "metadata"
#: Sub-object of :data:`METADATA_FIELD` per value type.
GROUPS: dict[FieldType, str] = {
    FieldType.STRING: "str",
    FieldType.NUMBER: "num",
    FieldType.BOOL: "bool",
    FieldType.STRING_LIST: "strs",
}
_GROUP_TYPES = {group: kind for kind, group in GROUPS.items()}
#: Sub-object holding the exact (``long``) companion of integer numbers.
INT_GROUP = "int"
#: From this magnitude on a double no longer holds every integer.
_EXACT_DOUBLE_INT = 2**53
_RANGE_KEYS = {Op.GT: "gt", Op.GTE: "gte", Op.LT: "lt", Op.LTE: "lte"}


def field_name(key: str) -> str:
    """The OpenSearch field name of metadata key ``key`` (``.`` becomes ``~``)."""
    return key.replace(".", "~")


def metadata_key(name: str) -> str:
    """The metadata key stored under field name ``name`` (inverse of :func:`field_name`)."""
    return name.replace("~", ".")


def field_path(key: str, kind: FieldType) -> str:
    """Full path of the field holding values of type ``kind`` for metadata key ``key``."""
    return f"{METADATA_FIELD}.{GROUPS[kind]}.{field_name(key)}"


def encode_metadata(metadata: Mapping[str, MetadataValue]) -> dict[str, dict[str, Any]]:
    """The typed layout of a document's metadata (the value of :data:`METADATA_FIELD`)."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in metadata.items():
        kind = metadata_type(value)
        if kind is None:
            raise TypeError(f"metadata {key!r}: not a metadata value: {type(value).__name__}")
        stored: Any = list(value) if isinstance(value, list) else value
        out.setdefault(GROUPS[kind], {})[field_name(key)] = stored
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and abs(value) >= _EXACT_DOUBLE_INT
        ):
            out.setdefault(INT_GROUP, {})[field_name(key)] = value
    return out


def decode_metadata(stored: object) -> Metadata:
    """Metadata from the typed layout; anything else in the object is ignored.

    Values keep their JSON type (``_source`` is returned verbatim, so an int
    stays an int). Values that do not fit their group are dropped rather than
    returned with a type the group does not promise.
    """
    out: Metadata = {}
    if not isinstance(stored, Mapping):
        return out
    for group, values in stored.items():
        kind = _GROUP_TYPES.get(group)
        if kind is None or not isinstance(values, Mapping):
            continue
        for name, value in values.items():
            if kind is FieldType.STRING_LIST and isinstance(value, str):
                value = [value]  # OpenSearch treats a single value and a 1-list alike
            if metadata_type(value) is kind:
                out[metadata_key(name)] = list(value) if isinstance(value, list) else value
    return out


def compile_filter(f: Filter, path: str = "filter") -> dict[str, Any]:
    """The OpenSearch query (filter context) selecting the documents ``f`` matches.

    ``path`` names the filter in the request, for :class:`InvalidFilter` errors.
    """
    validate_filter(f, path)
    return _compile(f)


def _compile(f: Filter) -> dict[str, Any]:
    if isinstance(f, Condition):
        return _condition(f)
    if isinstance(f, And):
        return {"bool": {"filter": [_compile(child) for child in f.filters]}}
    if isinstance(f, Or):
        return {
            "bool": {
                "should": [_compile(child) for child in f.filters],
                "minimum_should_match": 1,
            }
        }
    if isinstance(f, Not):
        return {"bool": {"must_not": [_compile(f.filter)]}}
    raise TypeError(f"not a filter: {f!r}")


def _condition(c: Condition) -> dict[str, Any]:
    op = positive_op(c.op)
    value = c.value
    query: dict[str, Any]
    if c.field == ID_FIELD:
        values = list(value) if isinstance(value, tuple | list) else [value]
        query = {"ids": {"values": values}}
    elif op in (Op.IN, Op.EQ) or op in RANGE_OPS:
        operands = tuple(value) if isinstance(value, tuple | list) else (value,)
        kind = _value_type(operands[0])
        path = field_path(c.field, kind)
        query = _number_query(op, value, path)
        if (
            kind is FieldType.NUMBER
            and all(isinstance(v, int) and not isinstance(v, bool) for v in operands)
            and any(isinstance(v, int) and abs(v) >= _EXACT_DOUBLE_INT for v in operands)
        ):
            exact = f"{METADATA_FIELD}.{INT_GROUP}.{field_name(c.field)}"
            query = {
                "bool": {
                    "should": [
                        _number_query(op, value, exact),
                        {"bool": {"filter": [query], "must_not": [{"exists": {"field": exact}}]}},
                    ],
                    "minimum_should_match": 1,
                }
            }
    elif op is Op.CONTAINS:
        query = {"term": {field_path(c.field, FieldType.STRING_LIST): {"value": value}}}
    else:
        raise Unsupported(backend=BACKEND, operation=f"filter operator {c.op.name}")
    if c.op in NEGATIVE_OPS:
        return {"bool": {"must_not": [query]}}
    return query


def _number_query(op: Op, value: object, path: str) -> dict[str, Any]:
    """``terms`` (IN), ``term`` (EQ) or ``range`` on one field (of any value type)."""
    if op is Op.IN:
        assert isinstance(value, tuple | list)
        return {"terms": {path: list(value)}}
    if op is Op.EQ:
        return {"term": {path: {"value": value}}}
    return {"range": {path: {_RANGE_KEYS[op]: value}}}


def _value_type(value: object) -> FieldType:
    if isinstance(value, bool):
        return FieldType.BOOL
    if isinstance(value, int | float):
        return FieldType.NUMBER
    return FieldType.STRING
