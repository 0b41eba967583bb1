"""Strict checks for the hand-written JSON bodies of the compatibility routes.

Each check raises :class:`~vectorgate_server.errors.InvalidArgument` naming
the field (``filters.filters[1].value``), so a client mistake is a 400 that
says what to fix, never a 500.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import InvalidArgument

__all__ = [
    "check_keys",
    "join",
    "opt_bool",
    "opt_int",
    "opt_number",
    "opt_str",
    "require_object",
    "type_name",
]


def join(path: str, key: str) -> str:
    """``path.key`` (or ``key`` at the top level)."""
    return f"{path}.{key}" if path else key


def type_name(value: Any) -> str:
    """The JSON type of a decoded value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def require_object(value: Any, path: str) -> dict[str, Any]:
    """``value`` if it is a JSON object."""
    if not isinstance(value, dict):
        where = path or "body"
        raise InvalidArgument(
            f"{where}: expected a JSON object, got {type_name(value)}", field=where
        )
    return value


def check_keys(obj: dict[str, Any], allowed: Iterable[str], path: str) -> None:
    """Unknown keys are a 400 naming the first one."""
    known = list(allowed)
    for key in obj:
        if key not in known:
            where = join(path, key)
            raise InvalidArgument(
                f"{where}: unknown field {key!r} (fields: {', '.join(known)})", field=where
            )


def _wrong(path: str, what: str, value: Any) -> InvalidArgument:
    return InvalidArgument(f"{path}: expected {what}, got {type_name(value)}", field=path)


def opt_str(obj: dict[str, Any], key: str, path: str = "") -> str | None:
    """A string field, None when absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong(join(path, key), "a string", value)
    return value


def opt_int(obj: dict[str, Any], key: str, path: str = "") -> int | None:
    """An integer field (``3`` or ``3.0``), None when absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(join(path, key), "an integer", value)
    return value


def opt_number(obj: dict[str, Any], key: str, path: str = "") -> float | None:
    """A number field, None when absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong(join(path, key), "a number", value)
    return float(value)


def opt_bool(obj: dict[str, Any], key: str, path: str = "") -> bool | None:
    """A boolean field, None when absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _wrong(join(path, key), "true or false", value)
    return value
