"""Compile portable filters (see :mod:`.common`) to ``qdrant_client.models.Filter``.

Payload layout (written by :mod:`vectorgate_server.adapters.qdrant`)::

    {
      "id": "<document id>",
      "<text_field>": "<document text>",
      "metadata": {"<key>": <value>, ...},
      "_vectorgate": {"lists": ["<keys whose value is a list of strings>"], "norm": <float>}
    }

Metadata lives under its own object, so no metadata key can collide with the
id, the text or the bookkeeping object. Point ids are UUIDs derived from the
document id (:func:`point_id`), so ``id`` conditions compile to exact
``HasIdCondition`` over the mapped UUIDs (they use Qdrant's id index).

Qdrant's matching differs from the portable semantics in three ways, and the
compiler closes each gap with an exact construct (never a post-filter):

* ``MatchValue``/``MatchAny`` on an array payload match when *any* element
  matches, but the portable ``EQ``/``IN`` never look inside lists. Every
  document records its list-valued keys in ``_vectorgate.lists``, so string
  ``EQ``/``IN`` add ``must_not: [lists contains <key>]`` and ``CONTAINS``
  adds ``must: [lists contains <key>]`` (a plain string field never satisfies
  ``CONTAINS``). Number and bool conditions need no guard: lists hold strings
  only, and Qdrant never matches a string element against a number or a bool.
* Exact ``match`` compares integers and floats as different types (payload
  ``5.0`` does not match ``MatchValue(5)``, and floats cannot be matched at
  all), so numeric ``EQ``/``IN`` compile to closed ranges
  ``Range(gte=v, lte=v)``, which compare numerically. Ranges never match bools.
  Range bounds are doubles, though, which cannot tell integers of magnitude
  2**53 and more apart; such integers compile to ``MatchValue``, which
  compares int64 payloads exactly. (Range conditions with such bounds never
  get here: ``Capabilities.exact_int_ranges`` is false for Qdrant, and the
  application refuses them.)
* ``MatchAny`` takes only strings or integers, so bool ``IN`` compiles to a
  ``should`` of ``MatchValue`` conditions.

Negation: ``NE``, ``NIN`` and ``NOT`` compile to ``must_not``, which holds
exactly when the inner condition does not (so a missing field satisfies it).
Values travel inside model objects, never spliced into strings; metadata keys
match :data:`~vectorgate_server.domain.METADATA_KEY_RE`, whose only character
special to Qdrant's key paths is ``.``: such keys are quoted (``"a.b"``).
"""

from __future__ import annotations

import uuid

from qdrant_client import models

from ..domain import RANGE_OPS, And, Condition, Filter, Not, Op, Or
from .common import (
    ID_FIELD,
    NEGATIVE_OPS,
    distinct_operands,
    positive_op,
    validate_filter,
)

__all__ = [
    "ID_PAYLOAD_KEY",
    "INTERNAL_PAYLOAD_KEY",
    "LISTS_KEY",
    "LISTS_PATH",
    "METADATA_PAYLOAD_KEY",
    "NORM_KEY",
    "POINT_ID_NAMESPACE",
    "RESERVED_PAYLOAD_KEYS",
    "compile_filter",
    "metadata_path",
    "point_id",
]

#: uuid5 namespace of the point ids (fixed forever: changing it orphans stored points).
POINT_ID_NAMESPACE = uuid.UUID("8a29ee83-58e9-5681-aaaa-2ee3951e9283")
#: Payload key holding the original document id.
ID_PAYLOAD_KEY = "id"
#: Payload key of the metadata object.
METADATA_PAYLOAD_KEY = "metadata"
#: Payload key of vectorgate's per-point bookkeeping object.
INTERNAL_PAYLOAD_KEY = "_vectorgate"
#: Inside the bookkeeping object: the metadata keys holding lists of strings.
LISTS_KEY = "lists"
#: Inside the bookkeeping object: the norm of the vector as given (cosine collections).
NORM_KEY = "norm"
#: Key path of the list-valued keys.
LISTS_PATH = f"{INTERNAL_PAYLOAD_KEY}.{LISTS_KEY}"
#: Top-level payload keys a collection's text field cannot use.
RESERVED_PAYLOAD_KEYS = frozenset({ID_PAYLOAD_KEY, METADATA_PAYLOAD_KEY, INTERNAL_PAYLOAD_KEY})

_RANGE_ARG = {Op.GT: "gt", Op.GTE: "gte", Op.LT: "lt", Op.LTE: "lte"}


#: From this magnitude on a double (a Range bound) no longer holds every integer.
_EXACT_DOUBLE_INT = 2**53


def point_id(document_id: str) -> str:
    """The Qdrant point id (a UUID string) of a document id: uuid5, deterministic."""
    return str(uuid.uuid5(POINT_ID_NAMESPACE, document_id))


def metadata_path(key: str) -> str:
    """The payload key path of metadata key ``key`` (quoted when it contains ``.``)."""
    if '"' in key:
        # Metadata keys are validated against METADATA_KEY_RE, which excludes quotes.
        raise ValueError(f"metadata key {key!r} cannot be quoted")
    segment = f'"{key}"' if "." in key else key
    return f"{METADATA_PAYLOAD_KEY}.{segment}"


def compile_filter(f: Filter, path: str = "filter") -> models.Filter:
    """The Qdrant filter selecting exactly the documents ``f`` matches.

    ``path`` names the filter in the request, for :class:`InvalidFilter` errors.
    """
    validate_filter(f, path)
    compiled = _compile(f)
    if isinstance(compiled, models.Filter):
        return compiled
    return models.Filter(must=[compiled])


def _compile(f: Filter) -> models.Condition:
    if isinstance(f, Condition):
        return _condition(f)
    if isinstance(f, And):
        return models.Filter(must=[_compile(child) for child in f.filters])
    if isinstance(f, Or):
        return models.Filter(should=[_compile(child) for child in f.filters])
    if isinstance(f, Not):
        return models.Filter(must_not=[_compile(f.filter)])
    raise TypeError(f"not a filter: {f!r}")


def _condition(c: Condition) -> models.Condition:
    positive = _id_condition(c) if c.field == ID_FIELD else _field_condition(c)
    if c.op in NEGATIVE_OPS:
        return models.Filter(must_not=[positive])
    return positive


def _id_condition(c: Condition) -> models.Condition:
    ids: list[models.ExtendedPointId] = [point_id(str(v)) for v in distinct_operands(c)]
    return models.HasIdCondition(has_id=ids)


def _is_list_key(key: str) -> models.FieldCondition:
    return models.FieldCondition(key=LISTS_PATH, match=models.MatchValue(value=key))


def _field_condition(c: Condition) -> models.Condition:
    key = metadata_path(c.field)
    op = positive_op(c.op)
    if op is Op.CONTAINS:
        assert isinstance(c.value, str)
        return models.Filter(
            must=[
                models.FieldCondition(key=key, match=models.MatchValue(value=c.value)),
                _is_list_key(c.field),
            ]
        )
    if op in RANGE_OPS:
        assert isinstance(c.value, int | float) and not isinstance(c.value, bool)
        rng = models.Range(**{_RANGE_ARG[op]: c.value})
        return models.FieldCondition(key=key, range=rng)
    values = distinct_operands(c)
    first = values[0]
    if isinstance(first, str):
        strings = [v for v in values if isinstance(v, str)]
        match: models.Match = (
            models.MatchValue(value=strings[0]) if op is Op.EQ else models.MatchAny(any=strings)
        )
        return models.Filter(
            must=[models.FieldCondition(key=key, match=match)],
            must_not=[_is_list_key(c.field)],
        )
    if isinstance(first, bool):
        bool_conditions: list[models.Condition] = [
            models.FieldCondition(key=key, match=models.MatchValue(value=v))
            for v in values
            if isinstance(v, bool)
        ]
        return _any_of(bool_conditions)
    number_conditions: list[models.Condition] = [
        models.FieldCondition(key=key, match=models.MatchValue(value=v))
        if isinstance(v, int) and abs(v) >= _EXACT_DOUBLE_INT
        else models.FieldCondition(key=key, range=models.Range(gte=v, lte=v))
        for v in values
        if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    return _any_of(number_conditions)


def _any_of(conditions: list[models.Condition]) -> models.Condition:
    if len(conditions) == 1:
        return conditions[0]
    return models.Filter(should=conditions)
