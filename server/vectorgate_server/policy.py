"""Server-side evaluation of a virtual index's policy filter on one document.

Reads and deletes through a virtual index AND the policy into the backend
query; writes are checked here, document by document, before anything is
written, with the portable semantics of :mod:`.filters.common`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .domain import And, Condition, Document, Filter, Not, Op, Or
from .errors import PermissionDenied
from .filters.common import FieldType, scalar_type

_RANGE = {Op.GT, Op.GTE, Op.LT, Op.LTE}


def _holds(op: Op, operand: object, present: bool, value: object) -> bool:
    """The positive operators (EQ, ranges, IN, CONTAINS) on one field. The operands are
    scalars (validated); a value that is no scalar (a list) has no :func:`scalar_type`."""
    if not present:
        return False
    if op is Op.CONTAINS:
        return isinstance(value, list | tuple) and operand in value
    kind = scalar_type(value)
    if op in _RANGE:
        if kind is not FieldType.NUMBER or scalar_type(operand) is not FieldType.NUMBER:
            return False
        a, b = float(value), float(operand)  # type: ignore[arg-type]
        if op is Op.GT:
            return a > b
        if op is Op.GTE:
            return a >= b
        if op is Op.LT:
            return a < b
        return a <= b
    if op is Op.IN:
        items = operand if isinstance(operand, tuple | list) else (operand,)
        return any(scalar_type(item) is kind and item == value for item in items)
    return scalar_type(operand) is kind and operand == value


def matches(f: Filter, doc_id: str, metadata: Mapping[str, object]) -> bool:
    """Whether a document with this id and metadata satisfies ``f``."""
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


def check_documents(
    policy: Filter, documents: Sequence[Document], index: str, field: str = "documents"
) -> None:
    """PERMISSION_DENIED naming the first document outside the index's policy."""
    for i, doc in enumerate(documents):
        if not matches(policy, doc.id, doc.metadata):
            raise PermissionDenied(
                f"{field}[{i}].metadata: document {doc.id!r} is outside the policy of "
                f"index {index!r}",
                field=f"{field}[{i}].metadata",
            )


def visible(policy: Filter, documents: Sequence[Document]) -> list[Document]:
    """The documents inside the policy."""
    return [doc for doc in documents if matches(policy, doc.id, doc.metadata)]
