"""The nesting limit of JSON request bodies, checked without recursion.

Deeply nested JSON is refused with INVALID_ARGUMENT naming the limit before
anything walks it recursively (the protobuf parser, the endpoint-field walk),
so no body can exhaust the interpreter's stack.
"""

from __future__ import annotations

from typing import Any, Final

from .errors import InvalidArgument

#: Deepest accepted nesting of objects and arrays in a JSON body (the body itself is 1).
MAX_JSON_DEPTH: Final = 64


def too_deep(where: str) -> InvalidArgument:
    """The error for a value nested deeper than :data:`MAX_JSON_DEPTH` at ``where``."""
    return InvalidArgument(
        f"{where or 'body'}: JSON nested deeper than {MAX_JSON_DEPTH} levels (the limit)",
        field=where or "body",
        metadata={"limit": str(MAX_JSON_DEPTH)},
    )


def check_depth(value: Any, where: str = "body") -> None:
    """:class:`InvalidArgument` if ``value`` nests objects/arrays deeper than the limit."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > MAX_JSON_DEPTH:
            raise too_deep(where)
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
