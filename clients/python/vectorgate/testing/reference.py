"""Reference implementations the contract suite compares every adapter against.

:func:`matches` is the executable form of the portable filter semantics
documented in :mod:`vectorgate_server.filters.common`; it is written
independently of any compiler (it shares no code with them) so that a bug in a
shared helper cannot hide in both. :func:`brute_force` is exact nearest
neighbours in float64 numpy.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from vectorgate_server.domain import And, Condition, Filter, Metric, Not, Op, Or

__all__ = ["brute_force", "canonical_values", "higher_is_better", "matches"]

_RANGE = {
    Op.GT: lambda a, b: a > b,
    Op.GTE: lambda a, b: a >= b,
    Op.LT: lambda a, b: a < b,
    Op.LTE: lambda a, b: a <= b,
}


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    raise TypeError(f"not a metadata value: {value!r}")


def _holds(op: Op, operand: object, present: bool, value: object) -> bool:
    """The positive operators (EQ, ranges, IN, CONTAINS) on one field."""
    if not present:
        return False
    kind = _kind(value)
    if op is Op.CONTAINS:
        return kind == "list" and operand in value  # type: ignore[operator]
    if op in _RANGE:
        return kind == "number" and bool(_RANGE[op](value, operand))
    if op is Op.IN:
        assert isinstance(operand, tuple | list)
        return any(_kind(item) == kind and item == value for item in operand)
    assert op is Op.EQ
    return _kind(operand) == kind and operand == value


def matches(f: Filter, doc_id: str, metadata: Mapping[str, object]) -> bool:
    """Whether a document with this id and metadata matches ``f`` (portable semantics)."""
    if isinstance(f, And):
        return all(matches(child, doc_id, metadata) for child in f.filters)
    if isinstance(f, Or):
        return any(matches(child, doc_id, metadata) for child in f.filters)
    if isinstance(f, Not):
        return not matches(f.filter, doc_id, metadata)
    assert isinstance(f, Condition)
    value: object
    if f.field == "id":
        present, value = True, doc_id
    else:
        present, value = f.field in metadata, metadata.get(f.field)
    if f.op is Op.NE:
        return not _holds(Op.EQ, f.value, present, value)
    if f.op is Op.NIN:
        return not _holds(Op.IN, f.value, present, value)
    return _holds(f.op, f.value, present, value)


def higher_is_better(metric: Metric) -> bool:
    """Whether larger canonical values rank first (similarities) or smaller (distances)."""
    return metric is not Metric.L2


def canonical_values(
    vectors: npt.NDArray[np.floating], query: npt.NDArray[np.floating], metric: Metric
) -> npt.NDArray[np.float64]:
    """Cosine similarity, Euclidean distance or inner product of every row with ``query``."""
    v = np.asarray(vectors, dtype=np.float64)
    q = np.asarray(query, dtype=np.float64)
    if metric is Metric.COSINE:
        norms = np.linalg.norm(v, axis=1) * np.linalg.norm(q)
        return (v @ q) / np.where(norms == 0, 1.0, norms)
    if metric is Metric.L2:
        return np.asarray(np.linalg.norm(v - q, axis=1), dtype=np.float64)
    return np.asarray(v @ q, dtype=np.float64)


def brute_force(
    vectors: npt.NDArray[np.floating],
    query: npt.NDArray[np.floating],
    metric: Metric,
    k: int,
    mask: npt.NDArray[np.bool_] | None = None,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Exact top ``k`` rows (best first) among those where ``mask`` is true.

    Returns the row positions and their canonical values.
    """
    values = canonical_values(vectors, query, metric)
    candidates = np.arange(len(values)) if mask is None else np.flatnonzero(mask)
    keys = -values[candidates] if higher_is_better(metric) else values[candidates]
    order = candidates[np.argsort(keys, kind="stable")][:k]
    return order, values[order]
