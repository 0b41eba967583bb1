"""OpenAI attribute filters translated to vectorgate's portable ``Filter``.

OpenAI's vector store search takes a comparison filter
``{"type": "eq"|"ne"|"gt"|"gte"|"lt"|"lte"|"in"|"nin", "key": K, "value": V}``
or a compound filter ``{"type": "and"|"or", "filters": [...]}``, nested
freely. The result is the JSON form of ``vectorgate.v1.Filter`` (to be parsed
with the request), so the application validates it exactly as it validates a
gRPC filter. Values keep their JSON type: ``true``/``false`` become
``bool_value`` (checked before numbers, as JSON booleans are not numbers),
integers ``int_value``, other numbers ``float_value``, strings
``string_value``; ``in``/``nin`` take an array of them. The key ``id``
addresses the document id.
"""

from __future__ import annotations

from typing import Any, Final

from ..errors import InvalidFilter
from .bodies import check_keys, join, require_object, type_name

__all__ = ["MAX_DEPTH", "OPERATORS", "openai_filter"]

#: OpenAI comparison type -> ``FilterOperator`` value name.
OPERATORS: Final[dict[str, str]] = {
    "eq": "FILTER_OPERATOR_EQ",
    "ne": "FILTER_OPERATOR_NE",
    "gt": "FILTER_OPERATOR_GT",
    "gte": "FILTER_OPERATOR_GTE",
    "lt": "FILTER_OPERATOR_LT",
    "lte": "FILTER_OPERATOR_LTE",
    "in": "FILTER_OPERATOR_IN",
    "nin": "FILTER_OPERATOR_NIN",
}
_COMPOUND: Final = {"and": "all_of", "or": "any_of"}
_RANGE: Final = frozenset({"gt", "gte", "lt", "lte"})
#: Deepest nesting of compound filters accepted.
MAX_DEPTH: Final = 32
_INT64: Final = (-(2**63), 2**63 - 1)


def _bad(path: str, problem: str) -> InvalidFilter:
    return InvalidFilter(f"{path}: {problem}", field=path)


def _scalar(value: Any, path: str) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"bool_value": value}
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise _bad(path, f"{value} is out of the 64-bit integer range")
        return {"int_value": str(value)}
    if isinstance(value, float):
        return {"float_value": value}
    if isinstance(value, str):
        return {"string_value": value}
    raise _bad(path, f"expected a string, number or boolean, got {type_name(value)}")


def openai_filter(value: Any, path: str = "filters", depth: int = 0) -> dict[str, Any]:
    """The ``vectorgate.v1.Filter`` JSON for an OpenAI filter; 400 naming the field if bad."""
    if depth > MAX_DEPTH:
        raise _bad(path, f"filters nested deeper than {MAX_DEPTH}")
    node = require_object(value, path)
    kind = node.get("type")
    if not isinstance(kind, str):
        raise _bad(
            join(path, "type"),
            "required: one of " + ", ".join([*OPERATORS, *_COMPOUND]),
        )
    if kind in _COMPOUND:
        check_keys(node, ("type", "filters"), path)
        children = node.get("filters")
        fpath = join(path, "filters")
        if not isinstance(children, list) or not children:
            raise _bad(fpath, f"{kind} needs a non-empty array of filters")
        return {
            _COMPOUND[kind]: {
                "filters": [
                    openai_filter(child, f"{fpath}[{i}]", depth + 1)
                    for i, child in enumerate(children)
                ]
            }
        }
    op = OPERATORS.get(kind)
    if op is None:
        raise _bad(
            join(path, "type"),
            f"unknown filter type {kind!r} (one of {', '.join([*OPERATORS, *_COMPOUND])})",
        )
    check_keys(node, ("type", "key", "value"), path)
    key = node.get("key")
    if not isinstance(key, str) or not key:
        raise _bad(join(path, "key"), "required: the attribute name")
    if "value" not in node or node["value"] is None:
        raise _bad(join(path, "value"), "required")
    raw = node["value"]
    vpath = join(path, "value")
    if kind in ("in", "nin"):
        if not isinstance(raw, list) or not raw:
            raise _bad(vpath, f"{kind} needs a non-empty array of values")
        operand: dict[str, Any] = {
            "list_value": {"values": [_scalar(v, f"{vpath}[{i}]") for i, v in enumerate(raw)]}
        }
    else:
        if isinstance(raw, list):
            raise _bad(vpath, f"{kind} takes one value, not an array (use in / nin)")
        if kind in _RANGE and (isinstance(raw, bool) or not isinstance(raw, int | float)):
            raise _bad(vpath, f"{kind} compares numbers only, got {type_name(raw)}")
        operand = _scalar(raw, vpath)
    return {"condition": {"field": key, "op": op, "value": operand}}
