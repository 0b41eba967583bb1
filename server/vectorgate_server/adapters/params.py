"""Validation of backend-native parameters shared by the adapters."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ..errors import InvalidArgument

#: Milvus' native search parameters, named as LiteLLM's Milvus vector store names them:
#: what the Milvus adapter accepts and what the OpenAI-compatible search route passes on.
MILVUS_NATIVE_PARAMS: Final = (
    "limit",
    "offset",
    "dbName",
    "annsField",
    "outputFields",
    "filter",
    "searchParams",
    "groupingField",
    "partitionNames",
    "consistencyLevel",
    "milvus_text_field",
)

#: Largest integer parameter accepted (what the backends' int32 fields hold).
MAX_INT: Final = 2**31 - 1


def unaccepted(path: str, problem: str, accepted: Iterable[str]) -> str:
    """The message refusing a name: ``path: problem (accepted: a, b)``, names sorted."""
    return f"{path}: {problem} (accepted: {', '.join(sorted(accepted)) or 'none'})"


def not_a_search_parameter(path: str, backend: str, accepted: Iterable[str]) -> str:
    """The message refusing a native search parameter the backend does not have."""
    return unaccepted(path, f"not a {backend} search parameter", accepted)


def whole_number(value: object) -> int | None:
    """``value`` as an int (integral finite floats from protobuf Structs accepted, bools
    not), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else None


def positive_int(value: object, maximum: int = MAX_INT) -> int | None:
    """``value`` as a positive int (integral floats from protobuf Structs accepted), else None."""
    number = whole_number(value)
    return number if number is not None and 0 < number <= maximum else None


def validate_native_params(
    params: Mapping[str, Any], accepted: Mapping[str, str], backend: str
) -> dict[str, int | bool]:
    """Search parameters checked against ``accepted`` (name -> "int" | "bool").

    Raises ``InvalidArgument`` naming ``native_params.<key>`` for an unknown key
    or a value of the wrong type.
    """
    out: dict[str, int | bool] = {}
    for key, value in params.items():
        path = f"native_params.{key}"
        kind = accepted.get(key)
        if kind is None:
            raise InvalidArgument(not_a_search_parameter(path, backend, accepted), field=path)
        if kind == "bool":
            if not isinstance(value, bool):
                raise InvalidArgument(f"{path}: must be a bool, got {value!r}", field=path)
            out[key] = value
        else:
            number = positive_int(value)
            if number is None:
                raise InvalidArgument(
                    f"{path}: must be a positive integer, got {value!r}", field=path
                )
            out[key] = number
    return out
