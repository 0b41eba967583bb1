"""Index build parameters that take positive integers: one check for every adapter.

An adapter names the parameters its index type accepts; each given key must be
one of them and its value a positive integer (integral floats from protobuf
Structs accepted), else ``InvalidArgument`` naming ``collection.index.params.<key>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidArgument
from .params import positive_int


def positive_int_params(
    params: Mapping[str, Any], accepted: Sequence[str], index_type: str
) -> dict[str, int]:
    """``params`` of an ``index_type`` index, each a positive int, in the order given."""
    out: dict[str, int] = {}
    for key, value in params.items():
        path = f"collection.index.params.{key}"
        if key not in accepted:
            raise InvalidArgument(
                f"{path}: not a parameter of {index_type} (accepted: {', '.join(accepted)})",
                field=path,
            )
        number = positive_int(value)
        if number is None:
            raise InvalidArgument(f"{path}: must be a positive integer, got {value!r}", field=path)
        out[key] = number
    return out
