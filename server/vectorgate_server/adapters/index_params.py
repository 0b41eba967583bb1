"""Index build parameters that take integers: one check for every adapter.

An adapter names the parameters its index type accepts; each given key must be
one of them and its value an integer (integral floats from protobuf Structs
accepted) of at least the parameter's minimum, 1 unless the adapter says
otherwise, else ``InvalidArgument`` naming ``collection.index.params.<key>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidArgument
from .params import MAX_INT, whole_number


def positive_int_params(
    params: Mapping[str, Any], accepted: Sequence[str] | Mapping[str, int], index_type: str
) -> dict[str, int]:
    """``params`` of an ``index_type`` index, each an int, in the order given.

    ``accepted``: the parameter names (each at least 1), or name -> minimum (a
    minimum of 0 lets 0 through, as Qdrant's ``m`` = 0, "no graph").
    """
    minimums = accepted if isinstance(accepted, Mapping) else dict.fromkeys(accepted, 1)
    out: dict[str, int] = {}
    for key, value in params.items():
        path = f"collection.index.params.{key}"
        if key not in minimums:
            raise InvalidArgument(
                f"{path}: not a parameter of {index_type} (accepted: {', '.join(minimums)})",
                field=path,
            )
        minimum = minimums[key]
        number = whole_number(value)
        if number is None or not minimum <= number <= MAX_INT:
            wanted = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
            raise InvalidArgument(f"{path}: must be {wanted}, got {value!r}", field=path)
        out[key] = number
    return out
