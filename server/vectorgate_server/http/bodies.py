"""Strict checks for the hand-written JSON bodies of the compatibility routes.

Each check raises :class:`~vectorgate_server.errors.InvalidArgument` naming
the field (``filters.filters[1].value``), so a client mistake is a 400 that
says what to fix, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

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

_T = TypeVar("_T")


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


def _optional(
    obj: dict[str, Any], key: str, path: str, what: str, accept: Callable[[Any], _T | None]
) -> _T | None:
    """``accept(obj[key])``, None when the field is absent or null; a 400 naming the field
    (``expected <what>``) when ``accept`` refuses the value (returns None)."""
    value = obj.get(key)
    if value is None:
        return None
    accepted = accept(value)
    if accepted is None:
        raise _wrong(join(path, key), what, value)
    return accepted


def _integer(value: Any) -> int | None:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def opt_str(obj: dict[str, Any], key: str, path: str = "") -> str | None:
    """A string field, None when absent or null."""
    return _optional(obj, key, path, "a string", lambda v: v if isinstance(v, str) else None)


def opt_int(obj: dict[str, Any], key: str, path: str = "") -> int | None:
    """An integer field (``3`` or ``3.0``), None when absent or null."""
    return _optional(obj, key, path, "an integer", _integer)


def opt_number(obj: dict[str, Any], key: str, path: str = "") -> float | None:
    """A number field, None when absent or null."""
    return _optional(
        obj,
        key,
        path,
        "a number",
        lambda v: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None,
    )


def opt_bool(obj: dict[str, Any], key: str, path: str = "") -> bool | None:
    """A boolean field, None when absent or null."""
    return _optional(obj, key, path, "true or false", lambda v: v if isinstance(v, bool) else None)
