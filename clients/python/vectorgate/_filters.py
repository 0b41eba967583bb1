"""A small builder for metadata filters, so callers never write protobuf by hand.

Two equivalent spellings are accepted wherever a filter is::

    from vectorgate import F

    (F("genre") == "sci-fi") & (F("year") >= 2000) & ~F("tags").contains("draft")

    {"and": [
        {"field": "genre", "op": "eq", "value": "sci-fi"},
        {"field": "year", "op": "gte", "value": 2000},
        {"not": {"field": "tags", "op": "contains", "value": "draft"}},
    ]}

The dict (JSON) form has exactly four shapes: ``{"and": [f, ...]}``,
``{"or": [f, ...]}``, ``{"not": f}`` and ``{"field": str, "op": str, "value": v}``
with ``op`` one of ``eq ne gt gte lt lte in nin contains``. Values keep their
Python type: ``bool`` → bool, ``int`` → exact 64-bit integer, ``float`` →
double, ``str`` → string, and a list or tuple of those (for ``in``/``nin``).
A :class:`vectorgate.v1.types_pb2.Filter` message is accepted as is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

from vectorgate._values import INT64_MAX, INT64_MIN, set_typed_value
from vectorgate.v1 import types_pb2

Scalar: TypeAlias = bool | int | float | str
FilterValue: TypeAlias = Scalar | tuple[Scalar, ...]

_INT64_MIN = INT64_MIN
_INT64_MAX = INT64_MAX

_OPS: dict[str, types_pb2.FilterOperator] = {
    "eq": types_pb2.FILTER_OPERATOR_EQ,
    "ne": types_pb2.FILTER_OPERATOR_NE,
    "gt": types_pb2.FILTER_OPERATOR_GT,
    "gte": types_pb2.FILTER_OPERATOR_GTE,
    "lt": types_pb2.FILTER_OPERATOR_LT,
    "lte": types_pb2.FILTER_OPERATOR_LTE,
    "in": types_pb2.FILTER_OPERATOR_IN,
    "nin": types_pb2.FILTER_OPERATOR_NIN,
    "contains": types_pb2.FILTER_OPERATOR_CONTAINS,
}
_OP_NAMES = {number: name for name, number in _OPS.items()}
_LIST_OPS = frozenset({"in", "nin"})


class FilterExpr(ABC):
    """A metadata filter. Combine with ``&`` (and), ``|`` (or) and ``~`` (not)."""

    __slots__ = ()

    @abstractmethod
    def to_proto(self) -> types_pb2.Filter:
        """The filter as a ``vectorgate.v1.Filter`` message."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The filter in its JSON dict form."""

    def __and__(self, other: FilterExpr) -> FilterExpr:
        if not isinstance(other, FilterExpr):
            return NotImplemented
        return AllOf((*_parts(self, AllOf), *_parts(other, AllOf)))

    def __or__(self, other: FilterExpr) -> FilterExpr:
        if not isinstance(other, FilterExpr):
            return NotImplemented
        return AnyOf((*_parts(self, AnyOf), *_parts(other, AnyOf)))

    def __invert__(self) -> FilterExpr:
        return Not(self)

    def __bool__(self) -> bool:
        raise TypeError(
            "a filter has no truth value: combine filters with &, | and ~ "
            "(not 'and', 'or', 'not'), and write ranges as "
            "(F('x') >= a) & (F('x') < b), not a <= F('x') < b"
        )


def _parts(expr: FilterExpr, kind: type[AllOf] | type[AnyOf]) -> tuple[FilterExpr, ...]:
    """Flattens ``(a & b) & c`` into one AND of three (likewise for OR)."""
    return expr.filters if type(expr) is kind else (expr,)


@dataclass(frozen=True, slots=True, eq=True)
class Condition(FilterExpr):
    """One condition on one metadata field (``"id"`` addresses the document id)."""

    field: str
    op: str
    value: FilterValue

    def __post_init__(self) -> None:
        if not isinstance(self.field, str) or not self.field:
            raise TypeError(f"a filter field must be a non-empty str, got {self.field!r}")
        if self.op not in _OPS:
            raise ValueError(
                f"unknown filter op {self.op!r} for field {self.field!r}; "
                f"expected one of {', '.join(_OPS)}"
            )
        object.__setattr__(self, "value", _check_value(self.field, self.op, self.value))

    def to_proto(self) -> types_pb2.Filter:
        """The condition as a ``vectorgate.v1.Filter`` message."""
        pb = types_pb2.Filter()
        cond = pb.condition
        cond.field = self.field
        cond.op = _OPS[self.op]
        if isinstance(self.value, tuple):
            values = cond.value.list_value.values
            for item in self.value:
                _set_scalar(values.add(), item)
        else:
            _set_scalar(cond.value, self.value)
        return pb

    def to_dict(self) -> dict[str, Any]:
        """The condition as ``{"field": ..., "op": ..., "value": ...}``."""
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"field": self.field, "op": self.op, "value": value}


@dataclass(frozen=True, slots=True, eq=True)
class AllOf(FilterExpr):
    """True when every one of ``filters`` is (AND)."""

    filters: tuple[FilterExpr, ...]

    def __post_init__(self) -> None:
        _check_operands("and", self.filters)

    def to_proto(self) -> types_pb2.Filter:
        """The conjunction as a ``vectorgate.v1.Filter`` message."""
        pb = types_pb2.Filter()
        pb.all_of.filters.extend(f.to_proto() for f in self.filters)
        return pb

    def to_dict(self) -> dict[str, Any]:
        """The conjunction as ``{"and": [...]}``."""
        return {"and": [f.to_dict() for f in self.filters]}


@dataclass(frozen=True, slots=True, eq=True)
class AnyOf(FilterExpr):
    """True when at least one of ``filters`` is (OR)."""

    filters: tuple[FilterExpr, ...]

    def __post_init__(self) -> None:
        _check_operands("or", self.filters)

    def to_proto(self) -> types_pb2.Filter:
        """The disjunction as a ``vectorgate.v1.Filter`` message."""
        pb = types_pb2.Filter()
        pb.any_of.filters.extend(f.to_proto() for f in self.filters)
        return pb

    def to_dict(self) -> dict[str, Any]:
        """The disjunction as ``{"or": [...]}``."""
        return {"or": [f.to_dict() for f in self.filters]}


@dataclass(frozen=True, slots=True, eq=True)
class Not(FilterExpr):
    """True when ``filter`` is false (NOT)."""

    filter: FilterExpr

    def __post_init__(self) -> None:
        if not isinstance(self.filter, FilterExpr):
            raise TypeError(f"'not' takes a filter, got {self.filter!r}")

    def to_proto(self) -> types_pb2.Filter:
        """The negation as a ``vectorgate.v1.Filter`` message."""
        pb = types_pb2.Filter()
        pb.negate.CopyFrom(self.filter.to_proto())
        return pb

    def to_dict(self) -> dict[str, Any]:
        """The negation as ``{"not": {...}}``."""
        return {"not": self.filter.to_dict()}


class F:
    """A metadata field, compared to build a filter.

    ``F("genre") == "sci-fi"``, ``F("year") >= 2000``, ``F("year") != 1999``,
    ``F("tag").is_in(["a", "b"])``, ``F("tag").not_in([...])``,
    ``F("tags").contains("x")``; combine with ``&``, ``|`` and ``~``.
    ``F("id")`` addresses the document id.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"F() takes a non-empty field name, got {name!r}")
        self.name = name

    def __repr__(self) -> str:
        return f"F({self.name!r})"

    def __eq__(self, value: Scalar) -> Condition:  # type: ignore[override]
        return Condition(self.name, "eq", value)

    def __ne__(self, value: Scalar) -> Condition:  # type: ignore[override]
        return Condition(self.name, "ne", value)

    def __gt__(self, value: int | float) -> Condition:
        return Condition(self.name, "gt", value)

    def __ge__(self, value: int | float) -> Condition:
        return Condition(self.name, "gte", value)

    def __lt__(self, value: int | float) -> Condition:
        return Condition(self.name, "lt", value)

    def __le__(self, value: int | float) -> Condition:
        return Condition(self.name, "lte", value)

    __hash__ = None  # type: ignore[assignment]

    def is_in(self, values: Iterable[Scalar]) -> Condition:
        """The field equals one of ``values``."""
        return Condition(self.name, "in", _as_tuple(self.name, "is_in", values))

    def not_in(self, values: Iterable[Scalar]) -> Condition:
        """The field is absent or equals none of ``values``."""
        return Condition(self.name, "nin", _as_tuple(self.name, "not_in", values))

    def contains(self, value: str) -> Condition:
        """The field is a list of strings containing ``value``."""
        return Condition(self.name, "contains", value)


FilterLike: TypeAlias = FilterExpr | Mapping[str, Any] | types_pb2.Filter


def to_filter_proto(value: FilterLike) -> types_pb2.Filter:
    """Converts a builder expression, a JSON-form dict or a Filter message to a Filter message."""
    if isinstance(value, types_pb2.Filter):
        return value
    return parse_filter(value).to_proto()


def parse_filter(value: FilterExpr | Mapping[str, Any], path: str = "filter") -> FilterExpr:
    """Validates a filter given as a builder expression or in the JSON dict form."""
    if isinstance(value, FilterExpr):
        return value
    if isinstance(value, F):
        raise TypeError(
            f"{path}: {value!r} is a field, not a filter; compare it, e.g. {value!r} == 1"
        )
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{path}: expected a filter built with F(...) or a dict, got {type(value).__name__}"
        )
    keys = set(value)
    if keys == {"and"} or keys == {"or"}:
        (key,) = keys
        items = value[key]
        if not isinstance(items, list | tuple):
            raise TypeError(f"{path}.{key}: expected a list of filters, got {type(items).__name__}")
        parts = tuple(parse_filter(item, f"{path}.{key}[{i}]") for i, item in enumerate(items))
        try:
            return AllOf(parts) if key == "and" else AnyOf(parts)
        except ValueError as exc:
            raise ValueError(f"{path}.{key}: {exc}") from None
    if keys == {"not"}:
        return Not(parse_filter(value["not"], f"{path}.not"))
    if keys == {"field", "op", "value"}:
        try:
            return Condition(value["field"], value["op"], value["value"])
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{path}: {exc}") from None
    raise ValueError(
        f"{path}: a filter dict must have exactly the keys 'and', 'or', 'not' or "
        f"'field'+'op'+'value', got {sorted(keys)!r}"
    )


def filter_to_dict(pb: types_pb2.Filter) -> dict[str, Any]:
    """The JSON dict form of a Filter message (the inverse of :func:`to_filter_proto`)."""
    kind = pb.WhichOneof("kind")
    if kind == "condition":
        cond = pb.condition
        return {
            "field": cond.field,
            "op": _OP_NAMES.get(cond.op, "unspecified"),
            "value": _value_from_proto(cond.value),
        }
    if kind == "all_of":
        return {"and": [filter_to_dict(f) for f in pb.all_of.filters]}
    if kind == "any_of":
        return {"or": [filter_to_dict(f) for f in pb.any_of.filters]}
    if kind == "negate":
        return {"not": filter_to_dict(pb.negate)}
    return {}


def _value_from_proto(pb: types_pb2.FilterValue) -> Any:
    kind = pb.WhichOneof("kind")
    if kind == "list_value":
        return [_value_from_proto(v) for v in pb.list_value.values]
    return None if kind is None else getattr(pb, kind)


def _check_operands(op: str, filters: tuple[FilterExpr, ...]) -> None:
    if not filters:
        raise ValueError(f"'{op}' needs at least one filter")
    for f in filters:
        if not isinstance(f, FilterExpr):
            raise TypeError(f"'{op}' takes filters, got {f!r}")


def _as_tuple(field: str, method: str, values: Iterable[Scalar]) -> tuple[Scalar, ...]:
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise TypeError(
            f"F({field!r}).{method}() takes a list of values, got {type(values).__name__}"
        )
    return tuple(values)


def _check_value(field: str, op: str, value: Any) -> FilterValue:
    """Validates the operand's shape and normalises numpy scalars; returns the value to store."""
    if op in _LIST_OPS:
        if not isinstance(value, list | tuple):
            raise TypeError(
                f"op {op!r} on field {field!r} takes a list of values, got {type(value).__name__}"
            )
        return tuple(_check_scalar(field, op, item) for item in value)
    return _check_scalar(field, op, value)


def _check_scalar(field: str, op: str, value: Any) -> Scalar:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"filter value {value} for field {field!r} does not fit in 64 bits")
        return value
    what = "None" if value is None else type(value).__name__
    raise TypeError(
        f"op {op!r} on field {field!r}: a filter value must be a str, int, float or bool"
        f"{' (or a list of them)' if op in _LIST_OPS else ''}, got {what}"
    )


def _set_scalar(pb: types_pb2.FilterValue, value: Scalar) -> None:
    set_typed_value(pb, value, "filter value")
