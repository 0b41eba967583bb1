"""Compile portable filters (see :mod:`.common`) to Pinecone metadata filters.

Pinecone's filter language (``$eq $ne $gt $gte $lt $lte $in $nin $exists
$and $or``, no ``$not``) cannot express the portable semantics over raw
metadata, for three documented reasons:

* a list-of-strings value "takes on each of its values": ``{"k": "a"}``,
  ``{"k": {"$eq": "a"}}`` and ``{"k": {"$in": ["a"]}}`` all match a document
  whose ``k`` is ``["a", "b"]``, whereas portable ``EQ``/``IN`` never look
  inside lists and ``CONTAINS`` never matches a scalar;
* ``$ne`` and ``$nin`` match only documents that *have* the field, whereas
  portable ``NE``/``NIN``/``NOT`` are true for documents that lack it;
* ``$in``/``$nin`` take strings and numbers only, not booleans.

So vectorgate stores metadata in a *typed layout* (written by the adapter,
described in :func:`encode_metadata`): each key is stored under a name that
carries its type (``s:`` string, ``n:`` number, ``b:`` bool, ``l:`` non-empty
list of strings), and a list-valued presence key ``_vg:keys`` names every
stored key a document has. A condition then addresses exactly the documents
whose field has the type it applies to, and "the document lacks the typed
key" is ``{"_vg:keys": {"$nin": ["s:k"]}}`` (``_vg:keys`` is on every
document and never empty). ``NOT`` is pushed down to the conditions with De
Morgan's laws; a negated condition compiles to
``{"$or": [<lacks the typed key>, <inverse operator on the typed key>]}``,
which is exact whatever ``$ne`` does with absent fields. An empty list is
stored as a marker key (``e:k``) that no filter reads: for every portable
operator an empty list behaves exactly like an absent field.

The document id is stored in ``_vg:id`` (every document has it), so ``id``
conditions filter on metadata; its complement needs no presence test.

Values travel as JSON values, never spliced into text, so nothing in a value
can change the structure of the filter.
"""

from __future__ import annotations

from typing import Any

from ..domain import RANGE_OPS, And, Condition, Filter, Not, Op, Or, Scalar
from ..errors import Unsupported
from .common import ID_FIELD, NEGATIVE_OPS, FieldType, positive_op, scalar_type, validate_filter

__all__ = [
    "EMPTY_LIST_PREFIX",
    "ID_KEY",
    "IN_CHUNK",
    "KEYS_KEY",
    "RESERVED_PREFIX",
    "TEXT_KEY",
    "TYPE_PREFIXES",
    "compile_filter",
    "decode_metadata",
    "encode_metadata",
    "stored_names",
    "stored_type",
    "typed_key",
]

#: Every reserved metadata key starts with this.
RESERVED_PREFIX = "_vg:"
#: The document id (Pinecone ids are restricted; this is the exact id).
ID_KEY = "_vg:id"
#: The document text.
TEXT_KEY = "_vg:text"
#: List of the stored keys a document has (typed keys, empty-list markers and :data:`ID_KEY`).
KEYS_KEY = "_vg:keys"
#: Marker for a key holding an empty list.
EMPTY_LIST_PREFIX = "e:"
#: Stored-name prefix per field type.
TYPE_PREFIXES: dict[FieldType, str] = {
    FieldType.STRING: "s:",
    FieldType.NUMBER: "n:",
    FieldType.BOOL: "b:",
    FieldType.STRING_LIST: "l:",
}
_PREFIX_TYPES = {prefix: kind for kind, prefix in TYPE_PREFIXES.items()}
#: Pinecone accepts at most 10,000 values in one ``$in``/``$nin``.
IN_CHUNK = 10_000

_RANGE_OPS = {Op.GT: "$gt", Op.GTE: "$gte", Op.LT: "$lt", Op.LTE: "$lte"}
#: The operator true exactly where the key is present and the range is false.
_RANGE_INVERSE = {Op.GT: "$lte", Op.GTE: "$lt", Op.LT: "$gte", Op.LTE: "$gt"}

_BACKEND = "pinecone"


def typed_key(key: str, kind: FieldType) -> str:
    """The stored metadata name of ``key`` when it holds a value of ``kind``."""
    return TYPE_PREFIXES[kind] + key


def stored_names(key: str) -> list[str]:
    """Every stored name metadata key ``key`` can have (one per type, and the empty list)."""
    return [prefix + key for prefix in TYPE_PREFIXES.values()] + [EMPTY_LIST_PREFIX + key]


def stored_type(name: str) -> tuple[str, FieldType] | None:
    """``(metadata key, type)`` of a stored name, None for reserved and foreign names."""
    if name.startswith(EMPTY_LIST_PREFIX):
        return name[len(EMPTY_LIST_PREFIX) :], FieldType.STRING_LIST
    kind = _PREFIX_TYPES.get(name[:2])
    return (name[2:], kind) if kind is not None else None


# --------------------------------------------------------------------------- layout


def encode_metadata(doc_id: str, text: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """The Pinecone metadata that stores a document in the typed layout.

    ``metadata`` holds valid domain metadata values (str, int, float, bool,
    list[str]); numbers are stored as Pinecone numbers (64-bit floats).
    """
    stored: dict[str, Any] = {ID_KEY: doc_id}
    present = [ID_KEY]
    if text:
        stored[TEXT_KEY] = text
    for key, value in metadata.items():
        if isinstance(value, list):
            if not value:
                name = EMPTY_LIST_PREFIX + key
                stored[name] = True
            else:
                name = typed_key(key, FieldType.STRING_LIST)
                stored[name] = list(value)
        else:
            kind = scalar_type(value)
            if kind is None:
                raise TypeError(f"metadata {key!r}: unsupported value {value!r}")
            name = typed_key(key, kind)
            stored[name] = value
        present.append(name)
    stored[KEYS_KEY] = present
    return stored


def decode_metadata(stored: dict[str, Any]) -> tuple[str | None, str, dict[str, Any]]:
    """``(id, text, metadata)`` from typed-layout metadata (inverse of :func:`encode_metadata`).

    Integral numbers come back as ``int`` (Pinecone returns every number as a
    float). Keys outside the layout are ignored.
    """
    doc_id = stored.get(ID_KEY)
    text = stored.get(TEXT_KEY, "")
    metadata: dict[str, Any] = {}
    for name, value in stored.items():
        if name.startswith(RESERVED_PREFIX):
            continue
        if name.startswith(EMPTY_LIST_PREFIX):
            metadata[name[len(EMPTY_LIST_PREFIX) :]] = []
            continue
        kind = _PREFIX_TYPES.get(name[:2])
        if kind is None:
            continue
        key = name[2:]
        if kind is FieldType.NUMBER and isinstance(value, float) and value.is_integer():
            metadata[key] = int(value)
        elif kind is FieldType.STRING_LIST and isinstance(value, list):
            metadata[key] = [str(v) for v in value]
        else:
            metadata[key] = value
    return (
        doc_id if isinstance(doc_id, str) else None,
        text if isinstance(text, str) else "",
        metadata,
    )


# --------------------------------------------------------------------------- compiler


def compile_filter(f: Filter, path: str = "filter") -> dict[str, Any]:
    """The Pinecone filter selecting exactly the documents ``f`` matches (typed layout).

    Raises :class:`~vectorgate_server.errors.InvalidFilter` naming the
    request field when ``f`` is not valid.
    """
    validate_filter(f, path)
    return _compile(f, negate=False)


def _compile(f: Filter, negate: bool) -> dict[str, Any]:
    if isinstance(f, Condition):
        return _condition(f, negate)
    if isinstance(f, And | Or):
        # De Morgan: NOT(a AND b) = NOT a OR NOT b, NOT(a OR b) = NOT a AND NOT b.
        conjunction = isinstance(f, And) != negate
        return _join("$and" if conjunction else "$or", [_compile(c, negate) for c in f.filters])
    if isinstance(f, Not):
        return _compile(f.filter, not negate)
    raise TypeError(f"not a filter: {f!r}")


def _join(op: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    return parts[0] if len(parts) == 1 else {op: parts}


def _lacks(name: str) -> dict[str, Any]:
    """True exactly for documents without the stored key ``name``."""
    return {KEYS_KEY: {"$nin": [name]}}


def _has(name: str) -> dict[str, Any]:
    """True exactly for documents with the stored key ``name``."""
    return {KEYS_KEY: {"$in": [name]}}


def _set_op(name: str, op: str, values: list[Scalar]) -> dict[str, Any]:
    """``$in``/``$nin`` over any number of values (Pinecone takes 10,000 per operator)."""
    chunks = [values[i : i + IN_CHUNK] for i in range(0, len(values), IN_CHUNK)]
    parts = [{name: {op: chunk}} for chunk in chunks]
    return _join("$or" if op == "$in" else "$and", parts)


def _condition(c: Condition, negate: bool) -> dict[str, Any]:
    op = c.op
    if op in NEGATIVE_OPS:
        op, negate = positive_op(op), not negate
    value = c.value
    if c.field == ID_FIELD:
        # Every document has its id: the complement needs no presence test.
        if op is Op.EQ:
            return {ID_KEY: {"$ne" if negate else "$eq": value}}
        if op is Op.IN:
            assert isinstance(value, tuple | list)
            return _set_op(ID_KEY, "$nin" if negate else "$in", list(dict.fromkeys(value)))
        raise Unsupported(backend=_BACKEND, operation=f"filter operator {op.name} on id")

    positive: dict[str, Any] | None
    inverse: dict[str, Any] | None
    if op is Op.CONTAINS:
        name = typed_key(c.field, FieldType.STRING_LIST)
        positive, inverse = {name: {"$in": [value]}}, {name: {"$nin": [value]}}
    elif op in RANGE_OPS:
        name = typed_key(c.field, FieldType.NUMBER)
        positive = {name: {_RANGE_OPS[op]: value}}
        inverse = {name: {_RANGE_INVERSE[op]: value}}
    elif op is Op.EQ:
        assert not isinstance(value, tuple | list)
        kind = scalar_type(value)
        assert kind is not None
        name = typed_key(c.field, kind)
        positive, inverse = {name: {"$eq": value}}, {name: {"$ne": value}}
    elif op is Op.IN:
        assert isinstance(value, tuple | list)
        kind = scalar_type(value[0])
        assert kind is not None
        name = typed_key(c.field, kind)
        values = list(dict.fromkeys(value))
        if kind is FieldType.BOOL:
            # $in/$nin take strings and numbers only.
            if len(values) == 1:
                positive, inverse = {name: {"$eq": values[0]}}, {name: {"$ne": values[0]}}
            else:
                positive, inverse = _has(name), None
        else:
            positive, inverse = _set_op(name, "$in", values), _set_op(name, "$nin", values)
    else:
        raise Unsupported(backend=_BACKEND, operation=f"filter operator {op.name}")
    if not negate:
        return positive
    if inverse is None:
        return _lacks(name)
    return {"$or": [_lacks(name), inverse]}
